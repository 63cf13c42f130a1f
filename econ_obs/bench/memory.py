"""Memory benchmark: peak memory of a sweep over 2.6M one-minute bars, per bar per asset.

Two Parquet files of 2.6M synthetic one-minute bars (about five years; the load benchmark's
random walk, BTCUSDT and ETHUSDT from different seeds) are swept through `econ-obs sweep` in a
fresh process on fresh databases, as a user runs it: once with factor `returns` on ETHUSDT
(one series held) and once with `btc_overlay` on ETHUSDT (two series: ETHUSDT and BTCUSDT
beside it). Folds, costs, variants and seeds are few and small so that the run is quick; every
bar of every series is still loaded, validated and turned into features.

Two figures per factor, both in bytes per bar per asset, where bars x assets is the bars of
every series the sweep loaded (2.6M x 1 for `returns`, 2.6M x 2 for `btc_overlay`):

* **process peak** (the target): the highest resident memory (RSS) the `econ-obs sweep`
  process reached, fixed costs included (Python, Dagster, pyarrow, the pooled connections).
  It is the larger of each measured step's `peak_bytes` in `step_memory` (VmHWM after the
  step reset the high-water mark, so the process's own peak during the step) and VmRSS
  sampled every SAMPLE_SECONDS over the whole process (start-up, report). This is what a pod
  must hold, and how the issue counted (2.1 GB for 2.6M bars with `returns`).
* **step growth**: the largest (peak_bytes - baseline_rss_bytes) of any step in
  `step_memory`, what the step added on top of the RSS it started with. It leaves out the fixed
  costs, and memory a previous step left behind, so it is the smaller figure; it is printed
  beside the target, never used for it.

A KB is 1000 bytes here, so the target of 0.25 KB is 250 bytes per bar per asset.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import yaml

from econ_obs.bench.load import N_BARS, synthetic_bars
from econ_obs.bench.sweep import fresh_sweep_environment, sweep_command
from econ_obs.config import DEFAULT_SWEEP_PATH
from econ_obs.store.database import (
    make_engine,
    resolve_database_url,
    with_database,
)

TIMEFRAME = "1m"
CRYPTO, OVERLAY = "ETHUSDT", "BTCUSDT"
FACTORS = ("returns", "btc_overlay")
TARGET_BYTES_PER_BAR = 250  # 0.25 KB per bar per asset, KB = 1000 bytes
SAMPLE_SECONDS = 0.01
_STEPS_SQL = sa.text(
    "SELECT asset, peak_bytes, baseline_rss_bytes, lifetime_peak, input_bars, input_assets"
    " FROM step_memory ORDER BY id"
)


@dataclass(frozen=True)
class StepPeak:
    """One step_memory row: the step's peak and starting RSS, in bytes."""

    asset: str
    peak_bytes: int
    baseline_rss_bytes: int
    lifetime_peak: bool

    @property
    def growth_bytes(self) -> int:
        return self.peak_bytes - self.baseline_rss_bytes


@dataclass(frozen=True)
class SweepMemory:
    """A finished sweep's memory: its steps, the sampled RSS peak, and what it loaded."""

    factor: str
    steps: tuple[StepPeak, ...]
    sampled_peak_bytes: int
    bar_assets: int  # bars x assets: every bar of every series loaded
    seconds: float
    returncode: int

    @property
    def process_peak_bytes(self) -> int:
        return max([self.sampled_peak_bytes, *(s.peak_bytes for s in self.steps)])

    @property
    def step_growth_bytes(self) -> int:
        return max((s.growth_bytes for s in self.steps), default=0)


def write_data(folder: Path) -> None:
    """Write 2.6M one-minute bars of ETHUSDT and BTCUSDT as Parquet files into folder."""
    for seed, crypto in enumerate((OVERLAY, CRYPTO)):
        frame = synthetic_bars(N_BARS, seed=seed)
        frame.to_parquet(folder / f"{crypto}_{TIMEFRAME}.parquet", index=False)


def write_config(folder: Path, data_dir: Path, factor: str) -> Path:
    """Write a small sweep (2 folds, 1 cost, 1 variant) of ETHUSDT on the 1m bars; its path."""
    raw = yaml.safe_load(DEFAULT_SWEEP_PATH.read_text(encoding="utf-8"))
    raw["run_id"] = f"bench_memory_{factor}"
    raw["data"] = {"format": "ohlcv_csv", "path": str(data_dir), "timeframe": TIMEFRAME}
    raw["cryptos"] = [CRYPTO]
    raw["factor"] = factor
    raw["folds"] = {"n_folds": 2, "train_bars": 2000, "test_bars": 500, "purge_bars": 24}
    raw["costs_bps"] = [10]
    raw["model"] = {"variants": [raw["model"]["variants"][0]]}
    raw["baselines"] = {"random": {"n_seeds": 10, "hold_bars": 24}, "matched": {"n_perms": 10}}
    path = folder / f"memory_{factor}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _rss_bytes(pid: int) -> int:
    """The process's resident memory now, in bytes (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _sample_peak(process: subprocess.Popen, peak: list[int]) -> None:
    while process.poll() is None:
        peak[0] = max(peak[0], _rss_bytes(process.pid))
        time.sleep(SAMPLE_SECONDS)


def run_sweep(config_path: Path, factor: str, bar_assets: int, server_url) -> SweepMemory:
    """Run `econ-obs sweep` in a fresh process on fresh databases; return its memory."""
    with fresh_sweep_environment(server_url) as (env, app_url):
        started = time.perf_counter()
        process = subprocess.Popen(
            sweep_command(config_path),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peak = [0]
        sampler = threading.Thread(target=_sample_peak, args=(process, peak), daemon=True)
        sampler.start()
        stdout, stderr = process.communicate()
        sampler.join()
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            print(stdout[-2000:], stderr[-2000:], sep="\n")
        engine = make_engine(app_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(_STEPS_SQL).all()
        finally:
            engine.dispose()
    steps = tuple(
        StepPeak(
            row.asset, int(row.peak_bytes), int(row.baseline_rss_bytes or 0), row.lifetime_peak
        )
        for row in rows
    )
    return SweepMemory(factor, steps, peak[0], bar_assets, seconds, process.returncode)


def _per_bar(value: int, bar_assets: int) -> float:
    return value / bar_assets


def report(result: SweepMemory) -> bool:
    """Print one sweep's steps and both figures; return True when the target passes."""
    mib = 1024**2
    print(
        f"factor {result.factor}: {N_BARS:,} bars x {result.bar_assets // N_BARS} asset(s), "
        f"{result.seconds:.1f} s, exit {result.returncode}"
    )
    print(
        f"  {'step':<14} {'peak MiB':>9} {'start MiB':>9} {'growth MiB':>10} {'growth B/bar':>12}"
    )
    for step in result.steps:
        lifetime = "  (lifetime peak: the reset was refused)" if step.lifetime_peak else ""
        peak, start = step.peak_bytes / mib, step.baseline_rss_bytes / mib
        print(
            f"  {step.asset:<14} {peak:>9.1f} {start:>9.1f} {step.growth_bytes / mib:>10.1f}"
            f" {_per_bar(step.growth_bytes, result.bar_assets):>12.1f}{lifetime}"
        )
    process = _per_bar(result.process_peak_bytes, result.bar_assets)
    growth = _per_bar(result.step_growth_bytes, result.bar_assets)
    print(
        f"  process peak {result.process_peak_bytes / mib:,.1f} MiB = {process:.1f} B/bar/asset"
        f" ({process / 1000:.3f} KB; sampled RSS {result.sampled_peak_bytes / mib:,.1f} MiB);"
        f" largest step growth {result.step_growth_bytes / mib:,.1f} MiB ="
        f" {growth:.1f} B/bar/asset"
    )
    passed = result.returncode == 0 and len(result.steps) > 0 and process <= TARGET_BYTES_PER_BAR
    ratio = process / TARGET_BYTES_PER_BAR
    print(
        f"  {'PASS' if passed else 'FAIL'} {result.factor}: process peak "
        f"{process / 1000:.3f} KB per bar per asset <= {TARGET_BYTES_PER_BAR / 1000:.2f} KB "
        f"({ratio:.2f}x the target)"
    )
    return passed


def main(factors: tuple[str, ...] = FACTORS) -> bool:
    """Run the 2.6M-bar sweep for each factor; print its figures; True when every one passes."""
    server_url = with_database(resolve_database_url(), "postgres")
    passed = True
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder, "data")
        data_dir.mkdir()
        write_data(data_dir)
        for factor in factors:
            assets = 2 if factor == "btc_overlay" else 1
            config_path = write_config(Path(folder), data_dir, factor)
            passed &= report(run_sweep(config_path, factor, N_BARS * assets, server_url))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main(tuple(sys.argv[1:]) or FACTORS) else 1)
