"""What every asset says about itself in the UI: group, kinds, owners, layer, and its sweep."""

from econ_obs.config import SweepConfig
from econ_obs.defs.metadata import SWEEP_RUN_ID_METADATA, SWEEP_STRATEGY_METADATA

GROUP = "econ_obs"
# Who answers for the assets in the UI's owner column and filters: the research team owns
# what a sweep computes and claims, not one person; change it here for every asset.
OWNERS = ["team:quant-research"]
LAYER_TAG = "layer"


def describe(
    config: SweepConfig, layer: str, kinds: set[str], metadata: dict | None = None
) -> dict:
    """Return what every asset says about itself: kinds, owners, layer tag, and the sweep
    (run_id, strategy) it belongs to in its definition metadata."""
    return {
        "group_name": GROUP,
        "kinds": kinds,
        "owners": OWNERS,
        "tags": {LAYER_TAG: layer},
        "metadata": {
            SWEEP_RUN_ID_METADATA: config.run_id,
            SWEEP_STRATEGY_METADATA: config.strategy,
            **(metadata or {}),
        },
    }
