"""Migration 005: the database refuses metric values no correct writer produces; the writer
refuses a fractional cost instead of rounding it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from econ_obs.store.results import RESULTS_TABLE, replace_partition, result_row
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


def test_a_nan_random_seed_is_refused(engine):
    row = {
        "run_id": "r1",
        "strategy": "s1",
        "crypto": "BTCUSDT",
        "fold_id": 0,
        "cost_bps": 10,
        "slippage_bps": 2.0,
        "seed": 0,
        "net_return": NAN,
        "sharpe": 0.0,
        "n_trades": 1,
    }
    with pytest.raises(IntegrityError, match="ck_finetune_random_seed_values"):
        insert(engine, "finetune_random_seeds", row)


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
