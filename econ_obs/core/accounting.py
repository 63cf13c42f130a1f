"""The one accounting function: trades on a price path plus a cost basis -> Metrics.

Every number that is compared (a model, buy-and-hold, the random baseline, naive) goes
through :func:`evaluate_trades`, so all of them are on the same cost basis by construction.

Conventions (all returns are fractions, 0.01 = 1 %):

* A trade enters at ``close[entry]`` and exits at ``close[exit]`` with ``exit > entry``;
  ``gross = close[exit] / close[entry] - 1`` and ``net = gross - round_trip_cost``.
* Positions: ``p[t] = 1`` means long over the interval t -> t+1.
* Per-bar returns (for sharpe) cover all ``n_bars - 1`` intervals of the window:
  ``p[t] * (close[t+1] / close[t] - 1)`` with ``side_cost`` subtracted on a trade's first held
  interval and again on its last (twice on a one-interval trade). Sharpe uses the population
  standard deviation (ddof=0) and is 0 when that is 0.
* Across a gap (a step spanning k + 1 bar intervals, see ``PricePath.interval_bars``) the
  step's return r is split into k + 1 equal bar returns r / (k + 1) for the sharpe and for
  exposure, so the window has ``path.n_intervals`` bars of returns and a gap is never booked
  as one outsized bar; the entry cost sits on a trade's first such bar, the exit cost on its
  last. Prices, trades and P&L (net_return, max_drawdown) are unchanged.
* Mark-to-market equity starts at 1. Inside trade k, at bar t in [entry, exit], it is
  ``E[k-1] * (1 - side_cost) * close[t] / close[entry]``; from the exit on it is
  ``E[k] = E[k-1] * (1 + net[k])``. max_drawdown is the largest ``1 - equity / running peak``
  over that sequence of points (a positive fraction).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from numbers import Real

import numpy as np

from econ_obs.core.price_path import (
    DRAWDOWN_RATIO,
    EDGE_RETURNS,
    EXIT_RATIO,
    MAX_RATIO,
    MIN_RATIO,
    RETURN_SUM,
    SQUARED_SUM,
    PricePath,
    trade_rows,
)

__all__ = [
    "METRIC_NAMES",
    "CostBasis",
    "CostError",
    "Metrics",
    "PricePath",
    "evaluate_positions",
    "evaluate_trades",
    "placement_net_returns",
    "trade_gross_returns",
    "trades_from_positions",
]


class CostError(ValueError):
    """A cost basis that cannot be used (missing, negative or not a number)."""


@dataclass(frozen=True)
class CostBasis:
    """Per-side trading costs in basis points; both fields are required."""

    cost_bps: float
    slippage_bps: float

    def __post_init__(self) -> None:
        for field_name in ("cost_bps", "slippage_bps"):
            value = getattr(self, field_name)
            if value is None or isinstance(value, bool) or not isinstance(value, Real):
                raise CostError(
                    f"CostBasis.{field_name}={value!r} is not a number; give basis points, "
                    f"e.g. {field_name}=10"
                )
            if math.isnan(value) or math.isinf(value) or value < 0:
                raise CostError(
                    f"CostBasis.{field_name}={value!r} must be a finite number >= 0 (basis points)"
                )

    @property
    def side_cost(self) -> float:
        """Cost of one side (entry or exit) as a fraction of notional."""
        return (self.cost_bps + self.slippage_bps) / 10_000

    @property
    def round_trip_cost(self) -> float:
        """Cost of one entry plus one exit as a fraction of notional."""
        return 2 * (self.cost_bps + self.slippage_bps) / 10_000


@dataclass(frozen=True)
class Metrics:
    """Window metrics. n_trades is an int for one path; a mean over seeds may be fractional."""

    net_return: float
    gross_return: float
    n_trades: int | float
    sharpe: float
    max_drawdown: float
    exposure: float
    hit_rate: float

    def as_dict(self) -> dict[str, float | int]:
        """Return the metrics as a plain dict of Python numbers."""
        return {k: v if isinstance(v, int) else float(v) for k, v in asdict(self).items()}


# The metric names in order; they are also the metric columns of both result tables.
METRIC_NAMES = tuple(field.name for field in fields(Metrics))
ZERO_METRICS = Metrics(0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0)


def trades_from_positions(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (entry_idx, exit_idx) bar indices of the round trips implied by 0/1 positions."""
    held = np.asarray(positions).reshape(-1)
    if held.size and not np.isin(held, (0, 1)).all():
        row = int(np.argmax(~np.isin(held, (0, 1))))
        raise ValueError(f"positions[{row}]={held[row]!r}; positions must be 0 (flat) or 1 (long)")
    flags = np.concatenate(([0], held.astype(np.int8), [0]))
    change = np.diff(flags)
    entry_idx = np.flatnonzero(change == 1).astype(np.int64)
    exit_idx = np.flatnonzero(change == -1).astype(np.int64)
    # The last bar has no interval after it: a position there is exited at that bar's close.
    last_bar = held.size - 1
    np.minimum(exit_idx, last_bar, out=exit_idx)
    keep = exit_idx > entry_idx
    return entry_idx[keep], exit_idx[keep]


def _check_trades(path: PricePath, entry_idx: np.ndarray, exit_idx: np.ndarray) -> None:
    if entry_idx.shape != exit_idx.shape:
        raise ValueError(f"{entry_idx.size} entries but {exit_idx.size} exits; give one each")
    empty = exit_idx <= entry_idx
    if empty.any():
        k = int(np.argmax(empty))
        raise ValueError(f"trade {k}: entry={entry_idx[k]} exit={exit_idx[k]}; need entry < exit")
    overlap = entry_idx[1:] < exit_idx[:-1]
    if overlap.any():
        k = int(np.argmax(overlap)) + 1
        raise ValueError(
            f"trade {k} enters at {entry_idx[k]} before trade {k - 1} exits at {exit_idx[k - 1]}; "
            "trades must be in time order and not overlap"
        )
    # In order and non-overlapping, so the first entry and last exit bound all the others.
    if entry_idx[0] < 0 or exit_idx[-1] > path.n_bars - 1:
        raise ValueError(
            f"trades span bars {entry_idx[0]}..{exit_idx[-1]}; "
            f"the path has bars 0..{path.n_bars - 1}"
        )


def evaluate_trades(
    path: PricePath, entry_idx: np.ndarray, exit_idx: np.ndarray, cost: CostBasis
) -> Metrics:
    """Return the Metrics (fractions; sharpe annualised) of long round trips; O(n_trades)."""
    if not isinstance(cost, CostBasis):
        raise CostError(f"cost must be a CostBasis, got {cost!r}")
    entry = np.asarray(entry_idx, dtype=np.int64).reshape(-1)
    exit_ = np.asarray(exit_idx, dtype=np.int64).reshape(-1)
    if entry.size == 0 and exit_.size == 0:
        return ZERO_METRICS
    _check_trades(path, entry, exit_)
    n_trades = int(entry.size)
    side = cost.side_cost
    lengths = exit_ - entry
    rows = trade_rows(path, entry, lengths)
    exit_ratio = rows[:, EXIT_RATIO]
    net_growth = exit_ratio - cost.round_trip_cost  # 1 + net return of each trade
    equity_after = np.cumprod(net_growth)
    n_intervals = path.n_intervals
    bars_held = path.bars_between(entry, exit_)

    # Sharpe from sum(q) and sum(q^2) of the cost-adjusted per-bar returns q.
    one_interval = int(np.count_nonzero(bars_held == 1))  # both costs on the same bar
    sum_q = float(rows[:, RETURN_SUM].sum()) - 2 * side * n_trades
    sum_q2 = float(rows[:, SQUARED_SUM].sum()) - 2 * side * float(rows[:, EDGE_RETURNS].sum())
    sum_q2 += side * side * (2 * n_trades + 2 * one_interval)
    mean_q = sum_q / n_intervals
    mean_q2 = sum_q2 / n_intervals
    variance_q = mean_q2 - mean_q * mean_q
    # E[q^2] - E[q]^2 cancels: a variance within rounding of E[q^2] (one interval, or every
    # per-bar return equal) is zero, and a zero-variance series has no sharpe.
    if variance_q <= 1e-12 * mean_q2:
        sharpe = 0.0
    else:
        sharpe = mean_q / math.sqrt(variance_q) * math.sqrt(path.bars_per_year)

    # Drawdown: per-trade range ratios scaled by equity, against a running peak across trades.
    scale = np.concatenate(([1.0], equity_after[:-1]))
    scale *= 1.0 - side  # equity per unit of close / close[entry] inside the trade
    trade_peak = np.maximum(scale * rows[:, MAX_RATIO], equity_after)
    peak_before = np.maximum.accumulate(np.concatenate(([1.0], trade_peak[:-1])))
    worst_ratio = np.minimum(scale * rows[:, MIN_RATIO] / peak_before, rows[:, DRAWDOWN_RATIO])
    np.minimum(worst_ratio, equity_after / np.maximum(peak_before, trade_peak), out=worst_ratio)

    return Metrics(
        net_return=float(equity_after[-1] - 1.0),
        gross_return=float(np.prod(exit_ratio) - 1.0),
        n_trades=n_trades,
        sharpe=float(sharpe),
        max_drawdown=max(1.0 - float(worst_ratio.min()), 0.0),
        exposure=float(bars_held.sum()) / n_intervals,
        hit_rate=float(np.count_nonzero(net_growth > 1.0)) / n_trades,
    )


def evaluate_positions(path: PricePath, positions: np.ndarray, cost: CostBasis) -> Metrics:
    """Return the Metrics of 0/1 positions (one per bar of the path) via evaluate_trades."""
    held = np.asarray(positions).reshape(-1)
    if held.size != path.n_bars:
        raise ValueError(f"{held.size} positions for {path.n_bars} bars; give one per bar")
    entry_idx, exit_idx = trades_from_positions(held)
    return evaluate_trades(path, entry_idx, exit_idx, cost)


def trade_gross_returns(path: PricePath, entry_idx: np.ndarray, exit_idx: np.ndarray) -> np.ndarray:
    """Return each trade's gross return, close[exit] / close[entry] - 1 (a fraction)."""
    entry = np.asarray(entry_idx, dtype=np.int64).reshape(-1)
    exit_ = np.asarray(exit_idx, dtype=np.int64).reshape(-1)
    if entry.size:
        _check_trades(path, entry, exit_)
    return path.close[exit_] / path.close[entry] - 1.0


def placement_net_returns(
    path: PricePath, entries: np.ndarray, exits: np.ndarray, cost: CostBasis
) -> np.ndarray:
    """Return the net return of each row of (n_placements, n_trades) entries/exits; O(trades).

    The batched form of evaluate_trades' net_return, for many placements of the same number of
    trades: the product over trades of (close[exit] / close[entry] - round_trip_cost), minus 1.
    The caller guarantees each row is in time order, non-overlapping and inside the path.
    """
    if not isinstance(cost, CostBasis):
        raise CostError(f"cost must be a CostBasis, got {cost!r}")
    entries, exits = np.asarray(entries), np.asarray(exits)
    if entries.shape != exits.shape or entries.ndim != 2:
        raise ValueError(f"entries {entries.shape} and exits {exits.shape} must be one 2-D shape")
    if entries.shape[1] == 0:
        return np.zeros(entries.shape[0])
    if entries.min() < 0 or exits.max() > path.n_bars - 1 or (exits <= entries).any():
        raise ValueError(f"placements must lie inside bars 0..{path.n_bars - 1} with entry < exit")
    growth = path.close[exits] / path.close[entries]
    growth -= cost.round_trip_cost
    return np.prod(growth, axis=1) - 1.0
