"""Walk-forward windows anchored to the data: rolling fixed-length train, purge gap, test.

Windows depend only on the bars' index and the FoldConfig, never on the clock, so the same
data gives the same windows in any process. Windows hold a fixed number of bars; the missing
bars inside each are measured by `fold_gaps`, which refuses a test window whose largest gap is
longer than ``max_gap_bars`` (``data.max_gap_bars``, default DEFAULT_MAX_GAP_BARS = 24 bars).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from econ_obs.core.gaps import WindowGaps, window_gaps
from econ_obs.core.market_data import MarketDataError

DEFAULT_MAX_GAP_BARS = 24  # one day of 1h bars; the same count of bars for any timeframe
# Where the folds are laid: "end" puts the last test window on the last bar (the latest data
# is always tested; appended bars move every window); "start" puts the first train window on
# the first bar (appended bars never move a window; more data allows more folds).
FOLD_ANCHORS = ("end", "start")


@dataclass(frozen=True)
class FoldConfig:
    """Walk-forward sizes, all in bars."""

    n_folds: int
    train_bars: int
    test_bars: int
    purge_bars: int
    anchor: str = "end"

    def __post_init__(self) -> None:
        minimums = {"n_folds": 1, "train_bars": 2, "test_bars": 2, "purge_bars": 0}
        for key, minimum in minimums.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"fold config {key}={value!r} must be an integer >= {minimum}")
        if self.anchor not in FOLD_ANCHORS:
            raise ValueError(f"fold config anchor={self.anchor!r} must be one of {FOLD_ANCHORS}")

    @property
    def bars_needed(self) -> int:
        """Bars needed for all folds: train_bars + purge_bars + n_folds * test_bars."""
        return self.train_bars + self.purge_bars + self.n_folds * self.test_bars


@dataclass(frozen=True)
class FoldWindow:
    """One fold: bar open times (inclusive) and positional slices into the bars' index."""

    fold_id: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_slice: slice
    test_slice: slice
    n_test_bars: int


def walk_forward_folds(
    index: pd.DatetimeIndex, config: FoldConfig, crypto: str
) -> list[FoldWindow]:
    """Return the walk-forward FoldWindows (oldest first) for a bar index; sizes are in bars.

    The test windows are contiguous and do not overlap. With ``anchor="end"`` (the default)
    the last one ends at the last bar, and bars before the first train window are unused. With
    ``anchor="start"`` the first train window starts at the first bar, so appending bars never
    moves a window; bars after the last test window are unused until n_folds grows. Each train
    window is the ``train_bars`` bars that end ``purge_bars`` bars before its test window
    starts (rolling, fixed length).

    Example: 12 bars (0..11), n_folds=3, train_bars=4, test_bars=2, purge_bars=1::

        bar:     0 1 2 3 4 5 6 7 8 9 10 11
        fold 0:    T T T T p t t
        fold 1:        T T T T p t t
        fold 2:            T T T T p t  t

    (T train, p purged, t test; bars_needed = 4 + 1 + 3*2 = 11, so bar 0 is unused.)

    Look-ahead warning: a train window must not see its test window. A label that looks one
    bar ahead (next-bar return) makes the last train bar's label fall on the first purged or
    test bar; the model code drops that row, and purge_bars > 0 adds a further margin for
    features or labels with longer horizons. Windows are by position, so gaps in the bars
    (missing hours) are not filled: a window holds a fixed number of bars, not of hours;
    `fold_gaps` measures and limits them.
    """
    n_bars = len(index)
    if n_bars < config.bars_needed:
        raise MarketDataError(
            f"{crypto}: walk-forward needs {config.bars_needed} bars (train_bars "
            f"{config.train_bars} + purge_bars {config.purge_bars} + {config.n_folds} x "
            f"test_bars {config.test_bars}), {n_bars} available; use more data or smaller folds"
        )
    if config.anchor == "start":
        first_test_start = config.train_bars + config.purge_bars
    else:
        first_test_start = n_bars - config.n_folds * config.test_bars
    windows = []
    for fold_id in range(config.n_folds):
        test_start = first_test_start + fold_id * config.test_bars
        test_stop = test_start + config.test_bars
        train_stop = test_start - config.purge_bars
        train_start = train_stop - config.train_bars
        windows.append(
            FoldWindow(
                fold_id=fold_id,
                train_start=index[train_start],
                train_end=index[train_stop - 1],
                test_start=index[test_start],
                test_end=index[test_stop - 1],
                train_slice=slice(train_start, train_stop),
                test_slice=slice(test_start, test_stop),
                n_test_bars=config.test_bars,
            )
        )
    return windows


def fold_gaps(
    index: pd.DatetimeIndex,
    bar_interval: pd.Timedelta,
    window: FoldWindow,
    crypto: str,
    max_gap_bars: int = DEFAULT_MAX_GAP_BARS,
) -> tuple[WindowGaps, WindowGaps]:
    """Return the (train, test) WindowGaps of a fold; refuse a test gap over max_gap_bars bars."""
    if isinstance(max_gap_bars, bool) or not isinstance(max_gap_bars, int) or max_gap_bars < 0:
        raise ValueError(f"max_gap_bars={max_gap_bars!r} must be an integer >= 0")
    train_gaps = window_gaps(index, bar_interval, window.train_slice)
    test_gaps = window_gaps(index, bar_interval, window.test_slice)
    if test_gaps.largest_gap_bars > max_gap_bars:
        raise MarketDataError(
            f"{crypto}: fold {window.fold_id} test window {window.test_start} to "
            f"{window.test_end} has a gap of {test_gaps.largest_gap_bars} missing bars "
            f"({bar_interval} each) between {test_gaps.largest_gap_after} and "
            f"{test_gaps.largest_gap_before}, more than data.max_gap_bars={max_gap_bars}; "
            "fill the gap at the source, use data or folds that avoid it, or raise "
            "data.max_gap_bars"
        )
    return train_gaps, test_gaps
