"""step_memory: one row per measured step, its peak memory, its input size and its profile.

Written once per step (an asset body over its whole partition range). Earlier rows of a
(factor, asset) are the observations its next profile is chosen from; the latest row of each
asset of a sweep is what the memory_headroom check compares with the profile's limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from econ_obs.sizing import MemoryObservation

STEP_MEMORY_TABLE = "step_memory"
STEP_MEMORY_COLUMNS = (
    "run_id",
    "strategy",
    "asset",
    "factor",
    "dagster_run_id",
    "peak_bytes",
    "baseline_rss_bytes",
    "lifetime_peak",
    "input_bars",
    "input_assets",
    "profile",
    "limit_bytes",
)
_STEP_MEMORY = sa.table(
    STEP_MEMORY_TABLE, *(sa.column(c) for c in (*STEP_MEMORY_COLUMNS, "id", "measured_at"))
)
DEFAULT_OBSERVATIONS = 10


@dataclass(frozen=True)
class StepMemoryRow:
    """One measured step, as stored: bytes throughout, `input_bars` of the longest series."""

    run_id: str
    strategy: str
    asset: str
    factor: str
    dagster_run_id: str | None
    peak_bytes: int
    baseline_rss_bytes: int | None
    lifetime_peak: bool
    input_bars: int
    input_assets: int
    profile: str
    limit_bytes: int
    measured_at: datetime | None = None


def insert_step_memory(connection: Connection, row: StepMemoryRow) -> None:
    """Insert one measured step and commit."""
    values = {column: getattr(row, column) for column in STEP_MEMORY_COLUMNS}
    connection.execute(sa.insert(_STEP_MEMORY).values(**values))
    connection.commit()


def step_observations(
    connection: Connection, factor: str, asset: str, limit: int = DEFAULT_OBSERVATIONS
) -> list[MemoryObservation]:
    """Return the last `limit` measurements of (factor, asset), oldest first, as growth above
    the step's starting RSS (the whole peak when that was unknown)."""
    t = _STEP_MEMORY.c
    growth = sa.case(
        (t.baseline_rss_bytes.is_(None), t.peak_bytes),
        else_=sa.func.greatest(t.peak_bytes - t.baseline_rss_bytes, 0),
    )
    query = (
        sa.select(growth.label("growth"), t.input_bars, t.input_assets)
        .where(t.factor == sa.bindparam("factor"), t.asset == sa.bindparam("asset"))
        .order_by(t.measured_at.desc(), t.id.desc())
        .limit(sa.bindparam("limit"))
    )
    rows = connection.execute(query, {"factor": factor, "asset": asset, "limit": limit}).all()
    return [MemoryObservation(int(r.growth), int(r.input_bars), int(r.input_assets)) for r in rows][
        ::-1
    ]


def latest_step_memory(
    connection: Connection, run_id: str, strategy: str, assets: Sequence[str] | None = None
) -> list[StepMemoryRow]:
    """Return the latest measurement of each asset of a sweep (run_id, strategy), by asset."""
    t = _STEP_MEMORY.c
    columns = [getattr(t, c) for c in (*STEP_MEMORY_COLUMNS, "measured_at")]
    of_sweep = (t.run_id == sa.bindparam("run_id"), t.strategy == sa.bindparam("strategy"))
    # The latest row of an asset is its highest id (ids grow with each insert).
    latest_ids = sa.select(sa.func.max(t.id)).where(*of_sweep).group_by(t.asset)
    query = sa.select(*columns).where(t.id.in_(latest_ids)).order_by(t.asset)
    rows = connection.execute(query, {"run_id": run_id, "strategy": strategy}).all()
    found = [StepMemoryRow(**row._mapping) for row in rows]
    return found if assets is None else [row for row in found if row.asset in assets]
