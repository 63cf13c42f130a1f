"""Reading a sweep YAML: key paths, typed getters and one-line errors that say what to fix.

Knows nothing about sweeps; econ_obs.config holds the schema and uses these to check it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, NoReturn

import yaml

MISSING: Any = object()  # default for "this key is required"
EXCERPT_CHARS = 200  # the most of a user's value or file an error message quotes
MAX_FILE_BYTES = 1_000_000  # a sweep file is a few kB; anything this big is not one
# Aliases reuse a node; a few nested anchors can still stand for billions of nodes ("billion
# laughs") that json.dumps or repr would then expand. A sweep expands to a few hundred.
MAX_EXPANDED_NODES = 100_000
_ENV_REFERENCE = re.compile(r"\$(?:\{([^}]*)\}|(\w+))")


class ConfigError(ValueError):
    """A sweep config problem, on one line: file, key path, bad value, and the fix."""


def fail(source_path: Path, key_path: str, problem: str) -> NoReturn:
    """Raise a ConfigError reading "<file>: <key path>: <problem>" on a single line."""
    where = f"{source_path}: {key_path}" if key_path else str(source_path)
    raise ConfigError(re.sub(r"\s*\n\s*", " ", f"{where}: {problem}"))


def excerpt(value: Any) -> str:
    """Return repr(value), cut to EXCERPT_CHARS characters so a message stays short."""
    return cut(repr(value))


def cut(text: str) -> str:
    """Return text, or its first EXCERPT_CHARS characters and how long it was."""
    if len(text) <= EXCERPT_CHARS:
        return text
    return f"{text[:EXCERPT_CHARS]}... ({len(text)} characters)"


def whole_number(source_path: Path, key_path: str, value: Any, example: str) -> int:
    """Return value if it is an int; YAML `true` is a bool, an int subclass, and is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(source_path, key_path, f"{excerpt(value)} is not a whole number; write e.g. {example}")
    return value


class Section:
    """One YAML mapping and its key path, so that every error can say exactly where it is."""

    def __init__(self, source_path: Path, key_path: str, raw: Any, allowed: tuple[str, ...]):
        self.source_path, self.key_path, self.raw = source_path, key_path, raw
        if not isinstance(raw, dict):
            fail(
                source_path,
                key_path or "(top level)",
                f"{excerpt(raw)} is not a mapping; write keys under it: {', '.join(allowed)}",
            )
        for key in raw:
            if key not in allowed:
                self.fail(
                    str(key),
                    f"unknown key {excerpt(key)} in {key_path or 'the top level'};"
                    f" allowed: {', '.join(allowed)}",
                )

    def path(self, name: str) -> str:
        return f"{self.key_path}.{name}" if self.key_path else name

    def fail(self, name: str, problem: str) -> NoReturn:
        fail(self.source_path, self.path(name), problem)

    def get(self, name: str, example: str, default: Any = MISSING) -> Any:
        if name in self.raw:
            return self.raw[name]
        if default is MISSING:
            self.fail(name, f"missing required key; add it, e.g. {name}: {example}")
        return default

    def section(self, name: str, allowed: tuple[str, ...], required: bool = True) -> Section:
        example = "{" + ", ".join(f"{key}: ..." for key in allowed) + "}"
        raw = self.get(name, example, MISSING if required else {})
        return Section(self.source_path, self.path(name), raw, allowed)

    def text(self, name: str, example: str, default: Any = MISSING) -> str:
        value = self.get(name, example, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"{excerpt(value)} is not a non-empty string; write e.g. {example}")
        return value

    def flag(self, name: str, example: str, default: Any = MISSING) -> bool:
        value = self.get(name, example, default)
        if not isinstance(value, bool):
            self.fail(name, f"{excerpt(value)} is not true or false; write e.g. {example}")
        return value

    def integer(self, name: str, example: str, default: Any = MISSING) -> int:
        value = self.get(name, example, default)
        return whole_number(self.source_path, self.path(name), value, example)

    def matching(
        self, name: str, pattern: re.Pattern[str], example: str, default: Any = MISSING
    ) -> str:
        value = self.text(name, example, default)
        if not pattern.fullmatch(value):
            self.fail(
                name, f"{excerpt(value)} does not match {pattern.pattern}; write e.g. {example}"
            )
        return value

    def non_negative_number(self, name: str, example: str) -> float:
        value = self.get(name, example)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(name, f"{excerpt(value)} is not a number; write e.g. {name}: {example}")
        if not math.isfinite(value) or value < 0:
            self.fail(name, f"{value!r} must be a finite number >= 0; write e.g. {name}: {example}")
        return float(value)

    def unique_list(self, name: str, example: str, check_item: Callable[[str, Any], Any]) -> tuple:
        """The non-empty list under name; check_item(key_path, item) fails on a bad item."""
        values = self.get(name, example)
        if not isinstance(values, list) or not values:
            self.fail(name, f"{excerpt(values)} is not a non-empty list; write e.g. {example}")
        for index, value in enumerate(values):
            check_item(f"{name}[{index}]", value)
            if value in values[:index]:
                self.fail(f"{name}[{index}]", f"{excerpt(value)} is listed twice; remove one")
        return tuple(values)

    def fail_from(self, error: ValueError, fields: tuple[str, ...]) -> NoReturn:
        """Re-raise a ValueError from a validating constructor at the key of the field it names."""
        if isinstance(error, ConfigError):  # already "<file>: <key path>: ..."; keep it as is
            raise error
        # The first field named wins: a message may mention another field in its advice.
        named = sorted((str(error).find(field), field) for field in fields if field in str(error))
        key_path = self.path(named[0][1]) if named else self.key_path
        fail(self.source_path, key_path, f"{error}; fix the value in the config")

    def expanded_path(self, name: str, example: str) -> Path:
        """The path under name with ${VAR}/$VAR and ~ expanded; an unset variable is an error."""
        raw_path = self.text(name, example)
        # os.path.expandvars leaves an unset variable in the string silently: check first.
        for braced, bare in _ENV_REFERENCE.findall(raw_path):
            variable = braced or bare
            if not os.environ.get(variable):
                self.fail(
                    name,
                    f"{raw_path!r} uses environment variable {variable}, which is not set;"
                    f" export {variable}=/path/to/data or write the path itself",
                )
        return Path(os.path.expanduser(os.path.expandvars(raw_path)))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice (plain PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *base" merges keys; the base class flattens it
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is written twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _AliasBombError(yaml.YAMLError):
    """The document's aliases expand past MAX_EXPANDED_NODES, or refer to themselves."""


class _BoundedLoader(_UniqueKeyLoader):
    """Refuses a document whose aliases would expand to more than MAX_EXPANDED_NODES nodes."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the nodes the tree would have with every alias written out, without expanding."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        if children_counted:
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)  # keep the numbers small
            if total > MAX_EXPANDED_NODES:
                raise _AliasBombError(
                    f"its anchors and aliases expand to more than {MAX_EXPANDED_NODES} values;"
                    " write the values out instead of nesting aliases"
                )
            continue
        if id(node) in sizes:
            continue  # an alias of a node already counted
        if id(node) in entered:
            raise _AliasBombError("an alias refers to a node that contains it; remove the loop")
        entered.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _read_text(source_path: Path) -> str:
    try:
        with source_path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        fail(source_path, "", f"cannot be read ({error.strerror}); check the path and permissions")
    if len(data) > MAX_FILE_BYTES:
        fail(source_path, "", f"is over {MAX_FILE_BYTES} bytes, too big for a sweep file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        fail(source_path, "", "is not UTF-8 text; pass a sweep YAML file")


def read_yaml_mapping(source_path: Path) -> dict:
    """Parse the YAML file at source_path and return its top-level mapping."""
    try:
        # A SafeLoader subclass: as safe as yaml.safe_load, plus duplicate-key and size checks.
        raw = yaml.load(_read_text(source_path), Loader=_BoundedLoader)
    except _AliasBombError as error:
        fail(source_path, "", f"{error}")
    except yaml.YAMLError as error:
        fail(
            source_path,
            "",
            f"is not valid YAML ({cut(str(error))}); fix the syntax at the line shown",
        )
    if raw is None:
        fail(source_path, "", "the file is empty; start from econ_obs/sweeps/default.yaml")
    if not isinstance(raw, dict):
        fail(
            source_path,
            "",
            f"is not a YAML mapping of sweep keys (it holds a {type(raw).__name__}:"
            f" {excerpt(raw)}); start from econ_obs/sweeps/default.yaml",
        )
    return raw
