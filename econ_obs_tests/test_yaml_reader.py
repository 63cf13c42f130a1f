"""Reading a sweep YAML: short errors for files that are not sweeps, bounded alias expansion."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from econ_obs.config.yaml_reader import (
    EXCERPT_CHARS,
    MAX_EXPANDED_NODES,
    ConfigError,
    read_yaml_mapping,
)

PASSWD_LIKE = "".join(
    f"user{n}:x:{1000 + n}:{1000 + n}:User {n}:/home/user{n}:/bin/bash\n" for n in range(200)
)


def _write(tmp_path: Path, text: str | bytes, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        read_yaml_mapping(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_a_file_that_is_not_a_mapping_is_quoted_in_a_short_excerpt(tmp_path):
    path = _write(tmp_path, PASSWD_LIKE, "passwd")

    message = _error(path)

    assert "is not a YAML mapping" in message
    assert "user199" not in message  # the end of the file is not echoed
    assert len(message) < len(str(path)) + EXCERPT_CHARS + 200


def test_invalid_yaml_is_one_short_line(tmp_path):
    path = _write(tmp_path, "a: [1, 2\n" + "b: " + "x" * 5000 + "\n")
    message = _error(path)
    assert "is not valid YAML" in message
    assert len(message) < len(str(path)) + EXCERPT_CHARS + 200


def test_a_list_at_the_top_is_refused(tmp_path):
    assert "it holds a list" in _error(_write(tmp_path, "- 1\n- 2\n"))


def test_binary_and_huge_files_are_refused_in_one_line(tmp_path):
    assert "is not UTF-8 text" in _error(_write(tmp_path, b"\xff\xfe\x00binary", "bin"))
    assert "too big for a sweep file" in _error(_write(tmp_path, "#" * 2_000_000, "big.yaml"))


def test_nested_aliases_billion_laughs_are_refused_fast(tmp_path):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        below = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{below}]")
    lines.append("model: {variants: [{name: x, alpha: *a9}]}")
    path = _write(tmp_path, "\n".join(lines) + "\n")

    started = time.monotonic()
    message = _error(path)

    assert time.monotonic() - started < 5
    assert f"more than {MAX_EXPANDED_NODES}" in message


def test_an_alias_loop_is_refused(tmp_path):
    assert "remove the loop" in _error(_write(tmp_path, "a: &a [1, *a]\n"))


def test_modest_anchors_still_load(tmp_path):
    text = "base: &base {alpha: 1.0, threshold_bps: 5}\nvariants: [*base, *base, {<<: *base}]\n"
    raw = read_yaml_mapping(_write(tmp_path, text))
    assert raw["variants"][2] == {"alpha": 1.0, "threshold_bps": 5}


def test_a_key_written_twice_is_still_refused(tmp_path):
    assert "written twice" in _error(_write(tmp_path, "a: 1\na: 2\n"))
