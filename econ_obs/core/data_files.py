"""A crypto's data in a folder: its one file, or Binance's public dumps joined into one series.

``<CRYPTO>_<timeframe>.<ext>`` wins when it exists. Otherwise, for binance_klines, the folder's
dumps from data.binance.vision are used: one zip per month (``BTCUSDT-1h-2024-03.zip``) and one
per day (``BTCUSDT-1h-2024-03-15.zip``), each holding one 12-column csv of the same name. They
are found by exact name (``1000BTCUSDT-...`` and ``BTCUSDT-1m-...`` are other series), read one
by one and joined in time order. Each file is checked on its own first, so a bad value or time
names its file and row; the joined rows then go through the loader's checks once (timeframe,
gaps, moves, closed candles), like a single file's.

Daily files often repeat days a monthly file already holds: a bar found in several files is
kept once if every file has the same numbers for it, and refused (naming both files and the
bar's open time) if they differ. A missing month is a gap, never filled.

Times become UTC datetimes per file, so a folder mixing millisecond dumps with the microsecond
ones Binance writes for spot from 2025 joins into one column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from econ_obs.core.data_sanity import OHLCV_COLUMNS, MarketDataError, validate_rows
from econ_obs.core.readers import (
    BINANCE_COLUMNS,
    CLOSE_TIME_NAME,
    parse_timestamps,
    read_klines_bytes,
    read_klines_csv,
)

_OPEN_TIME_NAME = BINANCE_COLUMNS[0]
_NUMBER_COLUMNS = tuple(c for c in BINANCE_COLUMNS if c not in (_OPEN_TIME_NAME, CLOSE_TIME_NAME))
# After "<CRYPTO>-<timeframe>": -YYYY-MM (a monthly dump) or -YYYY-MM-DD (a daily one).
_FILE_SUFFIXES = {"ohlcv_csv": (".csv", ".parquet"), "binance_klines": (".zip", ".csv")}
_DUMP_SUFFIXES = _FILE_SUFFIXES["binance_klines"]
_DUMP_PERIOD = r"-(\d{4})-(\d{2})(?:-(\d{2}))?(" + "|".join(map(re.escape, _DUMP_SUFFIXES)) + ")"


def dump_pattern(crypto: str, timeframe: str) -> str:
    """Return the dump file names looked for, as text: BTCUSDT-1h-YYYY-MM[-DD].zip|csv."""
    return f"{crypto}-{timeframe}-YYYY-MM[-DD].zip|csv"


@dataclass(frozen=True)
class KlinesDumps:
    """The monthly and daily dump files of one crypto and timeframe in a folder, oldest first."""

    folder: Path
    crypto: str
    timeframe: str
    files: tuple[Path, ...]  # never empty; monthly before the daily files of the same month

    @property
    def source(self) -> str:
        """One line for users and metadata: the folder, the pattern, the count, first and last."""
        pattern = self.folder / dump_pattern(self.crypto, self.timeframe)
        first, last = self.files[0].name, self.files[-1].name
        return f"{pattern} ({len(self.files)} files joined, {first} to {last})"


def find_klines_dumps(folder: Path, crypto: str, timeframe: str) -> KlinesDumps | None:
    """Return the dump files of crypto and timeframe in folder, or None if it holds none."""
    name = re.compile(re.escape(f"{crypto}-{timeframe}") + _DUMP_PERIOD)
    found = []
    for path in Path(folder).iterdir():
        match = name.fullmatch(path.name)
        if match and path.is_file():
            year, month, day, suffix = match.groups()
            found.append(((year, month, day or "", _DUMP_SUFFIXES.index(suffix)), path))
    if not found:
        return None
    return KlinesDumps(Path(folder), crypto, timeframe, tuple(path for _, path in sorted(found)))


def find_crypto_file(
    folder: Path, crypto: str, timeframe: str, data_format: str
) -> Path | KlinesDumps:
    """Return the path of `<CRYPTO>_<timeframe>.<ext>` inside folder for the data format; for
    binance_klines without one, the folder's `<CRYPTO>-<timeframe>-YYYY-MM[-DD]` dumps."""
    if data_format not in _FILE_SUFFIXES:
        raise MarketDataError(
            f"data_format {data_format!r} has no files; use one of {_FILE_SUFFIXES}"
        )
    stem = f"{crypto}_{timeframe}"
    for suffix in _FILE_SUFFIXES[data_format]:
        candidate = Path(folder) / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    expected = " or ".join(stem + suffix for suffix in _FILE_SUFFIXES[data_format])
    expected += f" ({data_format})"
    if data_format == "binance_klines":
        dumps = find_klines_dumps(folder, crypto, timeframe)
        if dumps is not None:
            return dumps
        expected += f", or Binance dumps {dump_pattern(crypto, timeframe)}"
    near = _near_misses(Path(folder), crypto)
    found = f"; found {near} there" if near else ""
    raise MarketDataError(f"{folder}: no file for crypto {crypto}; expected {expected}{found}")


_NEAR_MISSES_SHOWN = 3


def _near_misses(folder: Path, crypto: str) -> str:
    """Name the folder's files that start with the crypto's name in any case (another
    timeframe, lower case, another separator), so the user sees what to rename or set."""
    if not folder.is_dir():
        return ""
    names = sorted(p.name for p in folder.iterdir() if p.name.lower().startswith(crypto.lower()))
    shown = ", ".join(names[:_NEAR_MISSES_SHOWN])
    more = len(names) - _NEAR_MISSES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _read_dump(path: Path) -> pd.DataFrame:
    """One dump file's rows: times as UTC datetimes, every other column a float (NaN if not a
    number); its values and time order checked, errors naming the file and row."""
    data, source = read_klines_bytes(path)
    raw = read_klines_csv(data, source, as_text=False)  # half the time of text cells
    opens = parse_timestamps(raw[_OPEN_TIME_NAME], source)
    columns: dict[str, object] = {_OPEN_TIME_NAME: opens}
    for name in _NUMBER_COLUMNS:
        numbers = pd.to_numeric(raw[name], errors="coerce")
        columns[name] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    columns[CLOSE_TIME_NAME] = parse_timestamps(
        raw[CLOSE_TIME_NAME], f"{source} column {CLOSE_TIME_NAME}"
    )
    frame = pd.DataFrame(columns)[list(BINANCE_COLUMNS)]
    validate_rows(frame[list(OHLCV_COLUMNS)].set_axis(opens, axis=0), source)
    return frame


def _refuse_differing_repeats(
    dumps: KlinesDumps, joined: pd.DataFrame, file_of_row: np.ndarray, repeats: np.ndarray
) -> None:
    """Raise naming both files and the bar if a repeated bar's numbers differ from the row
    before it (the same open time in another file)."""
    numbers = joined[list(_NUMBER_COLUMNS)].to_numpy()
    later, earlier = numbers[repeats], numbers[repeats - 1]
    same = (later == earlier) | (np.isnan(later) & np.isnan(earlier))
    closes = pd.DatetimeIndex(joined[CLOSE_TIME_NAME]).asi8
    same_close = closes[repeats] == closes[repeats - 1]
    differs = ~(same.all(axis=1) & same_close)
    if not differs.any():
        return
    which = int(np.argmax(differs))
    row = int(repeats[which])
    if same_close[which]:
        column_index = int(np.argmax(~same[which]))
        column = _NUMBER_COLUMNS[column_index]
        values = f"{float(earlier[which, column_index])!r} vs {float(later[which, column_index])!r}"
    else:
        column = CLOSE_TIME_NAME
        stamps = joined[CLOSE_TIME_NAME].iloc[[row - 1, row]]
        values = " vs ".join(stamp.isoformat() for stamp in stamps)
    first, second = (dumps.files[file_of_row[r]].name for r in (row - 1, row))
    opened = joined[_OPEN_TIME_NAME].iloc[row].isoformat()
    raise MarketDataError(
        f"{dumps.folder}: {first} and {second} differ on the bar opened at {opened} "
        f"({column} {values}); overlapping dumps must agree: download both again or remove one"
    )


def read_klines_dumps(dumps: KlinesDumps) -> pd.DataFrame:
    """Return the klines rows of every dump file in time order, each bar once (open_time and
    close_time as UTC datetimes, the other columns float64)."""
    frames = [_read_dump(path) for path in dumps.files]
    file_of_row = np.repeat(np.arange(len(frames)), [len(frame) for frame in frames])
    joined = pd.concat(frames, ignore_index=True)
    opens_ns = pd.DatetimeIndex(joined[_OPEN_TIME_NAME]).asi8
    # Stable: of the files holding one bar, the earlier in dumps.files (the monthly) comes first.
    order = np.argsort(opens_ns, kind="stable")
    joined, file_of_row, opens_ns = joined.take(order), file_of_row[order], opens_ns[order]
    joined = joined.reset_index(drop=True)
    # Each file's times strictly increase (checked), so a repeated time is another file's bar.
    repeats = np.flatnonzero(opens_ns[1:] == opens_ns[:-1]) + 1
    if len(repeats) == 0:
        return joined
    _refuse_differing_repeats(dumps, joined, file_of_row, repeats)
    keep = np.ones(len(joined), dtype=bool)
    keep[repeats] = False
    return joined[keep].reset_index(drop=True)
