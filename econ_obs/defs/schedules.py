"""sweep_schedule and sweep_stage_chain: the nightly (UTC) sweep through Dagster's run queue.

A sweep is three stage runs that must run in order (defs/sweep.py). The schedule requests
the first stage's job; when a stage run of a scheduled sweep succeeds, the run-status sensor
`sweep_stage_chain` requests the next one. Every run is launched by the daemon through the
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

from collections.abc import Sequence

import dagster as dg

from econ_obs.config import SweepConfig
from econ_obs.defs.description import sweep_name
from econ_obs.defs.sweep import SWEEP_RUN_ID_TAG, SweepStage, stage_job_name, stage_tags

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


def schedule_name(config: SweepConfig) -> str:
    return f"{sweep_name(config)}__{SCHEDULE_NAME}"


def chain_sensor_name(config: SweepConfig) -> str:
    return f"{sweep_name(config)}__{CHAIN_SENSOR_NAME}"


def stage_request(stage: SweepStage, sweep_run_id: str, tick: str) -> dg.RunRequest:
    """Return the run request of one stage of the scheduled sweep started at `tick`."""
    return dg.RunRequest(
        run_key=f"{tick}|{stage.name}",
        job_name=stage_job_name(stage),
        tags={**stage_tags(stage, sweep_run_id), SWEEP_TICK_TAG: tick},
    )


def next_stage_request(
    plan: Sequence[SweepStage], run: dg.DagsterRun, sweep_run_id: str
) -> dg.RunRequest | None:
    """Return the request of the stage after `run`'s, or None when `run` is not a scheduled
    stage run of this sweep or was the last stage."""
    tick = run.tags.get(SWEEP_TICK_TAG)
    if tick is None or run.tags.get(SWEEP_RUN_ID_TAG) != sweep_run_id:
        return None
    names = [stage_job_name(stage) for stage in plan]
    if run.job_name not in names[:-1]:
        return None
    return stage_request(plan[names.index(run.job_name) + 1], sweep_run_id, tick)


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
    def sweep_schedule(context: dg.ScheduleEvaluationContext):
        running = active_runs(context.instance, config.run_id)
        if running:
            return dg.SkipReason(
                f"sweep {config.run_id!r} is still running (dagster run "
                f"{running[0].run_id[:8]}, {running[0].job_name}); this tick is skipped"
            )
        tick = context.scheduled_execution_time.isoformat()
        return stage_request(plan[0], config.run_id, tick)

    return sweep_schedule


def build_stage_chain_sensor(
    config: SweepConfig, plan: Sequence[SweepStage], jobs: Sequence
) -> dg.RunStatusSensorDefinition:
    """Return the sensor that requests a scheduled sweep's next stage when one succeeds."""

    @dg.run_status_sensor(
        name=chain_sensor_name(config),
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=list(jobs[:-1]),
        request_jobs=list(jobs[1:]),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=5,
        description=f"Runs the next stage of a scheduled sweep {config.run_id!r} when a stage "
        "run succeeds; a failed stage ends the sweep.",
    )
    def sweep_stage_chain(context: dg.RunStatusSensorContext):
        request = next_stage_request(plan, context.dagster_run, config.run_id)
        return request if request is not None else dg.SkipReason("not a scheduled stage run")

    return sweep_stage_chain
