"""The rows a result partition writes: its three baseline rows with the random row's seeds,
and one row per model variant, each under the partition's basis and the writing Dagster run.

`slice_baselines` and `slice_models` make every row of one slice's partitions (its costs): they
are what a result step hands to its worker process (econ_obs.compute_ahead), so they take
plain values that pickle (a slice, each partition's basis and cost), and this module imports
no Dagster.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from econ_obs.core.accounting import CostBasis, trades_from_positions
from econ_obs.core.assessment import Assessment, Trades, assess_cell, sampled_equity
from econ_obs.core.backtest import FeatureSlice, evaluate_baselines, variant_positions
from econ_obs.core.baselines import BaselineResult, RandomBaselineParams
from econ_obs.core.matched_null import PlacementCache, matched_seed
from econ_obs.core.models import ModelVariant
from econ_obs.store.pg_binary import ColumnBlock
from econ_obs.store.results import PartitionBasis, baseline_row, result_row, seed_block
from econ_obs.store.significance import equity_json, equity_time_texts, significance_columns

# A slice's curves all sample the same bars (they depend on its length only): their times are
# formatted once per slice, not once per curve (12 curves a slice in the default sweep).
_TIME_TEXTS: dict[tuple[str, bytes], list[str]] = {}
_TIME_TEXTS_KEPT = 8


def slice_equity_json(feature_slice: FeatureSlice, bars: np.ndarray, equity: np.ndarray) -> dict:
    """Return equity_json of a curve over the slice's test window, its times formatted once
    per (slice, sampled bars)."""
    times = feature_slice.close.index[feature_slice.test_slice]
    key = (feature_slice.content_fingerprint, np.asarray(bars, dtype=np.int64).tobytes())
    if key not in _TIME_TEXTS:
        if len(_TIME_TEXTS) >= _TIME_TEXTS_KEPT:
            _TIME_TEXTS.clear()
        _TIME_TEXTS[key] = equity_time_texts(times, bars)
    return equity_json(times, bars, equity, _TIME_TEXTS[key])


def equity_of(feature_slice: FeatureSlice, trades: Trades, cost: CostBasis) -> dict:
    bars, equity = sampled_equity(feature_slice.price_path, trades, cost)
    return slice_equity_json(feature_slice, bars, equity)


def baseline_rows_for(
    feature_slice: FeatureSlice,
    basis: PartitionBasis,
    cost: CostBasis,
    results: Sequence[BaselineResult],
    dagster_run_id: str,
) -> tuple[list[dict], ColumnBlock]:
    """Return the partition's baseline rows (buy_and_hold with its equity curve) and the
    random baseline's per-seed rows, by column."""
    hold = Trades(np.array([0]), np.array([feature_slice.price_path.n_bars - 1]))
    curves = {"buy_and_hold": equity_of(feature_slice, hold, cost)}
    rows = [
        baseline_row(
            basis,
            r.baseline_type,
            r.params,
            r.metrics.as_dict(),
            dagster_run_id,
            curves.get(r.baseline_type),
        )
        for r in results
    ]
    (random_row,) = [r for r in results if r.per_seed is not None]
    return rows, seed_block(basis, random_row.per_seed)


def model_rows_for(
    feature_slice: FeatureSlice,
    basis: PartitionBasis,
    variants: Sequence[ModelVariant],
    assessed: Mapping[str, Assessment],
    dagster_run_id: str,
) -> list[dict]:
    """Return one finetune_results row per variant, with its significance and equity curve."""
    return [
        result_row(
            basis,
            variant.name,
            variant.params,
            feature_slice.feature_hash,
            assessed[variant.name].metrics.as_dict(),
            dagster_run_id,
            significance_columns(assessed[variant.name]),
            slice_equity_json(
                feature_slice, assessed[variant.name].equity_bars, assessed[variant.name].equity
            ),
        )
        for variant in variants
    ]


@dataclass(frozen=True)
class BaselineOutcome:
    """One partition's baseline rows, its random seeds, and each baseline's net return."""

    rows: list[dict]
    seeds: ColumnBlock
    net_returns: dict[str, float]  # baseline_type -> net_return, for the metadata


def slice_baselines(
    feature_slice: FeatureSlice,
    cells: Sequence[tuple[PartitionBasis, CostBasis]],
    random_baseline: RandomBaselineParams,
    dagster_run_id: str,
) -> list[BaselineOutcome]:
    """Return the baseline rows of each (basis, cost) of one slice, in the order given."""
    outcomes = []
    for basis, cost in cells:
        results = evaluate_baselines(feature_slice, cost, random_baseline)
        rows, seeds = baseline_rows_for(feature_slice, basis, cost, results, dagster_run_id)
        net = {r.baseline_type: r.metrics.net_return for r in results}
        outcomes.append(BaselineOutcome(rows, seeds, net))
    return outcomes


@dataclass(frozen=True)
class ModelOutcome:
    """One partition's model rows and each variant's assessment (for the metadata)."""

    rows: list[dict]
    assessed: dict[str, Assessment]


def slice_trades(feature_slice: FeatureSlice, variants: Sequence[ModelVariant]) -> dict:
    """Return each variant's trades on the slice's test window: its model fitted on the train
    window, its positions turned into trades. They do not depend on the cost."""
    return {
        variant.name: Trades(*trades_from_positions(variant_positions(feature_slice, variant)))
        for variant in variants
    }


def slice_models(
    feature_slice: FeatureSlice,
    cells: Sequence[tuple[PartitionBasis, CostBasis]],
    variants: Sequence[ModelVariant],
    trades: Mapping[str, Trades],
    n_perms: int,
    seed_net_returns: Sequence[np.ndarray],
    dagster_run_id: str,
) -> list[ModelOutcome]:
    """Return the model rows of each (basis, cost) of one slice, in the order given, each
    assessed against the stored random seeds' net returns of the same basis.

    `trades` are slice_trades': a model is a plug-in (user code, allowed or refused by the
    step's environment), so it is fitted by the step itself, never by a worker. The matched
    placements do not depend on the cost either, and are made once per slice.
    """
    placements = PlacementCache()
    seeds = {}
    if cells:  # every cell is of the same (crypto, fold)
        key = cells[0][0]
        seeds = {v.name: matched_seed(key.crypto, key.fold_id, v.name) for v in variants}
    outcomes = []
    for (basis, cost), seed_returns in zip(cells, seed_net_returns, strict=True):
        assessed = assess_cell(
            feature_slice.price_path, trades, cost, n_perms, seeds, seed_returns, placements
        )
        rows = model_rows_for(feature_slice, basis, variants, assessed, dagster_run_id)
        outcomes.append(ModelOutcome(rows, dict(assessed)))
    return outcomes
