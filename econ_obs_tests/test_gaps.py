"""Gaps: measured exactly per window, refused over the limit in a test window, never one bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from econ_obs.core.backtest import build_feature_slices
from econ_obs.core.features import compute_features
from econ_obs.core.folds import FoldConfig, fold_gaps, walk_forward_folds
from econ_obs.core.gaps import WindowGaps, after_gap, parse_timeframe, window_gaps
from econ_obs.core.market_data import MarketBars, MarketDataError
from econ_obs.core.sample_data import sample_bars

HOUR = pd.Timedelta(hours=1)
# The case: 72 hourly bars removed inside a 1000-bar test window.
FOLDS = FoldConfig(n_folds=2, train_bars=400, test_bars=1000, purge_bars=24)
GAP_START = 2000  # position of the first removed bar; inside the last fold's test window
GAP_BARS = 72


def holed_bars(n_bars: int = 2500, start: int = GAP_START, length: int = GAP_BARS) -> MarketBars:
    """Sample BTC bars with `length` consecutive bars from position `start` removed."""
    bars = sample_bars("BTCUSDT", n_bars=n_bars)
    frame = bars.frame.drop(bars.frame.index[start : start + length])
    return MarketBars("BTCUSDT", frame, bars.bar_interval, "test")


def test_parse_timeframe() -> None:
    assert parse_timeframe("1h") == HOUR
    assert parse_timeframe("15m") == pd.Timedelta(minutes=15)
    assert parse_timeframe("1d") == pd.Timedelta(days=1)
    assert parse_timeframe("1w") == pd.Timedelta(days=7)
    for bad in ("1M", "h", "0h", "1.5h", "1 h"):
        with pytest.raises(ValueError, match="not a fixed bar length"):
            parse_timeframe(bad)


def test_docstring_example_is_exact() -> None:
    index = pd.DatetimeIndex(
        [pd.Timestamp("2024-01-01", tz="UTC") + hour * HOUR for hour in (0, 1, 2, 6, 7)]
    )
    gaps = window_gaps(index, HOUR, slice(0, 5))
    assert gaps == WindowGaps(3, 3, 7 * HOUR, index[2], index[3])
    assert gaps.span_hours == 7.0
    assert window_gaps(index, HOUR, slice(3, 5)) == WindowGaps(0, 0, HOUR, None, None)
    assert list(after_gap(index, HOUR)) == [False, False, False, True, False]


def test_gap_inside_test_window_is_measured_exactly() -> None:
    bars = holed_bars()
    folds = walk_forward_folds(bars.frame.index, FOLDS, "BTCUSDT")
    train_gaps, test_gaps = fold_gaps(bars.frame.index, HOUR, folds[1], "BTCUSDT", GAP_BARS)
    assert folds[1].n_test_bars == 1000
    assert test_gaps.missing_bars == GAP_BARS
    assert test_gaps.largest_gap_bars == GAP_BARS
    assert test_gaps.span_hours == 1071.0  # 1000 bars + 72 missing, open to open
    assert test_gaps.largest_gap_after == pd.Timestamp("2022-03-25 07:00", tz="UTC")
    assert test_gaps.largest_gap_before == pd.Timestamp("2022-03-28 08:00", tz="UTC")
    assert train_gaps == WindowGaps(0, 0, 399 * HOUR, None, None)
    earlier = fold_gaps(bars.frame.index, HOUR, folds[0], "BTCUSDT", 0)[1]
    assert earlier.missing_bars == 0 and earlier.span_hours == 999.0


def test_gap_over_the_limit_is_refused_naming_crypto_fold_and_gap() -> None:
    with pytest.raises(MarketDataError) as caught:
        build_feature_slices(holed_bars(), FOLDS, "returns", max_gap_bars=24)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("BTCUSDT: fold 1 test window")
    assert "gap of 72 missing bars" in message
    assert "between 2022-03-25 07:00:00+00:00 and 2022-03-28 08:00:00+00:00" in message
    assert "data.max_gap_bars=24" in message


def test_gap_at_the_limit_is_kept_and_carried_by_the_slice() -> None:
    slices = build_feature_slices(holed_bars(), FOLDS, "returns", max_gap_bars=GAP_BARS)
    assert [s.test_gaps.missing_bars for s in slices] == [0, GAP_BARS]
    assert slices[1].test_gaps.span_hours == 1071.0
    assert [s.train_gaps.missing_bars for s in slices] == [0, 0]
    clean = build_feature_slices(sample_bars("BTCUSDT", n_bars=2500), FOLDS, "returns")
    assert all(s.test_gaps.missing_bars == 0 for s in clean)  # default limit, no gaps


def test_gap_in_train_window_is_measured_not_refused() -> None:
    bars = holed_bars(n_bars=1600, start=300, length=100)  # 1500 bars: train is 76..476
    one_fold = FoldConfig(n_folds=1, train_bars=400, test_bars=1000, purge_bars=24)
    (only,) = build_feature_slices(bars, one_fold, "returns", max_gap_bars=0)
    assert only.train_gaps.missing_bars == only.train_gaps.largest_gap_bars == 100
    assert only.train_gaps.span_hours == 499.0
    assert only.test_gaps.missing_bars == 0


def test_max_gap_bars_must_be_a_whole_number() -> None:
    bars = sample_bars("BTCUSDT", n_bars=2500)
    fold = walk_forward_folds(bars.frame.index, FOLDS, "BTCUSDT")[0]
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="max_gap_bars"):
            fold_gaps(bars.frame.index, HOUR, fold, "BTCUSDT", bad)


def test_return_across_a_gap_is_never_one_bar() -> None:
    bars = holed_bars(n_bars=800, start=400, length=GAP_BARS)
    frame = compute_features("returns", bars).frame
    after = 400  # position of the first bar after the gap
    close = np.log(bars.frame["close"].to_numpy())
    for lag in range(1, 6):  # the gap's return would be ret_lag_k at bar after + k - 1
        assert np.isnan(frame[f"ret_lag_{lag}"].iloc[after + lag - 1])
    assert frame["ret_lag_1"].iloc[after + 1] == pytest.approx(close[after + 1] - close[after])
    one_bar = pd.Series(np.diff(close, prepend=np.nan)).drop(index=after)
    expected_vol = one_bar.loc[after + 10 - 23 : after + 10].std()  # the other 23 returns
    assert frame["vol_24"].iloc[after + 10] == pytest.approx(expected_vol)
    # mom_6 spans the returns after-1 -> after+5; without the gap's move it is after -> after+5.
    assert frame["mom_6"].iloc[after + 5] == pytest.approx(close[after + 5] - close[after])
    assert frame.iloc[after + 200].notna().all()  # the gap leaves every window: all back
    # Before the gap the features are those of the unbroken series.
    unbroken = compute_features("returns", sample_bars("BTCUSDT", n_bars=800)).frame
    pd.testing.assert_frame_equal(frame.iloc[:after], unbroken.iloc[:after], check_freq=False)
