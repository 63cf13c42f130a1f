"""What an operator sees when something breaks: a missing upstream fails at once with its cause,
one alert per affected key (with the sweep's run_id and the cause), and check metadata that
says only what is true. All on a real PostgreSQL and a real Dagster instance."""

import json
import re
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from econ_obs.definitions import STORAGE_DIR_ENV_VAR, build_definitions
from econ_obs.defs.checks import OFFENDING_TABLE
from econ_obs.defs.sensors import sweep_alert_sensor
from econ_obs.defs.sweep import run_sweep, stage_job_name, stage_tags, sweep_plan
from econ_obs.store.database import DATABASE_ENV_VAR
from econ_obs_tests.conftest import no_current_dagster_instance, run_small_sweep

MISSING_SLICE = re.compile(
    r"^test_run/feature_slice partition '(BTCUSDT|ETHUSDT)\|[01]' has not been materialised "
    r"under this config \(no .+\); materialise it first$"
)


def events(instance, run_id: str, event_type: str) -> list:
    return [
        e
        for e in instance.all_logs(run_id)
        if e.dagster_event and e.dagster_event.event_type_value == event_type
    ]


def evaluate_sensor(instance, resources: dict, defs=None, cursor: str | None = None) -> str:
    """Evaluate the sensor once, as the daemon would from `cursor`; return its new cursor."""
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"postgres": resources["postgres"]},
        definitions=defs,
    )
    with no_current_dagster_instance():  # the context enters an instance of its own
        sweep_alert_sensor(context)
    return context.cursor


def stored_alerts(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT event, check_name, run_id, strategy, crypto, fold_id, cost_bps, "
                "slippage_bps, dagster_run_id, detail FROM alerts ORDER BY id"
            )
        ).all()


def detail(alert) -> dict:
    return alert.detail if isinstance(alert.detail, dict) else json.loads(alert.detail)


def test_a_missing_upstream_slice_fails_once_at_once_with_its_cause(
    small_config, sweep_resources, instance, engine
):
    defs = build_definitions(small_config, resources=sweep_resources)
    assets = list(defs.assets)
    results_stage = sweep_plan(assets)[-1]  # no market_bars or feature_slice materialised

    started = time.perf_counter()
    (outcome,) = run_sweep(
        [*assets, *defs.asset_checks],
        [results_stage],
        instance,
        sweep_resources,
        small_config.run_id,
        progress=lambda line: None,
        log_level="WARNING",
    )
    seconds = time.perf_counter() - started

    assert not outcome.success
    assert seconds < 15  # the retry policy's back-off alone took ~22 s
    assert events(instance, outcome.dagster_run_id, "STEP_UP_FOR_RETRY") == []
    (failure,) = events(instance, outcome.dagster_run_id, "STEP_FAILURE")
    description = failure.dagster_event.step_failure_data.user_failure_data.description
    assert MISSING_SLICE.match(description), description
    assert MISSING_SLICE.match(outcome.step_error.message), outcome.step_error.message

    evaluate_sensor(instance, sweep_resources)

    (alert,) = stored_alerts(engine)
    assert (alert.event, alert.run_id, alert.dagster_run_id) == (
        "sweep_run_failed",
        "test_run",
        outcome.dagster_run_id,
    )
    assert detail(alert)["cause"] == description
    assert detail(alert)["stage"] == results_stage.name


def test_a_run_launched_without_tags_still_names_its_sweep_key_and_cause(
    small_config, sweep_resources, instance, engine
):
    """As from the UI: one partition of model_results, no econ_obs/run_id tag."""
    defs = build_definitions(small_config, resources=sweep_resources)
    partition = "BTCUSDT|fold1_30bps_1slip"

    result = dg.materialize(
        list(defs.assets),
        selection=["test_run/model_results"],
        partition_key=partition,
        instance=instance,
        resources=sweep_resources,
        raise_on_error=False,
    )
    assert not result.success
    assert "econ_obs/run_id" not in instance.get_run_by_id(result.run_id).tags

    evaluate_sensor(instance, sweep_resources, defs)

    (alert,) = stored_alerts(engine)
    assert alert.event == "sweep_run_failed"
    assert (alert.run_id, alert.strategy) == ("test_run", "test_strategy")
    assert (alert.crypto, alert.fold_id, alert.cost_bps, alert.slippage_bps) == (
        "BTCUSDT",
        1,
        30,
        1.0,
    )
    assert alert.dagster_run_id == result.run_id
    assert detail(alert)["cause"].startswith(
        "test_run/feature_slice partition 'BTCUSDT|1' has not been"
    )


def test_a_failed_check_in_a_stage_run_alerts_once_per_key(
    small_config, sweep_resources, instance, engine, monkeypatch
):
    run_small_sweep(small_config, sweep_resources, instance)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "DELETE FROM finetune_baselines WHERE crypto = 'ETHUSDT' AND fold_id = 1 "
                "AND cost_bps = 30 AND baseline_type = 'random'"
            )
        )
    # The code location's own stage job, with the resources it resolves from the environment
    # when a run starts, as a launch from the UI or the schedule would run it.
    monkeypatch.setenv(DATABASE_ENV_VAR, sweep_resources["postgres"].database_url)
    monkeypatch.setenv(STORAGE_DIR_ENV_VAR, sweep_resources["slice_io_manager"].base_dir)
    defs = build_definitions(small_config)
    results_stage = sweep_plan(list(defs.assets))[-1]
    job = defs.resolve_job_def(stage_job_name(results_stage))
    (model_results,) = [a.key for a in defs.assets if a.key.path[-1] == "model_results"]

    run = job.execute_in_process(
        instance=instance,
        asset_selection=[model_results],  # baseline_rows would write the row back
        tags=stage_tags(results_stage, small_config.run_id),
        raise_on_error=False,
    )
    assert not run.success

    cursor = evaluate_sensor(instance, sweep_resources, defs)
    evaluate_sensor(instance, sweep_resources, defs, cursor)  # nothing new the second time

    alerts = stored_alerts(engine)
    assert [(a.event, a.crypto, a.fold_id, a.cost_bps, a.slippage_bps) for a in alerts] == [
        ("baselines_incomplete", "ETHUSDT", 1, 30, 1.0)
    ]
    (alert,) = alerts
    assert alert.run_id == "test_run" and alert.dagster_run_id == run.run_id
    assert detail(alert) == {"missing": ["random"]}


def check_evaluations(instance, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
        for e in events(instance, run_id, "ASSET_CHECK_EVALUATION")
    }


def test_a_passed_check_names_no_event_and_a_failed_one_shows_its_keys_as_a_table(
    small_config, sweep_resources, instance, engine
):
    outcomes = run_small_sweep(small_config, sweep_resources, instance)
    passed = check_evaluations(instance, outcomes[-1].dagster_run_id)
    assert len(passed) == 6 and all(e.passed for e in passed.values())  # 5 + memory_headroom
    for evaluation in passed.values():
        assert "event" not in evaluation.metadata
        assert OFFENDING_TABLE not in evaluation.metadata
        assert evaluation.metadata["n_offending"].value == 0

    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "DELETE FROM finetune_baselines WHERE crypto = 'BTCUSDT' AND fold_id = 0 "
                "AND baseline_type IN ('naive', 'random')"
            )
        )
    defs = build_definitions(small_config, resources=sweep_resources)
    assets = list(defs.assets)
    last = sweep_plan(assets)[-1]
    (outcome,) = run_sweep(  # model_results and its checks alone: baselines stay deleted
        [*assets, *defs.asset_checks],
        [type(last)("model_results", ("test_run/model_results",), last.partition_keys)],
        instance,
        sweep_resources,
        small_config.run_id,
        progress=lambda line: None,
        log_level="WARNING",
    )

    failed = check_evaluations(instance, outcome.dagster_run_id)["baselines_complete"]
    assert not failed.passed
    assert failed.metadata["event"].value == "baselines_incomplete"
    table = failed.metadata[OFFENDING_TABLE].value
    assert isinstance(table, dg.TableMetadataValue)
    assert [(c.name, c.type) for c in table.schema.columns] == [
        ("crypto", "string"),
        ("fold_id", "int"),
        ("cost_bps", "int"),
        ("slippage_bps", "float"),
        ("missing", "string"),
    ]
    assert [r.data for r in table.records] == [
        {
            "crypto": "BTCUSDT",
            "fold_id": 0,
            "cost_bps": cost,
            "slippage_bps": 1.0,
            "missing": "random, naive",
        }
        for cost in (10, 30)
    ]


def test_an_unreadable_slice_file_fails_at_once_naming_the_file(
    small_config, sweep_resources, instance
):
    run_small_sweep(small_config, sweep_resources, instance)
    base = Path(sweep_resources["slice_io_manager"].base_dir)
    (broken,) = [p for p in base.rglob("ETHUSDT__1.pkl") if "feature_slice" in p.parts]
    broken.write_bytes(b"not a pickle")
    (outcome,) = run_small_sweep(
        small_config, sweep_resources, instance, last_stage_only=True, log_level="CRITICAL"
    )

    assert not outcome.success
    message = outcome.step_error.message
    assert message.startswith(
        f"test_run/feature_slice partition 'ETHUSDT|1' could not be read from {broken} "
        "(UnpicklingError"
    ), message
    assert message.endswith("materialise it again")
    retries = events(instance, outcome.dagster_run_id, "STEP_UP_FOR_RETRY")
    assert retries == []  # not a lost connection: no retry
