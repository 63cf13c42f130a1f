"""sweep_schedule and sweep_stage_chain: the nightly (UTC) sweep through Dagster's run queue.

A sweep is three stages that must run in order (defs/sweep.py). The schedule requests the
first stage's job, market_bars, over every crypto: loading the bars is how a tick sees new
data. When the runs of a stage of a scheduled sweep have all succeeded, the run-status sensor
`sweep_stage_chain` requests the next stage over its missing or stale partitions only
(defs/freshness.py), skipping a stage with none; when no later stage has any, the sweep is up
to date and nothing more runs. Every run is launched by the daemon through the
run queue and the run launcher, so run monitoring, cancellation from the UI, re-execution and
the queue's concurrency limits all apply, and each asset page lists the automation that
materialises it. A failed stage ends the chain: nothing later runs on its partial output.

Decisions, also in the README:
- The schedule is on by default (`DefaultScheduleStatus.RUNNING`): the sweep is meant to run
  nightly; turn it off in the UI (Automation) to stop it.
- A missed tick fires once when the daemon comes back (Dagster's behaviour: the most recent
  missed tick only), so a night the daemon was down is caught up, never several.
- Overlapping sweeps of one run_id never run: a tick is skipped while any run of the sweep is
  queued or in progress, and `dagster.yaml`'s run queue admits one run per `econ_obs/run_id`
  value at a time. Every run of a stage job carries that tag (its job's tag), also when
  launched or re-executed from the UI; a Materialize from the asset catalog runs Dagster's
  implicit asset job, which carries no tag of ours, so the queue does not hold it.
"""

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import dagster as dg

from econ_obs.config import SweepConfig
from econ_obs.defs.checks import expected_keys
from econ_obs.defs.description import sweep_name
from econ_obs.defs.executor import executor_name
from econ_obs.defs.freshness import partition_ranges, stage_work
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.sizing import next_step_profiles
from econ_obs.defs.sweep import SWEEP_RUN_ID_TAG, SweepStage, stage_job_name, stage_tags
from econ_obs.defs.versions import asset_code_versions
from econ_obs.sizing import k8s_config_for_profile
from econ_obs.store.sweep_runs import (
    SweepConfigConflictError,
    begin_sweep,
    canonical_config,
    finish_sweep,
)

SCHEDULE_NAME = "sweep_schedule"  # each sweep's is `<sweep name>__sweep_schedule`
CHAIN_SENSOR_NAME = "sweep_stage_chain"
# Which scheduled sweep a stage run belongs to: the tick's time; links its stage runs.
SWEEP_TICK_TAG = "econ_obs/sweep_tick"
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
SWEEP_DONE = "done"  # how a chain's last skip reason starts: the sweep is recorded finished
ENDING_STATUSES = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def schedule_name(config: SweepConfig) -> str:
    return f"{sweep_name(config)}__{SCHEDULE_NAME}"


def chain_sensor_name(config: SweepConfig) -> str:
    return f"{sweep_name(config)}__{CHAIN_SENSOR_NAME}"


def step_pod_config(
    postgres: PostgresResource, config: SweepConfig, stage: SweepStage
) -> dict[str, Any]:
    """Return the run config sizing each step's pod, under `ECON_OBS_EXECUTOR=k8s`: for every
    asset of the stage that has run before, the profile its measurements call for
    (`next_step_profiles`) as k8s_job_executor's per-step `dagster-k8s/config`. A step that
    never ran gets the executor's default; elsewhere the run config is empty."""
    if executor_name() != "k8s":
        return {}
    keys = [dg.AssetKey.from_user_string(key) for key in stage.asset_keys]
    with postgres.get_connection() as connection:
        profiles = next_step_profiles(connection, config, [key.path[-1] for key in keys])
    per_step = {
        "__".join(key.path): k8s_config_for_profile(profiles[key.path[-1]])
        for key in keys
        if key.path[-1] in profiles
    }
    return {"execution": {"config": {"per_step_k8s_config": per_step}}} if per_step else {}


def stage_requests(
    stage: SweepStage,
    keys: Sequence[str],
    sweep_run_id: str,
    tick: str,
    run_config: dict[str, Any] | None = None,
) -> list[dg.RunRequest]:
    """Return the run requests that materialise `keys` of one stage for the scheduled sweep
    started at `tick`: one ranged run per range of `freshness.partition_ranges`."""
    return [
        dg.RunRequest(
            run_key=f"{tick}|{stage.name}|{first}",
            job_name=stage_job_name(stage),
            run_config=run_config or {},
            tags={
                **stage_tags(replace(stage, partition_keys=(first, last)), sweep_run_id),
                SWEEP_TICK_TAG: tick,
            },
        )
        for first, last in partition_ranges(stage.partition_keys, keys)
    ]


def next_stage_requests(
    plan: Sequence[SweepStage],
    run: dg.DagsterRun,
    sweep_run_id: str,
    instance: dg.DagsterInstance,
    work: Callable[[SweepStage], list[str]],
    run_config_for: Callable[[SweepStage], dict[str, Any]] = lambda stage: {},
) -> list[dg.RunRequest] | str:
    """Return the requests of the first later stage with missing or stale partitions (`work`)
    after `run`, a scheduled stage run of this sweep, succeeded; or why there are none."""
    tick = run.tags.get(SWEEP_TICK_TAG)
    names = [stage_job_name(stage) for stage in plan]
    if tick is None or run.tags.get(SWEEP_RUN_ID_TAG) != sweep_run_id or run.job_name not in names:
        return "not a scheduled stage run of this sweep"
    tick_runs = instance.get_runs(
        filters=dg.RunsFilter(tags={SWEEP_RUN_ID_TAG: sweep_run_id, SWEEP_TICK_TAG: tick})
    )
    if any(r.status in ACTIVE_STATUSES for r in tick_runs):
        return "another run of this scheduled sweep is still queued or running"
    if any(r.status in ENDING_STATUSES for r in tick_runs):
        return "a run of this scheduled sweep failed or was canceled: the sweep stops there"
    for stage in plan[names.index(run.job_name) + 1 :]:
        keys = work(stage)
        if keys:
            return stage_requests(stage, keys, sweep_run_id, tick, run_config_for(stage))
    return f"{SWEEP_DONE}: sweep {sweep_run_id!r} is up to date after {run.job_name}"


def tick_run_ids(instance: dg.DagsterInstance, sweep_run_id: str, run: dg.DagsterRun) -> list[str]:
    """Return the ids of the runs of `run`'s scheduled sweep, oldest first."""
    tags = {SWEEP_RUN_ID_TAG: sweep_run_id, SWEEP_TICK_TAG: run.tags[SWEEP_TICK_TAG]}
    return [r.run_id for r in reversed(instance.get_runs(filters=dg.RunsFilter(tags=tags)))]


def active_runs(instance: dg.DagsterInstance, sweep_run_id: str) -> list[dg.DagsterRun]:
    """Return the runs of this sweep that are queued or in progress."""
    return list(
        instance.get_runs(
            filters=dg.RunsFilter(tags={SWEEP_RUN_ID_TAG: sweep_run_id}, statuses=ACTIVE_STATUSES)
        )
    )


def build_sweep_schedule(
    config: SweepConfig, plan: Sequence[SweepStage], jobs: Sequence
) -> dg.ScheduleDefinition:
    """Return the cron schedule (UTC) that starts a sweep with its first stage's run."""

    @dg.schedule(
        name=schedule_name(config),
        cron_schedule=config.schedule_cron,
        execution_timezone="UTC",
        job=jobs[0],
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Starts sweep {config.run_id!r} ({config.source_path.name}) on "
        f"'{config.schedule_cron}' UTC; {chain_sensor_name(config)} runs the later stages.",
    )
    def sweep_schedule(context: dg.ScheduleEvaluationContext, postgres: PostgresResource):
        tick = context.scheduled_execution_time.isoformat()
        return start_sweep(context.instance, postgres, config, plan, tick)

    return sweep_schedule


def start_sweep(
    instance: dg.DagsterInstance,
    postgres: PostgresResource,
    config: SweepConfig,
    plan: Sequence[SweepStage],
    tick: str,
) -> list[dg.RunRequest] | dg.SkipReason:
    """Return the first stage's requests of a sweep started at `tick` (the schedule's or the
    new-data sensor's), or why it does not start: a run of it is still active, or its run_id
    belongs to another config."""
    running = active_runs(instance, config.run_id)
    if running:
        return dg.SkipReason(
            f"sweep {config.run_id!r} is still running (dagster run "
            f"{running[0].run_id[:8]}, {running[0].job_name}); this tick is skipped"
        )
    # The run_id's keys belong to the config recorded in sweep_runs (as for `econ-obs
    # sweep`): another config is refused, and the tick says what differs.
    try:
        with postgres.get_connection() as connection:
            begin_sweep(connection, canonical_config(config), expected_keys(config))
    except SweepConfigConflictError as error:
        return dg.SkipReason(f"{error}; this tick is skipped")
    run_config = step_pod_config(postgres, config, plan[0])
    return stage_requests(plan[0], plan[0].partition_keys, config.run_id, tick, run_config)


def build_stage_chain_sensor(
    config: SweepConfig, plan: Sequence[SweepStage], jobs: Sequence
) -> dg.RunStatusSensorDefinition:
    """Return the sensor that requests a scheduled sweep's next stage when one succeeds."""
    code_versions = asset_code_versions(config)

    @dg.run_status_sensor(
        name=chain_sensor_name(config),
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=list(jobs),
        request_jobs=list(jobs[1:]),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=5,
        description=f"Runs the next stage of a scheduled sweep {config.run_id!r} when a stage "
        "run succeeds, over its missing or stale partitions only; a failed stage ends the sweep.",
    )
    def sweep_stage_chain(context: dg.RunStatusSensorContext, postgres: PostgresResource):
        instance = context.instance
        requests = next_stage_requests(
            plan,
            context.dagster_run,
            config.run_id,
            instance,
            lambda stage: stage_work(instance, stage, code_versions, config.needs_btc),
            lambda stage: step_pod_config(postgres, config, stage),
        )
        if isinstance(requests, str):
            if requests.startswith(SWEEP_DONE):
                with postgres.get_connection() as connection:
                    finish_sweep(
                        connection,
                        config.run_id,
                        config.strategy,
                        tick_run_ids(instance, config.run_id, context.dagster_run),
                    )
            return dg.SkipReason(requests)
        return requests

    return sweep_stage_chain
