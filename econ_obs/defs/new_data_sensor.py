"""sweep_on_new_data: start a sweep when its data files change, without waiting for the cron.

Every NEW_DATA_INTERVAL_SECONDS the sensor stamps the data files of the sweep's cryptos
(names, sizes, modification times: core/data_stamp.py) and, when the stamp differs from the
one it saw when it last started the sweep, starts it as a schedule tick does
(`schedules.start_sweep`): the market_bars stage's run, then sweep_stage_chain's runs over
missing or stale partitions only. A sweep that is still running, or a run_id owned by another
config, skips the evaluation and keeps the old stamp, so the change is taken up at a later
evaluation.

Decisions, also in the README:
- Off by default; on when the sweep file says `schedule: {on_new_data: true}`, or when switched
  on in the UI (Automation). A new deployment then starts no sweep the operator did not ask for.
- Its first evaluation after being switched on has no stamp to compare with, so it starts one
  sweep over the data as it is; if nothing is missing or stale, that sweep is a market_bars run.
- The sample data has one stamp: the sensor starts it once.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from econ_obs.config import SweepConfig
from econ_obs.core.data_stamp import data_files_stamp
from econ_obs.defs.description import sweep_name
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.schedules import chain_sensor_name, start_sweep
from econ_obs.defs.sweep import SweepStage

NEW_DATA_SENSOR_NAME = "sweep_on_new_data"  # each sweep's is `<sweep name>__sweep_on_new_data`
NEW_DATA_INTERVAL_SECONDS = 60


def new_data_sensor_name(config: SweepConfig) -> str:
    return f"{sweep_name(config)}__{NEW_DATA_SENSOR_NAME}"


def build_new_data_sensor(
    config: SweepConfig, plan: Sequence[SweepStage], jobs: Sequence
) -> dg.SensorDefinition:
    """Return the sensor that starts the sweep when its data files change."""
    on = config.schedule_on_new_data

    @dg.sensor(
        name=new_data_sensor_name(config),
        job=jobs[0],
        minimum_interval_seconds=NEW_DATA_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED,
        description=f"Starts sweep {config.run_id!r} when a data file of its cryptos is added or "
        f"changes (checked every {NEW_DATA_INTERVAL_SECONDS} s); {chain_sensor_name(config)} "
        "runs the later stages over missing or stale partitions. "
        + ("On: the sweep file sets schedule.on_new_data." if on else "Off unless switched on."),
    )
    def sweep_on_new_data(context: dg.SensorEvaluationContext, postgres: PostgresResource):
        data = config.data
        stamp = data_files_stamp(data.data_format, data.path, data.timeframe, config.data_cryptos)
        if context.cursor == stamp:
            return dg.SkipReason(f"no new data: {stamp}, as when it last started the sweep")
        tick = f"{datetime.now(UTC).isoformat(timespec='seconds')} new data"
        started = start_sweep(context.instance, postgres, config, plan, tick)
        if isinstance(started, dg.SkipReason):
            return started  # the stamp is kept: a later evaluation tries again
        return dg.SensorResult(run_requests=started, cursor=stamp)

    return sweep_on_new_data
