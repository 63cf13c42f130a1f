"""Shared fixtures: a real PostgreSQL database per test session, created fresh and dropped after.

The server is $ECON_OBS_TEST_DATABASE_URL's when set (CI points it at the machine's own
PostgreSQL 15), otherwise the embedded PostgreSQL 16, which this session stops on exit if
it started it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

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
APP_TABLES = ("finetune_results", "finetune_baselines", "alerts")


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
    url = make_database()
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
