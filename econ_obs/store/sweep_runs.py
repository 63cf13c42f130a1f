"""sweep_runs: which config owns a (run_id, strategy)'s keys, and on what data it last ran.

`econ-obs sweep` records its canonical config before the first Dagster run. The same config
again is an idempotent re-run. Another config under the same run_id is refused with one line
saying what differs, unless the user passes --replace: then the keys the new config does not
expect are deleted from every result table in the transaction that records the new config,
under an advisory lock on the (run_id, strategy), so the stored keys are always one config's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from econ_obs.store.checks import EXPECTED_CTE, ExpectedKey, expected_params, key_in_expected
from econ_obs.store.database import DatabaseError
from econ_obs.store.results import BASELINES_TABLE, RESULTS_TABLE, SEEDS_TABLE

if TYPE_CHECKING:
    from econ_obs.config import SweepConfig

SWEEP_RUNS_TABLE = "sweep_runs"
_KEYED_TABLES = (RESULTS_TABLE, BASELINES_TABLE, SEEDS_TABLE)
_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtext(:lock_key))")
_RECORDED = sa.text(
    "SELECT config, config_sha256 FROM sweep_runs WHERE run_id = :run_id AND strategy = :strategy"
)
_UPSERT = sa.text(
    """
    INSERT INTO sweep_runs (run_id, strategy, config, config_sha256, data_fingerprints,
                            started_at, finished_at, dagster_run_ids)
    VALUES (:run_id, :strategy, CAST(:config AS JSONB), :config_sha256, NULL, now(), NULL, '{}')
    ON CONFLICT (run_id, strategy) DO UPDATE SET
        config = EXCLUDED.config, config_sha256 = EXCLUDED.config_sha256,
        data_fingerprints = NULL, started_at = now(), finished_at = NULL, dagster_run_ids = '{}'
    """
)
_FINGERPRINTS = sa.text(
    """
    UPDATE sweep_runs
    SET data_fingerprints = coalesce(data_fingerprints, '{}'::JSONB) || CAST(:fingerprints AS JSONB)
    WHERE run_id = :run_id AND strategy = :strategy
    """
)
_FINISH = sa.text(
    """
    UPDATE sweep_runs SET finished_at = now(), dagster_run_ids = CAST(:dagster_run_ids AS TEXT[])
    WHERE run_id = :run_id AND strategy = :strategy
    """
)
# Table names are module constants (never values); every value is a bound parameter.
_OUTSIDE = (
    "{verb} FROM {table} AS s WHERE s.run_id = :run_id AND s.strategy = :strategy AND NOT "
    + key_in_expected("s")
)
_COUNT_OUTSIDE = {
    table: sa.text(f"WITH {EXPECTED_CTE} SELECT count(*) " + _OUTSIDE.format(verb="", table=table))
    for table in _KEYED_TABLES
}
_COUNT_ALL = {
    table: sa.text(f"SELECT count(*) FROM {table} WHERE run_id = :run_id AND strategy = :strategy")
    for table in _KEYED_TABLES
}
_DELETE_OUTSIDE = {
    table: sa.text(f"WITH {EXPECTED_CTE} " + _OUTSIDE.format(verb="DELETE", table=table))
    for table in _KEYED_TABLES
}


class SweepConfigConflictError(DatabaseError):
    """A sweep refused because its run_id already holds another config's keys; one line."""


@dataclass(frozen=True)
class SweepStart:
    """What recording a sweep did: whether the config changed, and rows removed per table."""

    config_changed: bool
    removed: dict[str, int]


def canonical_config(config: SweepConfig) -> dict[str, Any]:
    """Return the config as a JSON-able dict of everything that decides the stored rows.

    The source path and the schedule are left out: moving the file or the cron changes no row.
    """
    data = config.data
    random = config.random_baseline
    canonical = {
        "run_id": config.run_id,
        "strategy": config.strategy,
        "data": {
            "format": data.data_format,
            "path": None if data.path is None else str(data.path),
            "timeframe": data.timeframe,
            "max_gap_bars": data.max_gap_bars,
            "max_abs_log_return": data.max_abs_log_return,
            "as_of": None if data.as_of is None else data.as_of.isoformat(),
        },
        "cryptos": list(config.cryptos),
        "folds": {
            "n_folds": config.folds.n_folds,
            "train_bars": config.folds.train_bars,
            "test_bars": config.folds.test_bars,
            "purge_bars": config.folds.purge_bars,
            # Only when set: configs recorded before the key existed keep their hash.
            **({"anchor": config.folds.anchor} if config.folds.anchor != "end" else {}),
        },
        "costs_bps": list(config.costs_bps),
        "slippage_bps": list(config.slippage_bps),
        "factor": config.factor,
        "factor_params": config.factor_params,
        "model": {"variants": [{"name": v.name, "params": v.params} for v in config.variants]},
        "baselines": {
            "random": {
                "n_seeds": random.n_seeds,
                "hold_bars": random.hold_bars,
                "entry_prob": random.entry_prob,
            },
            "matched": {"n_perms": config.matched_null.n_perms},
        },
    }
    # Round-trip through JSON with sorted keys: what is hashed is exactly what is stored.
    return json.loads(json.dumps(canonical, sort_keys=True, default=str))


def config_sha256(canonical: dict[str, Any]) -> str:
    """Return the SHA-256 of the canonical config's compact, key-sorted JSON."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{path}.{key}" if path else key))
        return out
    return {path: value}


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Return 'key.path: old -> new' per differing leaf, e.g. 'costs_bps: [10, 15] -> [10]'."""
    flat_old, flat_new = _flat(old), _flat(new)
    absent = object()
    return [
        f"{path}: {_shown(flat_old.get(path, absent), absent)} -> "
        f"{_shown(flat_new.get(path, absent), absent)}"
        for path in sorted(set(flat_old) | set(flat_new))
        if flat_old.get(path, absent) != flat_new.get(path, absent)
    ]


def _shown(value: Any, absent: object) -> str:
    return "(absent)" if value is absent else json.dumps(value, sort_keys=True)


def begin_sweep(
    connection: Connection,
    canonical: dict[str, Any],
    expected: Sequence[ExpectedKey],
    replace: bool = False,
) -> SweepStart:
    """Record the sweep's config, refusing another config's run_id unless `replace`.

    One transaction of its own: the check, the deletion of keys outside `expected` (with
    replace) and the record commit together or not at all.
    """
    with connection.begin():
        return _begin_sweep(connection, canonical, expected, replace)


def _begin_sweep(
    connection: Connection,
    canonical: dict[str, Any],
    expected: Sequence[ExpectedKey],
    replace: bool,
) -> SweepStart:
    run_id, strategy = canonical["run_id"], canonical["strategy"]
    key = {"run_id": run_id, "strategy": strategy}
    connection.execute(_LOCK, {"lock_key": f"{SWEEP_RUNS_TABLE}|{run_id}|{strategy}"})
    digest = config_sha256(canonical)
    recorded = connection.execute(_RECORDED, key).first()
    changed = recorded is not None and recorded.config_sha256 != digest
    params = {**key, **expected_params(expected)}
    outside = {
        table: int(connection.execute(_COUNT_OUTSIDE[table], params).scalar_one())
        for table in _KEYED_TABLES
    }
    who = f"run_id {run_id!r} strategy {strategy!r}"
    # A config that owns no stored row (its sweep failed before writing any) protects nothing:
    # the new config takes the run_id over, so a failed config never blocks its own fix.
    owns_rows = any(
        connection.execute(_COUNT_ALL[table], key).scalar_one() for table in _KEYED_TABLES
    )
    if not replace and changed and owns_rows:
        differences = "; ".join(config_differences(recorded.config, canonical))
        raise SweepConfigConflictError(
            f"{who} was swept with another config ({differences}); "
            "rerun with --replace to delete its keys outside this config, or use a new run_id"
        )
    if not replace and any(outside.values()):
        raise SweepConfigConflictError(
            f"{who} holds {sum(outside.values())} stored row(s) outside this config's keys and "
            "no recorded config to compare; rerun with --replace to delete them, or use a new "
            "run_id"
        )
    removed = {table: 0 for table in _KEYED_TABLES}
    if replace:
        for table in _KEYED_TABLES:
            if outside[table]:
                removed[table] = connection.execute(_DELETE_OUTSIDE[table], params).rowcount
    connection.execute(
        _UPSERT, {**key, "config": json.dumps(canonical, sort_keys=True), "config_sha256": digest}
    )
    return SweepStart(config_changed=changed, removed=removed)


def record_data_fingerprints(
    connection: Connection, run_id: str, strategy: str, fingerprints: dict[str, str]
) -> None:
    """Merge {crypto: market_bars fingerprint} into the sweep's record (no record: no-op)."""
    with connection.begin():
        connection.execute(
            _FINGERPRINTS,
            {"run_id": run_id, "strategy": strategy, "fingerprints": json.dumps(fingerprints)},
        )


def finish_sweep(
    connection: Connection, run_id: str, strategy: str, dagster_run_ids: Sequence[str]
) -> None:
    """Stamp the sweep's finish time and the Dagster runs that materialised it."""
    with connection.begin():
        connection.execute(
            _FINISH,
            {"run_id": run_id, "strategy": strategy, "dagster_run_ids": list(dagster_run_ids)},
        )


def recorded_sweep(connection: Connection, run_id: str, strategy: str) -> dict | None:
    """Return the sweep_runs row of (run_id, strategy) as a dict, or None."""
    row = connection.execute(
        sa.text("SELECT * FROM sweep_runs WHERE run_id = :run_id AND strategy = :strategy"),
        {"run_id": run_id, "strategy": strategy},
    ).first()
    return None if row is None else dict(row._mapping)
