"""The alerts table: one row per affected key of a failed check or a failed sweep run."""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

ALERTS_TABLE = "alerts"
ALERT_COLUMNS = (
    "event",
    "check_name",
    "run_id",
    "strategy",
    "crypto",
    "fold_id",
    "cost_bps",
    "slippage_bps",
    "dagster_run_id",
    "detail",
)
_ALERTS = sa.table(ALERTS_TABLE, *(sa.column(c) for c in ALERT_COLUMNS))


def insert_alerts(connection: Connection, alerts: Sequence[dict]) -> int:
    """Insert alert rows (missing columns become NULL, detail becomes JSONB); return the count."""
    rows = [
        {
            **{column: alert.get(column) for column in ALERT_COLUMNS},
            "detail": json.dumps(alert.get("detail") or {}, sort_keys=True, default=str),
        }
        for alert in alerts
    ]
    if rows:
        connection.execute(sa.insert(_ALERTS), rows)
    return len(rows)


def alert_line(alert: dict) -> str:
    """Return the alert as one structured log line: `event=... run_id=... crypto=...`."""
    fields = [
        "event",
        "run_id",
        "strategy",
        "crypto",
        "fold_id",
        "cost_bps",
        "slippage_bps",
        "check_name",
        "dagster_run_id",
    ]
    parts = [f"{name}={_value(alert[name])}" for name in fields if alert.get(name) is not None]
    parts += [
        f"{name}={_value(value)}"
        for name, value in sorted((alert.get("detail") or {}).items())
        if isinstance(value, str | int | float)
    ]
    return " ".join(parts)


def _value(value: object) -> str:
    # A value with a space (a failure's cause) is quoted, so the line still splits on spaces.
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '="' for c in text) else text
