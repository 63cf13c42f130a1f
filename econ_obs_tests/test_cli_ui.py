"""`econ-obs ui` serves the UI on 127.0.0.1 and leaves no process behind when stopped."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil

from econ_obs.store.database import render


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
    assert len(started) >= 3  # dagster dev, its webserver, daemon and code server
    assert exit_code is not None
    _gone, alive = psutil.wait_procs(started, timeout=10)
    assert alive == [], [process.cmdline() for process in alive]
