"""Dagster's storage lost in the middle of a sweep: the user reads one line and exit 2.

Dagster prints each event it could not store (with its SQL) and dagster-postgres logs a warning
per connection retry; those go to a file in the compute log folder, named by that one line.
The outage is real: Dagster's storage is reached through a TCP proxy that the test cuts.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time

import pytest
from sqlalchemy.engine import URL

from econ_obs.store.database import render
from econ_obs.store.orphans import STORAGE_FAILURE_PRINTS, _storage_noise_to
from econ_obs_tests.conftest import migrated_database
from econ_obs_tests.test_cli_sweep import SweepSetup
from econ_obs_tests.test_signals import SLOW_SWEEP_YAML, start_sweep, wait_for_line

STAGE_2 = "[2/3]"  # the slice stage: its events are being stored when the proxy is cut


class StorageProxy:
    """Forwards 127.0.0.1:port to the database server until cut, then refuses everything."""

    def __init__(self, server: URL) -> None:
        self.server = server
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # cut
                return
            upstream = self._connect_upstream()
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        port = self.server.port or 5432
        if self.server.host:
            return socket.create_connection((self.server.host, port))
        upstream = socket.socket(socket.AF_UNIX)  # the embedded server: a socket folder
        upstream.connect(f"{self.server.query['host']}/.s.PGSQL.{port}")
        return upstream

    def proxied(self) -> URL:
        """The server's URL through this proxy."""
        return self.server.difference_update_query(["host"]).set(host="127.0.0.1", port=self.port)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def setup(make_database, tmp_path) -> tuple[SweepSetup, StorageProxy]:
    app_url = migrated_database(make_database, "econ_obs_outage")
    dagster_url = make_database("econ_obs_outage_dagster")
    proxy = StorageProxy(dagster_url)
    sweep = SweepSetup(app_url, dagster_url, tmp_path)
    sweep.env["ECON_OBS_DAGSTER_DATABASE_URL"] = render(proxy.proxied())
    yield sweep, proxy
    proxy.cut()


def test_storage_lost_mid_run_is_one_line_and_exit_2(setup, tmp_path):
    sweep, proxy = setup
    config = tmp_path / "slow.yaml"
    config.write_text(SLOW_SWEEP_YAML)
    process = start_sweep(sweep.env, sweep.cwd, config)
    try:
        wait_for_line(process, STAGE_2)
        time.sleep(0.3)
        proxy.cut()
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 2, stderr
    (line,) = stderr.splitlines()
    assert line.startswith("econ-obs: error: lost Dagster's storage, database "), line
    assert "Traceback" not in stderr


def test_storage_noise_goes_to_the_file_and_stderr_is_given_back(tmp_path, capsys):
    details = tmp_path / "storage.log"
    with _storage_noise_to(details):
        sys.stderr.write(f"{STORAGE_FAILURE_PRINTS[0]}: connection refused\n")
        logging.getLogger().warning("Retrying failed database connection: %s", "refused")
        logging.getLogger().error("a real error")  # not a retry: it is shown
        sys.stderr.write("a line of ours\n")
    sys.stderr.write(f"{STORAGE_FAILURE_PRINTS[0]}: after the block\n")

    stderr = capsys.readouterr().err
    assert "Retrying" not in stderr and "connection refused" not in stderr
    assert "a line of ours\n" in stderr and "after the block" in stderr
    assert details.read_text() == (
        f"{STORAGE_FAILURE_PRINTS[0]}: connection refused\n"
        "WARNING:root:Retrying failed database connection: refused\n"
    )
