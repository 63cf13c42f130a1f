"""A result partition resolved once: its slice, its basis and its cost, from its key alone.

Both result assets iterate these, so a row's window, gaps and cost basis can only come from
the partition key and the slice it maps to. Also the retry rule both assets share.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from econ_obs.config import SweepConfig
from econ_obs.core.accounting import CostBasis
from econ_obs.core.assessment import Trades, sampled_equity
from econ_obs.core.backtest import FeatureSlice
from econ_obs.defs.io_manager import one_upstream_at_a_time
from econ_obs.defs.partitions import ResultKey, decode_result_key, decode_slice_key
from econ_obs.store.database import DatabaseError
from econ_obs.store.partition_writes import PartitionRows, replace_partitions
from econ_obs.store.results import PartitionBasis
from econ_obs.store.significance import equity_json, equity_time_texts

# Retries cover transient connection loss; a partition write is atomic, so a retry is safe.
DATABASE_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def retry_only_database_errors() -> Iterator[None]:
    """Let the retry policy see lost connections only; any other error fails at once."""
    try:
        yield
    except (DatabaseError, OperationalError):
        raise  # transient: the partition was left untouched, so a retry is safe
    except dg.Failure:
        raise  # already says what failed and refuses retries (e.g. a slice file missing)
    except Exception as error:
        raise dg.Failure(
            description=f"{type(error).__name__}: {error}", allow_retries=False
        ) from error


SINGLE_RUN = dg.BackfillPolicy.single_run()


def _basis(config: SweepConfig, key: ResultKey, feature_slice: FeatureSlice) -> PartitionBasis:
    fold = feature_slice.fold
    return PartitionBasis(
        run_id=config.run_id,
        strategy=config.strategy,
        crypto=key.crypto,
        fold_id=key.fold_id,
        cost_bps=key.cost_bps,
        slippage_bps=key.slippage_bps,
        train_start=fold.train_start,
        train_end=fold.train_end,
        test_start=fold.test_start,
        test_end=fold.test_end,
        n_test_bars=fold.n_test_bars,
        train_missing_bars=feature_slice.train_gaps.missing_bars,
        test_missing_bars=feature_slice.test_gaps.missing_bars,
        test_largest_gap_bars=feature_slice.test_gaps.largest_gap_bars,
        test_span_hours=feature_slice.test_gaps.span_hours,
    )


@dataclass(frozen=True)
class ResultPartition:
    """One (crypto, fold, cost_bps, slippage_bps) partition with its slice, basis and cost."""

    partition_key: str
    key: ResultKey
    feature_slice: FeatureSlice
    basis: PartitionBasis
    cost: CostBasis


def result_partitions(
    config: SweepConfig, partition_keys: list[str], slices: dict[str, FeatureSlice]
) -> Iterator[ResultPartition]:
    """Yield each result partition of the run; its cost basis (fee and slippage) comes from its
    key and nowhere else."""
    by_slice_key = {decode_slice_key(k): value for k, value in slices.items()}
    for partition_key in partition_keys:
        key = decode_result_key(partition_key)
        feature_slice = by_slice_key[key.slice_key]
        yield ResultPartition(
            partition_key,
            key,
            feature_slice,
            _basis(config, key, feature_slice),
            CostBasis(cost_bps=key.cost_bps, slippage_bps=key.slippage_bps),
        )


def one_slice_at_a_time(
    config: SweepConfig, partition_keys: list[str], slices: Mapping[str, FeatureSlice]
) -> Iterator[ResultPartition]:
    """Yield each result partition of the run; a slice is read once, for its costs, then
    dropped (`slices` loads lazily, one partition at a time)."""
    by_key = {decode_slice_key(key): key for key in slices}
    slice_of = lambda key: by_key[decode_result_key(key).slice_key]  # noqa: E731
    for keys, one in one_upstream_at_a_time(partition_keys, slices, slice_of):
        yield from result_partitions(config, keys, one)


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


# Result partitions written per transaction: 32 keep a batch's rows small and cut a sweep's
# write round trips about 30-fold; a failed batch leaves all 32 partitions as they were.
WRITE_BATCH_PARTITIONS = 32


class PartitionBatch:
    """Result partitions of one step, written WRITE_BATCH_PARTITIONS at a time; each one's
    metadata is added to the step's materialisation only once its rows are committed."""

    def __init__(self, context: dg.AssetExecutionContext, engine: Engine, table: str):
        self.context, self.engine, self.table = context, engine, table
        self.pending: list[tuple[str, PartitionRows, dict]] = []

    def add(self, partition_key: str, rows: PartitionRows, metadata: dict) -> None:
        self.pending.append((partition_key, rows, metadata))
        if len(self.pending) >= WRITE_BATCH_PARTITIONS:
            self.flush()

    def flush(self) -> None:
        replace_partitions(self.engine, self.table, [rows for _, rows, _ in self.pending])
        for partition_key, _, metadata in self.pending:
            self.context.add_asset_metadata(metadata, partition_key=partition_key)
        self.pending.clear()
