"""sweep_schedule: what one tick requests, and that running the request fills the database."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from econ_obs.definitions import build_definitions
from econ_obs.defs.partitions import decode_result_key, decode_slice_key
from econ_obs.defs.schedules import JOB_NAME, OP_NAME, SCHEDULE_NAME
from econ_obs.defs.sweep import SWEEP_RUN_ID_TAG, SWEEP_STAGE_TAG
from econ_obs.store.database import render

TICK_TIME = datetime(2026, 1, 5, 3, 30, tzinfo=UTC)
RESULT_ASSETS = ("baseline_rows", "model_results")


@pytest.fixture
def defs(small_config) -> dg.Definitions:
    # The default resources are bound to environment variables read only when a run starts;
    # the job's op builds its own from the environment when it runs.
    return build_definitions(small_config)


def _tick(defs: dg.Definitions) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    context = dg.build_schedule_context(scheduled_execution_time=TICK_TIME)
    return list(schedule.evaluate_tick(context).run_requests or [])


def _stages(request: dg.RunRequest) -> list[dict]:
    return request.run_config["ops"][OP_NAME]["config"]["stages"]


def test_schedule_runs_on_the_configured_cron_in_utc(defs, small_config):
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)

    assert small_config.schedule_cron == "30 3 * * *"
    assert schedule.cron_schedule == "30 3 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == JOB_NAME
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_a_tick_requests_one_run_of_the_sweep_job_tagged_with_the_sweep(defs):
    requests = _tick(defs)

    assert len(requests) == 1
    (request,) = requests
    assert request.job_name in (None, JOB_NAME)  # None: the schedule's own job
    assert request.tags[SWEEP_RUN_ID_TAG] == "test_run"
    assert request.run_config["ops"][OP_NAME]["config"]["sweep_run_id"] == "test_run"
    # The plan does not depend on the tick's time: every tick re-runs the whole sweep.
    later = dg.build_schedule_context(scheduled_execution_time=datetime(2027, 6, 1, tzinfo=UTC))
    again = defs.resolve_schedule_def(SCHEDULE_NAME).evaluate_tick(later).run_requests
    assert again[0].run_config == request.run_config


def test_the_stages_cover_every_partition_of_every_asset_exactly_once(defs, small_config):
    (request,) = _tick(defs)
    covered = Counter(
        (asset, key)
        for stage in _stages(request)
        for asset in stage["asset_keys"]
        for key in (stage["partition_keys"] if asset != "sweep_report" else [None])
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
    assert "sweep_report" in _stages(request)[-1]["asset_keys"]
    # Every key of a stage is a key of its assets' partitions, decoded by the one codec.
    by_name = {stage["asset_keys"][0]: stage["partition_keys"] for stage in _stages(request)}
    assert {decode_slice_key(k).crypto for k in by_name["feature_slice"]} == set(cryptos)
    assert len({decode_result_key(k) for k in by_name["baseline_rows"]}) == 8


def test_the_stages_are_in_dependency_order(defs):
    (request,) = _tick(defs)
    stage_of = {
        asset: number
        for number, stage in enumerate(_stages(request))
        for asset in stage["asset_keys"]
    }

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
    assert [stage["asset_keys"][0] for stage in _stages(request)] == [
        "market_bars",
        "feature_slice",
        "baseline_rows",
    ]


def test_the_requested_run_materialises_the_sweep_into_the_database(
    defs, engine, database_url, instance, tmp_path, monkeypatch
):
    monkeypatch.setenv("ECON_OBS_DATABASE_URL", render(database_url))
    monkeypatch.setenv("ECON_OBS_DAGSTER_STORAGE_DIR", str(tmp_path / "storage"))
    (request,) = _tick(defs)
    job = defs.resolve_job_def(JOB_NAME)

    result = job.execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags
    )

    assert result.success
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
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

    # One ranged run per stage, on the same instance, tagged with the sweep and its stage.
    stage_runs = instance.get_runs(filters=dg.RunsFilter(tags={SWEEP_RUN_ID_TAG: "test_run"}))
    stage_runs = [run for run in stage_runs if run.job_name != JOB_NAME]
    assert sorted(run.tags[SWEEP_STAGE_TAG] for run in stage_runs) == sorted(
        stage["name"] for stage in _stages(request)
    )
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in stage_runs)
    last_name = _stages(request)[-1]["name"]
    last_stage = next(run for run in stage_runs if run.tags[SWEEP_STAGE_TAG] == last_name)
    assert stored_run_ids == {last_stage.run_id}
    report = instance.get_latest_materialization_event(dg.AssetKey("sweep_report"))
    assert report is not None and report.run_id == last_stage.run_id
