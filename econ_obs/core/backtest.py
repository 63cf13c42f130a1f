"""The same-basis backtest: one feature slice per (crypto, fold), evaluated per cost.

A FeatureSlice fixes the window and the prices. Model variants and all three baselines are
evaluated on the slice's test window, at one CostBasis, through `accounting` alone, so a
model row and its baselines can only differ in what they trade, never in the basis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from econ_obs.core.accounting import CostBasis, Metrics, PricePath, evaluate_positions
from econ_obs.core.baselines import BaselineResult, RandomBaselineParams, all_baselines
from econ_obs.core.features import compute_features
from econ_obs.core.folds import (
    DEFAULT_MAX_GAP_BARS,
    FoldConfig,
    FoldWindow,
    fold_gaps,
    walk_forward_folds,
)
from econ_obs.core.gaps import WindowGaps
from econ_obs.core.market_data import DAYS_PER_YEAR, MarketBars, require_bars
from econ_obs.core.models import ModelVariant, model_positions


@dataclass(frozen=True)
class FeatureSlice:
    """The window, features and close prices of one (crypto, fold); the single upstream."""

    crypto: str
    fold: FoldWindow
    features: pd.DataFrame  # bars train_start..test_end, features computed on all history up to t
    close: pd.Series  # close prices on the same index
    train_slice: slice  # positions in `features` of the train window
    test_slice: slice  # positions in `features` of the test window
    feature_hash: str
    bars_per_year: float
    data_fingerprint: str
    train_gaps: WindowGaps  # missing bars inside the train window
    test_gaps: WindowGaps  # missing bars inside the test window (largest <= max_gap_bars)

    @property
    def test_close(self) -> np.ndarray:
        """Close prices of the test window, in quote currency."""
        return self.close.to_numpy()[self.test_slice]

    @cached_property
    def price_path(self) -> PricePath:
        """The accounting path of the test window, built once and shared by every cost.

        Steps across gaps carry how many bar intervals they span, so that the sharpe counts
        a gap with its duration (see accounting) instead of as one bar.
        """
        test_index = pd.DatetimeIndex(self.close.index[self.test_slice])
        bar_interval = pd.Timedelta(days=DAYS_PER_YEAR) / self.bars_per_year
        steps_ns = np.diff(test_index.as_unit("ns").asi8)
        interval_bars = np.maximum(np.round(steps_ns / bar_interval.value), 1)
        return PricePath(self.test_close, self.bars_per_year, interval_bars)

    @cached_property
    def content_fingerprint(self) -> str:
        """SHA-256 of everything a result reads from this slice: its window, its features,
        its close prices and its gaps. Positions into the crypto's whole history are left
        out, so the same window over the same bars has the same fingerprint however many
        bars were appended after it (or prepended, if the features come out the same)."""
        fold, gaps = self.fold, (self.train_gaps, self.test_gaps)
        scalars = (
            self.crypto,
            fold.fold_id,
            *(str(t) for t in (fold.train_start, fold.train_end, fold.test_start, fold.test_end)),
            fold.n_test_bars,
            (self.train_slice.start, self.train_slice.stop),
            (self.test_slice.start, self.test_slice.stop),
            self.feature_hash,
            repr(float(self.bars_per_year)),
            [(int(g.missing_bars), int(g.largest_gap_bars), str(g.span)) for g in gaps],
            [str(column) for column in self.features.columns],
        )
        digest = hashlib.sha256(repr(scalars).encode("utf-8"))
        index_ns = pd.DatetimeIndex(self.features.index).as_unit("ns").asi8
        for array in (index_ns, self.features.to_numpy(dtype="<f8"), self.close.to_numpy("<f8")):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def build_feature_slices(
    bars: MarketBars,
    fold_config: FoldConfig,
    factor: str,
    factor_params: dict | None = None,
    btc: MarketBars | None = None,
    max_gap_bars: int = DEFAULT_MAX_GAP_BARS,
) -> list[FeatureSlice]:
    """Return one FeatureSlice per fold, oldest first; features are computed once per crypto.

    Refuses (MarketDataError) a fold whose test window has a gap over max_gap_bars bars.
    """
    require_bars(bars, fold_config.bars_needed)
    folds = walk_forward_folds(bars.frame.index, fold_config, bars.crypto)
    gaps = [
        fold_gaps(bars.frame.index, bars.bar_interval, fold, bars.crypto, max_gap_bars)
        for fold in folds
    ]
    # Only the bars some fold uses are kept (features still see all history before them);
    # the slices are views of these few rows, not of the whole series.
    span = slice(min(f.train_slice.start for f in folds), max(f.test_slice.stop for f in folds))
    features = compute_features(factor, bars, btc=btc, params=factor_params, rows=span)
    close = bars.frame["close"].iloc[span].copy()
    fingerprint = bars.fingerprint()
    slices = []
    for fold, (train_gaps, test_gaps) in zip(folds, gaps, strict=True):
        start, stop = fold.train_slice.start, fold.test_slice.stop
        slices.append(
            FeatureSlice(
                crypto=bars.crypto,
                fold=fold,
                features=features.frame.iloc[start - span.start : stop - span.start],
                close=close.iloc[start - span.start : stop - span.start],
                train_slice=slice(0, fold.train_slice.stop - start),
                test_slice=slice(fold.test_slice.start - start, stop - start),
                feature_hash=features.feature_hash,
                bars_per_year=bars.bars_per_year,
                data_fingerprint=fingerprint,
                train_gaps=train_gaps,
                test_gaps=test_gaps,
            )
        )
    return slices


def variant_positions(feature_slice: FeatureSlice, variant: ModelVariant) -> np.ndarray:
    """Return the variant's test-window positions (0 flat, 1 long); independent of cost."""
    return model_positions(
        variant,
        feature_slice.features,
        feature_slice.close,
        feature_slice.train_slice,
        feature_slice.test_slice,
    )


def evaluate_variant(
    feature_slice: FeatureSlice, positions: np.ndarray, cost: CostBasis
) -> Metrics:
    """Return the metrics of a variant's positions on the slice's test window at `cost`."""
    return evaluate_positions(feature_slice.price_path, positions, cost)


def evaluate_baselines(
    feature_slice: FeatureSlice, cost: CostBasis, random_params: RandomBaselineParams
) -> list[BaselineResult]:
    """Return buy_and_hold, random and naive on the slice's test window at `cost`."""
    return all_baselines(feature_slice.price_path, cost, random_params)
