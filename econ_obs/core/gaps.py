"""Gaps in a bar index: declared bar length, bars after a gap, and a window's gap statistics.

A gap is a step between two consecutive present bars longer than one bar interval; the bars
it skips are *missing bars*. Bars are on a grid (the loaders refuse steps that are not a whole
number of intervals), so every count here is exact. Example, 1h bars at 00, 01, 02, 06, 07::

    missing_bars = 3 (03, 04, 05)   largest_gap_bars = 3   span = 7 h (00:00 to 07:00)

`span` runs from the first bar's open to the last bar's open, so a gap-free window of n bars
spans (n - 1) intervals and n_bars + missing_bars = span / interval + 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_TIMEFRAME = re.compile(r"([1-9][0-9]*)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_timeframe(timeframe: str) -> pd.Timedelta:
    """Return the bar length of a timeframe like 1m, 15m, 1h, 4h, 1d, 1w (s/m/h/d/w)."""
    match = _TIMEFRAME.fullmatch(str(timeframe))
    if match is None:
        raise ValueError(
            f"timeframe {timeframe!r} is not a fixed bar length; write a number and one of "
            "s, m, h, d, w (e.g. 1h, 15m, 1d)"
        )
    return pd.Timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


@dataclass(frozen=True)
class WindowGaps:
    """Missing bars inside one window of bars (counts in bars, span as wall-clock time)."""

    missing_bars: int  # bars the timeframe expects over the span, minus bars present
    largest_gap_bars: int  # most bars missing between two consecutive present bars
    span: pd.Timedelta  # first bar's open to last bar's open
    largest_gap_after: pd.Timestamp | None  # open of the present bar before the largest gap
    largest_gap_before: pd.Timestamp | None  # open of the present bar after the largest gap

    @property
    def span_hours(self) -> float:
        """The span in hours."""
        return self.span / pd.Timedelta(hours=1)


def missing_before(index: pd.DatetimeIndex, bar_interval: pd.Timedelta) -> np.ndarray:
    """Return, for each bar, how many bars are missing between it and the bar before (int64)."""
    steps_ns = np.diff(pd.DatetimeIndex(index).as_unit("ns").asi8)
    missing = np.zeros(len(index), dtype=np.int64)
    missing[1:] = steps_ns // bar_interval.value - 1
    return np.maximum(missing, 0)


def after_gap(index: pd.DatetimeIndex, bar_interval: pd.Timedelta) -> np.ndarray:
    """Return a bool per bar: True where one or more bars are missing just before it."""
    return missing_before(index, bar_interval) > 0


def window_gaps(index: pd.DatetimeIndex, bar_interval: pd.Timedelta, window: slice) -> WindowGaps:
    """Return the WindowGaps of the bars index[window] (a positional slice, step 1)."""
    bars = pd.DatetimeIndex(index[window])
    if len(bars) == 0:
        return WindowGaps(0, 0, pd.Timedelta(0), None, None)
    missing = missing_before(bars, bar_interval)
    missing[0] = 0  # a gap before the window's first bar is not inside the window
    largest = int(np.argmax(missing))
    has_gap = bool(missing[largest] > 0)
    return WindowGaps(
        missing_bars=int(missing.sum()),
        largest_gap_bars=int(missing[largest]),
        span=pd.Timedelta(bars[-1] - bars[0]),
        largest_gap_after=bars[largest - 1] if has_gap else None,
        largest_gap_before=bars[largest] if has_gap else None,
    )
