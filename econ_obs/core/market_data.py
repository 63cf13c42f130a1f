"""Market data: load OHLCV bars from files, validate them, and say exactly what is wrong.

Every row is checked first (see ``data_sanity``: values, one epoch unit, the declared
timeframe, bar-to-bar moves); a bad row stops the load with the file and its row number.
Gaps (missing bars) are kept as they are, never forward-filled; ``econ_obs.core.gaps``
measures them and the folds govern them.

Only closed candles are kept. A live dump often ends with a candle that had not closed yet;
it must never be an exit price. One rule decides, the first that applies:

1. ``as_of`` given (``data.as_of``, any format): bars whose open time + bar interval is later
   than as_of had not closed and are dropped.
2. A file with a close-time column (Binance klines, column 7, in ms or us): the last bar is
   dropped if close_time - open_time is shorter than the bar interval minus 1 ms (Binance
   writes open + interval - 1 ms for a closed bar). The public data.binance.vision dumps hold
   closed bars only; the REST API writes the scheduled close time even for the open candle,
   so give ``as_of`` for an API dump.
3. A plain OHLCV file (no close time): the last bar is dropped if its volume is below
   PARTIAL_VOLUME_FRACTION (10 %) of the median volume of the PARTIAL_VOLUME_LOOKBACK_BARS
   (24) bars before it.

At most the trailing bars are dropped, so a file with a partial last candle loads to exactly
the bars (and fingerprint, and folds) of the same file without it. ``MarketBars.partial_bars_
dropped`` says how many were dropped; nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from econ_obs.core.data_sanity import (
    DEFAULT_MAX_ABS_LOG_RETURN,
    OHLCV_COLUMNS,
    DataChecks,
    MarketDataError,
    check_interval,
    check_moves,
    epoch_unit,
    modal_interval,
    validate_rows,
)

DATA_FORMATS = ("sample", "ohlcv_csv", "binance_klines")
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
DAYS_PER_YEAR = 365.25
PARTIAL_VOLUME_FRACTION = 0.1
PARTIAL_VOLUME_LOOKBACK_BARS = 24
_CLOSE_TIME_SLACK = pd.Timedelta(milliseconds=1)
_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_NANOSECONDS_PER_UNIT = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}
# Bars are indexed in nanoseconds, which reach from 1677 to 2262.
_MIN_NANOSECONDS, _MAX_NANOSECONDS = float(pd.Timestamp.min.value), float(pd.Timestamp.max.value)
_NS_YEARS = "between the years 1677 and 2262"
_OUT_OF_RANGE = f"is not a time {_NS_YEARS}; check the column's unit and the value"


@dataclass(frozen=True)
class MarketBars:
    """Validated OHLCV bars of one crypto, indexed by bar open time (UTC)."""

    crypto: str
    frame: pd.DataFrame
    bar_interval: pd.Timedelta
    source: str
    partial_bars_dropped: int = 0  # trailing bars not closed yet, dropped at load

    @property
    def n_bars(self) -> int:
        """Number of bars."""
        return len(self.frame)

    @property
    def bars_per_year(self) -> float:
        """Bars per year (365.25 days / bar_interval), for annualising."""
        return pd.Timedelta(days=DAYS_PER_YEAR) / self.bar_interval

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the index (int64 ns) and OHLCV values."""
        digest = hashlib.sha256()
        index_ns = pd.DatetimeIndex(self.frame.index).as_unit("ns").asi8
        digest.update(np.ascontiguousarray(index_ns, dtype="<i8").tobytes())
        values = self.frame.loc[:, list(OHLCV_COLUMNS)].to_numpy(dtype="<f8")
        digest.update(np.ascontiguousarray(values).tobytes())
        return digest.hexdigest()


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
    nanoseconds = values * _NANOSECONDS_PER_UNIT[unit]
    out_of_range = ~((nanoseconds > _MIN_NANOSECONDS) & (nanoseconds < _MAX_NANOSECONDS))
    if out_of_range.any():
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
            f"{source}: timestamps could not be parsed ({_first_line(exc)})"
        ) from None


def _parse_timestamps(raw: pd.Series, source: str) -> pd.DatetimeIndex:
    """Parse ISO strings (no offset = UTC), datetimes or epoch s/ms/us/ns into a UTC index.

    A column whose row 1 is a number is a column of epoch numbers; every bad row is named.
    """
    raw = raw.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(raw):  # Parquet
        parsed = raw.dt.tz_localize("UTC") if raw.dt.tz is None else raw.dt.tz_convert("UTC")
    elif pd.api.types.is_numeric_dtype(raw):
        parsed = _epoch_times(pd.to_numeric(raw), raw, source)
    else:
        numbers = pd.to_numeric(raw, errors="coerce")
        if len(raw) and pd.notna(numbers.iloc[0]):
            parsed = _epoch_times(numbers, raw, source)
        else:
            empty = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
            if empty.any():
                row = int(np.flatnonzero(empty)[0])
                raise MarketDataError(f"{source}: row {row + 1} has an empty timestamp")
            parsed = _iso_times(raw.astype(str).str.strip(), source)
    missing = parsed.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise MarketDataError(f"{source}: row {row + 1} has an empty timestamp")
    out_of_range = ~(
        (parsed >= pd.Timestamp.min.tz_localize("UTC"))
        & (parsed <= pd.Timestamp.max.tz_localize("UTC"))
    ).to_numpy()
    if out_of_range.any():
        row = int(np.argmax(out_of_range))
        raise _row_error(source, row, str(raw.iloc[row]), _OUT_OF_RANGE)
    return pd.DatetimeIndex(parsed).as_unit("ns")


def closed_bars(
    frame: pd.DataFrame,
    bar_interval: pd.Timedelta,
    close_times: pd.DatetimeIndex | None = None,
    as_of: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, int]:
    """Return the frame without its trailing unclosed bars, and how many were dropped."""
    opens = pd.DatetimeIndex(frame.index)
    if as_of is not None:
        n_closed = int(np.searchsorted(opens + bar_interval, as_of, side="right"))
    elif close_times is not None:
        last_duration = close_times[-1] - opens[-1]
        n_closed = len(frame) - int(last_duration < bar_interval - _CLOSE_TIME_SLACK)
    elif len(frame) >= 2:
        volume = frame["volume"].to_numpy()
        before = volume[-1 - PARTIAL_VOLUME_LOOKBACK_BARS : -1]
        n_closed = len(frame) - int(volume[-1] < PARTIAL_VOLUME_FRACTION * np.median(before))
    else:
        n_closed = len(frame)
    return frame.iloc[:n_closed], len(frame) - n_closed


def bars_from_frame(
    raw: pd.DataFrame, crypto: str, source: str, checks: DataChecks | None = None
) -> MarketBars:
    """Return validated MarketBars of closed candles from a frame with time and OHLCV columns."""
    checks = checks or DataChecks()
    by_name = {str(name).strip().lower(): name for name in raw.columns}
    time_key = next((by_name[name] for name in TIMESTAMP_NAMES if name in by_name), None)
    if time_key is None:
        raise MarketDataError(
            f"{source}: no timestamp column; expected one of {', '.join(TIMESTAMP_NAMES)}, "
            f"found {', '.join(map(str, raw.columns))}"
        )
    missing = [name for name in OHLCV_COLUMNS if name not in by_name]
    if missing:
        raise MarketDataError(
            f"{source}: missing column(s) {', '.join(missing)}; found "
            f"{', '.join(map(str, raw.columns))}"
        )
    if raw.empty:
        raise MarketDataError(f"{source}: has no rows")
    # pandas 3 may pick a coarser unit than ns; fix it so asi8 and hashes are comparable.
    index = _parse_timestamps(raw[time_key], source).as_unit("ns").rename("timestamp")
    columns = {}
    for name in OHLCV_COLUMNS:
        numbers = pd.to_numeric(raw[by_name[name]], errors="coerce")
        columns[name] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    frame = pd.DataFrame(columns, index=index)
    validate_rows(frame, source)
    if checks.timeframe is not None:
        bar_interval = check_interval(index, checks.timeframe, source)
    else:
        bar_interval = modal_interval(index)
    check_moves(frame, source, checks.max_abs_log_return)
    close_times = None
    if CLOSE_TIME_NAME in by_name and checks.as_of is None:
        close_column = raw[by_name[CLOSE_TIME_NAME]]
        if not pd.api.types.is_numeric_dtype(close_column):
            numeric = pd.to_numeric(close_column, errors="coerce")
            close_column = numeric if numeric.notna().all() else close_column
        close_times = _parse_timestamps(close_column, f"{source} column {CLOSE_TIME_NAME}")
    frame, dropped = closed_bars(frame, bar_interval, close_times, checks.as_of)
    if frame.empty:
        raise MarketDataError(
            f"{source}: no bar had closed by as_of {checks.as_of}; use a later data.as_of"
        )
    if checks.timeframe is None:
        bar_interval = modal_interval(pd.DatetimeIndex(frame.index))
    return MarketBars(crypto, frame, bar_interval, source, partial_bars_dropped=dropped)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _utf8_text(data: bytes, source: str, header_lines: int) -> str:
    """The bytes as text; a byte that is not UTF-8 is named with its data row."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        where = f"row {line - header_lines}" if line > header_lines else "the header"
        raise MarketDataError(
            f"{source}: {where} has byte 0x{data[error.start]:02x}, which is not UTF-8; "
            "save the file as UTF-8"
        ) from None


def _read_csv_text(text: str, source: str, header_lines: int, **options: object) -> pd.DataFrame:
    """pandas.read_csv of text, its errors as one line naming the file and data row."""
    if not text.strip():
        raise MarketDataError(f"{source}: is empty (no header, no rows)")
    try:
        return pd.read_csv(io.StringIO(text), **options)
    except pd.errors.EmptyDataError:
        raise MarketDataError(f"{source}: is empty (no header, no rows)") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as error:
        reason = _first_line(error).removeprefix("Error tokenizing data. C error: ")
        fields = _FIELDS_ERROR.search(reason)
        if fields:
            expected, line, found = (int(group) for group in fields.groups())
            reason = (
                f"row {line - header_lines} has {found} fields where the "
                f"{'header has' if header_lines else 'first row has'} {expected}"
            )
        raise MarketDataError(f"{source}: cannot be read as CSV: {reason}") from None


def load_ohlcv_csv(path: Path, crypto: str, checks: DataChecks | None = None) -> MarketBars:
    """Return MarketBars from a CSV or Parquet file with a timestamp column and OHLCV columns."""
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"{path}: file not found; check the data path for {crypto}")
    if path.suffix.lower() == ".parquet":
        try:
            raw = pd.read_parquet(path)
        except Exception as error:  # pyarrow's errors have no common base worth naming
            raise MarketDataError(
                f"{path}: is not a readable Parquet file ({_first_line(error)})"
            ) from None
    else:
        raw = _read_csv_text(_utf8_text(path.read_bytes(), str(path), 1), str(path), 1)
    return bars_from_frame(raw, crypto, str(path), checks)


def _read_klines_csv(data: bytes, source: str) -> pd.DataFrame:
    text = _utf8_text(data, source, 0)
    raw = _read_csv_text(text, source, 0, header=None, dtype=str)
    if raw.shape[1] != len(BINANCE_COLUMNS):
        raise MarketDataError(
            f"{source}: {raw.shape[1]} columns, Binance klines have {len(BINANCE_COLUMNS)}; "
            "is this an ohlcv_csv file?"
        )
    if str(raw.iloc[0, 0]).strip().lower() == "open_time":  # newer dumps carry a header row
        raw = raw.iloc[1:].reset_index(drop=True)
    raw.columns = list(BINANCE_COLUMNS)
    return raw


def _read_zip_member(path: Path) -> tuple[bytes, str]:
    """The bytes of the one .csv inside a zip, and its name as path:member."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.lower().endswith(".csv")]
            if len(members) != 1:
                raise MarketDataError(f"{path}: expected one .csv inside, found {members}")
            return archive.read(members[0]), f"{path}:{members[0]}"
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise MarketDataError(
            f"{path}: is not a readable zip archive ({_first_line(error)}); download it again"
        ) from None


def load_binance_klines(path: Path, crypto: str, checks: DataChecks | None = None) -> MarketBars:
    """Return MarketBars from a Binance public klines dump (.csv, or .zip holding one csv)."""
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"{path}: file not found; check the data path for {crypto}")
    if path.suffix.lower() == ".zip":
        data, source = _read_zip_member(path)
    else:
        data, source = path.read_bytes(), str(path)
    return bars_from_frame(_read_klines_csv(data, source), crypto, source, checks)


def find_crypto_file(folder: Path, crypto: str, timeframe: str, data_format: str) -> Path:
    """Return the path of `<CRYPTO>_<timeframe>.<ext>` inside folder for the data format."""
    suffixes = {"ohlcv_csv": (".csv", ".parquet"), "binance_klines": (".zip", ".csv")}
    if data_format not in suffixes:
        raise MarketDataError(f"data_format {data_format!r} has no files; use one of {suffixes}")
    stem = f"{crypto}_{timeframe}"
    for suffix in suffixes[data_format]:
        candidate = Path(folder) / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    expected = " or ".join(stem + suffix for suffix in suffixes[data_format])
    raise MarketDataError(
        f"{folder}: no file for crypto {crypto}; expected {expected} ({data_format})"
    )


def load_market_bars(
    data_format: str,
    crypto: str,
    path: Path | None,
    timeframe: str,
    *,
    max_abs_log_return: float | None = DEFAULT_MAX_ABS_LOG_RETURN,
    as_of: pd.Timestamp | None = None,
) -> MarketBars:
    """Return checked MarketBars of closed candles from the sample generator, a file or folder.

    The bars must be `timeframe` bars (a file of another modal interval is refused), moves are
    bounded by max_abs_log_return (None: no bound), and as_of drops bars not closed by then.
    """
    if data_format not in DATA_FORMATS:
        raise MarketDataError(
            f"data_format {data_format!r} is unknown; use one of {', '.join(DATA_FORMATS)}"
        )
    if data_format == "sample":
        from econ_obs.core.sample_data import sample_bars  # sample_data imports this module

        bars = sample_bars(crypto)
        check_interval(bars.frame.index, timeframe, f"sample data for {crypto}")
        check_moves(bars.frame, f"sample data for {crypto}", max_abs_log_return)
        return bars
    if path is None:
        raise MarketDataError(f"data_format {data_format!r} needs a data path for {crypto}")
    path = Path(path)
    if path.is_dir():
        path = find_crypto_file(path, crypto, timeframe, data_format)
    loader = load_ohlcv_csv if data_format == "ohlcv_csv" else load_binance_klines
    return loader(path, crypto, DataChecks(timeframe, max_abs_log_return, as_of))


def require_bars(bars: MarketBars, needed_bars: int) -> None:
    """Raise MarketDataError if bars holds fewer than needed_bars bars."""
    if bars.n_bars < needed_bars:
        raise MarketDataError(
            f"{bars.crypto}: {bars.n_bars} bars available in {bars.source}, {needed_bars} needed; "
            "use more data or fewer/smaller folds"
        )
