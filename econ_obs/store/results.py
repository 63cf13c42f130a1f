"""finetune_results and finetune_baselines: the rows of one partition, replaced atomically.

A partition is (run_id, strategy, crypto, fold_id, cost_bps, slippage_bps): the cost basis is
the pair (cost_bps, slippage_bps), so two slippages are two partitions. Writing it deletes that
partition's earlier rows and inserts the new ones in one transaction, under an advisory lock
on the partition, so a re-materialisation never duplicates, two concurrent writers end with
one consistent set, and a connection lost mid-write leaves the old rows in place.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from econ_obs.core.accounting import METRIC_NAMES
from econ_obs.store.database import DatabaseError
from econ_obs.store.pg_binary import ColumnBlock

RESULTS_TABLE = "finetune_results"
BASELINES_TABLE = "finetune_baselines"
SEEDS_TABLE = "finetune_random_seeds"
KEY_COLUMNS = ("run_id", "strategy", "crypto", "fold_id", "cost_bps", "slippage_bps")
# Gaps inside the windows (core.gaps.WindowGaps), migration 005.
GAP_COLUMNS = (
    "train_missing_bars",
    "test_missing_bars",
    "test_largest_gap_bars",
    "test_span_hours",
)
BASIS_COLUMNS = (
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "n_test_bars",
    *GAP_COLUMNS,
)
# The metric columns are the fields of core Metrics, by design, in both tables.
METRIC_COLUMNS = METRIC_NAMES
# A model row's significance (migration 004); see econ_obs.store.significance for the values.
SIGNIFICANCE_COLUMNS = (
    "matched_n_perms",
    "matched_null_seed",
    "matched_null_net_returns",
    "matched_null_mean",
    "matched_null_p05",
    "matched_null_p95",
    "p_value_matched",
    "random_n_seeds",
    "p_value_random",
    "breakeven_cost_bps",
    "gross_edge_bps_per_trade",
    "n_returns",
    "sharpe_per_bar",
    "return_skew",
    "return_kurtosis",
    "dsr_n_trials",
    "dsr_sharpe_variance",
    "dsr_expected_max_sharpe",
    "deflated_sharpe",
)
RESULT_COLUMNS = (
    *KEY_COLUMNS,
    "variant",
    *BASIS_COLUMNS,
    "model_hyperparams",
    "feature_hash",
    *METRIC_COLUMNS,
    *SIGNIFICANCE_COLUMNS,
    "equity_curve",
    "dagster_run_id",
)
BASELINE_COLUMNS = (
    *KEY_COLUMNS,
    "baseline_type",
    *BASIS_COLUMNS,
    *METRIC_COLUMNS,
    "baseline_params",
    "equity_curve",
    "dagster_run_id",
)
SEED_COLUMNS = (*KEY_COLUMNS, "seed", "net_return", "sharpe", "n_trades")
_TABLES = {
    RESULTS_TABLE: sa.table(RESULTS_TABLE, *(sa.column(c) for c in RESULT_COLUMNS)),
    BASELINES_TABLE: sa.table(BASELINES_TABLE, *(sa.column(c) for c in BASELINE_COLUMNS)),
    SEEDS_TABLE: sa.table(SEEDS_TABLE, *(sa.column(c) for c in SEED_COLUMNS)),
}
# The checks join and group these tables on their key right after a sweep wrote them. Until
# autovacuum gets to them they have no column statistics, PostgreSQL estimates a handful of
# rows and picks nested loops that grow with the square of the partitions (same_basis, as the
# scale issue measured it: 1.5 s at 600 partitions, 3 ms after ANALYZE). Only the columns the
# checks read are sampled, so the large significance and equity columns are never read for it.
_ANALYZED_COLUMNS = {
    RESULTS_TABLE: (*KEY_COLUMNS, "variant", *BASIS_COLUMNS),
    BASELINES_TABLE: (*KEY_COLUMNS, "baseline_type", *BASIS_COLUMNS),
    SEEDS_TABLE: (*KEY_COLUMNS, "seed"),
}
_ANALYZE = sa.text(
    "ANALYZE "
    + ", ".join(f"{table} ({', '.join(columns)})" for table, columns in _ANALYZED_COLUMNS.items())
)


class PartitionWriteError(DatabaseError):
    """A partition that could not be written; its earlier rows are untouched."""


@dataclass(frozen=True)
class PartitionBasis:
    """The key and the basis (window, cost, slippage, gaps) shared by every row of a partition."""

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
    train_missing_bars: int
    test_missing_bars: int
    test_largest_gap_bars: int
    test_span_hours: float

    def as_row(self) -> dict:
        """Return the key and basis columns; a fractional cost is refused, never rounded."""
        return {
            "run_id": self.run_id,
            "strategy": self.strategy,
            "crypto": self.crypto,
            "fold_id": _whole(self, "fold_id", self.fold_id),
            "cost_bps": _whole(self, "cost_bps", self.cost_bps),
            "slippage_bps": float(self.slippage_bps),
            "train_start": self.train_start,
            "train_end": self.train_end,
            "test_start": self.test_start,
            "test_end": self.test_end,
            "n_test_bars": _whole(self, "n_test_bars", self.n_test_bars),
            "train_missing_bars": _whole(self, "train_missing_bars", self.train_missing_bars),
            "test_missing_bars": _whole(self, "test_missing_bars", self.test_missing_bars),
            "test_largest_gap_bars": _whole(
                self, "test_largest_gap_bars", self.test_largest_gap_bars
            ),
            "test_span_hours": float(self.test_span_hours),
        }

    def describe(self) -> str:
        return (
            f"run_id={self.run_id} strategy={self.strategy} crypto={self.crypto} "
            f"fold_id={self.fold_id} cost_bps={self.cost_bps} slippage_bps={self.slippage_bps:g}"
        )


def _whole(basis: PartitionBasis, name: str, value: object) -> int:
    """Return value as an int; 10.7 (or True, or "10") is a ValueError, not a silent 10."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise ValueError(
            f"{name} {value!r} is not a whole number for crypto={basis.crypto} "
            f"fold_id={basis.fold_id}; the {name} column is INT and is never rounded"
        )
    return int(value)


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
    significance: dict | None = None,
    equity_curve: dict | None = None,
) -> dict:
    """Return one finetune_results row; significance maps SIGNIFICANCE_COLUMNS (None if absent)."""
    significance = significance or {}
    unknown = set(significance) - set(SIGNIFICANCE_COLUMNS)
    if unknown:
        raise ValueError(f"unknown significance columns {sorted(unknown)}")
    return {
        **basis.as_row(),
        "variant": variant,
        "model_hyperparams": json.dumps(model_hyperparams, sort_keys=True),
        "feature_hash": feature_hash,
        **_metrics(metrics, integer_trades=True),
        **{name: significance.get(name) for name in SIGNIFICANCE_COLUMNS},
        "equity_curve": None if equity_curve is None else json.dumps(equity_curve),
        "dagster_run_id": dagster_run_id,
    }


def baseline_row(
    basis: PartitionBasis,
    baseline_type: str,
    baseline_params: dict,
    metrics: dict,
    dagster_run_id: str | None,
    equity_curve: dict | None = None,
) -> dict:
    """Return one finetune_baselines row."""
    return {
        **basis.as_row(),
        "baseline_type": baseline_type,
        **_metrics(metrics, integer_trades=False),
        "baseline_params": json.dumps(baseline_params, sort_keys=True),
        "equity_curve": None if equity_curve is None else json.dumps(equity_curve),
        "dagster_run_id": dagster_run_id,
    }


def seed_block(basis: PartitionBasis, per_seed: dict[str, Sequence[float]]) -> ColumnBlock:
    """Return the finetune_random_seeds rows of one partition, one per seed (seed i is
    default_rng(i)), by column: the key once, the seeds' values as arrays."""
    n_seeds = len(per_seed["net_return"])
    return ColumnBlock(
        constants={c: basis.as_row()[c] for c in KEY_COLUMNS},
        arrays={
            "seed": np.arange(n_seeds),
            "net_return": per_seed["net_return"],
            "sharpe": per_seed["sharpe"],
            "n_trades": per_seed["n_trades"],  # whole counts, refused otherwise
        },
    )


def seed_rows(basis: PartitionBasis, per_seed: dict[str, Sequence[float]]) -> list[dict]:
    """Return seed_block's rows one dict each, as finetune_random_seeds holds them: the
    row-by-row form the block is tested against."""
    key = {c: basis.as_row()[c] for c in KEY_COLUMNS}
    return [
        {**key, "seed": seed, "net_return": float(net), "sharpe": float(sharpe), "n_trades": int(n)}
        for seed, (net, sharpe, n) in enumerate(
            zip(per_seed["net_return"], per_seed["sharpe"], per_seed["n_trades"], strict=True)
        )
    ]


# A database's statistics this process refreshed are kept, without another ANALYZE, until it
# writes result rows there again or this many seconds pass (rows other processes write).
STATISTICS_KEPT_SECONDS = 60.0
_analysed_at: dict[str, float] = {}  # database URL -> time.monotonic() of this process's ANALYZE


def note_results_written(engine: Engine) -> None:
    """Say this process writes result rows to the engine's database: the next
    refresh_statistics there runs ANALYZE."""
    _analysed_at.pop(str(engine.url), None)


def refresh_statistics(connection: Connection) -> None:
    """Refresh the planner's statistics of the three result tables (their key and basis columns).

    Run before a query that joins them on freshly written rows; it reads a sample of the rows
    and takes no lock that blocks writers. A role that does not own the tables gets a warning
    from PostgreSQL and the old statistics, never an error. ANALYZE runs on a connection of its
    own and commits: run in the caller's transaction, its statistics would vanish with that
    read-only transaction's rollback, and every later query (the report's, planned on "1 row")
    would join 10,000 partitions' rows in nested loops for minutes.

    The five blocking checks and the report run one after the other on the rows a sweep has
    just written: the first refreshes the statistics, and the others skip the ANALYZE (each
    took 60-100 ms on a 600-partition sweep) unless this process wrote result rows since, or
    STATISTICS_KEPT_SECONDS have passed. A fresh process always refreshes them.
    """
    database = str(connection.engine.url)
    analysed_at = _analysed_at.get(database)
    if analysed_at is not None and time.monotonic() - analysed_at < STATISTICS_KEPT_SECONDS:
        return
    with connection.engine.connect() as own:
        own.execute(_ANALYZE)
        own.commit()
    _analysed_at[database] = time.monotonic()
