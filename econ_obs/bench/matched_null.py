"""Matched-null benchmark: 1000 placements of a 50-trade row on a 1000-bar window.

The null must cost O(trades) per permutation, so that it can run for every model row of a
sweep: the target is 1000 permutations in under 20 ms. Its net returns are checked against
the one accounting function, placement by placement, before anything is timed.
"""

from __future__ import annotations

import time

import numpy as np

from econ_obs.core.accounting import CostBasis, PricePath, evaluate_trades
from econ_obs.core.matched_null import matched_null_net_returns, matched_placements

N_BARS, N_TRADES, N_PERMS = 1000, 50, 1000
TARGET_MS = 20.0
REPEATS = 25


def _model_row(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """50 trades of uneven lengths and gaps inside 1000 bars, like a model's."""
    cuts = np.sort(rng.choice(np.arange(1, N_BARS - 1), size=2 * N_TRADES, replace=False))
    return cuts[0::2], cuts[1::2]


def main() -> bool:
    """Print the matched-null figures; return True when every target passes."""
    rng = np.random.default_rng(0)
    path = PricePath(100 * np.exp(np.cumsum(rng.normal(0, 0.01, N_BARS))), 8766.0)
    entry, exit_ = _model_row(rng)
    cost = CostBasis(cost_bps=10, slippage_bps=2)
    null = matched_null_net_returns(path, entry, exit_, cost, N_PERMS, seed=1)
    entries, exits = matched_placements(entry, exit_, N_BARS, N_PERMS, seed=1)
    worst = max(
        abs(null[k] - evaluate_trades(path, entries[k], exits[k], cost).net_return)
        for k in range(N_PERMS)
    )
    timings = []
    for repeat in range(REPEATS):
        started = time.perf_counter()
        matched_null_net_returns(path, entry, exit_, cost, N_PERMS, seed=repeat)
        timings.append((time.perf_counter() - started) * 1000)
    median_ms = float(np.median(timings))
    started = time.perf_counter()
    for k in range(100):
        evaluate_trades(path, entries[k], exits[k], cost)
    per_call_ms = (time.perf_counter() - started) * 1000 / 100
    print(
        f"matched null: {N_PERMS} permutations of a {N_TRADES}-trade row on {N_BARS} bars: "
        f"median {median_ms:.2f} ms over {REPEATS} runs ({median_ms * 1000 / N_PERMS:.1f} us "
        f"per permutation); one evaluate_trades call per permutation would take "
        f"{per_call_ms * N_PERMS:.0f} ms ({per_call_ms * N_PERMS / median_ms:.0f}x)"
    )
    print(f"  worst |batched - evaluate_trades| net return over {N_PERMS} placements: {worst:.2e}")
    fast = median_ms < TARGET_MS
    exact = worst < 1e-12
    print(f"  {'PASS' if fast else 'FAIL'} {median_ms:.2f} ms < {TARGET_MS:.0f} ms")
    print(f"  {'PASS' if exact else 'FAIL'} batched net returns equal evaluate_trades' (< 1e-12)")
    return fast and exact


if __name__ == "__main__":
    main()
