"""Sweep benchmark: wall time and partitions per second of whole `econ-obs sweep` runs.

Each sweep runs as a user runs it, `econ-obs sweep --config ...` in a fresh process, so the
figure includes Python start-up, Dagster, the embedded (or configured) PostgreSQL and the
writes. Each sweep gets fresh databases, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from econ_obs.config import DEFAULT_SWEEP_PATH, load_sweep_config
from econ_obs.paths import project_home
from econ_obs.store.database import (
    drop_database,
    ensure_database,
    render,
    resolve_database_url,
    with_database,
)

REAL_DATA_DIR = project_home().parent / "shared" / "data" / "binance_futures_1h"
BINANCE_SWEEP_PATH = DEFAULT_SWEEP_PATH.parent / "binance_1h.yaml"


@dataclass(frozen=True)
class SweepCase:
    label: str
    config_path: Path
    target_seconds: float
    extra_env: dict


def run_case(case: SweepCase, server_url) -> tuple[float, int, int]:
    """Run one sweep in a fresh process on fresh databases; return (seconds, partitions, rc)."""
    suffix = uuid.uuid4().hex[:8]
    app_db, dagster_db = f"econ_obs_bench_{suffix}", f"econ_obs_bench_{suffix}_dagster"
    for name in (app_db, dagster_db):
        ensure_database(server_url, name)
    env = {
        **os.environ,
        **case.extra_env,
        "ECON_OBS_DATABASE_URL": render(with_database(server_url, app_db)),
        "ECON_OBS_DAGSTER_DATABASE_URL": render(with_database(server_url, dagster_db)),
    }
    try:
        with tempfile.TemporaryDirectory() as folder:
            env["ECON_OBS_DAGSTER_STORAGE_DIR"] = folder
            env["ECON_OBS_DAGSTER_LOGS_DIR"] = folder
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "econ_obs.cli", "sweep", "--config", str(case.config_path)],
                env=env,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - started
    finally:
        for name in (app_db, dagster_db):
            drop_database(server_url, name)
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
    os.environ.update({k: v for k, v in case.extra_env.items()})
    config = load_sweep_config(case.config_path)
    partitions = len(config.cryptos) * config.folds.n_folds * len(config.costs_bps)
    return seconds, partitions, result.returncode


def main() -> None:
    """Print the sweep benchmark table."""
    cases = [SweepCase("default sweep (sample data)", DEFAULT_SWEEP_PATH, 120.0, {})]
    if REAL_DATA_DIR.is_dir():
        cases.append(
            SweepCase(
                "binance 1h, 4 x 6 x 3 (real data)",
                BINANCE_SWEEP_PATH,
                240.0,
                {"ECON_OBS_DATA_DIR": str(REAL_DATA_DIR)},
            )
        )
    else:
        print(f"(real data not found at {REAL_DATA_DIR}: the binance sweep is skipped)")
    server_url = with_database(resolve_database_url(), "postgres")
    print(f"{'sweep':<36} {'partitions':>10} {'wall s':>8} {'part/s':>8} {'target s':>9}  verdict")
    for case in cases:
        seconds, partitions, returncode = run_case(case, server_url)
        verdict = "PASS" if returncode == 0 and seconds < case.target_seconds else "FAIL"
        if returncode != 0:
            verdict += f" (exit {returncode})"
        print(
            f"{case.label:<36} {partitions:>10} {seconds:>8.1f} {partitions / seconds:>8.2f} "
            f"{case.target_seconds:>9.0f}  {verdict}"
        )


if __name__ == "__main__":
    main()
