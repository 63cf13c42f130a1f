"""The config's expected keys are the checks' reference: a key never written is reported, and
so is a stored key the config does not expect."""

from __future__ import annotations

from dataclasses import replace

import pytest

from econ_obs.definitions import build_definitions
from econ_obs.defs.checks import (
    BASELINES_COMPLETE,
    CHECK_EVENTS,
    NO_UNEXPECTED_KEYS,
    WINDOW_MATCHES_CONFIG,
    check_result,
    evaluate_check,
    expected_keys,
)
from econ_obs.defs.partitions import ResultKey
from econ_obs.store.partition_writes import replace_partition
from econ_obs.store.results import BASELINES_TABLE, RESULTS_TABLE
from econ_obs_tests.conftest import run_small_sweep
from econ_obs_tests.test_operator_behaviour import detail, evaluate_sensor, stored_alerts
from econ_obs_tests.test_results_store import BASIS, baselines, results


def _write(engine, key: ResultKey, with_results: bool = True) -> None:
    basis = replace(
        BASIS,
        run_id="test_run",
        strategy="test_strategy",
        crypto=key.crypto,
        fold_id=key.fold_id,
        cost_bps=key.cost_bps,
        slippage_bps=key.slippage_bps,
    )
    replace_partition(engine, BASELINES_TABLE, basis, baselines(basis, "w"))
    if with_results:
        replace_partition(engine, RESULTS_TABLE, basis, results(basis, "w"))


def _check(engine, name: str, config) -> list[dict]:
    with engine.connect() as connection:
        return evaluate_check(connection, name, "test_run", "test_strategy", expected_keys(config))


def test_the_expected_keys_are_cryptos_x_folds_x_cost_bases(small_config):
    config = replace(small_config, slippage_bps=(1.0, 2.5))

    keys = expected_keys(config)

    assert len(keys) == 2 * 2 * 2 * 2
    assert ResultKey("ETHUSDT", 1, 30, 2.5) in keys
    assert {k.fold_id for k in keys} == {0, 1}


def test_a_key_with_neither_model_rows_nor_baselines_fails_baselines_complete(engine, small_config):
    keys = expected_keys(small_config)
    never_written, baselines_only = keys[0], keys[1]
    for key in keys[2:]:
        _write(engine, key)
    _write(engine, baselines_only, with_results=False)

    offending = _check(engine, BASELINES_COMPLETE, small_config)

    assert offending == [
        {
            "crypto": never_written.crypto,
            "fold_id": never_written.fold_id,
            "cost_bps": never_written.cost_bps,
            "slippage_bps": never_written.slippage_bps,
            "missing": ["buy_and_hold", "random", "naive", "model_results"],
        },
        {
            "crypto": baselines_only.crypto,
            "fold_id": baselines_only.fold_id,
            "cost_bps": baselines_only.cost_bps,
            "slippage_bps": baselines_only.slippage_bps,
            "missing": ["model_results"],
        },
    ]
    result = check_result(BASELINES_COMPLETE, offending, "test_run", "test_strategy")
    assert not result.passed and result.metadata["event"].value == "baselines_incomplete"


def test_an_empty_run_fails_on_every_expected_key(engine, small_config):
    assert len(_check(engine, BASELINES_COMPLETE, small_config)) == 8


def test_a_complete_run_passes_both(engine, small_config):
    for key in expected_keys(small_config):
        _write(engine, key)

    assert _check(engine, BASELINES_COMPLETE, small_config) == []
    assert _check(engine, NO_UNEXPECTED_KEYS, small_config) == []


@pytest.mark.parametrize(
    "stray",
    [
        ResultKey("BTCUSDT", 0, 15, 1.0),  # a cost the config no longer has
        ResultKey("BTCUSDT", 0, 10, 2.0),  # a slippage the config does not have
        ResultKey("BTCUSDT", 7, 10, 1.0),  # a fold past n_folds
        ResultKey("SOLUSDT", 0, 10, 1.0),  # a crypto the config does not sweep
    ],
)
def test_a_stored_key_outside_the_config_fails_no_unexpected_keys(engine, small_config, stray):
    for key in expected_keys(small_config):
        _write(engine, key)
    _write(engine, stray)

    offending = _check(engine, NO_UNEXPECTED_KEYS, small_config)

    assert [(r["table_name"], r["n_rows"]) for r in offending] == [
        ("finetune_baselines", 3),
        ("finetune_results", 2),
    ]
    assert all(
        (r["crypto"], r["fold_id"], r["cost_bps"], r["slippage_bps"])
        == (stray.crypto, stray.fold_id, stray.cost_bps, stray.slippage_bps)
        for r in offending
    )
    assert _check(engine, BASELINES_COMPLETE, small_config) == []
    result = check_result(NO_UNEXPECTED_KEYS, offending, "test_run", "test_strategy")
    assert not result.passed and result.metadata["event"].value == "unexpected_keys"


def test_no_unexpected_keys_is_a_blocking_check_the_sensor_maps(small_config):
    defs = build_definitions(small_config, resources={})
    checks = {
        spec.name: spec for checks_def in defs.asset_checks for spec in checks_def.check_specs
    }

    assert checks[NO_UNEXPECTED_KEYS].blocking
    assert checks[BASELINES_COMPLETE].blocking
    assert CHECK_EVENTS[NO_UNEXPECTED_KEYS] == "unexpected_keys"
    assert CHECK_EVENTS[BASELINES_COMPLETE] == "baselines_incomplete"


def test_econ_obs_check_passes_the_expected_keys(engine, database_url, small_config):
    from econ_obs.cli_sweep import _run_checks

    for key in expected_keys(small_config)[1:]:
        _write(engine, key)
    _write(engine, ResultKey("BTCUSDT", 0, 15, 1.0))

    failures = _run_checks(small_config, database_url)

    # The written rows carry test_results_store's made-up windows, not the sample data's.
    assert sorted(failures) == [BASELINES_COMPLETE, NO_UNEXPECTED_KEYS, WINDOW_MATCHES_CONFIG]
    assert len(failures[BASELINES_COMPLETE]) == 1


def test_a_stray_key_alerts_unexpected_keys_through_the_sensor(
    small_config, sweep_resources, instance, engine
):
    run_small_sweep(small_config, sweep_resources, instance)
    stray = ResultKey("BTCUSDT", 0, 15, 1.0)  # a cost the config does not have
    _write(engine, stray)
    # The results stage and its checks: nothing deletes the stray key.
    (outcome,) = run_small_sweep(small_config, sweep_resources, instance, last_stage_only=True)
    defs = build_definitions(small_config, resources=sweep_resources)
    assert not outcome.success  # no_unexpected_keys is blocking

    cursor = evaluate_sensor(instance, sweep_resources, defs)
    evaluate_sensor(instance, sweep_resources, defs, cursor)  # nothing new the second time

    alerts = stored_alerts(engine)
    assert [(a.event, a.check_name, a.run_id, a.strategy) for a in alerts] == [
        ("unexpected_keys", NO_UNEXPECTED_KEYS, "test_run", "test_strategy")
    ] * 2
    assert {(a.crypto, a.fold_id, a.cost_bps, a.slippage_bps) for a in alerts} == {
        (stray.crypto, stray.fold_id, stray.cost_bps, stray.slippage_bps)
    }
    assert all(a.dagster_run_id == outcome.dagster_run_id for a in alerts)
    assert sorted((detail(a)["table_name"], detail(a)["n_rows"]) for a in alerts) == [
        ("finetune_baselines", 3),
        ("finetune_results", 2),
    ]
