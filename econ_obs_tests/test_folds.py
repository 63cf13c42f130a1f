"""Walk-forward windows: properties over many configurations, and determinism across processes."""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econ_obs.core.folds import FoldConfig, walk_forward_folds
from econ_obs.core.market_data import MarketDataError


def hourly_index(n_bars: int) -> pd.DatetimeIndex:
    return pd.date_range("2022-01-01", periods=n_bars, freq="h", tz="UTC", name="timestamp")


configs = st.builds(
    FoldConfig,
    n_folds=st.integers(1, 8),
    train_bars=st.integers(2, 60),
    test_bars=st.integers(2, 30),
    purge_bars=st.integers(0, 10),
)


@settings(max_examples=200, deadline=None)
@given(config=configs, extra_bars=st.integers(0, 50))
def test_window_properties(config: FoldConfig, extra_bars: int) -> None:
    index = hourly_index(config.bars_needed + extra_bars)
    windows = walk_forward_folds(index, config, "BTCUSDT")
    assert windows == walk_forward_folds(index, config, "BTCUSDT")
    assert [w.fold_id for w in windows] == list(range(config.n_folds))
    assert windows[-1].test_slice.stop == len(index)
    assert windows[-1].test_end == index[-1]
    for window in windows:
        train, test = window.train_slice, window.test_slice
        assert train.stop - train.start == config.train_bars
        assert test.stop - test.start == config.test_bars == window.n_test_bars
        assert test.start - train.stop == config.purge_bars  # purge gap, never crossing
        assert train.start >= 0
        assert window.train_start == index[train.start]
        assert window.train_end == index[train.stop - 1]
        assert window.test_start == index[test.start]
        assert window.test_end == index[test.stop - 1]
        assert window.train_end < window.test_start
    for earlier, later in pairwise(windows):
        assert earlier.test_slice.stop == later.test_slice.start  # contiguous and disjoint


def test_small_example_matches_docstring() -> None:
    windows = walk_forward_folds(hourly_index(12), FoldConfig(3, 4, 2, 1), "BTCUSDT")
    assert [(w.train_slice.start, w.test_slice.start) for w in windows] == [(1, 6), (3, 8), (5, 10)]


def test_too_few_bars_names_crypto_and_counts() -> None:
    config = FoldConfig(n_folds=3, train_bars=10, test_bars=5, purge_bars=2)
    with pytest.raises(MarketDataError, match=r"ETHUSDT: .*needs 27 bars.*26 available"):
        walk_forward_folds(hourly_index(26), config, "ETHUSDT")


@pytest.mark.parametrize(
    ("key", "kwargs"),
    [
        ("n_folds", {"n_folds": 0, "train_bars": 2, "test_bars": 2, "purge_bars": 0}),
        ("train_bars", {"n_folds": 1, "train_bars": 1, "test_bars": 2, "purge_bars": 0}),
        ("test_bars", {"n_folds": 1, "train_bars": 2, "test_bars": 1, "purge_bars": 0}),
        ("purge_bars", {"n_folds": 1, "train_bars": 2, "test_bars": 2, "purge_bars": -1}),
    ],
)
def test_config_validation_names_key(key: str, kwargs: dict) -> None:
    with pytest.raises(ValueError, match=key):
        FoldConfig(**kwargs)


def test_windows_identical_across_processes() -> None:
    code = (
        "import pandas as pd\n"
        "from econ_obs.core.folds import FoldConfig, walk_forward_folds\n"
        "index = pd.date_range('2022-01-01', periods=500, freq='h', tz='UTC')\n"
        "for w in walk_forward_folds(index, FoldConfig(4, 100, 50, 6), 'BTCUSDT'):\n"
        "    print(w)\n"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = walk_forward_folds(hourly_index(500), FoldConfig(4, 100, 50, 6), "BTCUSDT")
    assert other.stdout.strip().splitlines() == [str(window) for window in here]


@settings(max_examples=200, deadline=None)
@given(config=configs, extra_bars=st.integers(0, 50), appended=st.integers(1, 200))
def test_anchored_at_the_start_appended_bars_never_move_a_window(
    config: FoldConfig, extra_bars: int, appended: int
) -> None:
    anchored = FoldConfig(
        config.n_folds, config.train_bars, config.test_bars, config.purge_bars, anchor="start"
    )
    index = hourly_index(anchored.bars_needed + extra_bars)
    longer = hourly_index(len(index) + appended)  # the same bars and more after them

    windows = walk_forward_folds(index, anchored, "BTCUSDT")

    assert windows == walk_forward_folds(longer, anchored, "BTCUSDT")
    assert windows[0].train_slice.start == 0 and windows[0].train_start == index[0]
    for earlier, later in pairwise(windows):
        assert earlier.test_slice.stop == later.test_slice.start
    # More folds later: the existing ones stay as they were, the new ones follow them.
    more = FoldConfig(
        config.n_folds + 1, config.train_bars, config.test_bars, config.purge_bars, "start"
    )
    grown = walk_forward_folds(hourly_index(more.bars_needed + extra_bars), more, "BTCUSDT")
    assert grown[:-1] == windows
    # Anchored at the end, the same append moves every window.
    at_end = walk_forward_folds(longer, config, "BTCUSDT")
    assert at_end[-1].test_end == longer[-1] != windows[-1].test_end


def test_anchored_at_the_start_the_docstring_example_moves_to_the_first_bar() -> None:
    windows = walk_forward_folds(hourly_index(12), FoldConfig(3, 4, 2, 1, "start"), "BTCUSDT")
    assert [(w.train_slice.start, w.test_slice.start) for w in windows] == [(0, 5), (2, 7), (4, 9)]


def test_an_unknown_anchor_is_refused() -> None:
    with pytest.raises(ValueError, match="anchor='middle'"):
        FoldConfig(1, 2, 2, 0, anchor="middle")
