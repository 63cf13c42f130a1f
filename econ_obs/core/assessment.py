"""A cell's model rows, assessed: metrics plus every significance figure, on one basis.

A cell is one (crypto, fold, cost basis). Every variant of the cell is scored by the one
accounting function on the slice's test window, then assessed against

* its matched null (its own trades, placed at random; see `matched_null`),
* the stored random-baseline seeds of the same key (`p_value_random`),
* its break-even cost, and
* the deflated Sharpe ratio across the cell's variants (N = number of variants evaluated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from econ_obs.core.accounting import CostBasis, Metrics, PricePath, evaluate_trades
from econ_obs.core.accounting import trade_gross_returns as gross_returns_of
from econ_obs.core.matched_null import PlacementCache
from econ_obs.core.per_bar import equity_curve, per_bar_returns
from econ_obs.core.significance import (
    ReturnMoments,
    breakeven_cost_bps,
    deflated_sharpe,
    gross_edge_bps_per_trade,
    return_moments,
    sharpe_variance,
    upper_p_value,
)

EQUITY_POINTS = 256  # equity stored per row, for the report's curves


@dataclass(frozen=True)
class Trades:
    """Entry and exit bar indices of a variant's round trips on the test window."""

    entry_idx: np.ndarray
    exit_idx: np.ndarray

    @property
    def n_trades(self) -> int:
        return int(self.entry_idx.size)


@dataclass(frozen=True)
class MatchedNull:
    """A row's matched null: n_perms net returns from placements drawn with `seed`."""

    n_perms: int
    seed: int
    net_returns: np.ndarray
    p_value: float | None
    # The summary the row stores, made with the null (both percentiles in one sort).
    mean: float = field(init=False)
    p05: float = field(init=False)
    p95: float = field(init=False)

    def __post_init__(self) -> None:
        p05, p95 = np.percentile(self.net_returns, [5, 95]).tolist()
        object.__setattr__(self, "mean", float(self.net_returns.mean()))
        object.__setattr__(self, "p05", p05)
        object.__setattr__(self, "p95", p95)


@dataclass(frozen=True)
class Assessment:
    """One model row: its metrics and its significance figures (None where undefined)."""

    metrics: Metrics
    matched: MatchedNull | None  # None for a row without trades
    random_n_seeds: int
    p_value_random: float | None
    breakeven_cost_bps: float | None
    gross_edge_bps_per_trade: float | None
    moments: ReturnMoments
    dsr_n_trials: int
    dsr_sharpe_variance: float
    dsr_expected_max_sharpe: float
    deflated_sharpe: float | None
    equity_bars: np.ndarray  # bar indices of the sampled equity points
    equity: np.ndarray  # equity at those bars (starts at 1)


def sampled_equity(
    path: PricePath, trades: Trades, cost: CostBasis, max_points: int = EQUITY_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Return (bar indices, equity) at up to max_points evenly spaced bars, first and last kept."""
    curve = equity_curve(path, trades.entry_idx, trades.exit_idx, cost)
    bars = np.unique(np.linspace(0, path.n_bars - 1, min(max_points, path.n_bars)).round())
    bars = bars.astype(np.int64)
    return bars, curve[bars]


def assess_cell(
    path: PricePath,
    trades_by_variant: dict[str, Trades],
    cost: CostBasis,
    n_perms: int,
    seeds_by_variant: dict[str, int],
    random_seed_net_returns: np.ndarray,
    placements: PlacementCache | None = None,
) -> dict[str, Assessment]:
    """Return every variant's Assessment; the deflated Sharpe deflates across these variants.

    Pass one PlacementCache for all the costs of a slice so each variant is placed once.
    """
    placements = placements if placements is not None else PlacementCache()
    partial = {}
    for name, trades in trades_by_variant.items():
        metrics = evaluate_trades(path, trades.entry_idx, trades.exit_idx, cost)
        moments = return_moments(per_bar_returns(path, trades.entry_idx, trades.exit_idx, cost))
        partial[name] = (trades, metrics, moments)
    n_trials = len(partial)
    variance = sharpe_variance([moments.sharpe_per_bar for _, _, moments in partial.values()])
    out = {}
    for name, (trades, metrics, moments) in partial.items():
        matched, p_value_random, breakeven, edge = None, None, None, None
        if trades.n_trades:
            null = placements.net_returns(
                path, trades.entry_idx, trades.exit_idx, cost, n_perms, seeds_by_variant[name]
            )
            matched = MatchedNull(
                n_perms, seeds_by_variant[name], null, upper_p_value(metrics.net_return, null)
            )
            p_value_random = upper_p_value(metrics.net_return, random_seed_net_returns)
            gross = gross_returns_of(path, trades.entry_idx, trades.exit_idx)
            breakeven, edge = breakeven_cost_bps(gross), gross_edge_bps_per_trade(gross)
        sr0, dsr = deflated_sharpe(moments, n_trials, variance)
        bars, equity = sampled_equity(path, trades, cost)
        out[name] = Assessment(
            metrics=metrics,
            matched=matched,
            random_n_seeds=int(np.asarray(random_seed_net_returns).size),
            p_value_random=p_value_random,
            breakeven_cost_bps=breakeven,
            gross_edge_bps_per_trade=edge,
            moments=moments,
            dsr_n_trials=n_trials,
            dsr_sharpe_variance=variance,
            dsr_expected_max_sharpe=sr0,
            deflated_sharpe=dsr,
            equity_bars=bars,
            equity=equity,
        )
    return out
