"""Where econ_obs finds its shipped files (migrations, dagster.yaml, workspace.yaml) and keeps
its git-ignored state, in a source checkout and in an installed wheel alike.

The shipped files live once, at the top of the checkout; `econ_obs/deployment/` links to them
and the wheel carries copies (package-data), so the same lookup works in both.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

HOME_ENV_VAR = "ECON_OBS_HOME"
DEPLOYMENT_FOLDER = "deployment"  # econ_obs/deployment: links in a checkout, files in a wheel
STATE_FOLDER = ".econ_obs"


def deployment_file(name: str) -> Path:
    """Return a shipped file or folder of econ_obs/deployment, its links followed."""
    return Path(str(files("econ_obs") / DEPLOYMENT_FOLDER / name)).resolve()


def checkout_root() -> Path | None:
    """Return the source checkout the package runs from (an editable install), else None."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "dagster.yaml").is_file():
        return root
    return None


def project_home() -> Path:
    """Return the folder that holds `.econ_obs/` and `.env`: $ECON_OBS_HOME, else the checkout,
    else (an installed wheel) the current folder."""
    configured = os.environ.get(HOME_ENV_VAR)
    if configured:
        return Path(configured).resolve()
    return checkout_root() or Path.cwd().resolve()


def state_dir() -> Path:
    """Return the git-ignored folder for run state (embedded PostgreSQL, Dagster storage)."""
    return project_home() / STATE_FOLDER


def migrations_dir() -> Path:
    """Return the folder of numbered plain-SQL migrations (the checkout's `migrations/`)."""
    return deployment_file("migrations")


def workspace_file() -> Path:
    """Return the workspace.yaml that names the econ_obs code location."""
    return deployment_file("workspace.yaml")


def dagster_yaml_file() -> Path:
    """Return the instance's dagster.yaml (the checkout's own in a checkout)."""
    return deployment_file("dagster.yaml")
