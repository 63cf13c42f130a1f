"""The embedded server is private: its socket only its user can reach, at any path length."""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
NO_ACCESS_FOR_OTHERS = 0o077


@contextmanager
def enterable_home(depth_chars: int = 0) -> Iterator[Path]:
    """A fresh checkout folder (depth_chars long at least) that pgserver's user may enter."""
    top = Path(tempfile.mkdtemp(prefix="econ_obs_test_"))
    top.chmod(0o711)  # ours: root's server runs as `pgserver`, which must pass through
    home = top
    while len(str(home)) < depth_chars:
        home = home / ("d" * 40)
    home.mkdir(parents=True, exist_ok=True)
    try:
        yield home
    finally:
        shutil.rmtree(top, ignore_errors=True)


def cli(home: Path, *args: str, env_changes: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECON_OBS_")}
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(env_changes or {})
    env["ECON_OBS_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "econ_obs.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def postmaster_lines(home: Path) -> list[str]:
    return (home / ".econ_obs" / "pg" / "postmaster.pid").read_text().splitlines()


def connect_as(user: str, socket_path: Path) -> int:
    """Connect to the socket as `user` in a forked child; return 0 or the errno it got."""
    entry = pwd.getpwnam(user)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(str(socket_path))
        except OSError as error:
            code = error.errno or 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def modes(paths: list[Path]) -> dict[Path, int]:
    return {path: stat.S_IMODE(path.stat().st_mode) for path in paths}


@pytest.mark.parametrize("runtime_dir", ["unset", "private"])
def test_a_long_checkout_path_still_gets_a_private_socket(runtime_dir):
    with enterable_home(depth_chars=110) as home:
        env_changes = {}
        if runtime_dir == "private":
            runtime = home / "xdg_runtime"
            runtime.mkdir(mode=0o700)
            env_changes["XDG_RUNTIME_DIR"] = str(runtime)
        watched = [*home.parents, home, *(Path(path) for path in env_changes.values())]
        before = modes(watched)
        try:
            started = cli(home, "db", "start", env_changes=env_changes)
            assert started.returncode == 0, started.stderr
            socket_dir = Path(postmaster_lines(home)[4])
            socket_path = socket_dir / ".s.PGSQL.5432"
            folder = socket_dir.stat()
            server_uid = pwd.getpwnam("pgserver").pw_uid if IS_ROOT else os.geteuid()

            assert len(str(home / ".econ_obs" / "pg")) > 100
            assert folder.st_uid == server_uid
            assert stat.S_IMODE(folder.st_mode) & NO_ACCESS_FOR_OTHERS == 0
            assert stat.S_IMODE(socket_path.stat().st_mode) & NO_ACCESS_FOR_OTHERS == 0
            assert modes(watched) == before  # no folder the project did not make was chmodded
            if IS_ROOT:
                assert connect_as("root", socket_path) == 0
                assert connect_as("nobody", socket_path) == errno.EACCES
        finally:
            stopped = cli(home, "db", "stop", env_changes=env_changes)
        assert "stopped" in stopped.stdout, stopped.stderr
        assert not socket_dir.exists() or socket_dir == home / ".econ_obs" / "pg"


@pytest.mark.skipif(not IS_ROOT, reason="only root's server runs as another user")
def test_root_refuses_a_parent_folder_pgserver_cannot_enter_and_leaves_its_mode():
    closed = Path(tempfile.mkdtemp(prefix="econ_obs_closed_"))  # mode 0700, owned by root
    try:
        result = cli(closed / "checkout", "db", "start")

        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(closed) in lines[0] and "0700" in lines[0]
        assert stat.S_IMODE(closed.stat().st_mode) == 0o700
    finally:
        shutil.rmtree(closed, ignore_errors=True)


def test_a_dead_holder_pid_does_not_keep_the_server_running():
    with enterable_home() as home:
        (home / "migrations").symlink_to(Path(__file__).resolve().parents[1] / "migrations")
        try:
            first = cli(home, "db", "status")  # starts, initialises and stops the server
            assert first.returncode == 0, first.stderr
            dead_pid = subprocess.Popen(["true"])
            dead_pid.wait()
            holders = home / ".econ_obs" / "pg" / ".handle_pids.json"
            holders.write_text(json.dumps([dead_pid.pid]))  # as if a holder had been kill -9ed

            second = cli(home, "db", "status")

            assert second.returncode == 0, second.stderr
            assert not (home / ".econ_obs" / "pg" / "postmaster.pid").exists()
            assert json.loads(holders.read_text()) == []
        finally:
            cli(home, "db", "stop")
