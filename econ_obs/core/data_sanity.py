"""Sanity checks on loaded bars: each refuses with one line naming the file and the first bad row.

Rows count data rows from 1, the header not included. The checks, and their defaults:

* values: prices finite and inside [MIN_PRICE, MAX_PRICE] (1e-12 to 1e12 quote units, far
  outside any real quote, so 1e308 or 1e-300 is a corrupt cell), volume finite and >= 0,
  high >= open, close, low and low <= open, close;
* time: strictly increasing, one epoch unit per column (seconds and milliseconds mixed is
  refused), the modal step equal to the declared timeframe, and every step a whole number of
  bar intervals (a bar off the grid would make gap counts meaningless);
* moves: |log(close_t / close_t-1)| <= max_abs_log_return, default 1.0 (about +172 % or
  -63 % in one bar); None disables the bound (set ``data.max_abs_log_return: null``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from econ_obs.core.gaps import parse_timeframe

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
MIN_PRICE = 1e-12
MAX_PRICE = 1e12
DEFAULT_MAX_ABS_LOG_RETURN = 1.0
# Epoch units by magnitude: ~1.7e9 s, ~1.7e12 ms, ~1.7e15 us, ~1.7e18 ns (for the 2020s).
_EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (np.inf, "ns"))
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


class MarketDataError(ValueError):
    """Market data that cannot be used as it is; the message says where and how to fix it."""


@dataclass(frozen=True)
class DataChecks:
    """What loading checks beyond the values: declared timeframe, move bound, as-of cut."""

    timeframe: str | None = None  # e.g. "1h"; None accepts the file's modal interval
    max_abs_log_return: float | None = DEFAULT_MAX_ABS_LOG_RETURN  # None: no bound
    as_of: pd.Timestamp | None = None  # bars not closed by this time are dropped


def utc_timestamp(value: object) -> pd.Timestamp:
    """Return value (ISO text, datetime or date) as a UTC Timestamp; no offset means UTC."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{value!r} is not an ISO date-time") from error
    if pd.isna(stamp):
        raise ValueError(f"{value!r} is not an ISO date-time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _fail(source: str, times: pd.Index, position: int, problem: str, fix: str) -> None:
    raise MarketDataError(f"{source}: row {position + 1} ({times[position]}) {problem}; {fix}")


def epoch_unit(numbers: np.ndarray, source: str) -> str:
    """Return the one epoch unit (s, ms, us or ns) of a timestamp column, else refuse."""
    values = np.asarray(numbers, dtype=np.float64)
    limits = np.array([limit for limit, _ in _EPOCH_UNITS])
    if len(values) and values.min() >= 0:  # the usual column: its extremes share one unit
        lowest, highest = np.searchsorted(limits, [values.min(), values.max()], side="right")
        if lowest == highest:
            return _EPOCH_UNITS[lowest][1]
    magnitude = np.abs(values)
    unit_codes = np.searchsorted(limits, magnitude, side="right")
    differs = unit_codes != unit_codes[0]
    if differs.any():
        row = int(np.argmax(differs))
        first, other = _EPOCH_UNITS[unit_codes[0]][1], _EPOCH_UNITS[unit_codes[row]][1]
        raise MarketDataError(
            f"{source}: row {row + 1} timestamp {int(numbers[row])} is in epoch "
            f"{_UNIT_NAMES[other]} but row 1 is in epoch {_UNIT_NAMES[first]}; "
            "write the whole column in one unit"
        )
    return _EPOCH_UNITS[unit_codes[0]][1]


def validate_rows(frame: pd.DataFrame, source: str) -> None:
    """Raise MarketDataError naming the first row with a bad value or a bad timestamp order."""
    times = frame.index
    for column in OHLCV_COLUMNS:
        series = frame[column].to_numpy()
        if column == "volume":
            bad = ~np.isfinite(series)
            bad = bad if bad.any() else series < 0
            fix = "volume must be a finite number >= 0; fix or remove the row at the source"
        else:
            with np.errstate(invalid="ignore"):
                bad = ~((series >= MIN_PRICE) & (series <= MAX_PRICE))
            fix = (
                f"prices must be finite numbers in [{MIN_PRICE:g}, {MAX_PRICE:g}]; "
                "fix or remove the row at the source"
            )
        if bad.any():
            row = int(np.argmax(bad))
            _fail(source, times, row, f"has {column}={float(series[row])!r}", fix)
    open_, close = frame["open"].to_numpy(), frame["close"].to_numpy()
    high, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    bad = (high < low) | (high < np.maximum(open_, close)) | (low > np.minimum(open_, close))
    if bad.any():
        row = int(np.argmax(bad))
        _fail(
            source,
            times,
            row,
            f"has high={float(high[row])!r} low={float(low[row])!r} "
            f"open={float(open_[row])!r} close={float(close[row])!r}",
            "high must be >= open, close, low and low <= open, close",
        )
    step = np.diff(times.asi8)
    if (step == 0).any():
        row = int(np.argmax(step == 0)) + 1
        _fail(source, times, row, "repeats the previous timestamp", "remove the duplicate bar")
    if (step < 0).any():
        row = int(np.argmax(step < 0)) + 1
        _fail(
            source, times, row, f"goes back in time from {times[row - 1]}", "sort the file by time"
        )


def modal_interval(index: pd.DatetimeIndex) -> pd.Timedelta:
    """Return the most common step between consecutive bars (1 hour for a single bar)."""
    if len(index) < 2:
        return pd.Timedelta(hours=1)
    steps = pd.Series(np.diff(pd.DatetimeIndex(index).as_unit("ns").asi8))
    return pd.Timedelta(int(steps.mode().iloc[0]), unit="ns")


def check_interval(index: pd.DatetimeIndex, timeframe: str, source: str) -> pd.Timedelta:
    """Return the declared bar interval after checking the modal step and the grid against it."""
    try:
        declared = parse_timeframe(timeframe)
    except ValueError as error:
        raise MarketDataError(f"{source}: {error}") from error
    if len(index) < 2:
        return declared
    steps = np.diff(pd.DatetimeIndex(index).as_unit("ns").asi8)
    on_step = steps == declared.value
    # A step that more than half the steps take is the mode; only other files need counting.
    modal = declared if 2 * int(on_step.sum()) > len(steps) else modal_interval(index)
    if modal != declared:
        row = int(np.argmax(steps == modal.value)) + 1
        _fail(
            source,
            index,
            row,
            f"is {modal} after the row before, and {modal} is the file's modal bar interval, "
            f"but the timeframe is {timeframe} ({declared})",
            f"use a file of {timeframe} bars or set data.timeframe to match the file",
        )
    other_steps = np.flatnonzero(~on_step)
    off_grid = other_steps[steps[other_steps] % declared.value != 0]
    if len(off_grid):
        row = int(off_grid[0]) + 1
        _fail(
            source,
            index,
            row,
            f"is {pd.Timedelta(int(steps[row - 1]), unit='ns')} after the row before, "
            f"not a whole number of {timeframe} bars",
            "remove the off-grid bar or resample the file to the timeframe",
        )
    return declared


def check_moves(frame: pd.DataFrame, source: str, max_abs_log_return: float | None) -> None:
    """Refuse the first bar whose close-to-close |log return| exceeds max_abs_log_return."""
    if max_abs_log_return is None or len(frame) < 2:
        return
    log_return = np.diff(np.log(frame["close"].to_numpy(dtype=np.float64)))
    too_big = np.abs(log_return) > max_abs_log_return
    if too_big.any():
        row = int(np.argmax(too_big)) + 1
        _fail(
            source,
            frame.index,
            row,
            f"has close={float(frame['close'].iloc[row])!r} after "
            f"{float(frame['close'].iloc[row - 1])!r}, a log return of "
            f"{float(log_return[row - 1]):+.3f} beyond +/-{max_abs_log_return:g}",
            "fix the price at the source, or allow it with a larger data.max_abs_log_return "
            "(null disables the bound)",
        )
