"""The rows a result partition writes: its three baseline rows with the random row's seeds,
and one row per model variant, each under the partition's basis and the writing Dagster run."""

from collections.abc import Mapping, Sequence

import numpy as np

from econ_obs.core.assessment import Assessment, Trades
from econ_obs.core.baselines import BaselineResult
from econ_obs.core.models import ModelVariant
from econ_obs.defs.result_partitions import ResultPartition, equity_of, slice_equity_json
from econ_obs.store.pg_binary import ColumnBlock
from econ_obs.store.results import baseline_row, result_row, seed_block
from econ_obs.store.significance import significance_columns


def baseline_rows_for(
    part: ResultPartition, results: Sequence[BaselineResult], dagster_run_id: str
) -> tuple[list[dict], ColumnBlock]:
    """Return the partition's baseline rows (buy_and_hold with its equity curve) and the
    random baseline's per-seed rows, by column."""
    hold = Trades(np.array([0]), np.array([part.feature_slice.price_path.n_bars - 1]))
    curves = {"buy_and_hold": equity_of(part.feature_slice, hold, part.cost)}
    rows = [
        baseline_row(
            part.basis,
            r.baseline_type,
            r.params,
            r.metrics.as_dict(),
            dagster_run_id,
            curves.get(r.baseline_type),
        )
        for r in results
    ]
    (random_row,) = [r for r in results if r.per_seed is not None]
    return rows, seed_block(part.basis, random_row.per_seed)


def model_rows_for(
    part: ResultPartition,
    variants: Sequence[ModelVariant],
    assessed: Mapping[str, Assessment],
    dagster_run_id: str,
) -> list[dict]:
    """Return one finetune_results row per variant, with its significance and equity curve."""
    return [
        result_row(
            part.basis,
            variant.name,
            variant.params,
            part.feature_slice.feature_hash,
            assessed[variant.name].metrics.as_dict(),
            dagster_run_id,
            significance_columns(assessed[variant.name]),
            slice_equity_json(
                part.feature_slice,
                assessed[variant.name].equity_bars,
                assessed[variant.name].equity,
            ),
        )
        for variant in variants
    ]
