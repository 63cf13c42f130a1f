"""A step across a gap counts with its duration in the sharpe: checked against a per-bar loop.

The reference expands every step of k + 1 bar intervals into k + 1 equal bar returns
r / (k + 1), books the entry cost on a trade's first bar and the exit cost on its last, and
computes mean / std x sqrt(bars per year) and exposure from that list, one bar at a time.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from econ_obs.core.accounting import CostBasis, PricePath, evaluate_trades, trades_from_positions
from econ_obs.core.per_bar import per_bar_returns
from econ_obs.core.significance import return_moments

BARS_PER_YEAR = 8766.0


def reference_sharpe_and_exposure(
    close: np.ndarray, steps: np.ndarray, entries, exits, cost: CostBasis
) -> tuple[float, float, list[float]]:
    side = cost.side_cost
    bars: list[float] = []
    held_bars = 0
    for t in range(len(close) - 1):
        width = int(steps[t])
        share = (close[t + 1] / close[t] - 1) / width
        inside = any(entry <= t < exit_ for entry, exit_ in zip(entries, exits, strict=True))
        for j in range(width):
            value = share if inside else 0.0
            if inside:
                held_bars += 1
                if t in entries and j == 0:
                    value -= side
                if (t + 1) in exits and j == width - 1:
                    value -= side
            bars.append(value)
    returns = np.array(bars)
    std = returns.std()
    sharpe = 0.0 if std == 0 else returns.mean() / std * math.sqrt(BARS_PER_YEAR)
    return sharpe, held_bars / len(bars), bars


@pytest.mark.parametrize("seed", range(25))
def test_sharpe_and_exposure_across_gaps_match_the_per_bar_reference(seed):
    rng = np.random.default_rng(seed)
    n_bars = 200
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n_bars)))
    steps = np.ones(n_bars - 1)
    for gap_at in rng.choice(n_bars - 1, size=4, replace=False):
        steps[gap_at] = rng.integers(2, 30)  # 1 to 29 missing bars
    positions = (rng.random(n_bars) < 0.4).astype(np.int8)
    entry, exit_ = trades_from_positions(positions)
    cost = CostBasis(cost_bps=10, slippage_bps=2)
    path = PricePath(close, BARS_PER_YEAR, steps)

    metrics = evaluate_trades(path, entry, exit_, cost)
    sharpe, exposure, bars = reference_sharpe_and_exposure(
        close, steps, list(entry), list(exit_), cost
    )
    assert path.n_intervals == len(bars) == steps.sum()
    assert metrics.sharpe == pytest.approx(sharpe, rel=1e-9, abs=1e-12)
    assert metrics.exposure == pytest.approx(exposure, rel=1e-12)
    dense = per_bar_returns(path, entry, exit_, cost)
    assert np.allclose(dense, bars, rtol=0, atol=1e-15)
    assert return_moments(dense).sharpe_per_bar * math.sqrt(BARS_PER_YEAR) == pytest.approx(
        metrics.sharpe, rel=1e-9
    )
    # P&L does not depend on the gaps.
    flat = evaluate_trades(PricePath(close, BARS_PER_YEAR), entry, exit_, cost)
    assert metrics.net_return == flat.net_return
    assert metrics.max_drawdown == flat.max_drawdown


def test_a_gap_is_not_one_outsized_bar():
    """The issue's case: a -3.8 % move across 72 missing hours among 0.3 % hourly moves."""
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, 500)))
    close[250:] *= 0.962
    steps = np.ones(499)
    steps[249] = 73
    held = np.array([0]), np.array([499])
    cost = CostBasis(cost_bps=0, slippage_bps=0)
    as_one_bar = per_bar_returns(PricePath(close, BARS_PER_YEAR), *held, cost)
    split = per_bar_returns(PricePath(close, BARS_PER_YEAR, steps), *held, cost)
    worst_z = lambda q: np.max(np.abs(q - q.mean())) / q.std()  # noqa: E731
    assert worst_z(as_one_bar) > 5  # the gap dominates as one bar
    assert worst_z(split) < 5  # split over its 73 hours it is ordinary
    assert split.size == 498 + 73


def test_feature_slice_paths_carry_their_gaps():
    from econ_obs.core.backtest import build_feature_slices
    from econ_obs.core.folds import FoldConfig
    from econ_obs.core.market_data import MarketBars

    index = pd.date_range("2024-01-01", periods=1300, freq="1h", tz="UTC")
    index = index.delete(range(1100, 1105))  # 5 hours missing inside the last test window
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, index.size)))
    frame = pd.DataFrame(
        {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close, "volume": 1.0},
        index=index,
    )
    bars = MarketBars("BTCUSDT", frame, pd.Timedelta(hours=1), "test")
    slices = build_feature_slices(bars, FoldConfig(2, 600, 200, 10), "returns")
    last = slices[-1].price_path
    assert last.n_intervals == last.n_bars - 1 + 5
    assert slices[0].price_path.interval_bars is None
