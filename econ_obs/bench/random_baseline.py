"""Benchmark: the streaming random baseline beside a straightforward dense implementation.

Run with ``python -m econ_obs.bench``. Both sides compute all seven metrics (net_return,
gross_return, n_trades, sharpe, max_drawdown, exposure, hit_rate) of every seed under the
conventions of :mod:`econ_obs.core.accounting`, and return their means over seeds; main()
asserts that the two agree at every size (relative 1e-9, or absolute 1e-12 near zero), and
so do 1 + net_return and 1 - max_drawdown, which matter when a path loses nearly everything.

* streaming (the project): ``random_baseline``, which draws one seed's trades at a time and
  passes them to ``evaluate_trades`` (O(trades) per seed, from the PricePath's O(bars)
  precomputes); it never holds a seeds x bars array.
* dense: draws the same trades (seed i uses default_rng(i)), writes them into one seeds x bars
  int8 position array, and then reads every metric from that array alone, a block of rows at
  a time (~1M cells per block), with per-bar float64 arrays: position x interval return with
  side_cost on each trade's first and last held interval (mean and population std -> sharpe),
  each bar's close / close at the trade's entry, a cumprod of per-exit net growth for the
  equity after each trade, a mark-to-market equity curve of two points per bar, and
  np.maximum.accumulate over it for max_drawdown.

What is measured:

* time: wall-clock (perf_counter) of one call, in a run without tracemalloc. The streaming
  time includes building the PricePath (its O(bars) precompute and the hold_bars table);
  the dense time includes drawing the trades and filling the position array.
* peak memory: tracemalloc's peak of traced allocations during a second, separate run. numpy
  reports its array buffers to tracemalloc, so this is the peak of numpy + Python allocations
  made by the call (not process RSS; the input close array is allocated before and excluded).
  The dense peak is the int8 array (seeds x bars bytes: 1 GB at 1M x 1,000) plus one block's
  float64 temporaries (on the order of 100 MB).
"""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from econ_obs.core.accounting import METRIC_NAMES, CostBasis, Metrics, PricePath
from econ_obs.core.baselines import RandomBaselineParams, random_baseline, random_trades

BARS_PER_YEAR = 8766.0
# A low cost on purpose: a seed makes ~20,000 round trips at 1M bars, which take ~20,000 x the
# round-trip cost off its log growth. At 10 + 5 bps per side that is ~60, so every seed's
# net_return and max_drawdown came out exactly -1.0 and 1.0 in float64 and agreement on them
# proved nothing. At 1 bp per side it is ~4, and net_return still depends on path and seed.
COST = CostBasis(cost_bps=1, slippage_bps=0)
HOLD_BARS = 24
SIZES = ((100_000, 100), (100_000, 1_000), (1_000_000, 100), (1_000_000, 1_000))
BLOCK_CELLS = 1_000_000  # cells (rows x bars) per dense block; at least one row
REL_TOL, ABS_TOL = 1e-9, 1e-12


def streaming_metrics(close: np.ndarray, n_seeds: int) -> Metrics:
    """Mean metrics over seeds from the project's streaming random baseline."""
    path = PricePath(close, BARS_PER_YEAR)
    params = RandomBaselineParams(n_seeds=n_seeds, hold_bars=HOLD_BARS)
    return random_baseline(path, COST, params).metrics


def dense_positions(n_bars: int, n_seeds: int) -> np.ndarray:
    """Return the seeds x bars int8 array of 0/1 positions (1 while long over bar t -> t+1)."""
    positions = np.zeros((n_seeds, n_bars), dtype=np.int8)
    for seed in range(n_seeds):
        entry, exit_ = random_trades(n_bars, HOLD_BARS, 1.0 / HOLD_BARS, seed)
        row = positions[seed]
        row[entry] = 1
        row[exit_] = -1
        np.cumsum(row, dtype=np.int8, out=row)
    return positions


def dense_block_metrics(
    close: np.ndarray, interval_return: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """Return a (7, rows) array of each row's metrics (METRIC_NAMES order) from its positions."""
    n_rows, n_bars = positions.shape
    n_intervals = n_bars - 1
    side = COST.side_cost
    long = positions.view(np.bool_)
    change = np.diff(positions, axis=1, prepend=np.int8(0))
    is_entry, is_exit = change == 1, change == -1  # exit: first flat bar after a long one
    del change
    held = long[:, :-1]

    # Per-bar returns: position x interval return, side_cost off a trade's first and last
    # held interval (both on a one-interval trade).
    q = np.zeros((n_rows, n_intervals))
    np.copyto(q, interval_return, where=held)
    np.subtract(q, side, out=q, where=is_entry[:, :-1])
    np.subtract(q, side, out=q, where=is_exit[:, 1:])
    mean_q = q.mean(axis=1)
    q -= mean_q[:, None]
    std_q = np.sqrt(np.einsum("ij,ij->i", q, q) / n_intervals)  # population std
    del q
    positive = std_q > 1e-15
    sharpe = np.where(positive, mean_q / np.where(positive, std_q, 1.0), 0.0)
    sharpe *= math.sqrt(BARS_PER_YEAR)
    n_trades = np.count_nonzero(is_entry, axis=1)
    exposure = np.count_nonzero(held, axis=1) / n_intervals

    # close[t] / close[entry of the trade holding (or just exited at) bar t].
    entry_bar = np.where(is_entry, np.arange(n_bars), 0)
    np.maximum.accumulate(entry_bar, axis=1, out=entry_bar)
    ratio = close / close[entry_bar]
    del entry_bar
    growth = np.ones((n_rows, n_bars))  # 1 + net return of the trade exiting at the bar
    np.subtract(ratio, COST.round_trip_cost, out=growth, where=is_exit)
    hits = np.count_nonzero(growth > 1.0, axis=1)
    gross = np.prod(ratio, axis=1, where=is_exit)
    equity_after = np.cumprod(growth, axis=1, out=growth)  # E[k] from trade k's exit on

    # Mark-to-market inside a trade: E[k-1] * (1 - side_cost) * close[t] / close[entry].
    mark = np.empty_like(equity_after)
    mark[:, 0] = 1.0 - side
    np.multiply(equity_after[:, :-1], 1.0 - side, out=mark[:, 1:])
    mark *= ratio
    del ratio
    # Two equity points per bar: the mark then E[k] at an exit bar; the mark twice inside a
    # trade; E twice when flat. Running peak from the starting equity of 1.
    points = np.empty((n_rows, n_bars, 2))
    points[:, :, 0] = np.where(long | is_exit, mark, equity_after)
    points[:, :, 1] = np.where(long, mark, equity_after)
    del mark
    points = points.reshape(n_rows, 2 * n_bars)
    peak = np.maximum.accumulate(points, axis=1)
    np.maximum(peak, 1.0, out=peak)
    np.divide(points, peak, out=points)
    max_drawdown = np.maximum(1.0 - points.min(axis=1), 0.0)

    hit_rate = np.where(n_trades > 0, hits / np.maximum(n_trades, 1), 0.0)
    return np.stack(
        (
            equity_after[:, -1] - 1.0,
            gross - 1.0,
            n_trades.astype(np.float64),
            sharpe,
            max_drawdown,
            exposure,
            hit_rate,
        )
    )


def dense_metrics(close: np.ndarray, n_seeds: int) -> Metrics:
    """Mean metrics over seeds from a seeds x bars int8 position array, in row blocks."""
    positions = dense_positions(close.size, n_seeds)
    interval_return = close[1:] / close[:-1] - 1.0
    rows = max(1, BLOCK_CELLS // close.size)
    per_seed = np.empty((len(METRIC_NAMES), n_seeds))
    for start in range(0, n_seeds, rows):
        block = positions[start : start + rows]
        per_seed[:, start : start + rows] = dense_block_metrics(close, interval_return, block)
    return Metrics(**dict(zip(METRIC_NAMES, per_seed.mean(axis=1).tolist(), strict=True)))


def measure(
    function: Callable[[np.ndarray, int], Metrics], close: np.ndarray, n_seeds: int
) -> tuple[Metrics, float, float]:
    """Return (metrics, seconds, peak MB) from a timed run and a separate traced run."""
    started = time.perf_counter()
    value = function(close, n_seeds)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    function(close, n_seeds)
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return value, seconds, peak_mb


def relative_difference(a: float, b: float) -> float:
    """|a - b| relative to the larger magnitude (0 when both are 0)."""
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def main() -> None:
    """Print the benchmark table and the PASS/FAIL targets."""
    rng = np.random.default_rng(20240101)
    rows = {}
    print(
        "random baseline: streaming (project) vs dense (seeds x bars int8), "
        f"hold_bars={HOLD_BARS}, entry_prob=1/{HOLD_BARS}, cost {COST.cost_bps:g} + "
        f"{COST.slippage_bps:g} bps per side"
    )
    print(
        f"{'bars':>9} {'seeds':>6} | {'stream s':>9} {'stream MB':>9} | {'dense s':>8} "
        f"{'dense MB':>9} | {'time x':>7} {'mem x':>6} | {'net_return':>10} "
        f"{'max_dd':>6} | {'worst rel diff (7)':>18}"
    )
    for n_bars, n_seeds in SIZES:
        close = 100 * np.exp(np.cumsum(rng.standard_t(4, n_bars) * 0.005))
        stream = measure(streaming_metrics, close, n_seeds)
        dense = measure(dense_metrics, close, n_seeds)
        pairs = [(name, getattr(stream[0], name), getattr(dense[0], name)) for name in METRIC_NAMES]
        # Near a total loss (net_return ~ -1, max_drawdown ~ 1) compare what is left, too.
        pairs.append(("1 + net_return", 1 + stream[0].net_return, 1 + dense[0].net_return))
        pairs.append(("1 - max_drawdown", 1 - stream[0].max_drawdown, 1 - dense[0].max_drawdown))
        for name, s_value, d_value in pairs:
            agree = math.isclose(s_value, d_value, rel_tol=REL_TOL, abs_tol=ABS_TOL)
            assert agree, (n_bars, n_seeds, name, s_value, d_value)
        worst = max(
            relative_difference(getattr(stream[0], name), getattr(dense[0], name))
            for name in METRIC_NAMES
        )
        rows[n_bars, n_seeds] = (stream, dense)
        print(
            f"{n_bars:>9,} {n_seeds:>6,} | {stream[1]:>9.3f} {stream[2]:>9.1f} | "
            f"{dense[1]:>8.3f} {dense[2]:>9.1f} | {dense[1] / stream[1]:>7.1f} "
            f"{dense[2] / stream[2]:>6.1f} | {stream[0].net_return:>10.4g} "
            f"{stream[0].max_drawdown:>6.4f} | {worst:>18.2e}"
        )
    print(
        "all seven metric means (and 1 + net_return, 1 - max_drawdown) agree at every size "
        f"(relative {REL_TOL:g}, or absolute {ABS_TOL:g} near zero)"
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
