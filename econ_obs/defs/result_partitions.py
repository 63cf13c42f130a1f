"""A result partition resolved once: its slice, its basis and its cost, from its key alone.

Both result assets iterate these, so a row's window, gaps and cost basis can only come from
the partition key and the slice it maps to. Also the retry rule both assets share.
"""

from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
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
    """Result partitions of one step, written WRITE_BATCH_PARTITIONS at a time in one
    transaction each; each one's metadata is added to the step's materialisation only once its
    rows are committed.

    A batch is written by a writer thread while the step computes the next one: PostgreSQL
    takes in the COPY on another core, and the step waits only if the previous batch is still
    being written when the next is full (at most one batch is in flight). A write's error is
    raised in the step, at the next batch or at the end, as the write raised it; the
    partitions computed meanwhile are not written, as if the step had stopped at the error.
    Use it as a context manager: leaving the block writes what is pending and waits, and on an
    error waits for the write in flight, so nothing is written after the step has failed.
    """

    def __init__(self, context: dg.AssetExecutionContext, engine: Engine, table: str):
        self.context, self.engine, self.table = context, engine, table
        self.pending: list[tuple[str, PartitionRows, dict]] = []
        self._writing: tuple[Future, list[tuple[str, PartitionRows, dict]]] | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"econ-obs-write-{table}")

    def __enter__(self) -> "PartitionBatch":
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        try:
            if error_type is None:
                self.flush()
                self._committed()
        finally:
            # Waits for the write in flight; after an error, that write's own error (if any)
            # is not the step's first one, and is left unread.
            self._writer.shutdown(wait=True)

    def add(self, partition_key: str, rows: PartitionRows, metadata: dict) -> None:
        self.pending.append((partition_key, rows, metadata))
        if len(self.pending) >= WRITE_BATCH_PARTITIONS:
            self.flush()

    def flush(self) -> None:
        """Hand the pending partitions to the writer, once the batch before them committed."""
        self._committed()
        batch, self.pending = self.pending, []
        if batch:
            writes = [rows for _, rows, _ in batch]
            future = self._writer.submit(replace_partitions, self.engine, self.table, writes)
            self._writing = (future, batch)

    def _committed(self) -> None:
        """Wait for the batch in flight; raise its error, or add its partitions' metadata."""
        if self._writing is None:
            return
        future, batch = self._writing
        self._writing = None
        future.result()
        for partition_key, _, metadata in batch:
            self.context.add_asset_metadata(metadata, partition_key=partition_key)
