"""The Definitions of the econ_obs code location: every sweep of the deployment, side by side.

The deployment serves $ECON_OBS_SWEEP's file (or the packaged default) and every sweep file in
$ECON_OBS_SWEEPS_DIR (a factory over the folder, `config.load_deployment_configs`). Each sweep
is its own family: its assets under its name as key prefix and group (`nightly_v1/model_results`),
its checks, its stage jobs, its schedule, and its stage-chain and new-data sensors (named
`<sweep>__...`). They share the resources and the one alert sensor. Partitions are part of the
asset graph, so the sweep files are read when the code location loads; database URLs and
folders are resolved from the environment when a run starts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from econ_obs.config import ConfigError, SweepConfig, load_deployment_configs
from econ_obs.defs.assets import SLICE_IO_MANAGER, build_assets
from econ_obs.defs.checks import build_checks
from econ_obs.defs.description import sweep_name
from econ_obs.defs.executor import stage_executor
from econ_obs.defs.io_manager import PartitionedPickleIOManager
from econ_obs.defs.new_data_sensor import build_new_data_sensor
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


@dataclass
class SweepDefinitions:
    """One sweep's share of the code location."""

    assets: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    schedules: list = field(default_factory=list)
    sensors: list = field(default_factory=list)


def sweep_definitions(config: SweepConfig) -> SweepDefinitions:
    """Return the asset graph, checks, stage jobs, schedule and sensors of a sweep."""
    parts = sweep_partitions(
        config.data_cryptos,
        config.cryptos,
        config.folds.n_folds,
        config.costs_bps,
        config.slippage_bps,
    )
    assets = build_assets(config, parts)
    model_results = next(a for a in assets if a.key.path[-1] == "model_results")
    assets.append(build_report_asset(config, model_results))
    plan = sweep_plan(assets)
    executor = stage_executor()
    jobs = [stage_job(stage, config.run_id, executor) for stage in plan]
    return SweepDefinitions(
        assets=assets,
        checks=build_checks(config, model_results),
        jobs=jobs,
        schedules=[build_sweep_schedule(config, plan, jobs)],
        sensors=[
            build_stage_chain_sensor(config, plan, jobs),
            build_new_data_sensor(config, plan, jobs),
        ],
    )


def build_deployment(
    configs: Sequence[SweepConfig], resources: dict | None = None
) -> dg.Definitions:
    """Return the Definitions of several sweeps; two sweeps may not share a Dagster name."""
    names: dict[str, SweepConfig] = {}
    merged = SweepDefinitions(sensors=[sweep_alert_sensor])
    for config in configs:
        name = sweep_name(config)
        if name in names:
            other = names[name]
            raise ConfigError(
                f"{config.source_path}: run_id: {config.run_id!r} is the Dagster name {name!r} "
                f"of {other.source_path} (run_id {other.run_id!r}) too; give each sweep its "
                "own run_id"
            )
        names[name] = config
        one = sweep_definitions(config)
        for part in ("assets", "checks", "jobs", "schedules", "sensors"):
            getattr(merged, part).extend(getattr(one, part))
    return dg.Definitions(
        assets=merged.assets,
        asset_checks=merged.checks,
        jobs=merged.jobs,
        schedules=merged.schedules,
        sensors=merged.sensors,
        resources=default_resources() if resources is None else resources,
    )


def build_definitions(config: SweepConfig, resources: dict | None = None) -> dg.Definitions:
    """Return the Definitions of one sweep (what `econ-obs sweep` runs)."""
    return build_deployment([config], resources)


defs = build_deployment(load_deployment_configs())
