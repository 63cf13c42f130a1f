"""The config against the data it names: every file loads and every fold fits, before any write.

`econ-obs sweep` runs this before it records the sweep or starts a Dagster run, so a bad file,
too little data for the folds or a test-window gap over data.max_gap_bars stops it with one
line (exit 2) while nothing exists yet. What the loader dropped without refusing the file (a
trailing candle that had not closed) comes back as one printable line per crypto.
"""

from __future__ import annotations

from econ_obs.config.model import SweepConfig
from econ_obs.core.folds import fold_gaps, walk_forward_folds
from econ_obs.core.market_data import MarketBars


def dropped_candles_note(bars: MarketBars) -> str | None:
    """Return the line saying which trailing candles were dropped as not closed, or None."""
    if not bars.partial_bars_dropped:
        return None
    first_dropped = bars.frame.index[-1] + bars.bar_interval
    return (
        f"{bars.crypto}: dropped {bars.partial_bars_dropped} trailing candle(s) that had not "
        f"closed, from the one opened at {first_dropped} ({bars.source}); the last bar used "
        f"opened at {bars.frame.index[-1]}"
    )


def check_against_data(config: SweepConfig) -> list[str]:
    """Load every crypto's bars and lay out every fold; raise the loader's or folds' error.
    Return one note per crypto whose unclosed trailing candles were dropped."""
    notes = []
    for crypto in config.data_cryptos:
        bars = config.data.load_bars(crypto)
        index = bars.frame.index
        for window in walk_forward_folds(index, config.folds, crypto):
            fold_gaps(index, bars.bar_interval, window, crypto, config.data.max_gap_bars)
        note = dropped_candles_note(bars)
        if note is not None:
            notes.append(note)
    return notes
