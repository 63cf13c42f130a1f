"""`econ-obs db ...` as a user runs it: real processes, real servers, one-line errors."""

import os
import subprocess
import sys
from urllib.parse import unquote

import pytest

from econ_obs.store.database import render
from econ_obs_tests.test_embedded_private import enterable_home


def run_cli(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if database_url is not None:
        env["ECON_OBS_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "econ_obs.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://econ@127.0.0.1:1/econ_obs_nowhere", "econ_obs_nowhere"),
        ("not a url at all", "not a url at all"),
        ("mysql://root@127.0.0.1/x", "mysql"),
    ],
)
def test_a_bad_url_gives_one_line_and_exit_status_2(url, named):
    result = run_cli("db", "status", database_url=url)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr


def test_unreachable_url_names_the_host():
    result = run_cli("db", "migrate", database_url="postgresql://econ@127.0.0.1:1/somedb")
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr and "somedb" in result.stderr


def test_migrate_status_and_url_against_a_real_database(empty_database_url):
    url = render(empty_database_url)

    first = run_cli("db", "migrate", database_url=url)
    second = run_cli("db", "migrate", database_url=url)
    status = run_cli("db", "status", database_url=url)
    printed = run_cli("db", "url", database_url=url)

    assert first.returncode == 0, first.stderr
    assert "applied 001_create_finetune_results" in first.stdout
    assert "nothing to apply" in second.stdout
    assert "0 pending" in status.stdout
    assert printed.stdout.strip().startswith("postgresql://")
    assert empty_database_url.database in printed.stdout


@pytest.mark.parametrize("verb", [[], ["db"], ["db", "migrate"], ["db", "status"], ["db", "url"]])
def test_every_verb_has_help(verb):
    result = run_cli(*verb, "--help")
    assert result.returncode == 0
    assert "usage: econ-obs" in result.stdout


def test_the_embedded_server_is_reused_and_stopped():
    # A private ECON_OBS_HOME gives this test its own embedded server, apart from the session's.
    with enterable_home() as home:
        check_reused_and_stopped(home)


def check_reused_and_stopped(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECON_OBS_")}
    env["ECON_OBS_HOME"] = str(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "econ_obs.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    pid_file = tmp_path / ".econ_obs" / "pg" / "postmaster.pid"
    try:
        first = cli("db", "url")
        first_pid = pid_file.read_text().splitlines()[0]
        second = cli("db", "url")
        second_pid = pid_file.read_text().splitlines()[0]
    finally:
        stopped = cli("db", "stop")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    assert str(tmp_path) in unquote(first.stdout)
    assert first_pid == second_pid  # the second call reused the running server
    assert "stopped" in stopped.stdout
    assert not pid_file.exists()
