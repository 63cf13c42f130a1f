"""Prepares a process to run econ_obs: the database URLs, migrations and Dagster's home.

Every entry point (CLI verbs, `dagster dev` through `econ-obs ui`, the test suite) goes
through `prepare_runtime`, so they all see the same database and the same Dagster instance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import URL

from econ_obs.paths import project_home, state_dir
from econ_obs.store.database import (
    DAGSTER_DATABASE_ENV_VAR,
    DATABASE_ENV_VAR,
    make_engine,
    render,
    resolve_dagster_url,
    resolve_database_url,
)
from econ_obs.store.migrations import migrate


@dataclass(frozen=True)
class Runtime:
    database_url: URL  # the application tables
    dagster_url: URL  # Dagster's run and event storage, on the same server


def prepare_runtime(keep_embedded_running: bool = False, apply_migrations: bool = True) -> Runtime:
    """Resolve both databases, migrate, and export the environment Dagster reads.

    Exports ECON_OBS_DATABASE_URL, ECON_OBS_DAGSTER_DATABASE_URL and DAGSTER_HOME (the
    checkout, where dagster.yaml lives) so that run workers and `dagster dev` inherit them.
    """
    database_url = resolve_database_url(keep_embedded_running=keep_embedded_running)
    dagster_url = resolve_dagster_url(database_url)
    if apply_migrations:
        engine = make_engine(database_url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
    os.environ[DATABASE_ENV_VAR] = render(database_url)
    os.environ[DAGSTER_DATABASE_ENV_VAR] = render(dagster_url)
    os.environ["DAGSTER_HOME"] = str(project_home())
    for variable, folder in (
        ("ECON_OBS_DAGSTER_STORAGE_DIR", state_dir() / "storage"),
        ("ECON_OBS_DAGSTER_LOGS_DIR", state_dir() / "compute_logs"),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(variable, str(folder))
    return Runtime(database_url, dagster_url)
