"""Benchmark: the streaming random baseline beside a straightforward dense implementation.

Run with ``python -m econ_obs.bench``. What is measured:

* time: wall-clock (perf_counter) of one call, in a run without tracemalloc; the streaming
  time includes building the PricePath (its O(bars) precompute).
* peak memory: tracemalloc's peak of traced allocations during a second, separate run. numpy
  reports its array buffers to tracemalloc, so this is the peak of numpy + Python allocations
  made by the call (not process RSS; the input close array is allocated before and excluded).

The dense implementation builds one seeds x bars int8 position array from the same random
trades (seed i uses default_rng(i)), then finds trades with a dense diff/nonzero over that
array and compounds per seed. It computes net_return, gross_return, n_trades, exposure and
hit_rate only (not sharpe or max_drawdown), so its timings flatter it.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from econ_obs.core.accounting import CostBasis, PricePath
from econ_obs.core.baselines import RandomBaselineParams, random_baseline, random_trades

BARS_PER_YEAR = 8766.0
COST = CostBasis(cost_bps=10, slippage_bps=5)
HOLD_BARS = 24
SIZES = ((100_000, 100), (100_000, 1_000), (1_000_000, 100), (1_000_000, 1_000))


def streaming_net_return(close: np.ndarray, n_seeds: int) -> float:
    """Mean net return over seeds from the project's streaming random baseline."""
    path = PricePath(close, BARS_PER_YEAR)
    params = RandomBaselineParams(n_seeds=n_seeds, hold_bars=HOLD_BARS)
    return random_baseline(path, COST, params).metrics.net_return


def dense_net_return(close: np.ndarray, n_seeds: int) -> float:
    """Mean net return over seeds from a seeds x bars int8 position array."""
    n_bars = close.size
    marks = np.zeros((n_seeds, n_bars + 1), dtype=np.int8)
    for seed in range(n_seeds):
        entry, exit_ = random_trades(n_bars, HOLD_BARS, 1.0 / HOLD_BARS, seed)
        marks[seed, entry] = 1
        marks[seed, exit_] = -1
    positions = np.cumsum(marks, axis=1, dtype=np.int8)  # 1 while long over bar t -> t+1
    del marks
    change = np.diff(positions, axis=1, prepend=np.int8(0))
    del positions
    seed_of_trade, entry_idx = np.nonzero(change == 1)
    _, exit_idx = np.nonzero(change == -1)
    del change
    gross = close[exit_idx] / close[entry_idx] - 1.0
    net = gross - COST.round_trip_cost
    log_growth = np.bincount(seed_of_trade, weights=np.log1p(net), minlength=n_seeds)
    _n_trades = np.bincount(seed_of_trade, minlength=n_seeds)
    _exposure = np.bincount(seed_of_trade, weights=exit_idx - entry_idx, minlength=n_seeds)
    _gross_growth = np.bincount(seed_of_trade, weights=np.log1p(gross), minlength=n_seeds)
    _hits = np.bincount(seed_of_trade, weights=net > 0, minlength=n_seeds)
    return float(np.mean(np.expm1(log_growth)))


def measure(
    function: Callable[[np.ndarray, int], float], close: np.ndarray, n_seeds: int
) -> tuple[float, float, float]:
    """Return (value, seconds, peak MB) from a timed run and a separate traced run."""
    started = time.perf_counter()
    value = function(close, n_seeds)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    function(close, n_seeds)
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return value, seconds, peak_mb


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def main() -> None:
    """Print the benchmark table and the PASS/FAIL targets."""
    rng = np.random.default_rng(20240101)
    rows = {}
    print(
        "random baseline: streaming (project) vs dense (seeds x bars int8), "
        f"hold_bars={HOLD_BARS}, entry_prob=1/{HOLD_BARS}"
    )
    print(
        f"{'bars':>9} {'seeds':>6} | {'stream s':>9} {'stream MB':>9} | {'dense s':>8} "
        f"{'dense MB':>9} | {'time x':>7} {'mem x':>6} | {'|diff| net_return':>17}"
    )
    for n_bars, n_seeds in SIZES:
        close = 100 * np.exp(np.cumsum(rng.standard_t(4, n_bars) * 0.005))
        stream = measure(streaming_net_return, close, n_seeds)
        dense = measure(dense_net_return, close, n_seeds)
        difference = abs(stream[0] - dense[0])
        if n_bars <= 100_000:
            assert difference < 1e-9, (n_bars, n_seeds, stream[0], dense[0])
        rows[n_bars, n_seeds] = (stream, dense)
        print(
            f"{n_bars:>9,} {n_seeds:>6,} | {stream[1]:>9.3f} {stream[2]:>9.1f} | "
            f"{dense[1]:>8.3f} {dense[2]:>9.1f} | {dense[1] / stream[1]:>7.1f} "
            f"{dense[2] / stream[2]:>6.1f} | {difference:>17.2e}"
        )
    small, big = rows[1_000_000, 100][0], rows[1_000_000, 1_000]
    flat = max(rows[n, 1_000][0][2] / rows[n, 100][0][2] for n in (100_000, 1_000_000))
    print("targets:")
    print(f"  {verdict(small[1] < 0.5)} 1M bars x 100 seeds: streaming {small[1]:.3f} s < 0.5 s")
    print(
        f"  {verdict(small[2] < 150)} 1M bars x 100 seeds: streaming peak {small[2]:.1f} MB "
        "< 150 MB"
    )
    print(
        f"  {verdict(flat < 1.1)} streaming peak memory flat from 100 to 1,000 seeds "
        f"(worst ratio {flat:.2f} < 1.10)"
    )
    speedup = big[1][1] / big[0][1]
    print(
        f"  {verdict(speedup >= 10)} streaming {speedup:.1f}x faster than dense at 1M x 1,000 "
        "(>= 10x)"
    )
