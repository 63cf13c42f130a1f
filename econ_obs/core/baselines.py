"""Baselines on the same window and the same cost basis as a model: buy_and_hold, random, naive.

All three go through :func:`econ_obs.core.accounting.evaluate_trades`, the one accounting
function, so a model row and its baseline rows can be compared number for number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from econ_obs.core.accounting import (
    METRIC_NAMES,
    ZERO_METRICS,
    CostBasis,
    Metrics,
    PricePath,
    evaluate_trades,
)

BASELINE_TYPES = ("buy_and_hold", "random", "naive")
SEED_DERIVATION = "default_rng(i) for i in range(n_seeds)"


@dataclass(frozen=True)
class RandomBaselineParams:
    """Random entry baseline: n_seeds paths, each trade held hold_bars bars."""

    n_seeds: int = 100
    hold_bars: int = 24
    entry_prob: float | None = None  # per flat bar; None -> 1 / hold_bars

    def __post_init__(self) -> None:
        if not isinstance(self.n_seeds, int) or self.n_seeds < 1:
            raise ValueError(f"random baseline n_seeds={self.n_seeds!r} must be an int >= 1")
        if not isinstance(self.hold_bars, int) or self.hold_bars < 1:
            raise ValueError(f"random baseline hold_bars={self.hold_bars!r} must be an int >= 1")
        prob = self.entry_prob
        if prob is not None and not (isinstance(prob, int | float) and 0 < prob <= 1):
            raise ValueError(
                f"random baseline entry_prob={prob!r} must be in (0, 1], or null for 1/hold_bars"
            )

    @property
    def effective_entry_prob(self) -> float:
        """Entry probability per flat bar (a fraction)."""
        return float(self.entry_prob) if self.entry_prob is not None else 1.0 / self.hold_bars


@dataclass(frozen=True)
class BaselineResult:
    """One baseline row: its metrics and the JSON-serialisable parameters that produced it."""

    baseline_type: str
    metrics: Metrics
    params: dict
    # The random baseline's per-seed values, {metric name: array of n_seeds}; None otherwise.
    per_seed: dict[str, np.ndarray] | None = field(default=None, compare=False, repr=False)


def buy_and_hold(path: PricePath, cost: CostBasis) -> BaselineResult:
    """Return one trade from the first to the last close, costed like any model trade."""
    metrics = evaluate_trades(path, np.array([0]), np.array([path.n_bars - 1]), cost)
    return BaselineResult("buy_and_hold", metrics, {"entry_bar": 0, "exit_bar": path.n_bars - 1})


def naive(path: PricePath, cost: CostBasis) -> BaselineResult:
    """Return the never-trade baseline: zero trades and all-zero metrics whatever the cost."""
    return BaselineResult("naive", ZERO_METRICS, {"positions": "always flat"})


def random_trades(
    n_bars: int, hold_bars: int, entry_prob: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (entry_idx, exit_idx) bar indices of one random-entry path, O(n_trades).

    At each flat bar the path enters with probability entry_prob, so the number of bars from
    the first flat bar to the entry is a geometric waiting time (drawn directly, not per bar).
    A trade is held hold_bars bars, or until the last bar. After an exit at bar x the earliest
    next entry is bar x + 1 (never re-entering at the close it just exited at); the first
    flat bar is bar 0. An entry at the last bar could not hold anything and is dropped.
    """
    rng = np.random.default_rng(seed)
    last_entry = n_bars - 2
    expected = n_bars / (hold_bars + 1.0 / entry_prob)
    chunk = int(expected * 1.1) + 64
    waits = rng.geometric(entry_prob, size=chunk)
    # entry_k = sum_{j<=k} wait_j - 1 + k * hold_bars (each previous trade adds hold_bars bars).
    entry = np.cumsum(waits) - 1 + hold_bars * np.arange(chunk)
    while entry[-1] <= last_entry:  # rare: the chunk did not reach the end of the window
        waits = rng.geometric(entry_prob, size=chunk)
        more = entry[-1] + hold_bars + np.cumsum(waits) + hold_bars * np.arange(chunk)
        entry = np.concatenate((entry, more))
    entry = entry[: np.searchsorted(entry, last_entry, side="right")]
    exit_ = np.minimum(entry + hold_bars, n_bars - 1)
    return entry, exit_


def random_baseline(
    path: PricePath, cost: CostBasis, params: RandomBaselineParams
) -> BaselineResult:
    """Return the mean over seeds of each metric of random-entry paths (n_trades may be fractional).

    Streaming: one seed's trades at a time go through evaluate_trades; only per-seed metric
    values (length n_seeds) are kept, never a seeds x bars array.
    """
    entry_prob = params.effective_entry_prob
    per_seed = np.empty((len(METRIC_NAMES), params.n_seeds))
    for seed in range(params.n_seeds):
        entry, exit_ = random_trades(path.n_bars, params.hold_bars, entry_prob, seed)
        metrics = evaluate_trades(path, entry, exit_, cost)
        per_seed[:, seed] = [getattr(metrics, field) for field in METRIC_NAMES]
    means = dict(zip(METRIC_NAMES, per_seed.mean(axis=1).tolist(), strict=True))
    net = per_seed[0]
    p05, p50, p95 = np.percentile(net, [5, 50, 95]).tolist()
    distribution = {
        "mean": float(net.mean()),
        "std": float(net.std()),
        "p05": p05,
        "p50": p50,
        "p95": p95,
    }
    result_params = {
        "n_seeds": params.n_seeds,
        "hold_bars": params.hold_bars,
        "entry_prob": entry_prob,
        "seed_derivation": SEED_DERIVATION,
        "net_return_distribution": distribution,
    }
    per_seed_values = dict(zip(METRIC_NAMES, per_seed, strict=True))
    return BaselineResult("random", Metrics(**means), result_params, per_seed_values)


def all_baselines(
    path: PricePath, cost: CostBasis, random_params: RandomBaselineParams
) -> list[BaselineResult]:
    """Return the buy_and_hold, random and naive rows (in BASELINE_TYPES order) for one window."""
    return [
        buy_and_hold(path, cost),
        random_baseline(path, cost, random_params),
        naive(path, cost),
    ]
