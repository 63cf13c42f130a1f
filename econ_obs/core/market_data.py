"""Market data: load OHLCV bars from files, validate them, and say exactly what is wrong.

Every row is checked first (see ``data_sanity``: values, one epoch unit, the declared
timeframe, bar-to-bar moves); a bad row stops the load with the file and its row number.
Gaps (missing bars) are kept, never forward-filled; ``econ_obs.core.gaps`` measures them and
the folds govern them. Reading a file's bytes and time column is ``core.readers``'s.

Only closed candles are kept. A live dump often ends with a candle that had not closed yet;
it must never be an exit price. One rule decides, the first that applies:

1. ``as_of`` given (``data.as_of``, any format): bars whose open time + bar interval is later
   than as_of had not closed and are dropped.
2. A close-time column (Binance klines' column 7; ``close_time``, ``Close time`` in any file):
   the last bar is dropped if close_time - open_time is shorter than the bar interval minus
   1 ms (Binance writes open + interval - 1 ms for a closed bar); a last close time outside its
   bar is refused. The public data.binance.vision dumps hold closed bars only; the REST API
   writes the scheduled close time even for the open candle, so rule 3 applies as well.
3. Otherwise (and after rule 2 kept it): the last bar is dropped if its volume is under
   PARTIAL_VOLUME_FRACTION (25 %) of the median of the PARTIAL_VOLUME_LOOKBACK_BARS (24) before
   it: ~1 closed futures bar in 1,000 is (one real hour dropped), and so is a candle taken in
   the first quarter of its hour; a later one is not, so ``as_of`` is the exact rule.

Only trailing bars are dropped, so a file with a partial last candle loads to the bars (and
folds) of the same file without it; ``MarketBars.partial_bars_dropped`` counts them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from econ_obs.core.data_files import KlinesDumps, find_crypto_file, read_klines_dumps
from econ_obs.core.data_sanity import (
    DEFAULT_MAX_ABS_LOG_RETURN,
    OHLCV_COLUMNS,
    DataChecks,
    MarketDataError,
    check_interval,
    check_moves,
    modal_interval,
    validate_rows,
)
from econ_obs.core.readers import (
    BINANCE_COLUMNS,
    CLOSE_TIME_NAME,
    TIMESTAMP_NAMES,
    column_key,
    parse_timestamps,
    read_klines_bytes,
    read_klines_csv,
    read_table,
)

__all__ = [
    "BINANCE_COLUMNS",
    "CLOSE_TIME_NAME",
    "DATA_FORMATS",
    "DAYS_PER_YEAR",
    "PARTIAL_VOLUME_FRACTION",
    "PARTIAL_VOLUME_LOOKBACK_BARS",
    "TIMESTAMP_NAMES",
    "DataChecks",
    "KlinesDumps",
    "MarketBars",
    "MarketDataError",
    "bars_from_frame",
    "closed_bars",
    "find_crypto_file",
    "load_binance_klines",
    "load_market_bars",
    "load_ohlcv_csv",
    "require_bars",
]

DATA_FORMATS = ("sample", "ohlcv_csv", "binance_klines")
DAYS_PER_YEAR = 365.25
PARTIAL_VOLUME_FRACTION = 0.25
PARTIAL_VOLUME_LOOKBACK_BARS = 24
_CLOSE_TIME_SLACK = pd.Timedelta(milliseconds=1)
_FINGERPRINT_CHUNK_BARS = 1 << 16  # rows hashed at a time: a few MB, never a copy of all bars


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

    # Set by close_only(): the digest of the full OHLCV bars those close prices came from.
    known_fingerprint: str | None = field(default=None, repr=False, compare=False)

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the index (int64 ns) and OHLCV values."""
        if self.known_fingerprint is not None:
            return self.known_fingerprint
        digest = hashlib.sha256()
        index_ns = pd.DatetimeIndex(self.frame.index).as_unit("ns").asi8
        digest.update(memoryview(np.ascontiguousarray(index_ns, dtype="<i8")).cast("B"))
        # The row-major bytes of the (bars x 5) float64 array, hashed a chunk of rows at a time.
        columns = [self.frame[name].to_numpy(dtype="<f8") for name in OHLCV_COLUMNS]
        for start in range(0, self.n_bars, _FINGERPRINT_CHUNK_BARS):
            chunk = np.column_stack([c[start : start + _FINGERPRINT_CHUNK_BARS] for c in columns])
            digest.update(memoryview(np.ascontiguousarray(chunk, dtype="<f8")).cast("B"))
        return digest.hexdigest()

    def close_only(self) -> MarketBars:
        """These bars with the close column alone (all that features and slices read), and the
        fingerprint of the full bars: a third of the memory of OHLCV, same digest."""
        return replace(
            self, frame=self.frame[["close"]].copy(), known_fingerprint=self.fingerprint()
        )


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
    elif close_times is not None and close_times[-1] - opens[-1] < bar_interval - _CLOSE_TIME_SLACK:
        n_closed = len(frame) - 1
    elif len(frame) >= 2:  # also behind a close time: an API dump writes the scheduled one
        volume = frame["volume"].to_numpy()
        before = volume[-1 - PARTIAL_VOLUME_LOOKBACK_BARS : -1]
        n_closed = len(frame) - int(volume[-1] < PARTIAL_VOLUME_FRACTION * np.median(before))
    else:
        n_closed = len(frame)
    return frame.iloc[:n_closed], len(frame) - n_closed


def _checked_close_times(
    raw: pd.Series, opens: pd.DatetimeIndex, bar_interval: pd.Timedelta, source: str, bar: str
) -> pd.DatetimeIndex:
    """The close-time column as UTC times; the last must lie within its bar (a time zone off
    by hours would make an open candle look closed)."""
    close_times = parse_timestamps(raw, f"{source} column {raw.name}")
    last_close, last_open = close_times[-1], opens[-1]
    if not last_open <= last_close <= last_open + bar_interval:
        where = "before" if last_close < last_open else f"more than one {bar} bar after"
        raise MarketDataError(
            f"{source}: row {len(opens)} {raw.name} {last_close.isoformat()} is {where} its "
            f"open time {last_open.isoformat()}; write the bar's end (open + timeframe) in UTC"
        )
    return close_times


def _ohlcv_frame(raw: pd.DataFrame, keys: list[object], index: pd.DatetimeIndex) -> pd.DataFrame:
    """The OHLCV columns of raw as float64 (a cell that is not a number is NaN) on index."""
    if raw.columns.is_unique and all(raw[key].dtype == np.float64 for key in keys):
        # Already numbers (Parquet, most CSV): take the columns as they are, without a copy.
        return raw[keys].set_axis(list(OHLCV_COLUMNS), axis=1).set_axis(index, axis=0)
    columns = {}
    for name, key in zip(OHLCV_COLUMNS, keys, strict=True):
        numbers = pd.to_numeric(raw[key], errors="coerce")
        columns[name] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(columns, index=index)


def bars_from_frame(
    raw: pd.DataFrame, crypto: str, source: str, checks: DataChecks | None = None
) -> MarketBars:
    """Return validated MarketBars of closed candles from a frame with time and OHLCV columns."""
    checks = checks or DataChecks()
    by_name = {column_key(name): name for name in raw.columns}
    time_key = next((by_name[k] for k in map(column_key, TIMESTAMP_NAMES) if k in by_name), None)
    if time_key is None:
        raise MarketDataError(
            f"{source}: no timestamp column; expected one of {', '.join(TIMESTAMP_NAMES)}, "
            f"found {', '.join(map(str, raw.columns))}"
        )
    missing = [name for name in OHLCV_COLUMNS if column_key(name) not in by_name]
    if missing:
        raise MarketDataError(
            f"{source}: missing column(s) {', '.join(missing)}; found "
            f"{', '.join(map(str, raw.columns))}"
        )
    if raw.empty:
        raise MarketDataError(f"{source}: has no rows")
    # pandas 3 may pick a coarser unit than ns; fix it so asi8 and hashes are comparable.
    index = parse_timestamps(raw[time_key], source).as_unit("ns").rename("timestamp")
    frame = _ohlcv_frame(raw, [by_name[column_key(name)] for name in OHLCV_COLUMNS], index)
    validate_rows(frame, source)
    if checks.timeframe is not None:
        bar_interval = check_interval(index, checks.timeframe, source)
    else:
        bar_interval = modal_interval(index)
    check_moves(frame, source, checks.max_abs_log_return)
    close_times = None
    close_key = by_name.get(column_key(CLOSE_TIME_NAME))
    if close_key is not None and checks.as_of is None:
        bar = checks.timeframe or "interval"
        close_times = _checked_close_times(raw[close_key], index, bar_interval, source, bar)
    frame, dropped = closed_bars(frame, bar_interval, close_times, checks.as_of)
    if frame.empty:
        raise MarketDataError(
            f"{source}: no bar had closed by as_of {checks.as_of}; use a later data.as_of"
        )
    if checks.timeframe is None:
        bar_interval = modal_interval(pd.DatetimeIndex(frame.index))
    return MarketBars(crypto, frame, bar_interval, source, partial_bars_dropped=dropped)


def load_ohlcv_csv(path: Path, crypto: str, checks: DataChecks | None = None) -> MarketBars:
    """Return MarketBars from a CSV or Parquet file with a timestamp column and OHLCV columns."""
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"{path}: file not found; check the data path for {crypto}")
    return bars_from_frame(read_table(path), crypto, str(path), checks)


def load_binance_klines(
    path: Path | KlinesDumps, crypto: str, checks: DataChecks | None = None
) -> MarketBars:
    """Return MarketBars from a Binance public klines dump (.csv, or .zip holding one csv), or
    from a folder's monthly and daily dumps joined (see ``core.data_files``)."""
    if isinstance(path, KlinesDumps):
        return bars_from_frame(read_klines_dumps(path), crypto, path.source, checks)
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"{path}: file not found; check the data path for {crypto}")
    data, source = read_klines_bytes(path)
    return bars_from_frame(read_klines_csv(data, source), crypto, source, checks)


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
