"""Shared fixtures: a real PostgreSQL database per test session, created fresh and dropped after.

The server is $ECON_OBS_TEST_DATABASE_URL's when set (CI points it at the machine's own
PostgreSQL 15), otherwise the embedded PostgreSQL 16, which this session stops on exit if
it started it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from econ_obs.store.database import (
    drop_database,
    ensure_database,
    make_engine,
    parse_url,
    with_database,
)
from econ_obs.store.embedded import ensure_embedded_server
from econ_obs.store.migrations import migrate

TEST_DATABASE_ENV_VAR = "ECON_OBS_TEST_DATABASE_URL"
APP_TABLES = (
    "finetune_results",
    "finetune_baselines",
    "finetune_random_seeds",
    "step_memory",
    "alerts",
    "sweep_runs",
)


@contextmanager
def no_current_dagster_instance() -> Iterator[None]:
    """Run the block with no current Dagster instance, and restore the previous one after.

    Entering a DagsterInstance makes its defs-state storage the current one (a context
    variable) and its __exit__ never resets it; a schedule or sensor context that builds
    resources enters an instance of its own the same way. Once such an instance is garbage-
    collected, loading any Definitions fails with "Attempted to resolve undefined
    DagsterInstance weakref". econ_obs has no state-backed definitions, so the tests load and
    run theirs with none current.
    """
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


@pytest.fixture(autouse=True)
def no_leftover_dagster_instance() -> Iterator[None]:
    """Each test starts with no current Dagster instance (see no_current_dagster_instance)."""
    with no_current_dagster_instance():
        yield


@pytest.fixture(scope="session")
def server_url() -> URL:
    """A URL on the test server; its database part is replaced by each database fixture."""
    configured = os.environ.get(TEST_DATABASE_ENV_VAR)
    if configured:
        return parse_url(configured, TEST_DATABASE_ENV_VAR)
    return parse_url(ensure_embedded_server(), "pgserver")


@pytest.fixture(scope="session")
def make_database(server_url: URL) -> Iterator:
    """A factory of fresh, uniquely named databases, all dropped when the session ends."""
    created: list[str] = []

    def factory(prefix: str = "econ_obs_test") -> URL:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        ensure_database(server_url, name)
        created.append(name)
        return with_database(server_url, name)

    yield factory
    for name in created:
        drop_database(server_url, name)


@pytest.fixture(scope="session")
def database_url(make_database) -> URL:
    """The session's migrated application database."""
    return migrated_database(make_database)


def migrated_database(make_database, prefix: str = "econ_obs_test") -> URL:
    """Return a fresh database from `make_database`, migrated to the latest schema."""
    url = make_database(prefix)
    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def engine(database_url: URL) -> Iterator[Engine]:
    """An engine on the session database whose application tables start empty."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE " + ", ".join(APP_TABLES)))
    yield engine
    engine.dispose()


@pytest.fixture
def empty_database_url(make_database) -> URL:
    """A database with no tables at all, for migration tests."""
    return make_database("econ_obs_empty")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches PostgreSQL `db`, so CI can rerun them on another server."""
    for item in items:
        if "server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


SMALL_SWEEP_YAML = """
run_id: test_run
strategy: test_strategy
data: {format: sample, timeframe: 1h}
cryptos: [BTCUSDT, ETHUSDT]
folds: {n_folds: 2, train_bars: 600, test_bars: 240, purge_bars: 12}
costs_bps: [10, 30]
slippage_bps: 1
factor: returns
model:
  variants:
    - {name: ridge_a1_t0, alpha: 1.0, threshold_bps: 0}
    - {name: ridge_a10_t5, alpha: 10.0, threshold_bps: 5}
baselines:
  random: {n_seeds: 20, hold_bars: 12}
schedule: {cron: "30 3 * * *"}
"""


@pytest.fixture
def small_config(tmp_path):
    """A 2 cryptos x 2 folds x 2 costs sweep on the sample data (8 result partitions)."""
    from econ_obs.config import load_sweep_config

    path = tmp_path / "small_sweep.yaml"
    path.write_text(SMALL_SWEEP_YAML)
    return load_sweep_config(path)


@pytest.fixture
def sweep_resources(engine, database_url, tmp_path) -> dict:
    """Resources bound to the session database (tables emptied) and a private slice folder."""
    from econ_obs.defs.assets import SLICE_IO_MANAGER
    from econ_obs.defs.io_manager import PartitionedPickleIOManager
    from econ_obs.defs.resources import PostgresResource
    from econ_obs.store.database import render

    return {
        "postgres": PostgresResource(database_url=render(database_url)),
        SLICE_IO_MANAGER: PartitionedPickleIOManager(base_dir=str(tmp_path / "slices")),
    }


@pytest.fixture(scope="session")
def dagster_database_url(make_database) -> URL:
    """A database for Dagster's own storage, as dagster.yaml configures it in production."""
    return make_database("econ_obs_test_dagster")


@pytest.fixture
def instance(dagster_database_url: URL, tmp_path):
    """A Dagster instance on the PostgreSQL storages dagster.yaml names (dagster-postgres' run
    and schedule storage, our batching event log storage), wiped for each test."""
    import dagster as dg
    import yaml

    from econ_obs.paths import dagster_yaml_file
    from econ_obs.store.database import render

    configured = yaml.safe_load(dagster_yaml_file().read_text(encoding="utf-8"))
    url = {"postgres_url": render(dagster_database_url)}
    overrides = {
        name: {**configured[name], "config": url}
        for name in ("run_storage", "event_log_storage", "schedule_storage")
    }
    with dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as test_instance:
        test_instance.wipe()
        with no_current_dagster_instance():
            yield test_instance


def run_small_sweep(
    config, resources: dict, instance, last_stage_only: bool = False, log_level: str = "WARNING"
) -> list:
    """Materialise every stage of `config`'s sweep (or only the results stage and its checks);
    return the stage outcomes."""
    from econ_obs.definitions import build_definitions
    from econ_obs.defs.sweep import run_sweep, sweep_plan

    with no_current_dagster_instance():
        defs = build_definitions(config, resources=resources)
        assets = list(defs.assets)
        plan = sweep_plan(assets)
        return run_sweep(
            [*assets, *defs.asset_checks],
            plan[-1:] if last_stage_only else plan,
            instance,
            resources,
            config.run_id,
            progress=lambda line: None,
            log_level=log_level,
        )
