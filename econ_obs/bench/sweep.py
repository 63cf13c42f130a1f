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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from econ_obs.config import DEFAULT_SWEEP_PATH, load_sweep_config
from econ_obs.paths import project_home
from econ_obs.store.database import (
    drop_database,
    ensure_database,
    render,
    resolve_database_url,
    with_database,
)

# The real candles: $ECON_OBS_BENCH_DATA_DIR, else ../shared/data/binance_futures_1h beside the
# checkout's parent (where the team's shared folder sits); a clone elsewhere sets the variable.
BENCH_DATA_ENV_VAR = "ECON_OBS_BENCH_DATA_DIR"
SHARED_DATA_DIR = project_home().parent / "shared" / "data" / "binance_futures_1h"
BINANCE_SWEEP_PATH = DEFAULT_SWEEP_PATH.parent / "binance_1h.yaml"
# The matched null may cost at most this much of the default sweep's wall time.
MATCHED_NULL_MAX_RATIO = 1.5


@dataclass(frozen=True)
class SweepCase:
    label: str
    config_path: Path
    target_seconds: float
    extra_env: dict


@dataclass(frozen=True)
class SweepProcess:
    """One finished `econ-obs sweep` process: its wall time, partitions, exit status, output."""

    seconds: float
    partitions: int
    returncode: int
    stdout: str


def run_case(case: SweepCase, server_url) -> tuple[float, int, int]:
    """Run one sweep in a fresh process on fresh databases; return (seconds, partitions, rc)."""
    done = run_sweep_process(case, server_url)
    return done.seconds, done.partitions, done.returncode


@contextmanager
def fresh_sweep_environment(server_url, extra_env: dict | None = None) -> Iterator[tuple]:
    """Yield (environment for `econ-obs sweep`, its application database URL): two fresh
    databases on the server and a temporary Dagster folder, all removed afterwards."""
    suffix = uuid.uuid4().hex[:8]
    app_db, dagster_db = f"econ_obs_bench_{suffix}", f"econ_obs_bench_{suffix}_dagster"
    for name in (app_db, dagster_db):
        ensure_database(server_url, name)
    app_url = with_database(server_url, app_db)
    try:
        with tempfile.TemporaryDirectory() as folder:
            yield (
                {
                    **os.environ,
                    **(extra_env or {}),
                    "ECON_OBS_DATABASE_URL": render(app_url),
                    "ECON_OBS_DAGSTER_DATABASE_URL": render(with_database(server_url, dagster_db)),
                    "ECON_OBS_DAGSTER_STORAGE_DIR": folder,
                    "ECON_OBS_DAGSTER_LOGS_DIR": folder,
                },
                app_url,
            )
    finally:
        for name in (app_db, dagster_db):
            drop_database(server_url, name)


def sweep_command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "econ_obs.cli", "sweep", "--config", str(config_path)]


def run_sweep_process(
    case: SweepCase, server_url, after: Callable[[URL], None] | None = None
) -> SweepProcess:
    """Run one sweep in a fresh process on fresh databases; return what it took and printed.
    `after(application database URL)` runs once the sweep succeeded, before the databases
    are dropped."""
    with fresh_sweep_environment(server_url, case.extra_env) as (env, app_url):
        started = time.perf_counter()
        result = subprocess.run(
            sweep_command(case.config_path), env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if after is not None and result.returncode == 0:
            after(app_url)
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
    os.environ.update({k: v for k, v in case.extra_env.items()})
    config = load_sweep_config(case.config_path)
    partitions = len(config.cryptos) * config.folds.n_folds * len(config.costs_bps)
    return SweepProcess(seconds, partitions, result.returncode, result.stdout)


def real_data_dir() -> Path | None:
    """Return the folder of real candles to benchmark on, or None (and say why) if there is none."""
    configured = os.environ.get(BENCH_DATA_ENV_VAR)
    folder = Path(configured) if configured else SHARED_DATA_DIR
    if folder.is_dir():
        return folder.resolve()
    where = f"${BENCH_DATA_ENV_VAR}={configured}" if configured else str(SHARED_DATA_DIR)
    print(
        f"SKIPPED the real-data sweep: no folder at {where}; set {BENCH_DATA_ENV_VAR} to the "
        "folder of <CRYPTO>_1h.csv files to run it"
    )
    return None


def _without_matched_null(folder: Path) -> Path:
    """Return a copy of the default sweep whose matched null has a single permutation."""
    text = DEFAULT_SWEEP_PATH.read_text(encoding="utf-8")
    if "n_perms: 1000" not in text:
        raise RuntimeError(f"{DEFAULT_SWEEP_PATH} no longer sets n_perms: 1000")
    path = folder / "default_n_perms_1.yaml"
    path.write_text(text.replace("n_perms: 1000", "n_perms: 1"), encoding="utf-8")
    return path


def main() -> bool:
    """Print the sweep benchmark table; return True when every target passes."""
    cases = [SweepCase("default sweep (sample data)", DEFAULT_SWEEP_PATH, 120.0, {})]
    data_dir = real_data_dir()
    if data_dir is not None:
        cases.append(
            SweepCase(
                "binance 1h, 4 x 6 x 3 (real data)",
                BINANCE_SWEEP_PATH,
                240.0,
                {"ECON_OBS_DATA_DIR": str(data_dir)},
            )
        )
    server_url = with_database(resolve_database_url(), "postgres")
    print(f"{'sweep':<36} {'partitions':>10} {'wall s':>8} {'part/s':>8} {'target s':>9}  verdict")
    passed, walls = True, {}
    with tempfile.TemporaryDirectory() as folder:
        cases.append(
            SweepCase(
                "default, matched null n_perms=1", _without_matched_null(Path(folder)), 120.0, {}
            )
        )
        for case in cases:
            seconds, partitions, returncode = run_case(case, server_url)
            walls[case.label] = seconds
            ok = returncode == 0 and seconds < case.target_seconds
            passed &= ok
            verdict = "PASS" if ok else "FAIL"
            if returncode != 0:
                verdict += f" (exit {returncode})"
            print(
                f"{case.label:<36} {partitions:>10} {seconds:>8.1f} {partitions / seconds:>8.2f} "
                f"{case.target_seconds:>9.0f}  {verdict}"
            )
    ratio = walls["default sweep (sample data)"] / walls["default, matched null n_perms=1"]
    ok = ratio <= MATCHED_NULL_MAX_RATIO
    print(
        f"  {'PASS' if ok else 'FAIL'} default sweep with the matched null (1000 permutations per "
        f"model row) takes {ratio:.2f}x the wall time of the same sweep with 1 "
        f"(<= {MATCHED_NULL_MAX_RATIO}x)"
    )
    return passed and ok


if __name__ == "__main__":
    main()
