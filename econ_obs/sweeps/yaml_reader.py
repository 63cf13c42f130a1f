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
_ENV_REFERENCE = re.compile(r"\$(?:\{([^}]*)\}|(\w+))")


class ConfigError(ValueError):
    """A sweep config problem, on one line: file, key path, bad value, and the fix."""


def fail(source_path: Path, key_path: str, problem: str) -> NoReturn:
    """Raise a ConfigError reading "<file>: <key path>: <problem>" on a single line."""
    where = f"{source_path}: {key_path}" if key_path else str(source_path)
    raise ConfigError(re.sub(r"\s*\n\s*", " ", f"{where}: {problem}"))


def whole_number(source_path: Path, key_path: str, value: Any) -> int:
    """Return value if it is an int; YAML `true` is a bool, an int subclass, and is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(source_path, key_path, f"{value!r} is not a whole number; write an integer like 24")
    return value


class Section:
    """One YAML mapping and its key path, so that every error can say exactly where it is."""

    def __init__(self, source_path: Path, key_path: str, raw: Any, allowed: tuple[str, ...]):
        self.source_path, self.key_path, self.raw = source_path, key_path, raw
        if not isinstance(raw, dict):
            fail(
                source_path,
                key_path or "(top level)",
                f"{raw!r} is not a mapping; write keys under it: {', '.join(allowed)}",
            )
        for key in raw:
            if key not in allowed:
                self.fail(
                    str(key),
                    f"unknown key {key!r} in {key_path or 'the top level'};"
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
            self.fail(name, f"{value!r} is not a non-empty string; write e.g. {name}: {example}")
        return value

    def integer(self, name: str, example: str, default: Any = MISSING) -> int:
        return whole_number(self.source_path, self.path(name), self.get(name, example, default))

    def matching(
        self, name: str, pattern: re.Pattern[str], example: str, default: Any = MISSING
    ) -> str:
        value = self.text(name, example, default)
        if not pattern.fullmatch(value):
            self.fail(name, f"{value!r} does not match {pattern.pattern}; write e.g. {example}")
        return value

    def non_negative_number(self, name: str, example: str) -> float:
        value = self.get(name, example)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(name, f"{value!r} is not a number; write e.g. {name}: {example}")
        if not math.isfinite(value) or value < 0:
            self.fail(name, f"{value!r} must be a finite number >= 0; write e.g. {name}: {example}")
        return float(value)

    def unique_list(self, name: str, example: str, check_item: Callable[[str, Any], Any]) -> tuple:
        """The non-empty list under name; check_item(key_path, item) fails on a bad item."""
        values = self.get(name, example)
        if not isinstance(values, list) or not values:
            self.fail(name, f"{values!r} is not a non-empty list; write e.g. {name}: {example}")
        for index, value in enumerate(values):
            check_item(f"{name}[{index}]", value)
            if value in values[:index]:
                self.fail(f"{name}[{index}]", f"{value!r} is listed twice; remove the duplicate")
        return tuple(values)

    def fail_from(self, error: ValueError, fields: tuple[str, ...]) -> NoReturn:
        """Re-raise a ValueError from a validating constructor at the key of the field it names."""
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
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is written twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(source_path: Path) -> dict:
    """Parse the YAML file at source_path and return its top-level mapping."""
    try:
        # A SafeLoader subclass: as safe as yaml.safe_load, plus the duplicate-key check.
        raw = yaml.load(source_path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        fail(source_path, "", f"is not valid YAML ({error}); fix the syntax at the line shown")
    if raw is None:
        fail(source_path, "", "the file is empty; start from econ_obs/sweeps/default.yaml")
    return raw
