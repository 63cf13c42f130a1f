"""sweep_schedule: the nightly (UTC) sweep, as one `sweep_job` run that drives the stages.

A schedule can only launch runs, and the three stages of a sweep must run in order, so the
schedule requests one run of `sweep_job`, whose op materialises the stages one ranged run
after another (see defs/sweep.py). The request carries the whole plan in its run config, so
what a tick will materialise is visible in the UI and in tests.
"""

from collections.abc import Callable, Sequence

import dagster as dg

from econ_obs.config import SweepConfig
from econ_obs.defs.sweep import SweepStage, run_sweep

SCHEDULE_NAME = "sweep_schedule"
JOB_NAME = "sweep_job"
OP_NAME = "run_sweep_stages"


class StageConfig(dg.Config):
    name: str
    asset_keys: list[str]
    partition_keys: list[str]


class SweepJobConfig(dg.Config):
    sweep_run_id: str
    stages: list[StageConfig]


def plan_run_config(config: SweepConfig, plan: Sequence[SweepStage]) -> dict:
    """Return the run config of a sweep_job run covering `plan`."""
    stages = [
        {"name": s.name, "asset_keys": list(s.asset_keys), "partition_keys": list(s.partition_keys)}
        for s in plan
    ]
    return {"ops": {OP_NAME: {"config": {"sweep_run_id": config.run_id, "stages": stages}}}}


def build_sweep_job(
    assets_and_checks: Sequence, resources_factory: Callable[[], dict]
) -> dg.JobDefinition:
    """Return the op job that runs a planned sweep stage by stage on the run's instance."""

    @dg.op(name=OP_NAME)
    def run_sweep_stages(context: dg.OpExecutionContext, config: SweepJobConfig) -> None:
        plan = [
            SweepStage(s.name, tuple(s.asset_keys), tuple(s.partition_keys)) for s in config.stages
        ]
        outcomes = run_sweep(
            assets_and_checks,
            plan,
            context.instance,
            resources_factory(),
            config.sweep_run_id,
            progress=context.log.info,
        )
        failed = [o for o in outcomes if not o.success]
        if failed:
            raise dg.Failure(
                description=f"sweep stage {failed[0].stage.name} failed "
                f"(dagster run {failed[0].dagster_run_id}); failed checks: "
                f"{', '.join(failed[0].failed_checks) or 'none'}"
            )

    @dg.job(name=JOB_NAME, description="The whole sweep: every stage, in dependency order.")
    def sweep_job() -> None:
        run_sweep_stages()

    return sweep_job


def build_sweep_schedule(
    config: SweepConfig, plan: Sequence[SweepStage], job: dg.JobDefinition
) -> dg.ScheduleDefinition:
    """Return the cron schedule (UTC) that requests the whole sweep once per tick."""

    @dg.schedule(
        name=SCHEDULE_NAME,
        cron_schedule=config.schedule_cron,
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Runs sweep {config.run_id!r} ({config.source_path.name}) on "
        f"'{config.schedule_cron}' UTC.",
    )
    def sweep_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=None,
            run_config=plan_run_config(config, plan),
            tags={"econ_obs/run_id": config.run_id},
        )

    return sweep_schedule
