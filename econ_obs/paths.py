"""Where the checkout's files live: migrations, dagster.yaml and the git-ignored state folder."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV_VAR = "ECON_OBS_HOME"


def project_home() -> Path:
    """Return the checkout root: $ECON_OBS_HOME, else the folder above the installed package.

    The project is installed in editable mode (`pip install -e .`), so the package sits in
    the checkout beside `migrations/` and `dagster.yaml`.
    """
    configured = os.environ.get(HOME_ENV_VAR)
    if configured:
        return Path(configured).resolve()
    return Path(__file__).resolve().parents[1]


def state_dir() -> Path:
    """Return the git-ignored folder for run state (embedded PostgreSQL, Dagster storage)."""
    return project_home() / ".econ_obs"


def migrations_dir() -> Path:
    """Return the folder of numbered plain-SQL migrations."""
    return project_home() / "migrations"
