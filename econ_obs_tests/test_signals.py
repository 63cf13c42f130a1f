"""SIGTERM and SIGINT stop `econ-obs sweep` within seconds, in the middle of the result stage:
exit 143 or 130, the stage's Dagster run ended (not STARTED), no partition half written, and
no PostgreSQL left running that the command started. Real processes, real databases."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from econ_obs.paths import project_home
from econ_obs.store.database import make_engine
from econ_obs.store.migrations import migrate
from econ_obs_tests.conftest import SMALL_SWEEP_YAML
from econ_obs_tests.test_cli_sweep import SweepSetup

# 20000 random seeds make each result partition take seconds: the signal lands mid-stage.
SLOW_SWEEP_YAML = SMALL_SWEEP_YAML.replace("n_seeds: 20,", "n_seeds: 20000,")
RESULT_STAGE = "[3/3] baseline_rows+model_results"
STOP_WITHIN_SECONDS = 5.0
UNFINISHED = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")
ENDED_BY_SIGNAL = ("CANCELED", "FAILURE")


def start_sweep(env: dict, cwd: Path, config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "econ_obs.cli", "sweep", "--config", str(config)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen, prefix: str, timeout: float = 120.0) -> list[str]:
    """Read stdout until a line starts with prefix; return the lines read."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return lines
    process.kill()
    raise AssertionError(f"{prefix!r} never came: {lines} {process.stderr.read()}")


def stop_with(process: subprocess.Popen, signum: int) -> tuple[int, float, str, str]:
    """Send signum; return (exit status, seconds it took, rest of stdout, stderr)."""
    time.sleep(1.0)  # inside the result stage, a partition being written
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, time.monotonic() - sent, stdout, stderr


def stage_runs(dagster_url) -> list[tuple[str, str, str]]:
    """(run_id, status, stage) of every sweep run in a Dagster storage database."""
    engine = make_engine(dagster_url)
    try:
        with engine.connect() as connection:
            return [
                tuple(row)
                for row in connection.execute(
                    sa.text(
                        "SELECT runs.run_id, runs.status, stage.value FROM runs "
                        "JOIN run_tags stage ON stage.run_id = runs.run_id "
                        "AND stage.key = 'econ_obs/stage' ORDER BY runs.create_timestamp"
                    )
                )
            ]
    finally:
        engine.dispose()


def baseline_rows_per_key(app_url) -> list[int]:
    engine = make_engine(app_url)
    try:
        with engine.connect() as connection:
            return [
                row[0]
                for row in connection.execute(
                    sa.text(
                        "SELECT count(*) FROM finetune_baselines "
                        "GROUP BY run_id, strategy, crypto, fold_id, cost_bps"
                    )
                )
            ]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def setup(make_database, tmp_path_factory) -> SweepSetup:
    app_url = make_database("econ_obs_signals")
    engine = make_engine(app_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    sweep = SweepSetup(
        app_url, make_database("econ_obs_signals_dagster"), tmp_path_factory.mktemp("sig")
    )
    sweep.config.write_text(SLOW_SWEEP_YAML)
    return sweep


def test_sigterm_in_the_result_stage_stops_the_sweep_with_143(setup):
    process = start_sweep(setup.env, setup.cwd, setup.config)
    wait_for_line(process, RESULT_STAGE)

    status, seconds, stdout, stderr = stop_with(process, signal.SIGTERM)

    assert status == 143, stdout + stderr
    assert seconds < STOP_WITHIN_SECONDS
    assert "checks passed" not in stdout
    assert stderr.strip().splitlines()[-1] == "econ-obs: interrupted by SIGTERM", stderr
    runs = stage_runs(setup.dagster_url)
    assert [stage for _, _, stage in runs][-1] == "baseline_rows+model_results"
    # CANCELED by us, or FAILURE when Dagster's handler caught the signal inside a step
    assert runs[-1][1] in ENDED_BY_SIGNAL
    assert not [run for run in runs if run[1] in UNFINISHED]
    assert set(baseline_rows_per_key(setup.app_url)) <= {3}  # a key has all 3 or none


@pytest.fixture
def private_home() -> Iterator[Path]:
    """A checkout of its own (dagster.yaml, migrations) whose embedded server nobody else uses.

    Under /tmp and open to others: run as root, pgserver's postgres user must enter it.
    """
    home = Path(tempfile.mkdtemp(prefix="econ_obs_sig_", dir="/tmp"))
    home.chmod(0o755)
    for name in ("dagster.yaml", "migrations"):
        (home / name).symlink_to(project_home() / name)
    yield home
    env = _private_env(home)
    if _postgres_of(home):  # the test failed: do not leave a server behind
        subprocess.run(
            [sys.executable, "-m", "econ_obs.cli", "db", "stop"], env=env, check=False, timeout=60
        )
    shutil.rmtree(home, ignore_errors=True)


def _private_env(home: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ECON_OBS_") and k not in ("DAGSTER_HOME", "XDG_RUNTIME_DIR")
    }
    env["ECON_OBS_HOME"] = str(home)
    return env


def _postgres_of(home: Path) -> list[psutil.Process]:
    pgdata = str(home / ".econ_obs" / "pg")
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if "postgres" in (process.info["name"] or "") and pgdata in " ".join(
                process.info["cmdline"] or ()
            ):
                found.append(process)
        except psutil.Error:
            continue
    return found


def test_sigint_stops_the_sweep_with_130_and_the_server_it_started(private_home):
    env = _private_env(private_home)
    config = private_home / "slow_sweep.yaml"
    config.write_text(SLOW_SWEEP_YAML)
    process = start_sweep(env, private_home, config)
    wait_for_line(process, RESULT_STAGE)
    assert _postgres_of(private_home), "the sweep started its own embedded server"

    status, seconds, stdout, stderr = stop_with(process, signal.SIGINT)

    assert status == 130, stdout + stderr
    assert seconds < STOP_WITHIN_SECONDS
    assert stderr.strip().splitlines()[-1] == "econ-obs: interrupted by SIGINT", stderr
    assert not psutil.wait_procs(_postgres_of(private_home), timeout=5)[1]
    # Start the server again, only to read what the sweep left behind.
    url = subprocess.run(
        [sys.executable, "-m", "econ_obs.cli", "db", "url"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    try:
        app_url = sa.engine.make_url(url).set(drivername="postgresql+psycopg2")
        runs = stage_runs(app_url.set(database=f"{app_url.database}_dagster"))
        assert runs[-1][2] == "baseline_rows+model_results"
        assert runs[-1][1] in ENDED_BY_SIGNAL
        assert not [run for run in runs if run[1] in UNFINISHED]
        assert set(baseline_rows_per_key(app_url)) <= {3}
    finally:
        subprocess.run(
            [sys.executable, "-m", "econ_obs.cli", "db", "stop"], env=env, check=True, timeout=60
        )


GRACEFUL_SCRIPT = """
import sys, time
from econ_obs.signals import Interrupted, stop_on_signals
try:
    with stop_on_signals():
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            print("unwound", flush=True)  # what a transaction's rollback would do
except Interrupted as interrupted:
    sys.exit(interrupted.exit_status)
"""

# What Dagster does while a run executes: its own handlers, which swallow the signal.
SWALLOWING_SCRIPT = """
import signal, time
from econ_obs.signals import on_hard_stop, stop_on_signals
on_hard_stop(lambda signum: print("cleaned up after", signum, flush=True))
with stop_on_signals():
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *args: None)
    print("ready", flush=True)
    time.sleep(60)
print("never reached", flush=True)
"""

# What Dagster does when the signal lands inside an op: its handler makes it a failed step,
# the run returns "failed" at once, and the command must not carry on to its next stage.
FAILING_SCRIPT = """
import signal, sys, time
from econ_obs.signals import Interrupted, raise_if_signalled, stop_on_signals
class StepFailed(Exception):
    pass
def fail(*args):
    raise StepFailed()
try:
    with stop_on_signals():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, fail)
        try:
            print("ready", flush=True)
            time.sleep(60)
        except StepFailed:
            print("step failed", flush=True)
        time.sleep(0.1)  # the watcher thread reads the wake-up pipe
        raise_if_signalled()
        print("next stage", flush=True)
except Interrupted as interrupted:
    sys.exit(interrupted.exit_status)
"""


@pytest.mark.parametrize(
    ("script", "signum", "expected_lines"),
    [
        (GRACEFUL_SCRIPT, signal.SIGTERM, ["ready", "unwound"]),
        (GRACEFUL_SCRIPT, signal.SIGINT, ["ready", "unwound"]),
        (SWALLOWING_SCRIPT, signal.SIGTERM, ["ready", "cleaned up after 15"]),
        (SWALLOWING_SCRIPT, signal.SIGINT, ["ready", "cleaned up after 2"]),
        (FAILING_SCRIPT, signal.SIGTERM, ["ready", "step failed"]),
        (FAILING_SCRIPT, signal.SIGINT, ["ready", "step failed"]),
    ],
)
def test_a_signal_stops_the_process_whoever_handles_it(script, signum, expected_lines):
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "ready\n"
    sent = time.monotonic()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 128 + signum, stderr
    assert time.monotonic() - sent < STOP_WITHIN_SECONDS
    assert ["ready", *stdout.splitlines()] == expected_lines
