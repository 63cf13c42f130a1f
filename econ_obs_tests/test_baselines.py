"""Baselines: same accounting function, cost monotonicity, streaming mean, determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from econ_obs.core.accounting import CostBasis, PricePath, evaluate_trades
from econ_obs.core.baselines import (
    BASELINE_TYPES,
    RandomBaselineParams,
    all_baselines,
    buy_and_hold,
    naive,
    random_baseline,
    random_trades,
)

FIELDS = (
    "net_return",
    "gross_return",
    "n_trades",
    "sharpe",
    "max_drawdown",
    "exposure",
    "hit_rate",
)


def make_path(n_bars: int = 2000, seed: int = 3) -> PricePath:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.0005 + rng.standard_t(4, n_bars) * 0.01))
    return PricePath(close, 8766.0)


def test_buy_and_hold_is_one_trade_through_the_one_function() -> None:
    path = make_path()
    cost = CostBasis(cost_bps=10, slippage_bps=5)
    row = buy_and_hold(path, cost)
    expected = evaluate_trades(path, np.array([0]), np.array([path.n_bars - 1]), cost)
    assert row.baseline_type == "buy_and_hold" and row.metrics == expected
    assert row.metrics.net_return == pytest.approx(path.close[-1] / path.close[0] - 1 - 0.003)


def test_naive_is_zero_whatever_the_cost() -> None:
    for cost_bps in (0, 10, 1000):
        metrics = naive(make_path(), CostBasis(cost_bps, 5)).metrics.as_dict()
        assert all(value == 0 for value in metrics.values())


def test_net_returns_fall_as_cost_rises() -> None:
    path = make_path()
    params = RandomBaselineParams(n_seeds=20, hold_bars=12)
    rows = [all_baselines(path, CostBasis(cost_bps, 0), params) for cost_bps in (10, 15, 30)]
    for position, baseline_type in enumerate(BASELINE_TYPES):
        nets = [row[position].metrics.net_return for row in rows]
        assert all(row[position].baseline_type == baseline_type for row in rows)
        if baseline_type == "naive":
            assert nets == [0.0, 0.0, 0.0]
        else:
            assert nets[0] > nets[1] > nets[2]


def test_random_row_is_the_mean_of_independent_per_seed_evaluations() -> None:
    path = make_path()
    cost = CostBasis(cost_bps=7, slippage_bps=3)
    params = RandomBaselineParams(n_seeds=25, hold_bars=10, entry_prob=0.2)
    row = random_baseline(path, cost, params)
    per_seed = []
    for seed in range(params.n_seeds):
        entry, exit_ = random_trades(path.n_bars, 10, 0.2, seed)
        per_seed.append(evaluate_trades(path, entry, exit_, cost).as_dict())
    for field in FIELDS:
        assert getattr(row.metrics, field) == pytest.approx(np.mean([m[field] for m in per_seed]))
    distribution = row.params["net_return_distribution"]
    assert set(distribution) == {"mean", "std", "p05", "p50", "p95"}
    nets = [m["net_return"] for m in per_seed]
    assert distribution["p50"] == pytest.approx(np.median(nets))
    assert distribution["p05"] <= distribution["p50"] <= distribution["p95"]
    assert row.params["seed_derivation"] == "default_rng(i) for i in range(n_seeds)"
    assert row.params["entry_prob"] == 0.2 and row.params["n_seeds"] == 25
    json.dumps(row.params)  # goes to a JSONB column as it is


def test_random_trades_follow_the_documented_process() -> None:
    entry, exit_ = random_trades(n_bars=5000, hold_bars=24, entry_prob=1 / 24, seed=0)
    assert entry[0] >= 0 and exit_[-1] <= 4999 and (exit_ > entry).all()
    assert (entry[1:] >= exit_[:-1] + 1).all()  # next entry at the bar after an exit at earliest
    assert ((exit_ - entry)[:-1] == 24).all()
    # Mean wait after an exit is 1 / entry_prob bars (geometric, support 1, 2, ...).
    many = [random_trades(200_000, 5, 0.1, seed) for seed in range(3)]
    waits = np.concatenate([e[1:] - x[:-1] for e, x in many])
    assert waits.min() == 1 and waits.mean() == pytest.approx(10, rel=0.03)
    every_bar = random_trades(100, 3, 1.0, 0)
    assert every_bar[0].tolist() == list(range(0, 99, 4))


def test_random_params_are_validated() -> None:
    assert RandomBaselineParams(hold_bars=8).effective_entry_prob == 1 / 8
    for bad in ({"n_seeds": 0}, {"hold_bars": 0}, {"entry_prob": 0.0}, {"entry_prob": 1.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RandomBaselineParams(**bad)


def test_random_baseline_identical_across_processes() -> None:
    code = (
        "import json, numpy as np\n"
        "from econ_obs.core.accounting import CostBasis, PricePath\n"
        "from econ_obs.core.baselines import RandomBaselineParams, random_baseline\n"
        "rng = np.random.default_rng(3)\n"
        "close = 100 * np.exp(np.cumsum(0.0005 + rng.standard_t(4, 2000) * 0.01))\n"
        "row = random_baseline(PricePath(close, 8766.0), CostBasis(10, 5), "
        "RandomBaselineParams(n_seeds=30))\n"
        "print(json.dumps([row.metrics.as_dict(), row.params], sort_keys=True))\n"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    row = random_baseline(make_path(), CostBasis(10, 5), RandomBaselineParams(n_seeds=30))
    here = json.dumps([row.metrics.as_dict(), row.params], sort_keys=True)
    assert other.stdout.strip() == here
