"""finetune_results and finetune_baselines: the rows of one partition, replaced atomically.

A partition is (run_id, strategy, crypto, fold_id, cost_bps). Writing it deletes that
partition's earlier rows and inserts the new ones in one transaction, under an advisory lock
on the partition, so a re-materialisation never duplicates, two concurrent writers end with
one consistent set, and a connection lost mid-write leaves the old rows in place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from econ_obs.core.accounting import METRIC_NAMES
from econ_obs.core.baselines import BASELINE_TYPES
from econ_obs.store.database import DatabaseError, describe, first_line

RESULTS_TABLE = "finetune_results"
BASELINES_TABLE = "finetune_baselines"
KEY_COLUMNS = ("run_id", "strategy", "crypto", "fold_id", "cost_bps")
BASIS_COLUMNS = (
    "slippage_bps",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "n_test_bars",
)
# The metric columns are the fields of core Metrics, by design, in both tables.
METRIC_COLUMNS = METRIC_NAMES
RESULT_COLUMNS = (
    *KEY_COLUMNS,
    "variant",
    *BASIS_COLUMNS,
    "model_hyperparams",
    "feature_hash",
    *METRIC_COLUMNS,
    "dagster_run_id",
)
BASELINE_COLUMNS = (
    *KEY_COLUMNS,
    "baseline_type",
    *BASIS_COLUMNS,
    *METRIC_COLUMNS,
    "baseline_params",
    "dagster_run_id",
)
_TABLES = {
    RESULTS_TABLE: sa.table(RESULTS_TABLE, *(sa.column(c) for c in RESULT_COLUMNS)),
    BASELINES_TABLE: sa.table(BASELINES_TABLE, *(sa.column(c) for c in BASELINE_COLUMNS)),
}
_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtext(:lock_key))")


class PartitionWriteError(DatabaseError):
    """A partition that could not be written; its earlier rows are untouched."""


@dataclass(frozen=True)
class PartitionBasis:
    """The key and the basis (window, cost, slippage) shared by every row of a partition."""

    run_id: str
    strategy: str
    crypto: str
    fold_id: int
    cost_bps: int
    slippage_bps: float
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime
    n_test_bars: int

    def as_row(self) -> dict:
        return {
            "run_id": self.run_id,
            "strategy": self.strategy,
            "crypto": self.crypto,
            "fold_id": int(self.fold_id),
            "cost_bps": int(self.cost_bps),
            "slippage_bps": float(self.slippage_bps),
            "train_start": self.train_start,
            "train_end": self.train_end,
            "test_start": self.test_start,
            "test_end": self.test_end,
            "n_test_bars": int(self.n_test_bars),
        }

    def describe(self) -> str:
        return (
            f"run_id={self.run_id} strategy={self.strategy} crypto={self.crypto} "
            f"fold_id={self.fold_id} cost_bps={self.cost_bps}"
        )


def _metrics(metrics: dict, integer_trades: bool) -> dict:
    row = {name: float(metrics[name]) for name in METRIC_COLUMNS}
    if integer_trades:
        row["n_trades"] = int(metrics["n_trades"])
    return row


def result_row(
    basis: PartitionBasis,
    variant: str,
    model_hyperparams: dict,
    feature_hash: str,
    metrics: dict,
    dagster_run_id: str | None,
) -> dict:
    """Return one finetune_results row."""
    return {
        **basis.as_row(),
        "variant": variant,
        "model_hyperparams": json.dumps(model_hyperparams, sort_keys=True),
        "feature_hash": feature_hash,
        **_metrics(metrics, integer_trades=True),
        "dagster_run_id": dagster_run_id,
    }


def baseline_row(
    basis: PartitionBasis,
    baseline_type: str,
    baseline_params: dict,
    metrics: dict,
    dagster_run_id: str | None,
) -> dict:
    """Return one finetune_baselines row."""
    return {
        **basis.as_row(),
        "baseline_type": baseline_type,
        **_metrics(metrics, integer_trades=False),
        "baseline_params": json.dumps(baseline_params, sort_keys=True),
        "dagster_run_id": dagster_run_id,
    }


def replace_partition(
    engine: Engine, table: str, basis: PartitionBasis, rows: Sequence[dict]
) -> int:
    """Replace the partition's rows in `table` with `rows` in one transaction; return the count.

    Baselines are all three types or nothing: an incomplete set is refused before writing.
    """
    if table == BASELINES_TABLE:
        types = sorted(row["baseline_type"] for row in rows)
        if types != sorted(BASELINE_TYPES):
            raise ValueError(
                f"baselines for {basis.describe()} must be exactly {list(BASELINE_TYPES)}, "
                f"got {types}"
            )
    key = basis.as_row()
    for row in rows:
        mismatched = [c for c in (*KEY_COLUMNS, *BASIS_COLUMNS) if row[c] != key[c]]
        if mismatched:
            raise ValueError(f"row for {basis.describe()} differs from its basis in {mismatched}")
    target = _TABLES[table]
    delete = sa.delete(target).where(*(target.c[c] == sa.bindparam(c) for c in KEY_COLUMNS))
    try:
        with engine.begin() as connection:
            connection.execute(_LOCK, {"lock_key": f"{table}|{basis.describe()}"})
            connection.execute(delete, {c: key[c] for c in KEY_COLUMNS})
            if rows:
                connection.execute(sa.insert(target), list(rows))
    except DBAPIError as error:
        if not error.connection_invalidated and not isinstance(error, sa.exc.OperationalError):
            raise
        raise PartitionWriteError(
            f"writing {table} for {basis.describe()} to {describe(engine.url)} failed, "
            f"nothing was changed: {first_line(error.orig)}"
        ) from error
    return len(rows)
