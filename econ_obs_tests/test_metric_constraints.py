"""Migrations 005 and 008: the database refuses metric values no correct writer produces; the
writer refuses a fractional cost instead of rounding it."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from econ_obs.store.database import make_engine
from econ_obs.store.migrations import migrate, migration_files
from econ_obs.store.partition_writes import replace_partition
from econ_obs.store.results import RESULTS_TABLE, result_row
from econ_obs_tests.test_results_store import BASIS, metrics
from econ_obs_tests.test_schema import baseline_row as raw_baseline_row
from econ_obs_tests.test_schema import insert
from econ_obs_tests.test_schema import result_row as raw_result_row

TABLES = [("finetune_results", raw_result_row), ("finetune_baselines", raw_baseline_row)]
NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(("table", "make_row"), TABLES)
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("net_return", NAN),
        ("net_return", INF),
        ("gross_return", -INF),
        ("sharpe", NAN),
        ("exposure", 42.0),
        ("exposure", NAN),  # NaN sorts above every number in PostgreSQL: >= 0 alone lets it in
        ("hit_rate", 1.5),
        ("hit_rate", -0.1),
        ("max_drawdown", -5.0),
        ("max_drawdown", 1.01),
        ("max_drawdown", NAN),
        ("slippage_bps", NAN),
        ("slippage_bps", INF),
        ("n_test_bars", 0),
        ("test_end", "2024-01-11T00:00:00+00:00"),  # equal to test_start: no window
    ],
)
def test_a_raw_insert_of_an_impossible_value_is_refused(engine, table, make_row, column, value):
    with pytest.raises(IntegrityError, match="violates check constraint"):
        insert(engine, table, make_row(**{column: value}))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("matched_null_mean", NAN),
        ("p_value_matched", NAN),
        ("breakeven_cost_bps", INF),
        ("return_kurtosis", NAN),
        ("deflated_sharpe", NAN),
        ("dsr_expected_max_sharpe", -INF),
        ("matched_null_net_returns", [0.1, NAN]),
        ("matched_null_net_returns", [INF]),
    ],
)
def test_a_non_finite_significance_value_is_refused(engine, column, value):
    with pytest.raises(IntegrityError, match="ck_finetune_result_significance"):
        insert(engine, "finetune_results", raw_result_row(**{column: value}))


def test_null_significance_values_are_still_allowed(engine):
    insert(engine, "finetune_results", raw_result_row(p_value_matched=None, return_skew=None))


def random_seed_row(**overrides) -> dict:
    row = {
        "run_id": "r1",
        "strategy": "s1",
        "crypto": "BTCUSDT",
        "fold_id": 0,
        "cost_bps": 10,
        "slippage_bps": 2.0,
        "seed": 0,
        "net_return": 0.01,
        "sharpe": 0.0,
        "n_trades": 1,
    }
    row.update(overrides)
    return row


def alert_row(**overrides) -> dict:
    row = {
        "event": "baselines_incomplete",
        "crypto": "BTCUSDT",
        "slippage_bps": 2.0,
        "detail": "{}",
    }
    row.update(overrides)
    return row


def test_a_nan_random_seed_is_refused(engine):
    with pytest.raises(IntegrityError, match="ck_finetune_random_seed_values"):
        insert(engine, "finetune_random_seeds", random_seed_row(net_return=NAN))


# One valid row per application table: every DOUBLE PRECISION column is tried on it.
VALID_ROWS = {
    "finetune_results": raw_result_row,
    "finetune_baselines": raw_baseline_row,
    "finetune_random_seeds": random_seed_row,
    "alerts": alert_row,
}


@pytest.mark.parametrize(("table", "make_row"), TABLES)
@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_a_non_finite_test_span_is_refused(engine, table, make_row, value):
    # Before 008 the span's only check was `> 0 AND <> 'Infinity'`, which NaN passes.
    with pytest.raises(IntegrityError, match="violates check constraint"):
        insert(engine, table, make_row(test_span_hours=value))


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_a_non_finite_alert_slippage_is_refused(engine, value):
    with pytest.raises(IntegrityError, match="violates check constraint"):
        insert(engine, "alerts", alert_row(slippage_bps=value))


def test_an_alert_about_no_key_may_still_have_no_slippage(engine):
    insert(engine, "alerts", alert_row(crypto=None, slippage_bps=None))


def double_columns(engine) -> list[tuple[str, str, bool]]:
    """Every (table, column, is_array) of type DOUBLE PRECISION or DOUBLE PRECISION[]."""
    with engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT table_name, column_name, data_type = 'ARRAY' "
                "FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND udt_name IN ('float8', '_float8') "
                "ORDER BY table_name, column_name"
            )
        ).all()


def test_every_double_precision_column_refuses_nan_and_infinities_on_update(engine):
    columns = double_columns(engine)
    assert {table for table, _, _ in columns} <= set(VALID_ROWS), "add a valid row for the table"
    for table, make_row in VALID_ROWS.items():
        insert(engine, table, make_row())
    accepted = []
    for table, column, is_array in columns:
        for value in (NAN, INF, -INF):
            update = sa.text(f"UPDATE {table} SET {column} = :value")
            try:
                with engine.begin() as connection:
                    connection.execute(update, {"value": [value] if is_array else value})
            except IntegrityError:
                continue
            accepted.append(f"{table}.{column} = {value}")

    assert len(columns) >= 30  # the catalog query found the metric columns
    assert accepted == [], accepted


def test_008_applies_on_a_database_that_already_holds_a_nan_span(empty_database_url, tmp_path):
    """Rows written before 008 could hold NaN: the migration must not fail on them (NOT VALID),
    yet every new or updated row is checked."""
    before_008 = tmp_path / "migrations"
    before_008.mkdir()
    later = [m.version for m in migration_files() if m.version >= 8]
    for migration in migration_files():
        if migration.version < 8:
            shutil.copy(migration.path, before_008)
    engine = make_engine(empty_database_url)
    try:
        migrate(engine, before_008)
        insert(engine, "finetune_results", raw_result_row(test_span_hours=NAN))
        insert(engine, "alerts", alert_row(slippage_bps=NAN))

        assert [m.version for m in migrate(engine)] == later

        with pytest.raises(IntegrityError, match="violates check constraint"):
            insert(engine, "finetune_baselines", raw_baseline_row(test_span_hours=NAN))
        with pytest.raises(IntegrityError, match="violates check constraint"):
            with engine.begin() as connection:
                connection.execute(sa.text("UPDATE alerts SET detail = '{\"seen\": 1}'"))
    finally:
        engine.dispose()


def test_the_writer_refuses_a_fractional_cost_instead_of_rounding_it(engine):
    fractional = replace(BASIS, cost_bps=10.7)

    with pytest.raises(ValueError, match=r"cost_bps 10\.7 is not a whole number") as refused:
        replace_partition(
            engine,
            RESULTS_TABLE,
            fractional,
            [result_row(fractional, "v", {}, "hash", metrics(0.1), None)],
        )

    assert "\n" not in str(refused.value)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM finetune_results")).scalar() == 0


def test_a_whole_float_cost_is_written_as_its_integer(engine):
    whole = replace(BASIS, cost_bps=10.0)
    rows = [result_row(whole, "v", {}, "hash", metrics(0.1), None)]

    assert replace_partition(engine, RESULTS_TABLE, whole, rows) == 1
