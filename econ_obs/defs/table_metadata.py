"""What a result asset says about its PostgreSQL table: its name, its columns, its row counts.

The column schemas mirror the migrations; a test holds them equal to information_schema.
"""

from __future__ import annotations

import dagster as dg

from econ_obs.store.results import BASELINES_TABLE, RESULTS_TABLE

ROW_COUNT = "dagster/row_count"
PARTITION_ROW_COUNT = "dagster/partition_row_count"
TABLE_NAME = "dagster/table_name"
COLUMN_SCHEMA = "dagster/column_schema"


def _columns(text: str) -> list[dg.TableColumn]:
    """Columns from `name type [null]` lines, `null` marking a nullable column."""
    columns = []
    for line in filter(str.strip, text.splitlines()):
        name, column_type, *nullable = line.split()
        constraints = dg.TableColumnConstraints(nullable=bool(nullable))
        columns.append(dg.TableColumn(name, column_type, constraints=constraints))
    return columns


# The columns of both result tables as the migrations leave them (001, 002, 004, 005), in the
# catalog's order; test_asset_descriptions holds them equal to information_schema.
_BASIS = """
id bigint
run_id text
strategy text
{member} text
crypto text
fold_id integer
cost_bps integer
slippage_bps float8
train_start timestamptz
train_end timestamptz
test_start timestamptz
test_end timestamptz
n_test_bars integer
"""
_METRICS = """
net_return float8
gross_return float8
n_trades {n_trades}
sharpe float8
max_drawdown float8
exposure float8
hit_rate float8
"""
_GAPS = """
train_missing_bars integer null
test_missing_bars integer null
test_largest_gap_bars integer null
test_span_hours float8 null
"""
RESULTS_COLUMN_SCHEMA = dg.TableSchema(
    columns=_columns(
        _BASIS.format(member="variant")
        + "model_hyperparams jsonb\nfeature_hash text\n"
        + _METRICS.format(n_trades="integer")
        + """
dagster_run_id text null
created_at timestamptz
matched_n_perms integer null
matched_null_seed bigint null
matched_null_net_returns float8[] null
matched_null_mean float8 null
matched_null_p05 float8 null
matched_null_p95 float8 null
p_value_matched float8 null
random_n_seeds integer null
p_value_random float8 null
breakeven_cost_bps float8 null
gross_edge_bps_per_trade float8 null
n_returns integer null
sharpe_per_bar float8 null
return_skew float8 null
return_kurtosis float8 null
dsr_n_trials integer null
dsr_sharpe_variance float8 null
dsr_expected_max_sharpe float8 null
deflated_sharpe float8 null
equity_curve jsonb null
"""
        + _GAPS
    )
)
BASELINES_COLUMN_SCHEMA = dg.TableSchema(
    columns=_columns(
        _BASIS.format(member="baseline_type")
        + _METRICS.format(n_trades="float8")
        + """
baseline_params jsonb
dagster_run_id text null
created_at timestamptz
equity_curve jsonb null
"""
        + _GAPS
    )
)
COLUMN_SCHEMAS = {RESULTS_TABLE: RESULTS_COLUMN_SCHEMA, BASELINES_TABLE: BASELINES_COLUMN_SCHEMA}


def table_definition_metadata(table_name: str) -> dict:
    """Return what a result asset's definition says about its table: name and columns."""
    return {TABLE_NAME: table_name, COLUMN_SCHEMA: COLUMN_SCHEMAS[table_name]}


def table_materialisation_metadata(table_name: str, n_rows: int) -> dict:
    """Return the table and the rows one partition's materialisation wrote to it.

    Both counts are this partition's rows: the table holds every partition's, and Dagster
    reads dagster/row_count for its row-count column and plot.
    """
    return {ROW_COUNT: n_rows, PARTITION_ROW_COUNT: n_rows, TABLE_NAME: table_name}
