"""The validated sweep: what one ablation run sweeps over, and the defaults it falls back on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from econ_obs.core.baselines import RandomBaselineParams
from econ_obs.core.data_sanity import DEFAULT_MAX_ABS_LOG_RETURN
from econ_obs.core.features import factor_needs_btc
from econ_obs.core.folds import DEFAULT_MAX_GAP_BARS, FoldConfig
from econ_obs.core.market_data import MarketBars, load_market_bars
from econ_obs.core.matched_null import MatchedNullParams
from econ_obs.core.models import ModelVariant

DEFAULT_SWEEP_PATH = Path(__file__).resolve().parents[1] / "sweeps" / "default.yaml"
SWEEP_ENV_VAR = "ECON_OBS_SWEEP"
# A folder whose every sweep file joins the Dagster deployment (econ_obs.definitions).
SWEEPS_DIR_ENV_VAR = "ECON_OBS_SWEEPS_DIR"
DEFAULT_TIMEFRAME = "1h"
DEFAULT_FACTOR = "returns"
DEFAULT_SCHEDULE_CRON = "0 2 * * *"  # nightly, 02:00 UTC
OVERLAY_CRYPTO = "BTCUSDT"  # second asset of every factor where factor_needs_btc() is true
SAMPLE_FORMAT = "sample"
# A sweep's result partitions (cryptos x folds x costs x slippages): Dagster lists them in the
# UI and in every run's plan, so one sweep stays below this; a bigger study is several sweeps.
MAX_RESULT_PARTITIONS = 20_000
# Any length in bars (fold sizes, gaps, holds, factor windows): 10M bars is 19 years of 1m bars;
# far larger values only overflow numpy or allocate arrays no data could fill.
MAX_BARS = 10_000_000
# Columns of one factor's feature frame (the default builds 12); each is a float64 per bar.
MAX_FEATURE_COLUMNS = 1000


@dataclass(frozen=True)
class DataSpec:
    data_format: str  # one of DATA_FORMATS
    path: Path | None  # absolute folder of the data files; None for the sample data
    timeframe: str  # bar length, e.g. "1h"; the files' modal bar interval must equal it
    max_gap_bars: int = DEFAULT_MAX_GAP_BARS  # largest gap allowed in a test window, in bars
    max_abs_log_return: float | None = DEFAULT_MAX_ABS_LOG_RETURN  # per bar; None: no bound
    as_of: pd.Timestamp | None = None  # UTC; bars not closed by then are dropped at load

    def load_bars(self, crypto: str) -> MarketBars:
        """Load one crypto's bars under this data policy (sanity bounds, closed candles only)."""
        return load_market_bars(
            self.data_format,
            crypto,
            self.path,
            self.timeframe,
            max_abs_log_return=self.max_abs_log_return,
            as_of=self.as_of,
        )


@dataclass(frozen=True)
class SweepConfig:
    run_id: str
    strategy: str
    data: DataSpec
    cryptos: tuple[str, ...]
    folds: FoldConfig
    costs_bps: tuple[int, ...]  # per-side fee in whole basis points (the DB column is INT)
    # per-side slippage in basis points, one or more; required, never defaulted. A cost basis
    # is (cost_bps, slippage_bps): the sweep runs every pair of costs_bps x slippage_bps.
    slippage_bps: tuple[float, ...]
    factor: str
    factor_params: dict
    variants: tuple[ModelVariant, ...]
    random_baseline: RandomBaselineParams
    matched_null: MatchedNullParams
    schedule_cron: str
    source_path: Path  # the YAML file this came from
    # Also start the sweep when a data file of its cryptos changes (defs/new_data_sensor.py).
    schedule_on_new_data: bool = False

    @property
    def needs_btc(self) -> bool:
        return factor_needs_btc(self.factor)

    @property
    def data_cryptos(self) -> tuple[str, ...]:
        """Cryptos whose data must be loaded: the swept ones plus the BTC overlay if needed."""
        if self.needs_btc and OVERLAY_CRYPTO not in self.cryptos:
            return (*self.cryptos, OVERLAY_CRYPTO)
        return self.cryptos
