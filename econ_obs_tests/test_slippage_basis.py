"""Slippage is part of the cost basis: a list in the YAML, one partition and one set of rows per
(cost_bps, slippage_bps), each scored at its own slippage."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from econ_obs.config import ConfigError, parse_sweep_config
from econ_obs.defs.checks import CHECK_NAMES, evaluate_check, expected_keys, expected_windows
from econ_obs.store.report import report_rows
from econ_obs_tests.conftest import SMALL_SWEEP_YAML, run_small_sweep


def _parse(tmp_path, slippage) -> tuple:
    raw = yaml.safe_load(SMALL_SWEEP_YAML)
    raw["slippage_bps"] = slippage
    return parse_sweep_config(raw, tmp_path / "sweep.yaml").slippage_bps


@pytest.mark.parametrize(
    ("slippage", "parsed"),
    [(2, (2.0,)), (0, (0.0,)), (2.5, (2.5,)), ([0, 2.5], (0.0, 2.5)), ([3], (3.0,))],
)
def test_slippage_is_a_number_or_a_list(tmp_path, slippage, parsed):
    assert _parse(tmp_path, slippage) == parsed


@pytest.mark.parametrize(
    ("slippage", "words"),
    [
        ([2, 2.0], ["slippage_bps[1]", "listed twice"]),
        ([1, -1], ["slippage_bps[1]", ">= 0"]),
        ([float("nan")], ["slippage_bps[0]", "finite"]),
        ([float("inf")], ["slippage_bps[0]", "finite"]),
        (["2"], ["slippage_bps[0]", "not a number"]),
        ([True], ["slippage_bps[0]", "not a number"]),
        ([], ["slippage_bps", "non-empty list"]),
        (-1, ["slippage_bps", ">= 0"]),
        (20_000, ["slippage_bps", "over 10000"]),
    ],
)
def test_a_bad_slippage_is_one_line_naming_the_key(tmp_path, slippage, words):
    with pytest.raises(ConfigError) as refused:
        _parse(tmp_path, slippage)

    message = str(refused.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_two_slippages_are_two_bases_each_scored_at_its_own_slippage(
    small_config, sweep_resources, instance, engine
):
    config = replace(small_config, cryptos=("BTCUSDT",), slippage_bps=(0.0, 2.5))

    outcomes = run_small_sweep(config, sweep_resources, instance)

    assert all(o.success for o in outcomes)
    windows = expected_windows(config)
    with engine.connect() as connection:
        for name in CHECK_NAMES:
            assert (
                evaluate_check(
                    connection, name, config.run_id, config.strategy, expected_keys(config), windows
                )
                == []
            ), name
        buy_and_hold = connection.execute(
            sa.text(
                "SELECT fold_id, cost_bps, slippage_bps, net_return, gross_return, "
                "test_missing_bars, test_span_hours FROM finetune_baselines "
                "WHERE baseline_type = 'buy_and_hold' ORDER BY 1, 2, 3"
            )
        ).all()
        rows = report_rows(connection, config.run_id, config.strategy, expected_keys(config))
    assert len(buy_and_hold) == 2 * 2 * 2
    for fold_id in (0, 1):
        for cost_bps in (10, 30):
            free, slipped = [
                r for r in buy_and_hold if (r.fold_id, r.cost_bps) == (fold_id, cost_bps)
            ]
            assert (free.slippage_bps, slipped.slippage_bps) == (0.0, 2.5)
            assert free.gross_return == slipped.gross_return
            # One round trip: net = gross - 2 x (cost + slippage) / 10000.
            assert free.net_return - slipped.net_return == pytest.approx(2 * 2.5 / 10_000)
            assert free.test_missing_bars == 0 and free.test_span_hours == 239.0
    assert {(r["cost_bps"], r["slippage_bps"]) for r in rows} == {
        (10, 0.0),
        (10, 2.5),
        (30, 0.0),
        (30, 2.5),
    }
    assert all(r["buy_and_hold"] is not None and r["random_mean"] is not None for r in rows)
    records = instance.fetch_materializations(
        dg.AssetKey(["test_run", "model_results"]), limit=100
    ).records
    keys = {record.partition_key for record in records}
    assert "BTCUSDT|fold1_30bps_2.5slip" in keys and "BTCUSDT|fold0_10bps_0slip" in keys
