"""A Dagster user's first commands: `econ-obs db start`, then a bare `dagster dev` in the same
folder serves the econ_obs code location on the same instance, from the `.env` alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from econ_obs.paths import checkout_root
from econ_obs.store.database import make_engine, render
from econ_obs_tests.test_cli_ui import free_port, wait_for_http

DAGSTER = Path(sys.executable).parent / "dagster"
ASSETS = ["baseline_rows", "feature_slice", "market_bars", "model_results", "sweep_report"]
WORKSPACE_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError {
      __typename
      ... on RepositoryLocation { repositories { assetNodes { assetKey { path } } } }
      ... on PythonError { message }
    }
} } } }
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: nothing of econ_obs's or Dagster's is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECON_OBS_", "DAGSTER_"))}
    env.update(extra)
    return env


def _econ_obs(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "econ_obs.cli", *args],
        env=_clean_env(ECON_OBS_HOME=str(folder), **env),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def _start_dagster_dev(folder: Path, port: int, log: Path) -> subprocess.Popen:
    # Its own process group, SIGINT restored (a background shell ignores it), as econ-obs ui.
    with log.open("w") as output:
        return subprocess.Popen(
            [str(DAGSTER), "dev", "-p", str(port)],
            env=_clean_env(),
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def _stop_group(process: subprocess.Popen) -> list[psutil.Process]:
    """Stop dagster dev's whole process group; return the processes still alive (none)."""
    started = [process.pid, *(child.pid for child in _children(process.pid))]
    os.killpg(process.pid, signal.SIGINT)  # dagster dev shuts its children down on SIGINT
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    survivors = []
    for pid in started:
        try:
            survivors.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(survivors, timeout=15)
    for leftover in alive:
        leftover.kill()
    return alive


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    """A working folder as a checkout looks to `dagster dev`: pyproject.toml with [tool.dg]."""
    root = checkout_root()
    assert root is not None, "these tests run from the checkout"
    (tmp_path / "pyproject.toml").symlink_to(root / "pyproject.toml")
    return tmp_path


def test_db_start_then_a_bare_dagster_dev_serves_the_code_location(
    database_url, make_database, user_folder
):
    dagster_url = make_database("econ_obs_dev_dagster")
    started = _econ_obs(
        user_folder,
        "db",
        "start",
        ECON_OBS_DATABASE_URL=render(database_url),
        ECON_OBS_DAGSTER_DATABASE_URL=render(dagster_url),
    )
    assert started.returncode == 0, started.stderr
    dotenv = user_folder / ".env"
    assert f"wrote {dotenv}" in started.stdout
    assert dotenv.stat().st_mode & 0o077 == 0  # it may hold a password

    port = free_port()
    log = user_folder / "dagster_dev.log"
    dev = _start_dagster_dev(user_folder, port, log)
    try:
        status = wait_for_http(f"http://127.0.0.1:{port}/server_info", seconds=90)
        workspace = _graphql(port, WORKSPACE_QUERY) if status == 200 else {}
        # dagster dev's daemon heartbeats land in the instance .env names, nowhere else.
        deadline = time.monotonic() + 30
        heartbeats = 0
        while status == 200 and not heartbeats and time.monotonic() < deadline:
            heartbeats = _count(dagster_url, "SELECT count(*) FROM daemon_heartbeats")
            time.sleep(1)
    finally:
        alive = _stop_group(dev)
        output = log.read_text()

    assert status == 200, output[-3000:]
    (location,) = workspace["workspaceOrError"]["locationEntries"]
    assert location["name"] == "econ_obs"
    assert location["loadStatus"] == "LOADED"
    loaded = location["locationOrLoadError"]
    assert loaded["__typename"] == "RepositoryLocation", loaded
    (repository,) = loaded["repositories"]
    # The packaged default sweep, its keys prefixed with its run_id.
    assert sorted("/".join(n["assetKey"]["path"]) for n in repository["assetNodes"]) == [
        f"default/{asset}" for asset in ASSETS
    ]
    assert heartbeats > 0
    assert "Loaded environment variables from .env file: ECON_OBS_DATABASE_URL" in output
    assert alive == [], [process.cmdline() for process in alive]


def test_db_stop_removes_the_urls_and_dagster_dev_then_names_the_missing_one(
    database_url, make_database, user_folder
):
    root = checkout_root()
    (user_folder / "dagster.yaml").symlink_to(root / "dagster.yaml")  # as in the checkout
    (user_folder / ".env").write_text("MY_OWN_SETTING=kept\n")
    urls = {
        "ECON_OBS_DATABASE_URL": render(database_url),
        "ECON_OBS_DAGSTER_DATABASE_URL": render(make_database("econ_obs_dev_dagster")),
    }
    assert _econ_obs(user_folder, "db", "start", **urls).returncode == 0

    stopped = _econ_obs(user_folder, "db", "stop", **urls)
    dev = subprocess.run(
        [str(DAGSTER), "dev", "-p", str(free_port())],
        env=_clean_env(),
        cwd=user_folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert stopped.returncode == 0, stopped.stderr
    assert "removed the database URLs from .env" in stopped.stdout
    assert (user_folder / ".env").read_text() == "MY_OWN_SETTING=kept\n"
    assert dev.returncode != 0
    assert 'environment variable "ECON_OBS_DAGSTER_DATABASE_URL" which is not set' in dev.stderr


def _count(url, statement: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(statement)).scalar_one()
    except sa.exc.ProgrammingError:
        return 0  # the table does not exist yet
    finally:
        engine.dispose()
