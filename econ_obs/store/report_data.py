"""Reads everything the HTML report draws into one `ReportData`, straight from the tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from econ_obs.core.rollup import rollup
from econ_obs.report.data import (
    EQUITY_COLUMNS,
    MATCHED_NULL_COLUMNS,
    RANDOM_SEED_COLUMNS,
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


def _frame(records: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=list(columns))


def load_report_data(
    connection: Connection, run_id: str, strategy: str, expected: Sequence[ExpectedKey]
) -> ReportData:
    """Return the rows, roll-up, nulls, seeds and equity curves of one (run_id, strategy), at
    the expected keys only (defs.checks.expected_keys of the config being reported)."""
    rows = report_rows(connection, run_id, strategy, expected)
    nulls = [
        {**row, "net_returns": np.asarray(row.pop("matched_null_net_returns") or [], dtype=float)}
        for row in matched_null_draws(connection, run_id, strategy, expected)
    ]
    equity = [
        {
            **row,
            "times": pd.to_datetime(row["equity_curve"]["time"], utc=True).to_numpy(),
            "equity": np.asarray(row.pop("equity_curve")["equity"], dtype=float),
        }
        for row in equity_curves(connection, run_id, strategy, expected)
    ]
    return ReportData(
        run_id=run_id,
        strategy=strategy,
        rows=_frame(rows, REPORT_COLUMNS),
        rollup=_frame([r.as_dict() for r in rollup(rows)], ROLLUP_COLUMNS),
        matched_null=_frame(nulls, MATCHED_NULL_COLUMNS),
        random_seeds=_frame(
            random_seed_values(connection, run_id, strategy, expected), RANDOM_SEED_COLUMNS
        ),
        equity=_frame(equity, EQUITY_COLUMNS),
    )
