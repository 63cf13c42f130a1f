"""PartitionBatch: result partitions written by a writer thread, 32 to a transaction, while the
step computes the next ones; metadata only for committed partitions, errors in the step."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from econ_obs.defs.result_partitions import WRITE_BATCH_PARTITIONS, PartitionBatch
from econ_obs.store.partition_writes import PartitionRows
from econ_obs.store.results import RESULTS_TABLE
from econ_obs_tests.test_results_store import BASIS, results


class MetadataSink:
    """What a step's context receives: add_asset_metadata per partition."""

    def __init__(self) -> None:
        self.partitions: list[str] = []

    def add_asset_metadata(self, metadata: dict, partition_key: str) -> None:
        assert metadata == {"fold_id": int(partition_key)}
        self.partitions.append(partition_key)


def _partition(fold_id: int, net_return: float = 0.2) -> tuple[str, PartitionRows, dict]:
    basis = replace(BASIS, fold_id=fold_id)
    return str(fold_id), PartitionRows(basis, results(basis, "w", net_return)), {"fold_id": fold_id}


def _stored_folds(engine) -> list[int]:
    query = sa.text(f"SELECT DISTINCT fold_id FROM {RESULTS_TABLE} ORDER BY 1")
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def test_every_partition_is_written_and_reported_once_its_batch_committed(engine):
    n_partitions = 2 * WRITE_BATCH_PARTITIONS + 5  # two full batches and a last partial one
    sink = MetadataSink()

    with PartitionBatch(sink, engine, RESULTS_TABLE) as batch:
        for fold_id in range(n_partitions):
            batch.add(*_partition(fold_id))
        # The first full batch is committed before the second is handed over; the second may
        # still be in flight, and nothing of the last is written yet.
        assert sink.partitions[:WRITE_BATCH_PARTITIONS] == [
            str(f) for f in range(WRITE_BATCH_PARTITIONS)
        ]
        assert len(sink.partitions) <= 2 * WRITE_BATCH_PARTITIONS

    assert sink.partitions == [str(f) for f in range(n_partitions)]
    assert _stored_folds(engine) == list(range(n_partitions))


def test_a_failed_batch_is_raised_in_the_step_and_its_partitions_get_no_metadata(engine):
    """The database refuses a NaN net return (its check constraint) as it did before."""
    sink = MetadataSink()
    with pytest.raises(sa.exc.IntegrityError, match="ck_finetune_result_metrics"):
        with PartitionBatch(sink, engine, RESULTS_TABLE) as batch:
            for fold_id in range(WRITE_BATCH_PARTITIONS):  # a whole batch, the last one bad
                bad = WRITE_BATCH_PARTITIONS - 1
                batch.add(*_partition(fold_id, float("nan") if fold_id == bad else 0.2))
            batch.add(*_partition(WRITE_BATCH_PARTITIONS))

    assert sink.partitions == []
    assert _stored_folds(engine) == []  # one transaction per batch: none of it, none after


def test_a_step_that_fails_leaves_no_write_running_after_it(engine):
    sink = MetadataSink()
    with pytest.raises(RuntimeError, match="the step failed"):
        with PartitionBatch(sink, engine, RESULTS_TABLE) as batch:
            for fold_id in range(WRITE_BATCH_PARTITIONS + 1):
                batch.add(*_partition(fold_id))
            raise RuntimeError("the step failed")

    # The batch in flight was committed before the block was left; the partition after it
    # never was, and no metadata was added for a step that failed.
    assert _stored_folds(engine) == list(range(WRITE_BATCH_PARTITIONS))
    assert sink.partitions == []
