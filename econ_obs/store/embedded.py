"""The embedded PostgreSQL 16 server (pgserver) used when ECON_OBS_DATABASE_URL is unset.

Lifetime rule: a process that starts the server stops it when it exits, unless it asks to
keep it running (`econ-obs db url`, `econ-obs db start`); a process that finds the server
already running reuses it and leaves it running. pgserver counts the processes holding a
server, so the last holder out is the one that stops it.
"""

from __future__ import annotations

import os
from pathlib import Path

from econ_obs.paths import state_dir

_servers: dict[Path, object] = {}


def embedded_pgdata() -> Path:
    """Return the embedded server's data folder inside the git-ignored state folder."""
    return state_dir() / "pg"


def _is_running(pgdata: Path) -> bool:
    _prepare_runtime_dir()
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _prepare_runtime_dir() -> None:
    # pgserver keeps its inter-process lock under XDG_RUNTIME_DIR, read when it is imported.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(state_dir() / "run"))
    runtime_dir = Path(os.environ["XDG_RUNTIME_DIR"])
    runtime_dir.mkdir(parents=True, exist_ok=True)
    if runtime_dir == state_dir() / "run":
        runtime_dir.chmod(0o700)  # platformdirs ignores a runtime dir others can read


def ensure_embedded_server(keep_running: bool = False) -> str:
    """Start (or reuse) the embedded server; return its URL for the `postgres` database."""
    _prepare_runtime_dir()
    import pgserver

    pgdata = embedded_pgdata()
    if pgdata not in _servers:
        pgdata.mkdir(parents=True, exist_ok=True)
        already_running = _is_running(pgdata)
        cleanup_mode = None if (keep_running or already_running) else "stop"
        _servers[pgdata] = pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
    return _servers[pgdata].get_uri()


def stop_embedded_server() -> bool:
    """Stop the embedded server if it runs; return whether it was running."""
    pgdata = embedded_pgdata()
    if not _is_running(pgdata):
        return False
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
    return True
