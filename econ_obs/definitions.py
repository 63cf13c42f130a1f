"""The Definitions of the econ_obs code location, built from one sweep config.

Partitions are part of the asset graph, so the sweep config (ECON_OBS_SWEEP or the packaged
default) is read when the code location loads; database URLs and folders are resolved from
the environment when a run starts.
"""

from __future__ import annotations

import warnings

import dagster as dg

from econ_obs.config import SweepConfig, load_sweep_config
from econ_obs.defs.assets import SLICE_IO_MANAGER, build_assets
from econ_obs.defs.checks import build_checks
from econ_obs.defs.io_manager import PartitionedPickleIOManager
from econ_obs.defs.partitions import sweep_partitions
from econ_obs.defs.report import build_report_asset
from econ_obs.defs.resources import postgres_from_env
from econ_obs.defs.schedules import build_stage_chain_sensor, build_sweep_schedule
from econ_obs.defs.sensors import sweep_alert_sensor
from econ_obs.defs.sweep import stage_job, sweep_plan

# MultiPartitionMapping and friends are marked beta; the design depends on them on purpose.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

STORAGE_DIR_ENV_VAR = "ECON_OBS_DAGSTER_STORAGE_DIR"


def default_resources() -> dict:
    """Return the resources, bound to environment variables resolved at run start."""
    return {
        "postgres": postgres_from_env(),
        SLICE_IO_MANAGER: PartitionedPickleIOManager(base_dir=dg.EnvVar(STORAGE_DIR_ENV_VAR)),
    }


def build_definitions(config: SweepConfig, resources: dict | None = None) -> dg.Definitions:
    """Return the asset graph, checks, stage jobs, schedule and sensors of one sweep."""
    parts = sweep_partitions(
        config.data_cryptos,
        config.cryptos,
        config.folds.n_folds,
        config.costs_bps,
        config.slippage_bps,
    )
    assets = build_assets(config, parts)
    model_results = next(a for a in assets if a.key.to_user_string() == "model_results")
    assets.append(build_report_asset(config, model_results))
    checks = build_checks(config, model_results)
    plan = sweep_plan(assets)
    jobs = [stage_job(stage) for stage in plan]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=[build_sweep_schedule(config, plan, jobs)],
        sensors=[sweep_alert_sensor, build_stage_chain_sensor(config, plan, jobs)],
        resources=default_resources() if resources is None else resources,
    )


defs = build_definitions(load_sweep_config())
