"""Blocking asset checks on model_results, run after both result assets in every sweep run,
and the non-blocking WARN check memory_headroom (econ_obs.defs.sizing).

They query PostgreSQL for the sweep's (run_id, strategy) rather than loading partitions, and
a failure lists the offending keys in its metadata. Dagster 1.13 has partitioned checks only
as a preview, so each check covers the whole run's rows; that is stricter, not weaker.
window_matches_config also reads the current market data, once per evaluation, to lay out
the folds that the stored windows must match.
"""

from collections.abc import Callable, Sequence

import dagster as dg
from sqlalchemy.engine import Connection

from econ_obs.config import SweepConfig
from econ_obs.core import window_match
from econ_obs.core.window_match import ExpectedWindows, window_mismatches
from econ_obs.defs.partitions import ResultKey, expected_result_keys
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.sizing import build_headroom_check
from econ_obs.store.checks import (
    basis_mismatches,
    duplicate_keys,
    missing_keys,
    missing_unique_constraints,
    stored_windows,
    unexpected_keys,
)

BASELINES_COMPLETE = "baselines_complete"
NO_UNEXPECTED_KEYS = "no_unexpected_keys"
UNIQUE_PER_PARTITION = "unique_per_partition"
SAME_BASIS = "same_basis"
WINDOW_MATCHES_CONFIG = "window_matches_config"
CHECK_NAMES = (
    BASELINES_COMPLETE,
    NO_UNEXPECTED_KEYS,
    UNIQUE_PER_PARTITION,
    SAME_BASIS,
    WINDOW_MATCHES_CONFIG,
)
# The structured event each failed check raises in logs and in the alerts table.
CHECK_EVENTS = {
    BASELINES_COMPLETE: "baselines_incomplete",
    NO_UNEXPECTED_KEYS: "unexpected_keys",
    UNIQUE_PER_PARTITION: "duplicate_rows",
    SAME_BASIS: "basis_mismatch",
    WINDOW_MATCHES_CONFIG: "window_mismatch",
}
OFFENDING_KEYS = "offending_keys"
OFFENDING_TABLE = "offending_table"
# The UI and the event log store every key; past this many, n_offending still counts them.
MAX_OFFENDING_SHOWN = 500


def expected_keys(config: SweepConfig) -> list[ResultKey]:
    """Return the sweep's expected keys: cryptos x folds 0..n_folds-1 x (cost_bps, slippage_bps).

    They are the result partitions of the config's graph (test_partitions holds the two
    equal), so the checks and the partitions agree on what a complete sweep is.
    """
    return expected_result_keys(
        config.cryptos, config.folds.n_folds, config.costs_bps, config.slippage_bps
    )


def expected_windows(config: SweepConfig) -> ExpectedWindows:
    """Return each swept crypto's fold windows as the config's folds lay them out on its current
    data (loaded as market_bars loads it), or the one-line reason they cannot be laid out."""
    return window_match.expected_windows(
        config.cryptos, config.data.load_bars, config.folds, config.data.max_gap_bars
    )


# Every check's query gets the run, the config's expected keys and the expected windows; only
# window_matches_config reads the windows, which the caller computes once (None: not computed).
Query = Callable[[Connection, str, str, Sequence[ResultKey], ExpectedWindows | None], list[dict]]


def _unique(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    constraints = [
        {**row, "problem": "constraint missing"} for row in missing_unique_constraints(connection)
    ]
    return constraints + duplicate_keys(connection, run_id, strategy)


def _window_matches(
    connection: Connection,
    run_id: str,
    strategy: str,
    expected: Sequence[ResultKey],
    windows: ExpectedWindows | None,
) -> list[dict]:
    if windows is None:
        raise ValueError(
            f"{WINDOW_MATCHES_CONFIG} compares the stored windows with the current data's: "
            "pass windows=expected_windows(config) to evaluate_check"
        )
    return window_mismatches(stored_windows(connection, run_id, strategy, expected), windows)


QUERIES: dict[str, Query] = {
    BASELINES_COMPLETE: lambda c, run_id, strategy, expected, _: missing_keys(
        c, run_id, strategy, expected
    ),
    NO_UNEXPECTED_KEYS: lambda c, run_id, strategy, expected, _: unexpected_keys(
        c, run_id, strategy, expected
    ),
    UNIQUE_PER_PARTITION: lambda c, run_id, strategy, *_: _unique(c, run_id, strategy),
    SAME_BASIS: lambda c, run_id, strategy, *_: basis_mismatches(c, run_id, strategy),
    WINDOW_MATCHES_CONFIG: _window_matches,
}
DESCRIPTIONS = {
    BASELINES_COMPLETE: "Every expected (crypto, fold_id, cost_bps, slippage_bps) of the sweep "
    "config has model rows in finetune_results and buy_and_hold, random and naive rows in "
    "finetune_baselines.",
    NO_UNEXPECTED_KEYS: "No row of the run_id and strategy lies outside the config's expected "
    "keys (left over from an earlier config: rerun with `econ-obs sweep --replace`).",
    UNIQUE_PER_PARTITION: "No key is stored twice in either table, and the unique constraints "
    "exist in the database catalog.",
    SAME_BASIS: "Every baseline row has the same test window and n_test_bars as the model rows "
    "of its (crypto, fold_id, cost_bps, slippage_bps).",
    WINDOW_MATCHES_CONFIG: "Every model and baseline row at an expected key (so at one of the "
    "config's cost bases) has the train and test window and n_test_bars that the config's folds "
    "lay out on the current data for its (crypto, fold_id); a row from a stale slice or an "
    "earlier folds config fails (rerun the sweep), and so does data that no longer loads.",
}


def evaluate_check(
    connection: Connection,
    name: str,
    run_id: str,
    strategy: str,
    expected: Sequence[ResultKey],
    windows: ExpectedWindows | None = None,
) -> list[dict]:
    """Return the offending keys of one check (empty when it passes). window_matches_config
    needs `windows`, from `expected_windows(config)`; the other checks ignore it."""
    return QUERIES[name](connection, run_id, strategy, expected, windows)


def check_result(
    name: str, offending: list[dict], run_id: str, strategy: str
) -> dg.AssetCheckResult:
    """Return the check's result; a failure carries its event and the offending keys, as a
    table for the UI and as JSON for the alert sensor. A pass carries no event name."""
    metadata: dict = {"run_id": run_id, "strategy": strategy, "n_offending": len(offending)}
    if offending:
        shown = [_jsonable(row) for row in offending[:MAX_OFFENDING_SHOWN]]
        metadata |= {
            "event": CHECK_EVENTS[name],
            OFFENDING_KEYS: dg.MetadataValue.json(shown),
            OFFENDING_TABLE: offending_table(shown),
        }
    return dg.AssetCheckResult(
        check_name=name,
        passed=not offending,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def _jsonable(row: dict) -> dict:
    return {
        key: value if isinstance(value, int | float | str | list) or value is None else str(value)
        for key, value in row.items()
    }


def _column_type(values: list) -> str:
    present = [value for value in values if value is not None]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "float"
    return "string"


def offending_table(rows: list[dict]) -> dg.MetadataValue:
    """Return the offending keys as a Dagster table; its columns are the keys' own fields
    (crypto, fold_id, cost_bps, slippage_bps and what differs), in first-seen order."""
    columns = list(dict.fromkeys(column for row in rows for column in row))
    types = {column: _column_type([row.get(column) for row in rows]) for column in columns}
    schema = dg.TableSchema(columns=[dg.TableColumn(c, types[c]) for c in columns])

    def cell(value, column: str):
        if value is None or types[column] != "string":
            return value
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    records = [dg.TableRecord({c: cell(row.get(c), c) for c in columns}) for row in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


def _make_check(config: SweepConfig, model_results: dg.AssetsDefinition, name: str):
    @dg.asset_check(asset=model_results, name=name, blocking=True, description=DESCRIPTIONS[name])
    def _check(postgres: PostgresResource) -> dg.AssetCheckResult:
        # Only window_matches_config reads the market data: once, before it connects.
        windows = expected_windows(config) if name == WINDOW_MATCHES_CONFIG else None
        with postgres.get_connection() as connection:
            offending = evaluate_check(
                connection, name, config.run_id, config.strategy, expected_keys(config), windows
            )
        return check_result(name, offending, config.run_id, config.strategy)

    return _check


# The steps memory_headroom reads: every asset body that runs inside `measured_step`.
MEASURED_ASSETS = ("market_bars", "feature_slice", "baseline_rows", "model_results")


def build_checks(config: SweepConfig, model_results: dg.AssetsDefinition) -> list:
    """Return the blocking checks for the sweep's run_id and strategy, then memory_headroom."""
    blocking = [_make_check(config, model_results, name) for name in CHECK_NAMES]
    return [*blocking, build_headroom_check(config, model_results, MEASURED_ASSETS)]
