"""The one accounting function: hand-computed cases and a per-bar reference implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from econ_obs.core.accounting import (
    CostBasis,
    CostError,
    Metrics,
    PricePath,
    evaluate_positions,
    evaluate_trades,
    trades_from_positions,
)

BARS_PER_YEAR = 8766.0
FIELDS = (
    "net_return",
    "gross_return",
    "n_trades",
    "sharpe",
    "max_drawdown",
    "exposure",
    "hit_rate",
)


def reference_metrics(
    close: np.ndarray, entries: list[int], exits: list[int], cost: CostBasis, bars_per_year: float
) -> dict[str, float]:
    """Straightforward per-bar loop implementing the documented conventions."""
    side = cost.side_cost
    n_bars = len(close)
    per_bar = [0.0] * (n_bars - 1)
    equity, peak, max_drawdown = 1.0, 1.0, 0.0
    nets, grosses = [], []
    for entry, exit_ in zip(entries, exits, strict=True):
        for t in range(entry, exit_):
            per_bar[t] += close[t + 1] / close[t] - 1
            if t == entry:
                per_bar[t] -= side
            if t == exit_ - 1:
                per_bar[t] -= side
        for t in range(entry, exit_ + 1):
            point = equity * (1 - side) * close[t] / close[entry]
            peak = max(peak, point)
            max_drawdown = max(max_drawdown, 1 - point / peak)
        gross = close[exit_] / close[entry] - 1
        net = gross - 2 * side
        grosses.append(gross)
        nets.append(net)
        equity *= 1 + net
        peak = max(peak, equity)
        max_drawdown = max(max_drawdown, 1 - equity / peak)
    returns = np.array(per_bar)
    std = returns.std()
    return {
        "net_return": math.prod(1 + x for x in nets) - 1,
        "gross_return": math.prod(1 + x for x in grosses) - 1,
        "n_trades": len(nets),
        "sharpe": returns.mean() / std * math.sqrt(bars_per_year) if std > 1e-15 else 0.0,
        "max_drawdown": max_drawdown,
        "exposure": sum(x - e for e, x in zip(entries, exits, strict=True)) / (n_bars - 1),
        "hit_rate": sum(x > 0 for x in nets) / len(nets) if nets else 0.0,
    }


def assert_matches(metrics: Metrics, expected: dict[str, float]) -> None:
    got = metrics.as_dict()
    for field in FIELDS:
        assert math.isclose(got[field], expected[field], rel_tol=1e-9, abs_tol=1e-9), (
            field,
            got[field],
            expected[field],
        )


def random_walk(rng: np.random.Generator, n_bars: int) -> np.ndarray:
    return 100 * np.exp(np.cumsum(rng.standard_t(4, n_bars) * 0.01))


# Hand-computed: close 100,110,121,100,125,150,120,100; positions long over 0->2, 3->4, 5->7.
CLOSE = np.array([100, 110, 121, 100, 125, 150, 120, 100], dtype=float)
POSITIONS = np.array([1, 1, 0, 1, 0, 1, 1, 0])


def test_trades_from_positions_hand_case() -> None:
    entry_idx, exit_idx = trades_from_positions(POSITIONS)
    assert entry_idx.tolist() == [0, 3, 5]
    assert exit_idx.tolist() == [2, 4, 7]
    # A position held at the last bar has no interval left: it is clipped and dropped.
    entry_idx, exit_idx = trades_from_positions(np.array([0, 1, 1, 1]))
    assert (entry_idx.tolist(), exit_idx.tolist()) == ([1], [3])
    assert trades_from_positions(np.array([0, 0, 0, 1]))[0].size == 0


def test_hand_computed_fee_only() -> None:
    path = PricePath(CLOSE, BARS_PER_YEAR)
    metrics = evaluate_positions(path, POSITIONS, CostBasis(cost_bps=10, slippage_bps=0))
    # gross: 121/100-1 = 0.21, 125/100-1 = 0.25, 100/150-1 = -1/3; round trip 2*10bps = 0.002
    # net: 0.208, 0.248, -1/3-0.002 -> (1.208)(1.248)(2/3-0.002) - 1
    assert metrics.net_return == pytest.approx(1.208 * 1.248 * (2 / 3 - 0.002) - 1, abs=1e-12)
    # gross_return: 1.21 * 1.25 * (2/3) - 1 = 0.008333...
    assert metrics.gross_return == pytest.approx(1.21 * 1.25 * 2 / 3 - 1, abs=1e-12)
    assert metrics.n_trades == 3
    assert metrics.hit_rate == pytest.approx(2 / 3)
    # intervals held: 2 + 1 + 2 = 5 of 7
    assert metrics.exposure == pytest.approx(5 / 7)


def test_hand_computed_with_slippage() -> None:
    path = PricePath(CLOSE, BARS_PER_YEAR)
    metrics = evaluate_positions(path, POSITIONS, CostBasis(cost_bps=10, slippage_bps=5))
    # round trip 2 * (10 + 5) bps = 0.003: net 0.207, 0.247, -1/3 - 0.003
    assert metrics.net_return == pytest.approx(1.207 * 1.247 * (2 / 3 - 0.003) - 1, abs=1e-12)
    assert metrics.gross_return == pytest.approx(1.21 * 1.25 * 2 / 3 - 1, abs=1e-12)


def test_hand_computed_drawdown_without_cost() -> None:
    path = PricePath(CLOSE, BARS_PER_YEAR)
    metrics = evaluate_positions(path, POSITIONS, CostBasis(cost_bps=0, slippage_bps=0))
    # equity peaks at 1.21 * 1.25 = 1.5125 at bar 5 and falls with the close from 150 to 100
    assert metrics.max_drawdown == pytest.approx(1 / 3, abs=1e-12)


def test_no_trades_is_all_zero() -> None:
    path = PricePath(CLOSE, BARS_PER_YEAR)
    metrics = evaluate_positions(path, np.zeros(8, dtype=np.int8), CostBasis(10, 5))
    assert metrics.as_dict() == dict.fromkeys(FIELDS, 0.0) | {"n_trades": 0}


@pytest.mark.parametrize(
    ("cost_bps", "slippage_bps"),
    [(-1, 0), (0, -0.5), (None, 0), (10, None), (float("nan"), 0), ("10", 0), (10, float("inf"))],
)
def test_bad_costs_rejected(cost_bps: object, slippage_bps: object) -> None:
    with pytest.raises(CostError, match="bps"):
        CostBasis(cost_bps=cost_bps, slippage_bps=slippage_bps)  # type: ignore[arg-type]


def test_cost_basis_has_no_defaults() -> None:
    with pytest.raises(TypeError):
        CostBasis()  # type: ignore[call-arg]
    assert CostBasis(10, 5).round_trip_cost == pytest.approx(0.003)
    assert CostBasis(10, 5).side_cost == pytest.approx(0.0015)


def test_price_path_rejects_bad_prices() -> None:
    with pytest.raises(ValueError, match=r"close\[2\]"):
        PricePath(np.array([1.0, 2.0, 0.0]), BARS_PER_YEAR)
    with pytest.raises(ValueError, match="at least 2"):
        PricePath(np.array([1.0]), BARS_PER_YEAR)


def test_overlapping_trades_rejected() -> None:
    path = PricePath(CLOSE, BARS_PER_YEAR)
    with pytest.raises(ValueError, match="overlap"):
        evaluate_trades(path, np.array([0, 1]), np.array([3, 4]), CostBasis(1, 0))
    with pytest.raises(ValueError, match="entry < exit"):
        evaluate_trades(path, np.array([2]), np.array([2]), CostBasis(1, 0))


@pytest.mark.parametrize("seed", range(60))
def test_random_positions_match_per_bar_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_bars = int(rng.integers(2, 400))
    close = random_walk(rng, n_bars)
    positions = (rng.random(n_bars) < rng.uniform(0.1, 0.9)).astype(np.int8)
    cost = CostBasis(cost_bps=float(rng.uniform(0, 30)), slippage_bps=float(rng.uniform(0, 10)))
    entries, exits = trades_from_positions(positions)
    expected = reference_metrics(close, entries.tolist(), exits.tolist(), cost, BARS_PER_YEAR)
    assert_matches(evaluate_positions(PricePath(close, BARS_PER_YEAR), positions, cost), expected)


@pytest.mark.parametrize("seed", range(20))
def test_many_equal_length_trades_use_cache_and_match_reference(seed: int) -> None:
    # Back-to-back trades of one length (plus a short last one) exercise the cached range stats.
    rng = np.random.default_rng(1000 + seed)
    n_bars = int(rng.integers(300, 1500))
    hold_bars = int(rng.integers(1, 30))
    close = random_walk(rng, n_bars)
    entries, exits, bar = [], [], int(rng.integers(0, 5))
    while bar < n_bars - 1:
        entries.append(bar)
        exits.append(min(bar + hold_bars, n_bars - 1))
        bar = exits[-1] + int(rng.integers(0, 4))
    cost = CostBasis(cost_bps=float(rng.uniform(0, 20)), slippage_bps=2.5)
    path = PricePath(close, BARS_PER_YEAR)
    for _ in range(2):  # second call reads the cache built by the first
        metrics = evaluate_trades(path, np.array(entries), np.array(exits), cost)
        assert_matches(metrics, reference_metrics(close, entries, exits, cost, BARS_PER_YEAR))
    if len(entries) > 40:
        assert hold_bars in path.length_tables


def test_one_interval_has_zero_variance_and_no_sharpe():
    # A 2-bar window holding one trade has one per-bar return: its std is exactly 0, but
    # E[q^2] - E[q]^2 rounds to ~1e-13 and once gave a sharpe of ~6e9.
    path = PricePath(np.array([100.12580929467218, 99.86798235677168]), 8766.0)
    metrics = evaluate_positions(path, np.array([1, 0]), CostBasis(cost_bps=10, slippage_bps=3))
    assert metrics.n_trades == 1
    assert metrics.sharpe == 0.0
    assert metrics.net_return == pytest.approx(99.86798235677168 / 100.12580929467218 - 1.0026)
