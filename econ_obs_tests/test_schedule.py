"""sweep_schedule and sweep_stage_chain: a tick requests the first stage's job, each success
requests the next, and running those requests in order fills the database."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from econ_obs.definitions import build_definitions
from econ_obs.defs.partitions import decode_result_key, decode_slice_key
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.schedules import (
    SWEEP_DONE,
    SWEEP_TICK_TAG,
    chain_sensor_name,
    next_stage_requests,
    schedule_name,
)
from econ_obs.defs.sweep import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    SWEEP_RUN_ID_TAG,
    SWEEP_STAGE_TAG,
    stage_job_name,
    sweep_plan,
)
from econ_obs.store.database import render
from econ_obs.store.sweep_runs import recorded_sweep
from econ_obs_tests.conftest import no_current_dagster_instance

TICK_TIME = datetime(2026, 1, 5, 3, 30, tzinfo=UTC)
RESULT_ASSETS = ("baseline_rows", "model_results")
STAGE_JOBS = [
    "test_run__stage__market_bars",
    "test_run__stage__feature_slice",
    "test_run__stage__baseline_rows__model_results",
]


@pytest.fixture
def defs(small_config) -> dg.Definitions:
    # The default resources are bound to environment variables read only when a run starts.
    return build_definitions(small_config)


@pytest.fixture
def plan(defs):
    return sweep_plan(list(defs.assets))


@pytest.fixture
def postgres(engine, database_url) -> PostgresResource:
    """The schedule records each sweep in sweep_runs: a database with empty result tables."""
    return PostgresResource(database_url=render(database_url))


def _tick(defs: dg.Definitions, postgres, instance=None, when: datetime = TICK_TIME):
    if instance is None:  # an instance with no runs: nothing holds the tick back
        with no_current_dagster_instance(), dg.instance_for_test() as empty:
            return _tick(defs, postgres, empty, when)
    (schedule,) = defs.schedules
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, resources={"postgres": postgres}
    )
    with no_current_dagster_instance():
        return schedule.evaluate_tick(context)


def _name(asset_key: str) -> str:
    return asset_key.split("/")[-1]  # test_run/market_bars: market_bars


def _finished_run(request: dg.RunRequest, status=dg.DagsterRunStatus.SUCCESS) -> dg.DagsterRun:
    return dg.DagsterRun(job_name=request.job_name, tags=request.tags, status=status)


def _next(plan, run: dg.DagsterRun, sweep_run_id: str = "test_run"):
    """The chain's answer to `run`'s success when every partition is missing (no history)."""
    with no_current_dagster_instance(), dg.instance_for_test() as empty:
        return next_stage_requests(
            plan, run, sweep_run_id, empty, lambda stage: list(stage.partition_keys)
        )


def _chain(defs, plan, postgres) -> list[dg.RunRequest]:
    """Every request of one scheduled sweep: the tick's, then the sensor's after each success."""
    (request,) = _tick(defs, postgres).run_requests
    requests = [request]
    while not isinstance(following := _next(plan, _finished_run(request)), str):
        (request,) = following
        requests.append(request)
    return requests


def test_schedule_runs_on_the_configured_cron_in_utc(defs, small_config):
    schedule = defs.resolve_schedule_def(schedule_name(small_config))

    assert small_config.schedule_cron == "30 3 * * *"
    assert schedule.cron_schedule == "30 3 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.name == "test_run__sweep_schedule"
    assert schedule.job_name == STAGE_JOBS[0]
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = defs.resolve_sensor_def(chain_sensor_name(small_config))
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sorted(target.job_name for target in sensor.targets) == sorted(STAGE_JOBS[1:])


def test_each_stage_is_a_named_job_of_the_code_location(defs, plan):
    assert [stage_job_name(stage) for stage in plan] == STAGE_JOBS
    for stage in plan:
        job = defs.resolve_job_def(stage_job_name(stage))
        selected = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
        assert all(key.startswith("test_run/") for key in selected)
        # Every run of the job carries the sweep's tag, however it is launched.
        assert job.tags[SWEEP_RUN_ID_TAG] == "test_run"
        assert selected == set(stage.asset_keys)


def test_a_tick_requests_the_first_stage_tagged_with_the_sweep_and_the_tick(defs, plan, postgres):
    (request,) = _tick(defs, postgres).run_requests

    assert request.job_name == STAGE_JOBS[0]
    assert request.tags[SWEEP_RUN_ID_TAG] == "test_run"
    assert request.tags[SWEEP_TICK_TAG] == TICK_TIME.isoformat()
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == plan[0].partition_keys[0]
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == plan[0].partition_keys[-1]
    # The first stage does not depend on the tick's time: every tick loads every crypto's bars.
    (later,) = _tick(defs, postgres, when=datetime(2027, 6, 1, tzinfo=UTC)).run_requests
    assert {k: v for k, v in later.tags.items() if k != SWEEP_TICK_TAG} == {
        k: v for k, v in request.tags.items() if k != SWEEP_TICK_TAG
    }


def test_a_success_requests_the_next_stage_and_nothing_else_does(defs, plan, postgres):
    requests = _chain(defs, plan, postgres)

    assert [r.job_name for r in requests] == STAGE_JOBS
    assert len({r.run_key for r in requests}) == 3  # one per stage and tick: never twice
    assert {r.tags[SWEEP_TICK_TAG] for r in requests} == {TICK_TIME.isoformat()}
    first = requests[0]
    # A run launched by hand (no tick tag), or of another sweep, starts no chain.
    manual = dg.DagsterRun(
        job_name=first.job_name, tags={k: v for k, v in first.tags.items() if k != SWEEP_TICK_TAG}
    )
    assert "not a scheduled stage run" in _next(plan, manual)
    assert "not a scheduled stage run" in _next(plan, _finished_run(first), "another_run")


@pytest.mark.parametrize("sweep_run_id", ["test_run", "another_run"])
def test_a_tick_is_skipped_while_the_same_sweep_is_running(defs, sweep_run_id, postgres):
    (request,) = _tick(defs, postgres).run_requests
    running = dg.DagsterRun(
        job_name=request.job_name,
        tags={**request.tags, SWEEP_RUN_ID_TAG: sweep_run_id},
        status=dg.DagsterRunStatus.STARTED,
    )
    with no_current_dagster_instance(), dg.instance_for_test() as instance:
        instance.add_run(running)

        result = _tick(defs, postgres, instance, datetime(2026, 1, 6, 3, 30, tzinfo=UTC))

    if sweep_run_id == "test_run":
        assert not result.run_requests
        assert "sweep 'test_run' is still running" in result.skip_message
    else:  # another sweep's run does not hold this one back
        assert [r.job_name for r in result.run_requests] == STAGE_JOBS[:1]


def test_the_stages_cover_every_partition_of_every_asset_exactly_once(defs, plan, small_config):
    covered = Counter(
        (asset, key)
        for stage in plan
        for asset in map(_name, stage.asset_keys)
        for key in (stage.partition_keys if asset != "sweep_report" else [None])
    )

    cryptos = small_config.cryptos
    folds = range(small_config.folds.n_folds)
    costs = small_config.costs_bps
    expected = Counter(
        [("market_bars", crypto) for crypto in cryptos]
        + [("feature_slice", f"{crypto}|{fold}") for crypto in cryptos for fold in folds]
        + [
            (asset, f"{crypto}|fold{fold}_{cost}bps_1slip")
            for asset in RESULT_ASSETS
            for crypto in cryptos
            for fold in folds
            for cost in costs
        ]
        + [("sweep_report", None)]
    )
    assert covered == expected
    assert "test_run/sweep_report" in plan[-1].asset_keys
    # Every key of a stage is a key of its assets' partitions, decoded by the one codec.
    by_name = {_name(stage.asset_keys[0]): stage.partition_keys for stage in plan}
    assert {decode_slice_key(k).crypto for k in by_name["feature_slice"]} == set(cryptos)
    assert len({decode_result_key(k) for k in by_name["baseline_rows"]}) == 8


def test_the_stages_are_in_dependency_order(defs, plan):
    stage_of = {asset: number for number, stage in enumerate(plan) for asset in stage.asset_keys}

    assert set(stage_of) == {a.key.to_user_string() for a in defs.assets}
    for asset in defs.assets:
        name = asset.key.to_user_string()
        for upstream in asset.dependency_keys:
            upstream_def = next(a for a in defs.assets if a.key == upstream)
            if upstream_def.partitions_def != asset.partitions_def and asset.partitions_def:
                # A different partitioning is a different ranged run, which must come first.
                assert stage_of[upstream.to_user_string()] < stage_of[name], (upstream, name)
            else:
                assert stage_of[upstream.to_user_string()] <= stage_of[name], (upstream, name)
    assert [_name(stage.asset_keys[0]) for stage in plan] == [
        "market_bars",
        "feature_slice",
        "baseline_rows",
    ]


def test_the_requested_runs_materialise_the_sweep_into_the_database(
    defs, plan, engine, database_url, instance, tmp_path, monkeypatch, postgres, small_config
):
    monkeypatch.setenv("ECON_OBS_DATABASE_URL", render(database_url))
    monkeypatch.setenv("ECON_OBS_DAGSTER_STORAGE_DIR", str(tmp_path / "storage"))
    chain = defs.resolve_sensor_def(chain_sensor_name(small_config))
    requests = list(_tick(defs, postgres).run_requests)
    stage_runs = []
    while requests:  # what the daemon does: launch, then the sensor's answer to the success
        (request,) = requests
        result = defs.resolve_job_def(request.job_name).execute_in_process(
            instance=instance, tags=request.tags
        )
        assert result.success, request.job_name
        stage_runs.append(instance.get_run_by_id(result.run_id))
        (success,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        context = dg.build_run_status_sensor_context(
            sensor_name=chain.name,
            dagster_instance=instance,
            dagster_run=stage_runs[-1],
            dagster_event=success.dagster_event,
            resources={"postgres": postgres},
        )
        with no_current_dagster_instance():
            answer = chain(context)
        requests = [] if isinstance(answer, dg.SkipReason) else list(answer)
    assert answer.skip_message.startswith(SWEEP_DONE)
    with engine.connect() as connection:
        record = recorded_sweep(connection, "test_run", "test_strategy")
    assert record["finished_at"] is not None
    assert record["dagster_run_ids"] == [run.run_id for run in stage_runs]

    with engine.connect() as connection:
        n_results, n_result_keys = connection.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT (crypto, fold_id, cost_bps)) "
                "FROM finetune_results WHERE run_id = 'test_run' AND strategy = 'test_strategy'"
            )
        ).one()
        baselines = connection.execute(
            sa.text(
                "SELECT baseline_type, count(*) FROM finetune_baselines "
                "WHERE run_id = 'test_run' AND strategy = 'test_strategy' GROUP BY baseline_type"
            )
        ).all()
        stored_run_ids = set(
            connection.execute(
                sa.text("SELECT DISTINCT dagster_run_id FROM finetune_results")
            ).scalars()
        )
    assert (n_results, n_result_keys) == (16, 8)
    assert dict(baselines) == {"buy_and_hold": 8, "random": 8, "naive": 8}

    # One ranged run per stage, of its own job, tagged with the sweep and its stage.
    assert [run.job_name for run in stage_runs] == STAGE_JOBS
    assert [run.tags[SWEEP_STAGE_TAG] for run in stage_runs] == [stage.name for stage in plan]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in stage_runs)
    assert stored_run_ids == {stage_runs[-1].run_id}
    report = instance.get_latest_materialization_event(dg.AssetKey(["test_run", "sweep_report"]))
    assert report is not None and report.run_id == stage_runs[-1].run_id
