"""Significance: the matched null, p-values, break-even cost, the deflated Sharpe ratio and the
dense per-bar series, each checked against the one accounting function or a published value."""

from __future__ import annotations

import datetime
import math

import numpy as np
import pandas as pd
import pytest

from econ_obs.core.accounting import (
    CostBasis,
    PricePath,
    evaluate_trades,
    placement_net_returns,
    trade_gross_returns,
)
from econ_obs.core.baselines import random_trades
from econ_obs.core.matched_null import (
    MatchedNullParams,
    matched_null_net_returns,
    matched_placements,
    matched_seed,
)
from econ_obs.core.per_bar import equity_curve, max_drawdown_of, per_bar_returns
from econ_obs.core.significance import (
    ReturnMoments,
    breakeven_cost_bps,
    deflated_sharpe,
    expected_max_sharpe,
    gross_edge_bps_per_trade,
    return_moments,
    upper_p_value,
)

BARS_PER_YEAR = 8766.0


def _path(n_bars: int, seed: int, vol: float = 0.01) -> PricePath:
    rng = np.random.default_rng(seed)
    return PricePath(100 * np.exp(np.cumsum(rng.normal(0, vol, n_bars))), BARS_PER_YEAR)


def _model_trades(n_bars: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Trades of uneven lengths and gaps, like a model's."""
    rng = np.random.default_rng(seed)
    positions = (rng.random(n_bars) < 0.3).astype(np.int8)
    positions = np.maximum(positions, np.roll(positions, 1))  # some longer runs
    from econ_obs.core.accounting import trades_from_positions

    return trades_from_positions(positions)


def test_placements_keep_trade_count_lengths_and_stay_inside_without_overlap():
    entry, exit_ = _model_trades(500, seed=1)
    entries, exits = matched_placements(entry, exit_, 500, n_perms=200, seed=7)
    assert entries.shape == (200, entry.size)
    lengths = np.sort(exit_ - entry)
    for row_entry, row_exit in zip(entries, exits, strict=True):
        assert np.array_equal(np.sort(row_exit - row_entry), lengths)
        assert row_entry[0] >= 0 and row_exit[-1] <= 499
        assert (row_entry[1:] >= row_exit[:-1]).all()
    # Placements actually move: not every row is the model's own placement.
    assert (entries != entry).any(axis=1).mean() > 0.9


def test_placements_are_reproducible_from_the_seed():
    entry, exit_ = _model_trades(300, seed=2)
    first = matched_placements(entry, exit_, 300, 50, seed=matched_seed("BTCUSDT", 0, "v"))
    again = matched_placements(entry, exit_, 300, 50, seed=matched_seed("BTCUSDT", 0, "v"))
    other = matched_placements(entry, exit_, 300, 50, seed=matched_seed("BTCUSDT", 1, "v"))
    assert np.array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


def test_placement_net_returns_match_the_accounting_function_row_by_row():
    path = _path(400, seed=3)
    entry, exit_ = _model_trades(400, seed=4)
    cost = CostBasis(cost_bps=15, slippage_bps=2)
    entries, exits = matched_placements(entry, exit_, 400, 100, seed=5)
    batched = placement_net_returns(path, entries, exits, cost)
    for k in range(100):
        expected = evaluate_trades(path, entries[k], exits[k], cost).net_return
        assert batched[k] == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_zero_trades_give_an_all_zero_null_and_no_p_value():
    path = _path(100, seed=6)
    none = np.array([], dtype=np.int64)
    null = matched_null_net_returns(path, none, none, CostBasis(10, 0), 20, seed=1)
    assert null.shape == (20,) and not null.any()
    assert upper_p_value(0.0, np.array([])) is None


def test_upper_p_value_counts_ties_and_adds_one():
    null = np.array([-0.1, 0.0, 0.05, 0.05, 0.2])
    assert upper_p_value(0.05, null) == (1 + 3) / 6
    assert upper_p_value(1.0, null) == 1 / 6
    assert upper_p_value(-1.0, null) == 1.0


def test_p_values_of_random_placements_are_close_to_uniform():
    """A 'model' that is itself a random placement is exchangeable with its own null, so the
    share of p < 0.05 is 5 % up to sampling error (3 sigma of a binomial share)."""
    n_models, n_perms = 400, 199
    cost = CostBasis(cost_bps=10, slippage_bps=0)
    p_values = []
    for k in range(n_models):
        path = _path(300, seed=1000 + k)
        entry, exit_ = _model_trades(300, seed=2000 + k)
        shuffled = matched_placements(entry, exit_, 300, 1, seed=3000 + k)
        model_net = placement_net_returns(path, *shuffled, cost)[0]
        null = matched_null_net_returns(path, *shuffled[0:1], *shuffled[1:2], cost, n_perms, k)
        p_values.append(upper_p_value(model_net, null))
    share = np.mean(np.array(p_values) < 0.05)
    sigma = math.sqrt(0.05 * 0.95 / n_models)
    assert abs(share - 0.05) < 3 * sigma, share
    # And the whole distribution is flat: each decile holds about a tenth.
    deciles = np.histogram(p_values, bins=10, range=(0, 1))[0] / n_models
    assert np.abs(deciles - 0.1).max() < 4 * math.sqrt(0.1 * 0.9 / n_models), deciles


def test_p_value_against_random_seeds_is_uniform_for_a_random_model():
    n_models, n_seeds = 300, 99
    cost = CostBasis(cost_bps=5, slippage_bps=0)
    p_values = []
    for k in range(n_models):
        path = _path(240, seed=5000 + k)
        seeds = [
            evaluate_trades(path, *random_trades(240, 12, 1 / 12, seed), cost).net_return
            for seed in range(n_seeds)
        ]
        model = evaluate_trades(path, *random_trades(240, 12, 1 / 12, 10_000 + k), cost)
        p_values.append(upper_p_value(model.net_return, np.array(seeds)))
    share = np.mean(np.array(p_values) < 0.05)
    assert abs(share - 0.05) < 3 * math.sqrt(0.05 * 0.95 / n_models), share


@pytest.mark.parametrize("seed", range(30))
def test_net_return_is_positive_exactly_below_the_breakeven_cost(seed):
    path = _path(600, seed=seed, vol=0.004 + 0.002 * (seed % 5))
    entry, exit_ = _model_trades(600, seed=100 + seed)
    gross = trade_gross_returns(path, entry, exit_)
    breakeven = breakeven_cost_bps(gross)
    assert gross_edge_bps_per_trade(gross) == pytest.approx(gross.mean() * 1e4)
    for cost_bps in (0, 1, 2, 5, 10, 15, 30, 50):
        for slippage_bps in (0.0, 2.0, 5.0):
            metrics = evaluate_trades(path, entry, exit_, CostBasis(cost_bps, slippage_bps))
            assert (metrics.net_return > 0) == (cost_bps + slippage_bps < breakeven)
    # At the break-even cost itself the compounded net return is 0.
    at_breakeven = np.prod(1 + gross - 2 * breakeven / 1e4) - 1
    assert abs(at_breakeven) < 1e-12


def test_breakeven_is_negative_when_trades_lose_before_costs_and_none_without_trades():
    assert breakeven_cost_bps(np.array([-0.01, -0.02])) < 0
    assert breakeven_cost_bps(np.array([0.004])) == pytest.approx(20.0)
    assert breakeven_cost_bps(np.array([])) is None
    # A range wider than 100 % keeps every factor positive.
    wide = np.array([2.5, -0.6])
    breakeven = breakeven_cost_bps(wide)
    assert abs(np.prod(1 + wide - 2 * breakeven / 1e4) - 1) < 1e-9


def test_deflated_sharpe_reproduces_bailey_and_lopez_de_prado_2014():
    """The paper's example: SR 2.5 and V 0.5 annualised over 250 days a year, T = 1250,
    skew -3, kurtosis 10, N = 100 trials -> SR0 = 0.1132 per day and DSR = 0.9004."""
    days = 250
    moments = ReturnMoments(
        n_returns=1250, sharpe_per_bar=2.5 / math.sqrt(days), skew=-3.0, kurtosis=10.0
    )
    sr0, dsr = deflated_sharpe(moments, n_trials=100, sharpe_variance=0.5 / days)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_deflated_sharpe_with_one_trial_is_the_probabilistic_sharpe_ratio():
    moments = ReturnMoments(n_returns=101, sharpe_per_bar=0.1, skew=0.0, kurtosis=3.0)
    sr0, dsr = deflated_sharpe(moments, n_trials=1, sharpe_variance=0.0)
    assert sr0 == 0.0 and expected_max_sharpe(1, 5.0) == 0.0
    # By hand: z = 0.1 * sqrt(100) / sqrt(1 + 2/4 * 0.01) = 1 / sqrt(1.005) = 0.99751
    assert dsr == pytest.approx(0.84065, abs=1e-4)
    flat = return_moments(np.zeros(50))
    assert deflated_sharpe(flat, 3, 0.01)[1] is None


def test_per_bar_returns_and_equity_agree_with_the_accounting_function():
    for seed in range(20):
        path = _path(300, seed=seed)
        entry, exit_ = _model_trades(300, seed=50 + seed)
        cost = CostBasis(cost_bps=10 + seed, slippage_bps=1)
        metrics = evaluate_trades(path, entry, exit_, cost)
        q = per_bar_returns(path, entry, exit_, cost)
        assert q.size == 299
        moments = return_moments(q)
        assert moments.sharpe_per_bar * math.sqrt(BARS_PER_YEAR) == pytest.approx(
            metrics.sharpe, rel=1e-9
        )
        equity = equity_curve(path, entry, exit_, cost)
        assert equity[-1] - 1 == pytest.approx(metrics.net_return, rel=1e-12, abs=1e-14)
        # The curve holds one point per bar; accounting also sees a trade's pre-exit-cost point.
        assert max_drawdown_of(equity) <= metrics.max_drawdown + 1e-12


def test_return_moments_match_a_direct_computation():
    rng = np.random.default_rng(9)
    q = rng.standard_t(4, 2000) * 0.01
    moments = return_moments(q)
    centred = q - q.mean()
    assert moments.skew == pytest.approx(np.mean(centred**3) / np.std(q) ** 3)
    assert moments.kurtosis == pytest.approx(np.mean(centred**4) / np.var(q) ** 2)
    assert moments.kurtosis > 3  # fat tails: Pearson, not excess


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "100", 10**9])
def test_matched_null_params_refuse_bad_counts(bad):
    with pytest.raises(ValueError, match="n_perms"):
        MatchedNullParams(n_perms=bad)


@pytest.mark.parametrize(
    ("start", "tz"),
    [
        ("2020-01-01", "UTC"),
        ("2020-01-01 00:00:00.5", "UTC"),
        ("1969-12-31 22:00", "UTC"),  # before the epoch: negative nanoseconds
        ("2020-01-01", None),
        ("2020-03-29", "Europe/Paris"),  # the offset changes inside the window
        ("2020-01-01", datetime.UTC),
        ("2020-01-01", "Etc/UTC"),
    ],
)
def test_the_stored_equity_curve_writes_each_sampled_bar_as_str_of_its_time(start, tz):
    from econ_obs.store.significance import equity_json

    times = pd.date_range(start, periods=500, freq="1h", tz=tz)
    bars = np.sort(np.random.default_rng(3).choice(500, size=40, replace=False))
    equity = np.random.default_rng(4).normal(1.0, 0.1, size=40)

    curve = equity_json(times, bars, equity)

    assert curve == {
        "time": [str(times[int(bar)]) for bar in bars],
        "bar": [int(bar) for bar in bars],
        "equity": [float(value) for value in equity],
    }
    assert all(type(v) is int for v in curve["bar"]) and all(
        type(v) is float for v in curve["equity"]
    )


def test_a_slices_curves_share_their_time_texts_and_two_slices_never_mix():
    """slice_equity_json formats a slice's sampled times once; every curve still gets exactly
    equity_json's text, and two folds with the same sampled bars keep their own times."""
    from econ_obs.core.backtest import build_feature_slices
    from econ_obs.core.folds import FoldConfig
    from econ_obs.core.sample_data import sample_bars
    from econ_obs.defs.result_partitions import slice_equity_json
    from econ_obs.store.significance import equity_json

    folds = FoldConfig(n_folds=2, train_bars=400, test_bars=300, purge_bars=5)
    slices = build_feature_slices(sample_bars("BTCUSDT"), folds, "returns")
    bars = np.unique(np.linspace(0, 299, 40).round()).astype(np.int64)
    for feature_slice in (*slices, *slices):  # the second pass reads the memo
        times = feature_slice.close.index[feature_slice.test_slice]
        for seed in (1, 2):
            equity = np.random.default_rng(seed).normal(1.0, 0.1, size=len(bars))
            assert slice_equity_json(feature_slice, bars, equity) == equity_json(
                times, bars, equity
            )
    first, second = (slice_equity_json(s, bars, np.ones(len(bars)))["time"] for s in slices)
    assert first != second  # same bars, other window: other times


def test_the_matched_null_summary_is_each_statistic_of_its_net_returns():
    """mean, p05 and p95 are made once with the null (one percentile call for both): each is
    exactly what numpy gives for it alone."""
    from econ_obs.core.assessment import MatchedNull

    null = np.random.default_rng(11).standard_t(3, size=1000) * 0.02
    matched = MatchedNull(n_perms=1000, seed=7, net_returns=null, p_value=0.5)

    assert matched.mean == float(null.mean())
    assert matched.p05 == float(np.percentile(null, 5))
    assert matched.p95 == float(np.percentile(null, 95))
    assert type(matched.p05) is float and matched.p05 < matched.mean < matched.p95
