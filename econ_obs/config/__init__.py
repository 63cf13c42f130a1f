"""The sweep config: load the YAML that defines a sweep, validate every key, explain errors.

A sweep is cryptos x walk-forward folds x trading costs x model variants. Every problem is one
line: the config file, the key path (``folds.test_bars``), the bad value and what would fix it.
Market data is never loaded here; we only check that each crypto's file can be found.

``model`` holds the validated dataclasses, ``sections`` and ``cron`` the section parsers,
``yaml_reader`` the typed getters and the bounded YAML reader, ``loading`` the entry points.
"""

from econ_obs.config.loading import (
    load_deployment_configs,
    load_sweep_config,
    parse_sweep_config,
    resolve_sweep_path,
)
from econ_obs.config.model import (
    DEFAULT_SWEEP_PATH,
    OVERLAY_CRYPTO,
    SWEEP_ENV_VAR,
    SWEEPS_DIR_ENV_VAR,
    DataSpec,
    SweepConfig,
)
from econ_obs.config.yaml_reader import ConfigError

__all__ = [
    "DEFAULT_SWEEP_PATH",
    "OVERLAY_CRYPTO",
    "SWEEPS_DIR_ENV_VAR",
    "SWEEP_ENV_VAR",
    "ConfigError",
    "DataSpec",
    "SweepConfig",
    "load_deployment_configs",
    "load_sweep_config",
    "parse_sweep_config",
    "resolve_sweep_path",
]
