"""Blocking asset checks on model_results, run after both result assets in every sweep run.

They query PostgreSQL for the sweep's (run_id, strategy) rather than loading partitions, and
a failure lists the offending keys in its metadata. Dagster 1.13 has partitioned checks only
as a preview, so each check covers the whole run's rows; that is stricter, not weaker.
"""

from collections.abc import Callable

import dagster as dg
from sqlalchemy.engine import Connection

from econ_obs.config import SweepConfig
from econ_obs.defs.resources import PostgresResource
from econ_obs.store.checks import (
    basis_mismatches,
    duplicate_keys,
    missing_baselines,
    missing_unique_constraints,
)

BASELINES_COMPLETE = "baselines_complete"
UNIQUE_PER_PARTITION = "unique_per_partition"
SAME_BASIS = "same_basis"
CHECK_NAMES = (BASELINES_COMPLETE, UNIQUE_PER_PARTITION, SAME_BASIS)
# The structured event each failed check raises in logs and in the alerts table.
CHECK_EVENTS = {
    BASELINES_COMPLETE: "baselines_incomplete",
    UNIQUE_PER_PARTITION: "duplicate_rows",
    SAME_BASIS: "basis_mismatch",
}
OFFENDING_KEYS = "offending_keys"


def _unique(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    constraints = [
        {**row, "problem": "constraint missing"} for row in missing_unique_constraints(connection)
    ]
    return constraints + duplicate_keys(connection, run_id, strategy)


QUERIES: dict[str, Callable[[Connection, str, str], list[dict]]] = {
    BASELINES_COMPLETE: missing_baselines,
    UNIQUE_PER_PARTITION: _unique,
    SAME_BASIS: basis_mismatches,
}
DESCRIPTIONS = {
    BASELINES_COMPLETE: "Every (crypto, fold_id, cost_bps) in finetune_results has buy_and_hold, "
    "random and naive rows in finetune_baselines.",
    UNIQUE_PER_PARTITION: "No key is stored twice in either table, and both unique constraints "
    "exist in the database catalog.",
    SAME_BASIS: "Every baseline row has the same test window, n_test_bars, cost_bps and "
    "slippage_bps as the model rows of its key.",
}


def evaluate_check(connection: Connection, name: str, run_id: str, strategy: str) -> list[dict]:
    """Return the offending keys of one check (empty when it passes)."""
    return QUERIES[name](connection, run_id, strategy)


def check_result(
    name: str, offending: list[dict], run_id: str, strategy: str
) -> dg.AssetCheckResult:
    """Return the check's result; a failure carries the offending keys as metadata."""
    return dg.AssetCheckResult(
        check_name=name,
        passed=not offending,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "run_id": run_id,
            "strategy": strategy,
            "event": CHECK_EVENTS[name],
            "n_offending": len(offending),
            OFFENDING_KEYS: dg.MetadataValue.json([_jsonable(row) for row in offending[:500]]),
        },
    )


def _jsonable(row: dict) -> dict:
    return {
        key: value if isinstance(value, int | float | str | list) or value is None else str(value)
        for key, value in row.items()
    }


def _make_check(config: SweepConfig, model_results: dg.AssetsDefinition, name: str):
    @dg.asset_check(asset=model_results, name=name, blocking=True, description=DESCRIPTIONS[name])
    def _check(postgres: PostgresResource) -> dg.AssetCheckResult:
        with postgres.get_connection() as connection:
            offending = evaluate_check(connection, name, config.run_id, config.strategy)
        return check_result(name, offending, config.run_id, config.strategy)

    return _check


def build_checks(config: SweepConfig, model_results: dg.AssetsDefinition) -> list:
    """Return the three blocking checks for the sweep's run_id and strategy."""
    return [_make_check(config, model_results, name) for name in CHECK_NAMES]
