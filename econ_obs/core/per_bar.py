"""Dense per-bar series of a set of trades: the returns its sharpe uses, and its equity curve.

`accounting.evaluate_trades` computes every metric in O(trades) from prefix sums; the deflated
Sharpe ratio needs the skewness and kurtosis of the same per-bar returns, and the report draws
the equity curve, so these two build the series themselves in O(bars). They follow the
conventions of the accounting module docstring exactly, and the tests check them against it:
mean / std of `per_bar_returns` x sqrt(bars_per_year) is its sharpe, the last point of
`equity_curve` is 1 + its net_return, and the curve's largest drawdown is its max_drawdown.
"""

from __future__ import annotations

import numpy as np

from econ_obs.core.accounting import CostBasis, PricePath


def _trades(entry_idx: np.ndarray, exit_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    entry = np.asarray(entry_idx, dtype=np.int64).reshape(-1)
    exit_ = np.asarray(exit_idx, dtype=np.int64).reshape(-1)
    if entry.shape != exit_.shape:
        raise ValueError(f"{entry.size} entries but {exit_.size} exits; give one each")
    return entry, exit_


def per_bar_returns(
    path: PricePath, entry_idx: np.ndarray, exit_idx: np.ndarray, cost: CostBasis
) -> np.ndarray:
    """Return the path.n_intervals per-bar net returns (fractions) that the sharpe is made of.

    A step across a gap of k missing bars becomes k + 1 equal bars (see accounting).
    """
    entry, exit_ = _trades(entry_idx, exit_idx)
    held = np.zeros(path.n_bars - 1)
    np.add.at(held, entry, 1.0)
    np.add.at(held, exit_[exit_ < held.size], -1.0)
    held = np.cumsum(held)
    step_return = held * path.bar_return()
    if path.interval_bars is None:
        q, first_bar, last_bar = step_return, entry, exit_ - 1
    else:
        widths = path.interval_bars.astype(np.int64)
        q = np.repeat(step_return, widths)
        first_bar = path.bar_prefix[entry].astype(np.int64)
        last_bar = path.bar_prefix[exit_].astype(np.int64) - 1
    side = cost.side_cost
    np.subtract.at(q, first_bar, side)  # entry side, on the trade's first bar
    np.subtract.at(q, last_bar, side)  # exit side, on its last (twice on a one-bar trade)
    return q


def equity_curve(
    path: PricePath, entry_idx: np.ndarray, exit_idx: np.ndarray, cost: CostBasis
) -> np.ndarray:
    """Return mark-to-market equity at every bar (starts at 1; a multiple of the start)."""
    entry, exit_ = _trades(entry_idx, exit_idx)
    equity = np.ones(path.n_bars)
    if entry.size == 0:
        return equity
    growth = path.close[exit_] / path.close[entry] - cost.round_trip_cost
    after = np.cumprod(growth)
    before = np.concatenate(([1.0], after[:-1]))
    bars = np.arange(path.n_bars)
    trade = np.searchsorted(entry, bars, side="right") - 1  # last trade entered at or before t
    started = trade >= 0
    k = trade[started]
    inside = bars[started] < exit_[k]
    values = np.where(
        inside,
        before[k] * (1.0 - cost.side_cost) * path.close[bars[started]] / path.close[entry[k]],
        after[k],
    )
    equity[started] = values
    return equity


def max_drawdown_of(equity: np.ndarray) -> float:
    """Return the largest 1 - equity / running peak (a fraction) of an equity curve."""
    peak = np.maximum.accumulate(np.concatenate(([1.0], np.asarray(equity, dtype=np.float64))))
    return float(max(1.0 - (equity / peak[1:]).min(), 0.0))
