"""Reading market data files: bytes to a raw frame, and a time column to a UTC index.

Every failure is one MarketDataError naming the file and, where there is one, its data row
(rows count from 1, the header not included): a byte that is not UTF-8, a row with the wrong
number of fields, an unreadable Parquet file or zip archive, an empty or out-of-range time.

Times never go through text they did not come from: a Parquet timestamp column (tz-aware or
naive, which is UTC) and a column of epoch numbers become the index directly, in whole
columns; only ISO text is parsed as text.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from econ_obs.core.data_sanity import MarketDataError, epoch_unit

TIMESTAMP_NAMES = ("timestamp", "date", "datetime", "time", "open_time")
CLOSE_TIME_NAME = "close_time"
BINANCE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_NANOSECONDS_PER_UNIT = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}
# Bars are indexed in nanoseconds, which reach from 1677 to 2262.
_MIN_NANOSECONDS, _MAX_NANOSECONDS = float(pd.Timestamp.min.value), float(pd.Timestamp.max.value)
_NS_YEARS = "between the years 1677 and 2262"
_OUT_OF_RANGE = f"is not a time {_NS_YEARS}; check the column's unit and the value"


def column_key(name: object) -> str:
    """A column name as matched: case, spaces and punctuation ignored (Close time = close_time)."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def first_line(error: BaseException) -> str:
    """Return the first line of an error's message (its type name if it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _row_error(source: str, position: int, value: object, problem: str) -> MarketDataError:
    return MarketDataError(f"{source}: row {position + 1} timestamp {value!r} {problem}")


def _epoch_times(numbers: pd.Series, raw: pd.Series, source: str) -> pd.Series:
    """Epoch s/ms/us/ns numbers (the unit of row 1, one for the column) as UTC times."""
    missing = numbers.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        value = raw.iloc[row]
        if pd.isna(value) or not str(value).strip():
            raise MarketDataError(f"{source}: row {row + 1} has an empty timestamp")
        raise _row_error(source, row, value, "is not an epoch number like row 1's")
    values = numbers.to_numpy(dtype=np.float64)
    unit = epoch_unit(values, source)
    per_unit = _NANOSECONDS_PER_UNIT[unit]
    # The extremes decide for the whole column; only a column that fails them is scanned.
    if not (
        values.min() * per_unit > _MIN_NANOSECONDS and values.max() * per_unit < _MAX_NANOSECONDS
    ):
        nanoseconds = values * per_unit
        out_of_range = ~((nanoseconds > _MIN_NANOSECONDS) & (nanoseconds < _MAX_NANOSECONDS))
        row = int(np.argmax(out_of_range))
        raise _row_error(source, row, raw.iloc[row], _OUT_OF_RANGE)
    return pd.to_datetime(numbers.astype("int64"), unit=unit, utc=True)


def _iso_times(text: pd.Series, source: str) -> pd.Series:
    """ISO date-times (no offset = UTC), or one line naming the first row that is not one."""
    try:
        return pd.to_datetime(text, utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        for row, value in enumerate(text):
            try:
                pd.Timestamp(value).as_unit("ns")
            except (ValueError, TypeError, OverflowError):
                raise _row_error(
                    source, row, value, f"is not an ISO date-time or epoch number {_NS_YEARS}"
                ) from None
        raise MarketDataError(
            f"{source}: timestamps could not be parsed ({first_line(exc)})"
        ) from None


def _outside_nanoseconds(times: pd.DatetimeIndex) -> np.ndarray:
    """A bool per time (NaT excluded): True where it cannot be held in nanoseconds."""
    ticks = times.asi8
    per_tick = int(pd.Timedelta(1, unit=times.unit).value)  # nanoseconds per tick
    lowest = -(-pd.Timestamp.min.value // per_tick)  # ceiling: the first tick inside
    highest = pd.Timestamp.max.value // per_tick
    return (ticks < lowest) | (ticks > highest)


def parse_timestamps(raw: pd.Series, source: str) -> pd.DatetimeIndex:
    """Return a UTC nanosecond index from ISO text (no offset = UTC), datetimes or epoch numbers.

    A column whose row 1 is a number is a column of epoch numbers; every bad row is named.
    """
    raw = raw.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(raw):  # Parquet: the index straight from the column
        times = pd.DatetimeIndex(raw)
        times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
    elif pd.api.types.is_numeric_dtype(raw):
        times = pd.DatetimeIndex(_epoch_times(pd.to_numeric(raw), raw, source))
    else:
        numbers = pd.to_numeric(raw, errors="coerce")
        if len(raw) and pd.notna(numbers.iloc[0]):
            times = pd.DatetimeIndex(_epoch_times(numbers, raw, source))
        else:
            empty = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
            if empty.any():
                row = int(np.flatnonzero(empty)[0])
                raise MarketDataError(f"{source}: row {row + 1} has an empty timestamp")
            times = pd.DatetimeIndex(_iso_times(raw.astype(str).str.strip(), source))
    missing = times.isna()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise MarketDataError(f"{source}: row {row + 1} has an empty timestamp")
    out_of_range = _outside_nanoseconds(times)
    if out_of_range.any():
        row = int(np.argmax(out_of_range))
        raise _row_error(source, row, str(raw.iloc[row]), _OUT_OF_RANGE)
    return times.as_unit("ns")


def check_utf8(data: bytes, source: str, header_lines: int) -> None:
    """Refuse bytes that are not UTF-8, naming the data row of the first bad byte."""
    if data.isascii():  # ASCII is UTF-8; the common case costs no decode
        return
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        where = f"row {line - header_lines}" if line > header_lines else "the header"
        raise MarketDataError(
            f"{source}: {where} has byte 0x{data[error.start]:02x}, which is not UTF-8; "
            "save the file as UTF-8"
        ) from None


def _is_blank(data: bytes) -> bool:
    """True when the UTF-8 bytes hold nothing but white space (after a byte order mark)."""
    if data[:4096].decode("utf-8-sig", errors="ignore").strip():
        return False  # the usual file: its first bytes already hold text
    return not data.decode("utf-8-sig").strip()


def read_csv_bytes(data: bytes, source: str, header_lines: int, **options: object) -> pd.DataFrame:
    """pandas.read_csv of UTF-8 bytes, its errors as one line naming the file and data row."""
    check_utf8(data, source, header_lines)
    if _is_blank(data):
        raise MarketDataError(f"{source}: is empty (no header, no rows)")
    try:
        # The parser reads the bytes as they are; decoding to str first would copy the file twice.
        return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", **options)
    except pd.errors.EmptyDataError:
        raise MarketDataError(f"{source}: is empty (no header, no rows)") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as error:
        reason = first_line(error).removeprefix("Error tokenizing data. C error: ")
        fields = _FIELDS_ERROR.search(reason)
        if fields:
            expected, line, found = (int(group) for group in fields.groups())
            reason = (
                f"row {line - header_lines} has {found} fields where the "
                f"{'header has' if header_lines else 'first row has'} {expected}"
            )
        raise MarketDataError(f"{source}: cannot be read as CSV: {reason}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    """pandas.read_parquet's frame, decoded a column at a time: at most one column's scratch.

    Arrow's allocator keeps what it has freed (several times the file, reading every column at
    once) unless told to release it, so it is told after each column.
    """
    import pyarrow as pa  # imported with pandas' Parquet support, only when a file is Parquet
    import pyarrow.parquet as pq

    pool = pa.default_memory_pool()
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow  # with pandas' metadata: the index and dtypes as written
    columns = []
    for name in schema.names:
        columns.append(parquet.read(columns=[name]).column(0))
        pool.release_unused()
    table = pa.Table.from_arrays(columns, schema=schema)
    del columns
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    # Into numpy's memory a column at a time, each arrow buffer handed back as it is copied:
    # memory arrow keeps would outlive the bars and never serve numpy's allocations.
    for position in range(frame.shape[1]):
        frame.isetitem(position, frame.iloc[:, position].copy(deep=True))
        pool.release_unused()
    return frame


def read_table(path: Path) -> pd.DataFrame:
    """Return the raw frame of a Parquet file (.parquet) or a CSV file with a header row."""
    if path.suffix.lower() == ".parquet":
        try:
            return _read_parquet(path)
        except Exception as error:  # pyarrow's errors have no common base worth naming
            raise MarketDataError(
                f"{path}: is not a readable Parquet file ({first_line(error)})"
            ) from None
    return read_csv_bytes(path.read_bytes(), str(path), 1)


def _has_klines_header(data: bytes) -> bool:
    """True when klines bytes start with Binance's header row (newer dumps carry one)."""
    start = data[:64].decode("utf-8-sig", errors="ignore").lstrip().lower()
    return start.startswith(("open_time", '"open_time"'))


def read_klines_csv(data: bytes, source: str, *, as_text: bool = True) -> pd.DataFrame:
    """Return the raw frame of Binance klines bytes, with or without a header: text cells, or
    with as_text=False the numbers pandas reads (faster; a column with a non-number is text)."""
    if as_text:
        raw = read_csv_bytes(data, source, 0, header=None, dtype=str)
    else:
        header_lines = int(_has_klines_header(data))
        raw = read_csv_bytes(
            data, source, header_lines, header=None, skiprows=header_lines, low_memory=False
        )
    if raw.shape[1] != len(BINANCE_COLUMNS):
        raise MarketDataError(
            f"{source}: {raw.shape[1]} columns, Binance klines have {len(BINANCE_COLUMNS)}; "
            "is this an ohlcv_csv file?"
        )
    if str(raw.iloc[0, 0]).strip().lower() == "open_time":  # newer dumps carry a header row
        raw = raw.iloc[1:].reset_index(drop=True)
    raw.columns = list(BINANCE_COLUMNS)
    return raw


def read_klines_bytes(path: Path) -> tuple[bytes, str]:
    """Return a klines dump's csv bytes and its source name: a .zip's one member, or the file."""
    if path.suffix.lower() == ".zip":
        return read_zip_member(path)
    return path.read_bytes(), str(path)


def read_zip_member(path: Path) -> tuple[bytes, str]:
    """Return the bytes of the one .csv inside a zip, and its name as path:member."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.lower().endswith(".csv")]
            if len(members) != 1:
                raise MarketDataError(f"{path}: expected one .csv inside, found {members}")
            return archive.read(members[0]), f"{path}:{members[0]}"
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise MarketDataError(
            f"{path}: is not a readable zip archive ({first_line(error)}); download it again"
        ) from None
