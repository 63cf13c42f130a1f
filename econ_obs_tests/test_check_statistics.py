"""The checks plan their queries on fresh statistics: a sweep's rows are written moments before
the checks read them, and a table without statistics gets nested-loop plans whose cost grows
with the square of the partitions (same_basis took 1.5 s at 600 partitions, 3 ms after ANALYZE).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from econ_obs.store.checks import basis_mismatches
from econ_obs.store.partition_writes import replace_partition
from econ_obs.store.report import report_rows
from econ_obs.store.results import (
    BASELINES_TABLE,
    RESULTS_TABLE,
    SEEDS_TABLE,
    refresh_statistics,
    seed_block,
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
            engine, BASELINES_TABLE, basis, baselines(basis, "w"), seed_block(basis, _SEEDS)
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


@pytest.fixture
def no_statistics(engine):
    """The result tables with no statistics and no autovacuum to gather any: only the code
    under test can have gathered those a test then finds."""
    with engine.begin() as connection:
        for table in _TABLES:
            connection.execute(sa.text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
            connection.execute(_FORGET_STATISTICS, {"table": table})
    yield engine
    with engine.begin() as connection:
        for table in _TABLES:
            connection.execute(sa.text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))


def test_a_check_query_refreshes_the_statistics_before_it_runs(no_statistics):
    engine = no_statistics
    _write_keys(engine, 20)
    with engine.begin() as connection:
        assert _analysed_columns(connection) == set()
        assert basis_mismatches(connection, BASIS.run_id, BASIS.strategy) == []
        assert (BASELINES_TABLE, "fold_id") in _analysed_columns(connection)


def test_the_statistics_outlive_the_read_only_transaction_that_refreshed_them(no_statistics):
    # A check or report reads in a transaction that is rolled back; ANALYZE run inside it
    # vanished with it, and the report's self-joins were then planned on "1 row" (minutes at
    # 10,000 partitions).
    engine = no_statistics
    _write_keys(engine, 20)
    with engine.connect() as connection:
        assert report_rows(connection, BASIS.run_id, BASIS.strategy, []) == []
        connection.rollback()
    with engine.connect() as other:
        analysed = _analysed_columns(other)
    assert {(RESULTS_TABLE, "run_id"), (BASELINES_TABLE, "crypto")} <= analysed


def test_statistics_this_process_refreshed_are_kept_until_it_writes_again(
    no_statistics, monkeypatch
):
    """The checks and the report run one after the other on the same fresh rows: one ANALYZE
    serves them all, until this process writes result rows again or the time is up."""
    engine = no_statistics
    _write_keys(engine, 5)
    with engine.connect() as connection:
        refresh_statistics(connection)
        assert (BASELINES_TABLE, "fold_id") in _analysed_columns(connection)

    def forget() -> None:
        with engine.begin() as connection:
            for table in _TABLES:
                connection.execute(_FORGET_STATISTICS, {"table": table})

    forget()
    with engine.connect() as connection:
        refresh_statistics(connection)  # kept: no ANALYZE
        assert _analysed_columns(connection) == set()

    _write_keys(engine, 1)  # this process wrote result rows again
    with engine.connect() as connection:
        refresh_statistics(connection)
        assert (BASELINES_TABLE, "fold_id") in _analysed_columns(connection)

    forget()
    monkeypatch.setattr("econ_obs.store.results.STATISTICS_KEPT_SECONDS", 0.0)
    with engine.connect() as connection:
        refresh_statistics(connection)  # too old to keep
        assert (RESULTS_TABLE, "run_id") in _analysed_columns(connection)
