"""Load a sweep file: find it, read its YAML, validate every section, check the data is there."""

from __future__ import annotations

import os
from pathlib import Path

from econ_obs.config.cron import parse_cron, parse_on_new_data
from econ_obs.config.factor import check_variant_features, parse_factor
from econ_obs.config.model import (
    DEFAULT_SWEEP_PATH,
    MAX_RESULT_PARTITIONS,
    SWEEP_ENV_VAR,
    SWEEPS_DIR_ENV_VAR,
    SweepConfig,
)
from econ_obs.config.sections import (
    RUN_ID,
    TOP_KEYS,
    check_cryptos_available,
    parse_costs,
    parse_cryptos,
    parse_data,
    parse_folds,
    parse_matched_null,
    parse_model,
    parse_random_baseline,
    parse_slippage,
)
from econ_obs.config.yaml_reader import Section, fail, read_yaml_mapping


def parse_sweep_config(raw: dict, source_path: Path) -> SweepConfig:
    """Validate a parsed YAML mapping; relative data paths resolve against source_path's folder."""
    top = Section(source_path, "", raw, TOP_KEYS)
    factor, factor_params = parse_factor(top)
    config = SweepConfig(
        run_id=top.matching("run_id", RUN_ID, "nightly_v1"),
        strategy=top.text("strategy", "ridge_next_bar"),
        data=parse_data(top),
        cryptos=parse_cryptos(top),
        folds=parse_folds(top),
        costs_bps=parse_costs(top),
        slippage_bps=parse_slippage(top),
        factor=factor,
        factor_params=factor_params,
        variants=parse_model(top),
        random_baseline=parse_random_baseline(top),
        matched_null=parse_matched_null(top),
        schedule_cron=parse_cron(top),
        source_path=source_path,
        schedule_on_new_data=parse_on_new_data(top),
    )
    check_variant_features(top, config.variants, factor, factor_params)
    check_cryptos_available(top, config)
    n_partitions = (
        len(config.cryptos)
        * config.folds.n_folds
        * len(config.costs_bps)
        * len(config.slippage_bps)
    )
    if n_partitions > MAX_RESULT_PARTITIONS:
        top.fail(
            "folds.n_folds",
            f"{len(config.cryptos)} cryptos x {config.folds.n_folds} folds x "
            f"{len(config.costs_bps)} costs x {len(config.slippage_bps)} slippages = "
            f"{n_partitions} result partitions, over {MAX_RESULT_PARTITIONS}; split the sweep",
        )
    return config


def resolve_sweep_path(path: str | Path | None = None) -> Path:
    """Pick the sweep file: explicit path, else $ECON_OBS_SWEEP, else the shipped default."""
    if path is not None:
        chosen, fix = Path(path), "pass the path of an existing YAML file"
    elif os.environ.get(SWEEP_ENV_VAR):
        chosen = Path(os.environ[SWEEP_ENV_VAR])
        fix = f"set ${SWEEP_ENV_VAR} to an existing YAML file, or unset it for the default"
    else:
        chosen, fix = DEFAULT_SWEEP_PATH, "reinstall econ_obs; the shipped default is missing"
    chosen = chosen.expanduser().resolve()
    if not chosen.is_file():
        fail(chosen, "", f"sweep config file not found; {fix}")
    return chosen


def sweeps_folder_files() -> list[Path]:
    """Return the sweep files of $ECON_OBS_SWEEPS_DIR (*.yaml, *.yml), in name order."""
    folder = os.environ.get(SWEEPS_DIR_ENV_VAR)
    if not folder:
        return []
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        fail(path, "", f"${SWEEPS_DIR_ENV_VAR} names no folder; set it to a folder of sweep YAML")
    return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_deployment_configs() -> list[SweepConfig]:
    """Return the sweeps one Dagster deployment serves: $ECON_OBS_SWEEP's file or the packaged
    default, then every sweep file of $ECON_OBS_SWEEPS_DIR. Each is validated in full; the
    first bad one stops the load with its one-line error."""
    configs = [load_sweep_config()]
    for path in sweeps_folder_files():
        if path.resolve() != configs[0].source_path:
            configs.append(load_sweep_config(path))
    return configs


def load_sweep_config(path: str | Path | None = None) -> SweepConfig:
    """Read and validate a sweep file; see resolve_sweep_path for which file is read."""
    source_path = resolve_sweep_path(path)
    return parse_sweep_config(read_yaml_mapping(source_path), source_path)
