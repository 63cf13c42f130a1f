"""BatchingPostgresEventLogStorage: a run's planned events written in batches leave Dagster's
tables as dagster-postgres' one-by-one writes do, partition status still reads them, far fewer
statements reach PostgreSQL, and dagster.yaml builds it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import dagster_postgres
import pytest
import sqlalchemy as sa
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from sqlalchemy.engine import URL

from econ_obs.defs.sweep import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from econ_obs.paths import checkout_root, deployment_file
from econ_obs.runtime import (
    EVENT_BATCH_ENV_VAR,
    EVENT_BATCH_SIZE,
    LOGS_DIR_ENV_VAR,
    STORAGE_DIR_ENV_VAR,
)
from econ_obs.store import dagster_event_log
from econ_obs.store.dagster_event_log import (
    BatchingPostgresEventLogStorage,
    DagsterPostgresChangedError,
)
from econ_obs.store.database import DAGSTER_DATABASE_ENV_VAR, make_engine, render
from econ_obs_tests.conftest import no_current_dagster_instance

PLAIN = ("dagster_postgres.event_log", "PostgresEventLogStorage")
BATCHING = ("econ_obs.store.dagster_event_log", "BatchingPostgresEventLogStorage")
PARTITION_KEYS = ("p1", "p2", "p3", "p4", "p5")
FAILED_RUN_ID = "a0000000-0000-4000-8000-000000000001"
SUCCEEDED_RUN_ID = "a0000000-0000-4000-8000-000000000002"
PLANNED_TYPES = ("ASSET_MATERIALIZATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED")
# asset_keys columns that differ between two databases fed the same events: the row id (an
# upsert that updates still takes a sequence value) and the wall-clock times, checked apart.
VOLATILE_ASSET_KEY_COLUMNS = {"id", "create_timestamp", "last_materialization_timestamp"}
STEP_FAILURE = "the prices step fails on purpose"
# Nothing listens on port 1: a storage that got as far as connecting would fail differently.
UNREACHABLE_URL = "postgresql+psycopg2://nobody@127.0.0.1:1/none"


@pytest.fixture(autouse=True)
def batched_events(monkeypatch):
    """Dagster hands events to store_event_batch only with a batch size set, as econ-obs does."""
    monkeypatch.setenv(EVENT_BATCH_ENV_VAR, str(EVENT_BATCH_SIZE))


def _overrides(url: URL, event_log: tuple[str, str]) -> dict:
    config = {"postgres_url": render(url)}
    module, class_name = event_log
    return {
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": config,
        },
        "event_log_storage": {"module": module, "class": class_name, "config": config},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": config,
        },
    }


@contextmanager
def _instance(url: URL, event_log: tuple[str, str], temp_dir: Path) -> Iterator:
    temp_dir.mkdir(parents=True, exist_ok=True)
    overrides = _overrides(url, event_log)
    with dg.instance_for_test(overrides=overrides, temp_dir=str(temp_dir)) as instance:
        with no_current_dagster_instance():
            yield instance


def _job(
    partition_keys: tuple[str, ...],
    fail: bool = False,
    during_step: Callable[[dg.AssetExecutionContext], None] | None = None,
    with_check_and_summary: bool = True,
) -> dg.JobDefinition:
    """Partitioned prices -> returns, ranged; a check on prices and an unpartitioned summary
    put the other planned kinds in the run's batch, as a sweep's last stage does."""
    partitions = dg.StaticPartitionsDefinition(list(partition_keys))
    single_run = dg.BackfillPolicy.single_run()

    @dg.asset(partitions_def=partitions, backfill_policy=single_run)
    def prices(context) -> dg.MaterializeResult:  # annotated, a nested asset fails to load
        if during_step is not None:
            during_step(context)
        if fail:
            raise ValueError(STEP_FAILURE)
        return dg.MaterializeResult(data_version=dg.DataVersion("prices_v1"))

    @dg.asset(partitions_def=partitions, backfill_policy=single_run, deps=[prices])
    def returns() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion("returns_v1"))

    @dg.asset_check(asset=prices)
    def prices_present() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    @dg.asset(deps=[returns])
    def summary() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    assets = [prices, returns, summary] if with_check_and_summary else [prices, returns]
    checks = [prices_present] if with_check_and_summary else []
    job = dg.define_asset_job("prices_job", selection=dg.AssetSelection.all())
    defs = dg.Definitions(assets=assets, asset_checks=checks, jobs=[job])
    return defs.resolve_job_def("prices_job")


def _execute(
    job: dg.JobDefinition, instance, keys: tuple[str, ...], run_id: str | None = None
) -> dg.ExecuteInProcessResult:
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    with no_current_dagster_instance():
        return job.execute_in_process(
            instance=instance, tags=tags, run_id=run_id, raise_on_error=False
        )


def _planned_rows(connection) -> list[tuple]:
    rows = connection.execute(
        sa.text(
            "SELECT id, run_id, dagster_event_type, step_key, asset_key, partition, event"
            " FROM event_logs WHERE dagster_event_type IN :types ORDER BY id"
        ).bindparams(sa.bindparam("types", expanding=True)),
        {"types": list(PLANNED_TYPES)},
    )
    planned = []
    for event_id, run_id, event_type, step_key, asset_key, partition, event in rows:
        dagster_event = dg.deserialize_value(event, dg.EventLogEntry).dagster_event
        planned.append(
            (
                event_id,
                run_id,
                event_type,
                step_key,
                asset_key,
                partition,
                dagster_event.event_type_value,
                dagster_event.event_specific_data,
            )
        )
    return planned


def _asset_key_rows(connection) -> list[dict]:
    rows = connection.execute(sa.text("SELECT * FROM asset_keys ORDER BY asset_key")).mappings()
    snapshot = []
    for row in rows:
        values = {k: v for k, v in row.items() if k not in VOLATILE_ASSET_KEY_COLUMNS}
        if values["last_materialization"] is not None:
            record = dg.deserialize_value(values["last_materialization"], dg.EventLogRecord)
            values["last_materialization"] = (
                record.storage_id,
                record.run_id,
                record.partition_key,
            )
        snapshot.append(values)
    return snapshot


def _timestamps_not_from_last_event(connection) -> list[str]:
    """Asset keys whose last_materialization_timestamp is not the time of their last event
    that sets it (a planned event, a materialisation or an observation)."""
    rows = connection.execute(
        sa.text(
            "SELECT k.asset_key FROM asset_keys k WHERE k.last_materialization_timestamp IS"
            " DISTINCT FROM (SELECT e.timestamp FROM event_logs e"
            " WHERE e.asset_key = k.asset_key AND e.dagster_event_type IN :types"
            " ORDER BY e.id DESC LIMIT 1)"
        ).bindparams(sa.bindparam("types", expanding=True)),
        {
            "types": [
                "ASSET_MATERIALIZATION_PLANNED",
                "ASSET_MATERIALIZATION",
                "ASSET_OBSERVATION",
            ]
        },
    )
    return [row[0] for row in rows]


def _snapshot(url: URL) -> dict:
    """What Dagster's event log tables hold, minus what differs between two databases."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tags = connection.execute(
                sa.text(
                    "SELECT t.event_id, t.asset_key, t.key, t.value FROM asset_event_tags t"
                    " ORDER BY t.event_id, t.key"
                )
            ).all()
            return {
                "planned": _planned_rows(connection),
                "asset_keys": _asset_key_rows(connection),
                "asset_event_tags": [tuple(row) for row in tags],
                "stale_timestamps": _timestamps_not_from_last_event(connection),
            }
    finally:
        engine.dispose()


def test_batched_planned_events_leave_the_tables_as_one_by_one_writes(
    make_database, tmp_path, monkeypatch
):
    """The same failed then succeeded run, with the same run ids, on two fresh databases:
    dagster-postgres' storage and ours. Compared after each run, because the succeeded run's
    materialisations overwrite the asset_keys rows the planned events wrote."""
    batched: list[int] = []
    original = BatchingPostgresEventLogStorage._store_partitioned_planned_events

    def counting(self, events):
        batched.append(len(events))
        return original(self, events)

    monkeypatch.setattr(
        BatchingPostgresEventLogStorage, "_store_partitioned_planned_events", counting
    )
    snapshots = {}
    for name, event_log in (("plain", PLAIN), ("batching", BATCHING)):
        url = make_database("econ_obs_test_event_log")
        with _instance(url, event_log, tmp_path / name) as instance:
            failed_job = _job(PARTITION_KEYS, fail=True)
            assert not _execute(failed_job, instance, PARTITION_KEYS, FAILED_RUN_ID).success
            after_failure = _snapshot(url)
            assert _execute(
                _job(PARTITION_KEYS), instance, PARTITION_KEYS, SUCCEEDED_RUN_ID
            ).success
            snapshots[name] = (after_failure, _snapshot(url))

    # Ours wrote both runs' partitioned planned events itself (2 assets x 5 partitions each);
    # the unpartitioned summary's and the check's went to dagster-postgres.
    assert sum(batched) == 2 * 2 * len(PARTITION_KEYS)
    plain_failed, plain_succeeded = snapshots["plain"]
    batching_failed, batching_succeeded = snapshots["batching"]
    assert batching_failed == plain_failed
    assert batching_succeeded == plain_succeeded

    # What was compared is what a planned batch writes: 10 partitioned, 1 unpartitioned and 1
    # check planned event per run; after the failed run, asset_keys rows hold only what the
    # planned events wrote (the last run id, a timestamp from each asset's last event).
    planned = batching_succeeded["planned"]
    assert [row[1] for row in planned] == [FAILED_RUN_ID] * 12 + [SUCCEEDED_RUN_ID] * 12
    assert {row[5] for row in planned} == {*PARTITION_KEYS, None}
    assert [row["asset_key"] for row in batching_failed["asset_keys"]] == [
        '["prices"]',
        '["returns"]',
        '["summary"]',
    ]
    assert {row["last_run_id"] for row in batching_failed["asset_keys"]} == {FAILED_RUN_ID}
    assert {row["last_materialization"] for row in batching_failed["asset_keys"]} == {None}
    assert batching_failed["stale_timestamps"] == batching_succeeded["stale_timestamps"] == []
    assert {row["last_run_id"] for row in batching_succeeded["asset_keys"]} == {SUCCEEDED_RUN_ID}
    # The succeeded run's materialisations index their data version tag.
    assert {row[2] for row in batching_succeeded["asset_event_tags"]} == {"dagster/data_version"}


@pytest.mark.parametrize("event_log", [PLAIN, BATCHING], ids=["plain", "batching"])
def test_partition_status_reads_the_batched_planned_events(event_log, make_database, tmp_path):
    partitions = dg.StaticPartitionsDefinition(list(PARTITION_KEYS))
    prices, returns = dg.AssetKey("prices"), dg.AssetKey("returns")
    during: dict[str, object] = {}

    def look_while_running(context: dg.AssetExecutionContext) -> None:
        instance = context.instance
        during["status"] = instance.get_status_by_partition(prices, PARTITION_KEYS, partitions)
        during["planned_run_ids"] = {
            key: instance.get_latest_planned_materialization_info(prices, key).run_id
            for key in PARTITION_KEYS
        }

    url = make_database("econ_obs_test_event_log")
    with _instance(url, event_log, tmp_path) as instance:
        failed = _execute(
            _job(PARTITION_KEYS, fail=True, during_step=look_while_running),
            instance,
            PARTITION_KEYS,
        )
        assert not failed.success
        in_progress = dg.AssetPartitionStatus.IN_PROGRESS
        assert during["status"] == dict.fromkeys(PARTITION_KEYS, in_progress)
        assert during["planned_run_ids"] == dict.fromkeys(PARTITION_KEYS, failed.run_id)
        for key in (prices, returns):
            status = instance.get_status_by_partition(key, PARTITION_KEYS, partitions)
            assert status == dict.fromkeys(PARTITION_KEYS, dg.AssetPartitionStatus.FAILED)

        succeeded = _execute(_job(PARTITION_KEYS), instance, PARTITION_KEYS)
        assert succeeded.success
        for key in (prices, returns):
            status = instance.get_status_by_partition(key, PARTITION_KEYS, partitions)
            assert status == dict.fromkeys(PARTITION_KEYS, dg.AssetPartitionStatus.MATERIALIZED)
            for partition in PARTITION_KEYS:
                info = instance.get_latest_planned_materialization_info(key, partition)
                assert info.run_id == succeeded.run_id


def _statements_of_a_run(url: URL, event_log: tuple[str, str], temp_dir: Path) -> int:
    keys = tuple(f"k{number:03d}" for number in range(50))
    job = _job(keys, with_check_and_summary=False)
    with _instance(url, event_log, temp_dir) as instance:
        statements: list[str] = []

        def count(connection, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        engine = instance.event_log_storage._engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            assert _execute(job, instance, keys).success
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_a_50_partition_run_sends_far_fewer_statements(make_database, tmp_path):
    plain = _statements_of_a_run(make_database("econ_obs_test_event_log"), PLAIN, tmp_path / "a")
    batching = _statements_of_a_run(
        make_database("econ_obs_test_event_log"), BATCHING, tmp_path / "b"
    )
    planned_events = 2 * 50  # prices and returns, 50 partitions each
    # One by one, each planned event is an INSERT, a NOTIFY and an asset_keys upsert (300 in
    # all; 342 against 45 statements with dagster-postgres 0.29.27); batched, the 100 are one
    # INSERT and one upsert per asset.
    assert plain - batching >= 2 * planned_events, (plain, batching)
    assert batching * 4 < plain, (plain, batching)


def test_a_dropped_override_fails_the_construction_before_connecting(monkeypatch):
    # Without dagster-postgres' own upsert, the generic one (INSERT, then UPDATE on an
    # IntegrityError) would run inside our transaction: refuse to start instead.
    monkeypatch.delattr(PostgresEventLogStorage, "_store_asset_event")
    with pytest.raises(DagsterPostgresChangedError) as raised:
        BatchingPostgresEventLogStorage(UNREACHABLE_URL)
    message = str(raised.value)
    assert "PostgresEventLogStorage._store_asset_event now comes from dagster." in message
    assert f"dagster-postgres {dagster_postgres.__version__}" in message
    assert "event_log_storage in dagster.yaml" in message


def test_a_missing_private_method_is_named():
    changes = dagster_event_log.private_api_changes(type("Bare", (), {}))
    assert changes == [f"Bare.{name} is missing" for name in dagster_event_log.PRIVATE_METHODS]


def test_a_changed_private_signature_fails_the_construction(monkeypatch):
    def changed(self, conn, event, event_id, when):
        raise AssertionError("never called")

    monkeypatch.setattr(PostgresEventLogStorage, "_store_asset_event_tags", changed)
    with pytest.raises(DagsterPostgresChangedError, match=r"_store_asset_event_tags takes \(self"):
        BatchingPostgresEventLogStorage(UNREACHABLE_URL)


def test_the_installed_dagster_postgres_has_every_private_method():
    assert dagster_event_log.private_api_changes(PostgresEventLogStorage) == []


def _storage_sections(path: Path) -> dict:
    config = yaml.safe_load(path.read_text())
    names = ("storage", "run_storage", "event_log_storage", "schedule_storage")
    return {name: config.get(name) for name in names}


def test_both_instance_configs_name_the_batching_event_log():
    root = checkout_root()
    assert root is not None
    checkout, packaged = (
        _storage_sections(root / "dagster.yaml"),
        _storage_sections(deployment_file("dagster.yaml")),
    )
    assert checkout == packaged
    assert checkout["storage"] is None
    assert checkout["event_log_storage"] == {
        "module": "econ_obs.store.dagster_event_log",
        "class": "BatchingPostgresEventLogStorage",
        "config": {"postgres_url": {"env": DAGSTER_DATABASE_ENV_VAR}},
    }


def test_dagster_instance_get_builds_the_batching_storage_from_dagster_yaml(
    make_database, tmp_path, monkeypatch
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(deployment_file("dagster.yaml"), home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(DAGSTER_DATABASE_ENV_VAR, render(make_database("econ_obs_test_dagster")))
    monkeypatch.setenv(STORAGE_DIR_ENV_VAR, str(tmp_path / "storage"))
    monkeypatch.setenv(LOGS_DIR_ENV_VAR, str(tmp_path / "logs"))

    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.event_log_storage) is BatchingPostgresEventLogStorage
        assert type(instance.run_storage) is PostgresRunStorage
        assert type(instance.schedule_storage) is PostgresScheduleStorage
        # As econ_obs.store.orphans.open_instance does; the storage keeps working after it.
        instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=20)
        keys = ("p1", "p2", "p3")
        result = _execute(_job(keys), instance, keys)
        assert result.success
        prices = dg.AssetKey("prices")
        planned_run_ids = {
            key: instance.get_latest_planned_materialization_info(prices, key).run_id
            for key in keys
        }
        assert planned_run_ids == dict.fromkeys(keys, result.run_id)
    finally:
        instance.dispose()
