"""Each constraint of the end-state schema bites, on a real PostgreSQL."""

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

WINDOW = {
    "train_start": "2024-01-01T00:00:00+00:00",
    "train_end": "2024-01-10T00:00:00+00:00",
    "test_start": "2024-01-11T00:00:00+00:00",
    "test_end": "2024-01-20T00:00:00+00:00",
    "n_test_bars": 217,
    "train_missing_bars": 0,
    "test_missing_bars": 0,
    "test_largest_gap_bars": 0,
    "test_span_hours": 216.0,
}
METRICS = {
    "net_return": 0.01,
    "gross_return": 0.02,
    "n_trades": 3,
    "sharpe": 0.5,
    "max_drawdown": 0.1,
    "exposure": 0.4,
    "hit_rate": 0.66,
}


def baseline_row(**overrides) -> dict:
    row = {
        "run_id": "r1",
        "strategy": "s1",
        "baseline_type": "buy_and_hold",
        "crypto": "BTCUSDT",
        "fold_id": 0,
        "cost_bps": 10,
        "slippage_bps": 2.0,
        "baseline_params": json.dumps({}),
        **WINDOW,
        **METRICS,
    }
    row.update(overrides)
    return row


def result_row(**overrides) -> dict:
    row = {
        "run_id": "r1",
        "strategy": "s1",
        "variant": "ridge",
        "crypto": "BTCUSDT",
        "fold_id": 0,
        "cost_bps": 10,
        "slippage_bps": 2.0,
        "model_hyperparams": json.dumps({"alpha": 1.0}),
        "feature_hash": "abc",
        **WINDOW,
        **METRICS,
    }
    row.update(overrides)
    return row


def insert(engine, table: str, row: dict) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)


def without(row: dict, key: str) -> dict:
    return {name: value for name, value in row.items() if name != key}


@pytest.mark.parametrize(
    ("table", "make_row"),
    [("finetune_results", result_row), ("finetune_baselines", baseline_row)],
)
def test_valid_rows_insert(engine, table, make_row):
    insert(engine, table, make_row())
    with engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 1


@pytest.mark.parametrize(
    ("table", "make_row"),
    [("finetune_results", result_row), ("finetune_baselines", baseline_row)],
)
def test_a_row_without_cost_bps_is_refused(engine, table, make_row):
    with pytest.raises(IntegrityError, match="cost_bps"):
        insert(engine, table, without(make_row(), "cost_bps"))


@pytest.mark.parametrize(
    ("table", "make_row"),
    [("finetune_results", result_row), ("finetune_baselines", baseline_row)],
)
def test_a_negative_cost_is_refused(engine, table, make_row):
    with pytest.raises(IntegrityError, match="cost_bps"):
        insert(engine, table, make_row(cost_bps=-1))


def test_a_duplicate_result_key_is_refused(engine):
    insert(engine, "finetune_results", result_row())
    with pytest.raises(IntegrityError, match="uq_finetune_result"):
        insert(engine, "finetune_results", result_row(net_return=0.5))


def test_a_duplicate_baseline_key_is_refused(engine):
    insert(engine, "finetune_baselines", baseline_row())
    with pytest.raises(IntegrityError, match="uq_finetune_baseline"):
        insert(engine, "finetune_baselines", baseline_row(net_return=0.5))


def test_two_strategies_keep_separate_baselines(engine):
    insert(engine, "finetune_baselines", baseline_row(strategy="a"))
    insert(engine, "finetune_baselines", baseline_row(strategy="b"))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM finetune_baselines")).scalar() == 2


def test_an_unknown_baseline_type_is_refused(engine):
    with pytest.raises(IntegrityError, match="ck_finetune_baseline_type"):
        insert(engine, "finetune_baselines", baseline_row(baseline_type="oracle"))


def test_results_require_hyperparams_and_feature_hash(engine):
    with pytest.raises(IntegrityError, match="model_hyperparams"):
        insert(engine, "finetune_results", without(result_row(), "model_hyperparams"))
    with pytest.raises(IntegrityError, match="feature_hash"):
        insert(engine, "finetune_results", without(result_row(), "feature_hash"))


def test_a_train_window_overlapping_its_test_window_is_refused(engine):
    with pytest.raises(IntegrityError, match="ck_finetune_result_windows"):
        insert(engine, "finetune_results", result_row(train_end=WINDOW["test_start"]))


@pytest.mark.parametrize(
    ("table", "make_row", "constraint"),
    [
        ("finetune_results", result_row, "uq_finetune_result"),
        ("finetune_baselines", baseline_row, "uq_finetune_baseline"),
    ],
)
def test_slippage_is_part_of_the_unique_key(engine, table, make_row, constraint):
    insert(engine, table, make_row(slippage_bps=2.0))
    insert(engine, table, make_row(slippage_bps=2.5))  # another cost basis: another key
    with pytest.raises(IntegrityError, match=constraint):
        insert(engine, table, make_row(slippage_bps=2.5, net_return=0.7))


@pytest.mark.parametrize(
    ("table", "make_row"),
    [("finetune_results", result_row), ("finetune_baselines", baseline_row)],
)
def test_a_new_row_without_its_gap_figures_is_refused(engine, table, make_row):
    with pytest.raises(IntegrityError, match="gaps_present"):
        insert(engine, table, without(make_row(), "test_missing_bars"))


def test_slippage_has_no_default(engine):
    with pytest.raises(IntegrityError, match="slippage_bps"):
        insert(engine, "finetune_results", without(result_row(), "slippage_bps"))
