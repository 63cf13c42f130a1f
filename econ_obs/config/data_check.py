"""The config against the data it names: every file loads and every fold fits, before any write.

`econ-obs sweep` runs this before it records the sweep or starts a Dagster run, so a bad file,
too little data for the folds or a test-window gap over data.max_gap_bars stops it with one
line (exit 2) while nothing exists yet.
"""

from __future__ import annotations

from econ_obs.config.model import SweepConfig
from econ_obs.core.folds import fold_gaps, walk_forward_folds


def check_against_data(config: SweepConfig) -> None:
    """Load every crypto's bars and lay out every fold; raise the loader's or folds' error."""
    for crypto in config.data_cryptos:
        bars = config.data.load_bars(crypto)
        index = bars.frame.index
        for window in walk_forward_folds(index, config.folds, crypto):
            fold_gaps(index, bars.bar_interval, window, crypto, config.data.max_gap_bars)
