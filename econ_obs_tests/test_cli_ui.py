"""`econ-obs ui` serves the UI on 127.0.0.1, refuses a busy port before starting anything, and
leaves no process behind when stopped; `make ui` passes PORT and CONFIG through."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil

from econ_obs.paths import checkout_root
from econ_obs.store.database import render
from econ_obs_tests.conftest import SMALL_SWEEP_YAML


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(1)
    return 0


def test_ui_serves_and_stops_every_process_it_started(database_url, make_database, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "ECON_OBS_DATABASE_URL": render(database_url),
        "ECON_OBS_DAGSTER_DATABASE_URL": render(make_database("econ_obs_ui_dagster")),
        "ECON_OBS_DAGSTER_STORAGE_DIR": str(tmp_path / "storage"),
        "ECON_OBS_DAGSTER_LOGS_DIR": str(tmp_path / "logs"),
        "ECON_OBS_HOME": str(tmp_path),  # its .env goes here, not into the checkout
    }
    ui = subprocess.Popen(
        [sys.executable, "-m", "econ_obs.cli", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status = wait_for_http(f"http://127.0.0.1:{port}/server_info", seconds=90)
        started = psutil.Process(ui.pid).children(recursive=True)
        ui.send_signal(signal.SIGTERM)
        exit_code = ui.wait(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()

    assert status == 200
    dotenv = (tmp_path / ".env").read_text()
    assert f"ECON_OBS_DATABASE_URL='{env['ECON_OBS_DATABASE_URL']}'" in dotenv
    assert f"ECON_OBS_DAGSTER_DATABASE_URL='{env['ECON_OBS_DAGSTER_DATABASE_URL']}'" in dotenv
    assert len(started) >= 3  # dagster dev, its webserver, daemon and code server
    assert exit_code in (0, -signal.SIGINT, 128 + signal.SIGINT)
    _gone, alive = psutil.wait_procs(started, timeout=10)
    assert alive == [], [process.cmdline() for process in alive]


def test_a_busy_port_is_refused_with_one_line_before_anything_starts(tmp_path):
    config = tmp_path / "small_sweep.yaml"
    config.write_text(SMALL_SWEEP_YAML)
    # A database nobody can reach: had the command got as far as the database, it would say so.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECON_OBS_", "DAGSTER_"))}
    env.update(
        ECON_OBS_DATABASE_URL="postgresql://econ@127.0.0.1:1/never_reached",
        ECON_OBS_HOME=str(tmp_path),
    )
    with socket.socket() as other_ui:
        other_ui.bind(("127.0.0.1", 0))
        other_ui.listen()
        port = other_ui.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "econ_obs.cli", "ui", "--port", str(port), "--config", config],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 2
    assert result.stdout == ""  # no "Dagster UI on http://..." for a UI that will not be ours
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"econ-obs: error: port {port} on 127.0.0.1 is already in use")
    assert "--port" in lines[0]
    assert not (tmp_path / ".env").exists()
    assert not (tmp_path / ".econ_obs").exists()


def test_make_ui_passes_port_and_config_through():
    root = checkout_root()
    assert root is not None
    # Under `make test` the outer make's MAKEFLAGS/MAKELEVEL would make this one print
    # "Entering directory" lines; a user's make starts clean.
    clean = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    given = subprocess.run(
        ["make", "--no-print-directory", "-n", "ui", "PORT=3001", "CONFIG=x.yaml"],
        cwd=root,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    from_environment = subprocess.run(
        ["make", "--no-print-directory", "-n", "ui"],
        cwd=root,
        env={**clean, "PORT": "8080", "CONFIG": "other.yaml"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert given.stdout.splitlines()[-1] == ".venv/bin/econ-obs ui --port '3001' --config 'x.yaml'"
    assert from_environment.stdout.splitlines()[-1].split() == [".venv/bin/econ-obs", "ui"]
