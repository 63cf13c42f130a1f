"""window_matches_config: every stored row's train and test window and n_test_bars are what the
current config's folds lay out on the current data for its key; a stale row fails, by key."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import sqlalchemy as sa

from econ_obs.cli_sweep import _run_checks
from econ_obs.core.backtest import build_feature_slices
from econ_obs.core.folds import FoldConfig
from econ_obs.core.window_match import ExpectedWindows, window_mismatches
from econ_obs.defs.checks import (
    BASELINES_COMPLETE,
    CHECK_EVENTS,
    NO_UNEXPECTED_KEYS,
    SAME_BASIS,
    UNIQUE_PER_PARTITION,
    WINDOW_MATCHES_CONFIG,
    check_result,
    evaluate_check,
    expected_keys,
    expected_windows,
)
from econ_obs.defs.sensors import check_alerts
from econ_obs_tests.conftest import run_small_sweep
from econ_obs_tests.test_sweep_graph import check_evaluations, run_results_stage

# The sample data is 17,520 hourly bars from 2022-01-01 00:00 UTC: the last opens at
# 2023-12-31 23:00. With test_bars 240 fold 1 tests its last 240 bars, fold 0 the 240 before.
FOLD_1_TEST_START = "2023-12-22T00:00:00+00:00"
FOLD_1_TEST_END = "2023-12-31T23:00:00+00:00"
FOLD_0_TEST_END = "2023-12-21T23:00:00+00:00"
# Config B (test_bars 200): fold 1 tests the last 200 bars, from bar 17,320.
B_FOLD_1_TEST_START = "2023-12-23T16:00:00+00:00"


def _check(engine, config, windows=None) -> list[dict]:
    with engine.connect() as connection:
        return evaluate_check(
            connection,
            WINDOW_MATCHES_CONFIG,
            config.run_id,
            config.strategy,
            expected_keys(config),
            expected_windows(config) if windows is None else windows,
        )


def _with_test_bars(config, test_bars: int):
    return replace(config, folds=replace(config.folds, test_bars=test_bars))


def test_the_expected_windows_are_the_ones_the_sweeps_slices_hold(small_config):
    laid_out = expected_windows(small_config)

    slices = {
        (crypto, feature_slice.fold.fold_id): feature_slice.fold
        for crypto in small_config.cryptos
        for feature_slice in build_feature_slices(
            small_config.data.load_bars(crypto),
            small_config.folds,
            small_config.factor,
            small_config.factor_params,
            max_gap_bars=small_config.data.max_gap_bars,
        )
    }
    assert laid_out.problems == {}
    assert laid_out.windows == slices
    fold_1 = laid_out.windows[("BTCUSDT", 1)]
    assert fold_1.test_start.isoformat() == FOLD_1_TEST_START
    assert fold_1.test_end.isoformat() == FOLD_1_TEST_END
    assert fold_1.n_test_bars == 240


def test_data_that_does_not_load_or_fit_is_one_line_per_crypto(small_config, tmp_path):
    no_files = replace(
        small_config, data=replace(small_config.data, data_format="ohlcv_csv", path=tmp_path)
    )
    too_many_folds = replace(
        small_config, folds=FoldConfig(n_folds=100, train_bars=600, test_bars=240, purge_bars=12)
    )

    for config, words in ((no_files, "BTCUSDT"), (too_many_folds, "bars")):
        laid_out = expected_windows(config)
        assert laid_out.windows == {}
        assert sorted(laid_out.problems) == ["BTCUSDT", "ETHUSDT"]
        for problem in laid_out.problems.values():
            assert "\n" not in problem and "MarketDataError" in problem
        assert words in laid_out.problems["BTCUSDT"]


def test_a_stored_key_without_a_laid_out_window_is_reported_not_skipped():
    row = {
        "crypto": "BTCUSDT",
        "fold_id": 3,
        "cost_bps": 10,
        "slippage_bps": 1.0,
        "table": "finetune_results",
    }

    offending = window_mismatches([row], ExpectedWindows(windows={}, problems={}))

    assert offending == [{**row, "problem": "no window laid out"}]


def test_data_that_does_not_load_fails_the_check_naming_each_crypto(
    engine, database_url, small_config, tmp_path
):
    config = replace(
        small_config, data=replace(small_config.data, data_format="ohlcv_csv", path=tmp_path)
    )

    offending = _run_checks(config, database_url)[WINDOW_MATCHES_CONFIG]

    assert [row["crypto"] for row in offending] == ["BTCUSDT", "ETHUSDT"]
    assert all(set(row) == {"crypto", "problem"} for row in offending)
    assert "no fold windows to compare with" in offending[0]["problem"]
    result = check_result(WINDOW_MATCHES_CONFIG, offending, config.run_id, config.strategy)
    assert not result.passed and result.metadata["event"].value == "window_mismatch"


def test_a_clean_sweep_passes_window_matches_config(
    small_config, sweep_resources, instance, engine
):
    outcomes = run_small_sweep(small_config, sweep_resources, instance)

    assert all(o.success for o in outcomes)
    evaluation = check_evaluations(instance, outcomes[-1].dagster_run_id)[WINDOW_MATCHES_CONFIG]
    assert evaluation.passed and evaluation.metadata["n_offending"].value == 0
    assert _check(engine, small_config) == []


def test_a_tampered_row_fails_naming_its_key_field_expected_and_stored(
    small_config, sweep_resources, instance, engine
):
    run_small_sweep(small_config, sweep_resources, instance)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE finetune_results SET n_test_bars = 720 WHERE crypto = 'ETHUSDT' "
                "AND fold_id = 0 AND cost_bps = 30 AND variant = 'ridge_a1_t0'"
            )
        )
        connection.execute(
            sa.text(
                "UPDATE finetune_baselines SET test_end = test_end - interval '1 hour' "
                "WHERE crypto = 'BTCUSDT' AND fold_id = 1 AND cost_bps = 10 "
                "AND baseline_type = 'naive'"
            )
        )

    offending = _check(engine, small_config)

    shifted_baseline = {
        "crypto": "BTCUSDT",
        "fold_id": 1,
        "cost_bps": 10,
        "slippage_bps": 1.0,
        "table": "finetune_baselines",
        "field": "test_end",
        "expected": FOLD_1_TEST_END,
        "stored": "2023-12-31T22:00:00+00:00",
        "n_rows": 1,
    }
    assert offending == [
        shifted_baseline,
        {
            "crypto": "ETHUSDT",
            "fold_id": 0,
            "cost_bps": 30,
            "slippage_bps": 1.0,
            "table": "finetune_results",
            "field": "n_test_bars",
            "expected": 240,
            "stored": 720,
            "n_rows": 1,
        },
    ]

    # In Dagster: model_results rewrites its rows, the shifted baseline stays and blocks the run.
    run, outcome = run_results_stage(small_config, sweep_resources, instance)

    failed = check_evaluations(instance, run.run_id)[WINDOW_MATCHES_CONFIG]
    assert not outcome.success and not failed.passed
    assert failed.metadata["event"].value == "window_mismatch"
    assert failed.metadata["offending_keys"].value == [shifted_baseline]
    (alert,) = check_alerts(failed, run.run_id)
    assert (alert["event"], alert["check_name"]) == ("window_mismatch", WINDOW_MATCHES_CONFIG)
    assert (alert["crypto"], alert["fold_id"], alert["cost_bps"], alert["slippage_bps"]) == (
        "BTCUSDT",
        1,
        10,
        1.0,
    )
    assert alert["detail"] == {
        "table": "finetune_baselines",
        "field": "test_end",
        "expected": FOLD_1_TEST_END,
        "stored": "2023-12-31T22:00:00+00:00",
        "n_rows": 1,
    }


def test_rows_swept_under_config_a_fail_for_config_b_only_on_their_windows(
    small_config, sweep_resources, instance, database_url
):
    run_small_sweep(small_config, sweep_resources, instance)
    config_b = _with_test_bars(small_config, 200)  # same run_id, keys and costs

    failures = _run_checks(config_b, database_url)

    # The four checks that compare keys and rows with each other see nothing wrong.
    assert list(failures) == [WINDOW_MATCHES_CONFIG]
    offending = failures[WINDOW_MATCHES_CONFIG]
    fields = {
        (r["crypto"], r["fold_id"], r["cost_bps"], r["slippage_bps"], r["table"], r["field"])
        for r in offending
    }
    # Every window field of every row moves, but fold 1 still ends at the last bar.
    assert len(offending) == len(fields) == 4 * 2 * 5 + 4 * 2 * 4
    assert not any(fold_id == 1 and field == "test_end" for _, fold_id, *_, field in fields)
    by_field = {
        r["field"]: r
        for r in offending
        if (r["crypto"], r["fold_id"], r["cost_bps"], r["table"])
        == ("BTCUSDT", 1, 10, "finetune_results")
    }
    assert sorted(by_field) == ["n_test_bars", "test_start", "train_end", "train_start"]
    assert (by_field["n_test_bars"]["expected"], by_field["n_test_bars"]["stored"]) == (200, 240)
    assert by_field["test_start"]["expected"] == B_FOLD_1_TEST_START
    assert by_field["test_start"]["stored"] == FOLD_1_TEST_START
    assert by_field["n_test_bars"]["n_rows"] == 2  # both variants
    fold_0 = [
        r
        for r in offending
        if (r["crypto"], r["fold_id"], r["field"]) == ("BTCUSDT", 0, "test_end")
    ]
    assert {r["stored"] for r in fold_0} == {FOLD_0_TEST_END}
    assert {r["expected"] for r in fold_0} == {
        (pd.Timestamp(B_FOLD_1_TEST_START) - pd.Timedelta(hours=1)).isoformat()
    }


def test_rows_of_an_earlier_folds_config_fail_only_window_matches_config(
    small_config, sweep_resources, instance, engine
):
    # The reported bug: rows written under config A (test_bars 240), judged under config B
    # (test_bars 200) with the same keys. The other checks all passed on such rows. (A result
    # step under B can no longer read A's slices: their files are keyed by code version.)
    run_small_sweep(small_config, sweep_resources, instance)
    config_b = _with_test_bars(small_config, 200)

    _, outcome = run_results_stage(config_b, sweep_resources, instance)
    assert not outcome.success
    assert "has not been materialised under this config" in outcome.step_error.message

    with engine.connect() as connection:
        for name in (BASELINES_COMPLETE, NO_UNEXPECTED_KEYS, UNIQUE_PER_PARTITION, SAME_BASIS):
            assert not evaluate_check(
                connection,
                name,
                config_b.run_id,
                config_b.strategy,
                expected_keys(config_b),
                expected_windows(config_b),
            ), name
    stale = [
        row
        for row in _check(engine, config_b)
        if row["table"] == "finetune_results" and row["field"] == "n_test_bars"
    ]
    assert len(stale) == 8 and {(r["expected"], r["stored"]) for r in stale} == {(200, 240)}
    assert CHECK_EVENTS[WINDOW_MATCHES_CONFIG] == "window_mismatch"
