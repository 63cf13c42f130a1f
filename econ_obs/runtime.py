"""Prepares a process to run econ_obs: the database URLs, migrations and Dagster's home.

Every CLI verb that opens the database (and `dagster dev` through `econ-obs ui`) goes through
`prepare_runtime`, so they all see the same database and the same Dagster instance, and each
starts by marking FAILED the Dagster runs a killed econ-obs process left STARTED.
`write_dotenv` hands the same environment to a bare `dagster dev` or `dg dev`, which load the
`.env` of the folder they start in.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from econ_obs.paths import checkout_root, dagster_yaml_file, project_home, state_dir
from econ_obs.store.database import (
    DAGSTER_DATABASE_ENV_VAR,
    DATABASE_ENV_VAR,
    make_engine,
    render,
    resolve_dagster_url,
    resolve_database_url,
)
from econ_obs.store.migrations import migrate

STORAGE_DIR_ENV_VAR = "ECON_OBS_DAGSTER_STORAGE_DIR"
LOGS_DIR_ENV_VAR = "ECON_OBS_DAGSTER_LOGS_DIR"
DAGSTER_HOME_ENV_VAR = "DAGSTER_HOME"
# What `write_dotenv` owns in a .env; any other line there is the user's and is kept.
DOTENV_VARIABLES = (
    DATABASE_ENV_VAR,
    DAGSTER_DATABASE_ENV_VAR,
    STORAGE_DIR_ENV_VAR,
    LOGS_DIR_ENV_VAR,
    DAGSTER_HOME_ENV_VAR,
)
DOTENV_HEADER = "# written by `econ-obs db start` / `econ-obs ui`; removed by `econ-obs db stop`"


class PortInUseError(RuntimeError):
    """The UI's port is taken or not a port; the message is one line."""


@dataclass(frozen=True)
class Runtime:
    database_url: URL  # the application tables
    dagster_url: URL  # Dagster's run and event storage, on the same server


def dagster_home() -> Path:
    """Return DAGSTER_HOME: the checkout (its own dagster.yaml), or for an installed wheel a
    folder in the state dir holding a copy of the packaged dagster.yaml (Dagster writes there)."""
    root = checkout_root()
    if root is not None:
        return root
    home = state_dir() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dagster_yaml_file(), home / "dagster.yaml")
    return home


EVENT_BATCH_ENV_VAR = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 1000


def prepare_runtime(keep_embedded_running: bool = False, apply_migrations: bool = True) -> Runtime:
    """Resolve both databases, migrate, and export the environment Dagster reads.

    Exports ECON_OBS_DATABASE_URL, ECON_OBS_DAGSTER_DATABASE_URL, the two storage folders and
    DAGSTER_HOME so that run workers and `dagster dev` inherit them.
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
    os.environ[DAGSTER_HOME_ENV_VAR] = str(dagster_home())
    for variable, folder in (
        (STORAGE_DIR_ENV_VAR, state_dir() / "storage"),
        (LOGS_DIR_ENV_VAR, state_dir() / "compute_logs"),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(variable, str(folder))
    # Dagster stores a step's per-partition materialisation (and planned) events in batches of
    # up to this many instead of one write each; a batch ends with its step's output, so none
    # is held back past the step. Set it yourself to override (0 turns batching off).
    os.environ.setdefault(EVENT_BATCH_ENV_VAR, str(EVENT_BATCH_SIZE))
    mark_orphans(dagster_url)
    return Runtime(database_url, dagster_url)


def mark_orphans(dagster_url: URL) -> None:
    """Mark FAILED this host's unfinished runs whose econ-obs process is gone; say so on
    stderr (stdout may be a report being piped). Call once DAGSTER_HOME is exported."""
    from econ_obs.store.orphans import mark_orphaned_runs, open_instance  # imports dagster

    with open_instance(dagster_url) as instance:
        for orphan in mark_orphaned_runs(instance):
            print(
                f"dagster run {orphan.run_id[:8]} marked FAILED: its process is gone",
                file=sys.stderr,
            )


def dotenv_path() -> Path:
    """Return the `.env` that `dagster dev` loads when started in the project home."""
    return project_home() / ".env"


def _quoted(value: str) -> str:
    # Single quotes: python-dotenv (Dagster's reader) expands no ${VAR} inside them.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _foreign_lines(path: Path) -> list[str]:
    """Return the lines of an existing .env that econ-obs did not write."""
    if not path.exists():
        return []
    kept = []
    for line in path.read_text().splitlines():
        key = line.removeprefix("export ").split("=", 1)[0].strip()
        if line != DOTENV_HEADER and key not in DOTENV_VARIABLES:
            kept.append(line)
    return kept


def write_dotenv() -> Path:
    """Write the prepared runtime's variables into the project home's .env (mode 0600, it may
    hold a password), keeping any other line; return its path. Call after prepare_runtime."""
    path = dotenv_path()
    ours = [f"{name}={_quoted(os.environ[name])}" for name in DOTENV_VARIABLES]
    text = "\n".join([*_foreign_lines(path), DOTENV_HEADER, *ours]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)
    return path


def remove_dotenv_variables() -> bool:
    """Remove econ-obs's lines from the .env (the file if nothing else is left); return whether
    there were any. A bare `dagster dev` then stops naming ECON_OBS_DAGSTER_DATABASE_URL."""
    path = dotenv_path()
    if not path.exists():
        return False
    kept = _foreign_lines(path)
    if len(kept) == len(path.read_text().splitlines()):
        return False
    if any(line.strip() for line in kept):
        path.write_text("\n".join(kept) + "\n")
    else:
        path.unlink()
    return True


def require_free_port(host: str, port: int) -> None:
    """Raise PortInUseError unless a server could listen on host:port now."""
    if not 0 < port < 65536:
        raise PortInUseError(f"--port {port} is not a TCP port (1-65535)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the webserver binds (SO_REUSEADDR): a port left in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = "already in use" if error.errno == errno.EADDRINUSE else error.strerror
            raise PortInUseError(
                f"port {port} on {host} is {reason}: another process (perhaps another Dagster "
                f"UI) listens there; stop it or pick another port with --port (make ui PORT=...)"
            ) from None
