"""What every asset says about itself in the UI: its sweep's key prefix and group, kinds,
owners, layer, and the sweep (run_id, strategy) in its metadata.

Several sweeps share one deployment, so every asset key starts with its sweep's name: the
run_id, with any character Dagster refuses in a name ('.', '-') written as '_'
(`nightly_v1/model_results`). The group is the same name, so the UI's lineage shows one sweep
per group.
"""

import re

from econ_obs.config import SweepConfig
from econ_obs.defs.metadata import SWEEP_RUN_ID_METADATA, SWEEP_STRATEGY_METADATA

_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_]")
# Who answers for the assets in the UI's owner column and filters: the research team owns
# what a sweep computes and claims, not one person; change it here for every asset.
OWNERS = ["team:quant-research"]
LAYER_TAG = "layer"


def describe(
    config: SweepConfig, layer: str, kinds: set[str], metadata: dict | None = None
) -> dict:
    """Return what every asset says about itself: key prefix and group (its sweep's name),
    kinds, owners, layer tag, and the sweep (run_id, strategy) in its definition metadata."""
    return {
        "key_prefix": [sweep_name(config)],
        "group_name": sweep_name(config),
        "kinds": kinds,
        "owners": OWNERS,
        "tags": {LAYER_TAG: layer},
        "metadata": {
            SWEEP_RUN_ID_METADATA: config.run_id,
            SWEEP_STRATEGY_METADATA: config.strategy,
            **(metadata or {}),
        },
    }


def sweep_name(config: SweepConfig) -> str:
    """Return the sweep's name in Dagster: its run_id as a valid Dagster name."""
    return _NOT_IN_A_NAME.sub("_", config.run_id)
