"""The random baseline's memory does not grow with n_seeds x bars: one seed's trades at a time,
only n_seeds numbers per metric kept. Measured with tracemalloc (numpy reports to it)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from econ_obs.core.accounting import CostBasis, PricePath
from econ_obs.core.baselines import METRIC_NAMES, RandomBaselineParams, random_baseline

N_BARS = 3000
FEW_SEEDS, MANY_SEEDS = 100, 1000


def peak_bytes(n_seeds: int) -> int:
    rng = np.random.default_rng(1)
    path = PricePath(100 * np.exp(np.cumsum(rng.normal(0, 0.01, N_BARS))), 8766.0)
    params = RandomBaselineParams(n_seeds=n_seeds, hold_bars=12)
    tracemalloc.start()
    try:
        random_baseline(path, CostBasis(10, 1), params)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_random_baseline_memory_grows_with_n_seeds_only_not_with_seeds_times_bars():
    peak_bytes(FEW_SEEDS)  # warm-up: first-call caches are not the seeds' memory
    extra_seeds = MANY_SEEDS - FEW_SEEDS
    growth = peak_bytes(MANY_SEEDS) - peak_bytes(FEW_SEEDS)

    per_seed_values = extra_seeds * len(METRIC_NAMES) * 8  # what must be kept
    seeds_times_bars = extra_seeds * N_BARS * 8  # one float per seed and bar: 22 MB here
    assert growth < per_seed_values + 1_000_000, growth
    assert growth < seeds_times_bars / 50
