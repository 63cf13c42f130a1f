"""The checks plan their queries on fresh statistics: a sweep's rows are written moments before
the checks read them, and a table without statistics gets nested-loop plans whose cost grows
with the square of the partitions (same_basis took 1.5 s at 600 partitions, 3 ms after ANALYZE).
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from econ_obs.store.checks import basis_mismatches
from econ_obs.store.partition_writes import replace_partition
from econ_obs.store.results import (
    BASELINES_TABLE,
    RESULTS_TABLE,
    SEEDS_TABLE,
    refresh_statistics,
    seed_rows,
)
from econ_obs_tests.test_results_store import BASIS, baselines, results

_STATISTICS = sa.text(
    "SELECT tablename, attname FROM pg_stats "
    "WHERE schemaname = current_schema() AND tablename = ANY(:tables)"
)
_FORGET_STATISTICS = sa.text("DELETE FROM pg_statistic WHERE starelid = to_regclass(:table)")
_TABLES = [RESULTS_TABLE, BASELINES_TABLE, SEEDS_TABLE]
_SEEDS = {"net_return": [0.1, -0.2], "sharpe": [0.5, -0.5], "n_trades": [3, 4]}


def _analysed_columns(connection) -> set[tuple[str, str]]:
    return {tuple(row) for row in connection.execute(_STATISTICS, {"tables": _TABLES})}


def _write_keys(engine, n_keys: int) -> None:
    for fold_id in range(n_keys):
        basis = replace(BASIS, fold_id=fold_id)
        replace_partition(
            engine, BASELINES_TABLE, basis, baselines(basis, "w"), seed_rows(basis, _SEEDS)
        )
        replace_partition(engine, RESULTS_TABLE, basis, results(basis, "w"))


def test_refresh_statistics_samples_the_key_and_basis_columns_only(engine):
    _write_keys(engine, 20)
    with engine.begin() as connection:
        refresh_statistics(connection)
        analysed = _analysed_columns(connection)

    for table in _TABLES:
        for column in ("run_id", "crypto", "fold_id", "cost_bps", "slippage_bps"):
            assert (table, column) in analysed
    for table in (RESULTS_TABLE, BASELINES_TABLE):
        assert (table, "test_start") in analysed
        assert (table, "n_test_bars") in analysed


def test_a_check_query_refreshes_the_statistics_before_it_runs(engine):
    with engine.begin() as connection:
        # No autovacuum during the test, and no statistics left by an earlier one: only the
        # check itself can have gathered those asserted below.
        for table in _TABLES:
            connection.execute(sa.text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
            connection.execute(_FORGET_STATISTICS, {"table": table})
    try:
        _write_keys(engine, 20)
        with engine.begin() as connection:
            assert _analysed_columns(connection) == set()
            assert basis_mismatches(connection, BASIS.run_id, BASIS.strategy) == []
            assert (BASELINES_TABLE, "fold_id") in _analysed_columns(connection)
    finally:
        with engine.begin() as connection:
            for table in _TABLES:
                connection.execute(sa.text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))
