"""The embedded PostgreSQL 16 server (pgserver) used when ECON_OBS_DATABASE_URL is unset.

Lifetime rule: a process that starts the server stops it when it exits, unless it asks to
keep it running (`econ-obs db url`, `econ-obs db start`); a process that finds the server
already running reuses it and leaves it running. pgserver counts the processes holding a
server, so the last holder out is the one that stops it.

Privacy rule: the server trusts every local connection (no password), so its socket folder is
owned by the server's user and mode 0700, whatever the path length or environment. pgserver's
own start would put a too-long socket path under $XDG_RUNTIME_DIR, chmod that folder 0777 and
chmod every parent folder g+rx,o+rx when run by root; `_PrivateServer` replaces both steps and
changes the mode of no folder the project did not create.
"""

from __future__ import annotations

import os
import shlex
import stat
import tempfile
import time
from pathlib import Path

import psutil

from econ_obs.paths import state_dir

SERVER_USER_WHEN_ROOT = "pgserver"  # the name pgserver gives the system user it runs as
SOCKET_NAME = ".s.PGSQL.5432"  # pgserver always uses port 5432's socket name
SOCKET_PATH_MAX_BYTES = 107  # sun_path holds 108 bytes, the last one a NUL
SOCKET_DIR_PREFIX = "econ_obs_pg_"  # short private folders we make when pgdata's path is too long
START_TIMEOUT_SECONDS = 30.0

_servers: dict[Path, object] = {}


class EmbeddedServerError(RuntimeError):
    """The embedded server cannot be started privately; the message is one line."""


def embedded_pgdata() -> Path:
    """Return the embedded server's data folder inside the git-ignored state folder."""
    return state_dir() / "pg"


def _prepare_runtime_dir() -> None:
    # pgserver keeps its inter-process lock under XDG_RUNTIME_DIR, read when it is imported.
    # Sockets never go there (see _socket_dir), so a long path here is harmless.
    own_runtime_dir = state_dir() / "run"
    os.environ.setdefault("XDG_RUNTIME_DIR", str(own_runtime_dir))
    runtime_dir = Path(os.environ["XDG_RUNTIME_DIR"])
    if runtime_dir == own_runtime_dir:
        runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        runtime_dir.chmod(0o700)  # ours; platformdirs ignores a runtime dir others can read


def _is_running(pgdata: Path) -> bool:
    _prepare_runtime_dir()
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _server_user() -> tuple[str | None, int, set[int]]:
    """Return (system user pgserver runs postgres as, or None for us; its uid; its group ids)."""
    if os.geteuid() != 0:
        return None, os.geteuid(), set(os.getgroups()) | {os.getegid()}
    from pgserver.utils import ensure_user_exists

    # Started by root, pgserver runs postgres as this system user (postgres refuses root).
    entry = ensure_user_exists(SERVER_USER_WHEN_ROOT)
    return entry.pw_name, entry.pw_uid, set(os.getgrouplist(entry.pw_name, entry.pw_gid))


def _require_enterable(path: Path, uid: int, gids: set[int]) -> None:
    """Refuse, never chmod, when user uid cannot enter every folder above path."""
    for folder in reversed(path.parents):
        info = folder.stat()
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid in gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if uid != 0 and not info.st_mode & bit:
            raise EmbeddedServerError(
                f"the embedded PostgreSQL runs as user 'pgserver' when started by root, and"
                f" pgserver cannot enter {folder} (mode {stat.S_IMODE(info.st_mode):04o});"
                " run econ-obs as a regular user, allow it yourself (chmod o+x on that folder),"
                " or set ECON_OBS_DATABASE_URL to another server"
            )


def _socket_fits(folder: Path) -> bool:
    return len(os.fsencode(folder / SOCKET_NAME)) <= SOCKET_PATH_MAX_BYTES


def _is_private(folder: Path, uid: int) -> bool:
    info = folder.stat()
    return info.st_uid == uid and stat.S_IMODE(info.st_mode) & 0o077 == 0


def _socket_dir(pgdata: Path, uid: int) -> Path:
    """Return a folder for the socket that only uid can enter: pgdata, else a fresh short one."""
    if _socket_fits(pgdata) and _is_private(pgdata, uid):
        return pgdata  # initdb made it 0700 and owned by the server's user
    for parent in dict.fromkeys((tempfile.gettempdir(), "/tmp")):
        folder = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=parent))  # mode 0700
        if _socket_fits(folder):
            os.chown(folder, uid, -1)
            return folder
        folder.rmdir()
    raise EmbeddedServerError(
        f"no private folder with a short enough path for the socket of {pgdata}"
        f" ({SOCKET_PATH_MAX_BYTES} bytes at most); set TMPDIR to a short folder"
    )


def _remove_own_socket_dir(folder: Path | None) -> None:
    """Remove a socket folder we made once its server is gone (postgres empties it on stop)."""
    if folder is not None and folder.name.startswith(SOCKET_DIR_PREFIX):
        try:
            folder.rmdir()
        except OSError:
            pass  # a socket is still there: another server may use it


def _is_holder(pid: int, list_written_at: float) -> bool:
    """Whether pid is a live process that existed when the handle list was last written."""
    try:
        process = psutil.Process(pid)
        # A pid reused by a process born after the list's last write cannot be a holder.
        return process.status() != psutil.STATUS_ZOMBIE and (
            process.create_time() <= list_written_at + 1.0
        )
    except psutil.Error:
        return False


def _make_private_server_class() -> type:
    from pgserver import postgres_server
    from pgserver._commands import initdb, pg_ctl
    from pgserver.utils import PostmasterInfo

    class _PrivateServer(postgres_server.PostgresServer):
        """pgserver's server with a private socket folder and no chmod of foreign folders."""

        def ensure_pgdata_inited(self) -> None:
            if self.system_user is not None:
                import pwd

                _, uid, gids = _server_user()
                _require_enterable(self.pgdata, uid, gids)
                install = postgres_server.POSTGRES_BIN_PATH.parent
                for inside in (install / "bin" / "postgres", install / "lib" / "x"):
                    _require_enterable(inside, uid, gids)
                # The package's own files (pip may have installed them 0700): make them usable.
                postgres_server.ensure_folder_permissions(install / "bin", 0o055)
                postgres_server.ensure_folder_permissions(install / "lib", 0o044)
                entry = pwd.getpwnam(self.system_user)
                os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            if not (self.pgdata / "PG_VERSION").exists():
                initdb(
                    ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
                    pgdata=self.pgdata,
                    user=self.system_user,
                )

        def ensure_postgres_running(self) -> None:
            # Runs under pgserver's lock, before this process adds itself to the holders.
            self._forget_dead_holders()
            _, uid, _ = _server_user()
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is None or not info.is_running():
                socket_dir = _socket_dir(self.pgdata, uid)
                options = f"-h '' -k {shlex.quote(str(socket_dir))} -c unix_socket_permissions=0700"
                pg_ctl(
                    ["-w", "-o", options, "-l", str(self.log), "start"],
                    pgdata=self.pgdata,
                    user=self.system_user,
                    timeout=START_TIMEOUT_SECONDS,
                )
                info = self._wait_until_ready()
            if info.socket_dir is None or not _is_private(info.socket_dir, uid):
                raise EmbeddedServerError(
                    f"the running embedded PostgreSQL of {self.pgdata} has its socket in"
                    f" {info.socket_dir}, which other users can reach; stop it with"
                    " `econ-obs db stop` and start it again"
                )
            self._postmaster_info = info

        def _wait_until_ready(self) -> PostmasterInfo:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                info = PostmasterInfo.read_from_pgdata(self.pgdata)
                if info is not None and info.is_running() and info.status == "ready":
                    return info
                time.sleep(0.2)
            raise EmbeddedServerError(
                f"the embedded PostgreSQL did not become ready in {START_TIMEOUT_SECONDS:.0f} s;"
                f" see {self.log}"
            )

        def _forget_dead_holders(self) -> None:
            holders = self.global_process_id_list
            if not holders.path.exists():
                return
            pids = holders.get()
            written_at = holders.path.stat().st_mtime
            alive = [pid for pid in pids if _is_holder(pid, written_at)]
            if alive != pids:
                holders.put(alive)

        def _cleanup(self) -> None:
            socket_dir = self._postmaster_info.socket_dir if self._postmaster_info else None
            super()._cleanup()
            if not _is_running(self.pgdata):
                _remove_own_socket_dir(socket_dir)

    return _PrivateServer


def ensure_embedded_server(keep_running: bool = False) -> str:
    """Start (or reuse) the embedded server; return its URL for the `postgres` database."""
    _prepare_runtime_dir()
    pgdata = embedded_pgdata().resolve()
    if pgdata not in _servers:
        pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        already_running = _is_running(pgdata)
        cleanup_mode = None if (keep_running or already_running) else "stop"
        server_class = _make_private_server_class()
        try:
            _servers[pgdata] = server_class(pgdata, cleanup_mode=cleanup_mode)
        except BaseException:
            server_class._instances.pop(pgdata, None)
            raise
    return _servers[pgdata].get_uri()


def stop_embedded_server() -> bool:
    """Stop the embedded server if it runs; return whether it was running."""
    pgdata = embedded_pgdata().resolve()
    if not _is_running(pgdata):
        return False
    from pgserver._commands import pg_ctl
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    user = SERVER_USER_WHEN_ROOT if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
    _remove_own_socket_dir(info.socket_dir if info else None)
    return True
