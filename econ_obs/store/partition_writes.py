"""Writing result partitions: each one replaced whole, alone or with others in a transaction.

A partition's rows (and, for baselines, its random seeds) are deleted and inserted under an
advisory lock on its key, in one transaction. Several partitions can share the transaction
(`replace_partitions`): then either every one of them is replaced or none is, so no reader
ever sees half a partition, and a sweep pays a transaction's round trips once per batch
instead of once per partition.

The rows go in with a binary COPY in that transaction (store.pg_binary says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from econ_obs.core.baselines import BASELINE_TYPES
from econ_obs.store.database import describe, first_line
from econ_obs.store.pg_binary import ColumnBlock, copy_blocks, copy_rows
from econ_obs.store.results import (
    _TABLES,
    BASELINES_TABLE,
    BASIS_COLUMNS,
    KEY_COLUMNS,
    SEEDS_TABLE,
    PartitionBasis,
    PartitionWriteError,
    note_results_written,
)

# One lock per partition key, taken in sorted order so two writers never wait on each other.
_LOCKS = sa.text(
    "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(CAST(:lock_keys AS text[])) AS k"
)


@dataclass(frozen=True)
class PartitionRows:
    """What one partition holds in `table`: its rows, and the random baseline's seeds."""

    basis: PartitionBasis
    rows: Sequence[dict]
    random_seeds: ColumnBlock | None = None  # results.seed_block


def _check(table: str, write: PartitionRows) -> None:
    basis = write.basis
    if write.random_seeds is not None and table != BASELINES_TABLE:
        raise ValueError(f"random seeds are written with {BASELINES_TABLE}, not {table}")
    if table == BASELINES_TABLE:
        types = sorted(row["baseline_type"] for row in write.rows)
        if types != sorted(BASELINE_TYPES):
            raise ValueError(
                f"baselines for {basis.describe()} must be exactly {list(BASELINE_TYPES)}, "
                f"got {types}"
            )
    key = basis.as_row()
    for row in write.rows:
        mismatched = [c for c in (*KEY_COLUMNS, *BASIS_COLUMNS) if row[c] != key[c]]
        if mismatched:
            raise ValueError(f"row for {basis.describe()} differs from its basis in {mismatched}")


def replace_partitions(engine: Engine, table: str, writes: Sequence[PartitionRows]) -> int:
    """Replace each partition's rows in `table` in one transaction; return the rows written.

    Baselines are all three types or nothing: an incomplete set is refused before writing.
    With baselines, each partition's random seeds replace its seed rows in the same
    transaction, so the mean row and its seeds can never disagree.
    """
    if not writes:
        return 0
    for write in writes:
        _check(table, write)
    keys = [tuple(write.basis.as_row()[c] for c in KEY_COLUMNS) for write in writes]
    targets = [(table, [row for write in writes for row in write.rows], copy_rows)]
    if any(write.random_seeds is not None for write in writes):
        seeds = [write.random_seeds for write in writes if write.random_seeds is not None]
        targets.append((SEEDS_TABLE, seeds, copy_blocks))
    lock_keys = sorted(f"{table}|{write.basis.describe()}" for write in writes)
    try:
        with engine.begin() as connection:
            connection.execute(_LOCKS, {"lock_keys": lock_keys})
            for target_table, rows, copy in targets:
                target = _TABLES[target_table]
                key_of = sa.tuple_(*(target.c[c] for c in KEY_COLUMNS))
                connection.execute(sa.delete(target).where(key_of.in_(keys)))
                if rows:
                    copy(connection, target_table, target.c.keys(), rows)
    except DBAPIError as error:
        if not error.connection_invalidated and not isinstance(error, sa.exc.OperationalError):
            raise
        what = writes[0].basis.describe() + (f" and {len(writes) - 1} more" if writes[1:] else "")
        raise PartitionWriteError(
            f"writing {table} for {what} to {describe(engine.url)} failed, "
            f"nothing was changed: {first_line(error.orig)}"
        ) from error
    finally:  # once the write is over: a refresh made during it must not be kept
        note_results_written(engine)
    return sum(len(write.rows) for write in writes)


def replace_partition(
    engine: Engine,
    table: str,
    basis: PartitionBasis,
    rows: Sequence[dict],
    random_seeds: ColumnBlock | None = None,
) -> int:
    """Replace one partition's rows in `table` in one transaction; return the count."""
    return replace_partitions(engine, table, [PartitionRows(basis, rows, random_seeds)])
