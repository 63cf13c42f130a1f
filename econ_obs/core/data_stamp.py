"""A cheap stamp of a sweep's data files: their names, sizes and modification times.

The files stamped are the ones the loader reads (`data_files.find_crypto_file`): a crypto's
one file, or its Binance dumps, so a new monthly or daily dump changes the stamp and a file of
another symbol does not. The new-data sensor (defs/new_data_sensor.py) compares the stamp with
the one it saw when it last started the sweep. Reading the content is the market_bars stage's
job: a stamp that changes without new bars (a file touched, rewritten with the same bars)
costs one market_bars run, after which the later stages find nothing stale and do not run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from econ_obs.core.data_files import find_crypto_file
from econ_obs.core.data_sanity import MarketDataError


def _crypto_files(folder: Path, crypto: str, timeframe: str, data_format: str) -> list[Path]:
    try:
        found = find_crypto_file(folder, crypto, timeframe, data_format)
    except MarketDataError:
        return []  # the market_bars stage says what is missing, in its one line
    return [found] if isinstance(found, Path) else list(found.files)


def data_files_stamp(
    data_format: str, path: Path | None, timeframe: str, cryptos: Sequence[str]
) -> str:
    """Return a stamp of the files the loader reads for `cryptos` at `path` (a file or a
    folder) that changes when one is added, removed, resized or rewritten; the sample data has
    one stamp."""
    if path is None:
        return "sample data"
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = [
            file
            for crypto in cryptos
            for file in _crypto_files(path, crypto, timeframe, data_format)
        ]
    else:
        return f"no file or folder at {path}"
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"{len(files)} file(s) in {path}, stamp {digest.hexdigest()[:16]}"
