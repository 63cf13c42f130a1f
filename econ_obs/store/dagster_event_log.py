"""Dagster's event log on PostgreSQL, with a run's planned materialisations written in batches.

When a run over many partitions is created, Dagster writes one ASSET_MATERIALIZATION_PLANNED
event per asset and partition and hands them to the storage as batches (econ-obs sets
DAGSTER_EVENT_BATCH_SIZE). dagster-postgres batches only materialisations and observations; it
writes planned events one by one, each an INSERT, a NOTIFY and an index transaction that
upserts the asset's asset_keys row: about 570 events and 1.3 s of a 240-partition sweep. This
storage writes each run of consecutive partitioned planned events of such a batch the way
dagster-postgres writes a batch of materialisations: one multi-row INSERT, then one upsert of
each asset's asset_keys row with that asset's last event. The tables end up as one-by-one
writes leave them. Every other event, and every batch that is not only planned events, goes
to dagster-postgres unchanged.

It calls private methods of dagster-postgres and dagster (PRIVATE_METHODS, written against
dagster-postgres 0.29.27). Each storage checks at construction that they are still there, with
the same parameters and from the same package, and otherwise raises
DagsterPostgresChangedError naming the change and the installed version: a new
dagster-postgres fails when the instance loads instead of writing differently. To go back to
plain dagster-postgres, set event_log_storage in dagster.yaml to
dagster_postgres.event_log's PostgresEventLogStorage.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import dagster_postgres
from dagster._core.storage.event_log import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

# The private methods this module calls: the parameters it passes them, and the package that
# must define them (dagster-postgres' own upsert and READ COMMITTED transaction, not the
# generic SQL versions it overrides today).
PRIVATE_METHODS: dict[str, tuple[tuple[str, ...], str]] = {
    "prepare_insert_event_batch": (("self", "events"), "dagster"),
    "index_transaction": (("self",), "dagster_postgres"),
    "_store_asset_event_tags": (("self", "conn", "events", "event_ids"), "dagster"),
    "_store_asset_event": (("self", "conn", "event", "event_id"), "dagster_postgres"),
}
# What Dagster writes when it creates a run: the batches this storage may take apart.
PLANNED_EVENT_TYPES = frozenset(
    {
        dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
    }
)


class DagsterPostgresChangedError(RuntimeError):
    """The installed dagster-postgres no longer has a private method this storage calls."""


def private_api_changes(storage_class: type) -> list[str]:
    """Return one line per PRIVATE_METHODS entry that `storage_class` lacks, takes other
    parameters for, or inherits from another package; empty when all are as expected."""
    changes = []
    for name, (expected, package) in PRIVATE_METHODS.items():
        method = getattr(storage_class, name, None)
        where = f"{storage_class.__name__}.{name}"
        if not callable(method):
            changes.append(f"{where} is missing")
            continue
        found = tuple(inspect.signature(method).parameters)
        if found != expected:
            changes.append(f"{where} takes ({', '.join(found)}), expected ({', '.join(expected)})")
        module = getattr(method, "__module__", "") or ""
        if module.split(".")[0] != package:
            changes.append(f"{where} now comes from {module}, expected {package}")
    return changes


def require_private_api(storage_class: type = PostgresEventLogStorage) -> None:
    """Raise DagsterPostgresChangedError if a private method this module calls has changed."""
    changes = private_api_changes(storage_class)
    if changes:
        raise DagsterPostgresChangedError(
            f"dagster-postgres {dagster_postgres.__version__} changed what "
            f"{__name__}.BatchingPostgresEventLogStorage calls: {'; '.join(changes)}. "
            "Set event_log_storage in dagster.yaml back to dagster_postgres.event_log "
            "PostgresEventLogStorage, or install the dagster-postgres this was written for "
            "(0.29.27) and update the storage before upgrading."
        )


def _is_planned(event: dg.EventLogEntry) -> bool:
    return event.dagster_event is not None and event.dagster_event_type in PLANNED_EVENT_TYPES


def _is_partitioned_planned(event: dg.EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return (
        dagster_event is not None
        and dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        and dagster_event.asset_key is not None
        and dagster_event.partition is not None
    )


def last_event_per_asset_key(
    events: Sequence[dg.EventLogEntry], event_ids: Sequence[int]
) -> list[tuple[dg.EventLogEntry, int]]:
    """Return each asset key's last event of `events` with its id, in order of first
    appearance: the event whose upsert one-by-one writes would leave in asset_keys."""
    last: dict[str, tuple[dg.EventLogEntry, int]] = {}
    for event, event_id in zip(events, event_ids, strict=True):
        last[event.get_dagster_event().asset_key.to_string()] = (event, event_id)
    return list(last.values())


class BatchingPostgresEventLogStorage(PostgresEventLogStorage):
    """PostgresEventLogStorage that writes a run's partitioned planned events in batches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        require_private_api()  # before any connection: a changed API fails the instance load
        super().__init__(*args, **kwargs)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchingPostgresEventLogStorage:
        # The parent builds a PostgresEventLogStorage by name; build this class from the same
        # config (its config_type, pg_config, is inherited).
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        if not events or not all(_is_planned(event) for event in events):
            super().store_event_batch(events)
            return
        # A run's planned batch mixes the partitioned planned events with its unpartitioned
        # assets' and its checks' (sorted by key). Consecutive runs of each kind are written in
        # order, so ids keep the batch's order; the other kinds go to dagster-postgres as before.
        for partitioned, group in itertools.groupby(events, key=_is_partitioned_planned):
            if partitioned:
                self._store_partitioned_planned_events(list(group))
            else:
                super().store_event_batch(list(group))

    def _store_partitioned_planned_events(self, events: Sequence[dg.EventLogEntry]) -> None:
        # What store_event does per event, once for the whole batch: the event_logs rows (with
        # their asset_key and partition columns), the asset event tags (none for planned events,
        # written in case Dagster adds some), and each asset's asset_keys row (last_run_id and
        # last_materialization_timestamp) from its last event. One transaction, unlike
        # store_event's two: if any write fails none stays, so Dagster's fallback (storing the
        # batch again event by event) does not duplicate these rows.
        # No NOTIFY: dagster-postgres keeps one per event only for webservers older than its
        # polling event watcher, skips it for its own batches, and ours share one venv.
        with self.index_transaction() as conn:
            result = conn.execute(
                self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id)
            )
            # PostgreSQL returns a multi-row INSERT's ids in VALUES order, as dagster-postgres'
            # batched materialisations also assume.
            event_ids = [int(row[0]) for row in result.fetchall()]
            if len(event_ids) != len(events):
                raise dg.DagsterInvariantViolationError(
                    f"storing {len(events)} planned events returned {len(event_ids)} ids"
                )
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in last_event_per_asset_key(events, event_ids):
                self._store_asset_event(conn, event, event_id)
