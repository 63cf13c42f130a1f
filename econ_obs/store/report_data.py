"""Reads everything the HTML report draws into one `ReportData`, straight from the tables."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy.engine import Connection

from econ_obs.core.rollup import rollup
from econ_obs.report.data import (
    EQUITY_COLUMNS,
    MATCHED_NULL_COLUMNS,
    ROLLUP_COLUMNS,
    ReportData,
)
from econ_obs.store.checks import ExpectedKey
from econ_obs.store.report import (
    REPORT_COLUMNS,
    equity_curves,
    matched_null_draws,
    random_seed_values,
    report_rows,
)
from econ_obs.store.results import refresh_statistics


def _frame(records: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=list(columns))


def load_report_data(
    connection: Connection, run_id: str, strategy: str, expected: Sequence[ExpectedKey]
) -> ReportData:
    """Return the rows, roll-up, nulls, seeds and equity curves of one (run_id, strategy), at
    the expected keys only (defs.checks.expected_keys of the config being reported)."""
    refresh_statistics(connection)  # once for the four reads below: a sweep just wrote these
    rows = report_rows(connection, run_id, strategy, expected, refresh=False)
    nulls = [
        {**row, "net_returns": row.pop("matched_null_net_returns")}
        for row in matched_null_draws(connection, run_id, strategy, expected, refresh=False)
    ]
    equity = equity_curves(connection, run_id, strategy, expected, refresh=False)
    seeds = random_seed_values(connection, run_id, strategy, expected, refresh=False)
    return ReportData(
        run_id=run_id,
        strategy=strategy,
        rows=_frame(rows, REPORT_COLUMNS),
        rollup=_frame([r.as_dict() for r in rollup(rows)], ROLLUP_COLUMNS),
        matched_null=_frame(nulls, MATCHED_NULL_COLUMNS),
        random_seeds=seeds,
        equity=_frame(equity, EQUITY_COLUMNS),
    )
