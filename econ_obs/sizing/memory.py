"""A step's peak memory, measured as the process high-water mark while the step ran.

On Linux, writing ``5`` to ``/proc/self/clear_refs`` resets the kernel's resident-set
high-water mark (``VmHWM``) to the current RSS, so ``VmHWM`` read at the end of the block is
the peak reached inside it, not since the process started. Where the reset is refused (no
``/proc``, a read-only ``/proc``, another kernel), the figure falls back to
``getrusage(RUSAGE_SELF).ru_maxrss``, the peak over the process's whole life, and says so in
``lifetime_peak``: an overstatement, never an understatement.

The reset is per process: two steps measured at once in the same process (threads) would
reset each other's mark. Dagster's default multiprocess executor runs each step in its own
process, and the k8s job executor in its own pod, so one step owns its process there.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROC_SELF = Path("/proc/self")
_RESET_PEAK_RSS = "5"  # proc(5): "5" resets the peak resident set size (VmHWM) to the RSS


@dataclass(frozen=True)
class MemoryPeak:
    """What one measured block used: peak and starting resident memory, in bytes."""

    peak_bytes: int  # process high-water mark of resident memory during the block
    baseline_rss_bytes: int | None  # resident memory when the block started; None if unknown
    seconds: float  # wall time of the block
    lifetime_peak: bool  # True: the reset was refused, peak_bytes is the process lifetime peak

    @property
    def growth_bytes(self) -> int | None:
        """Peak above the starting RSS, in bytes; None when the baseline is unknown."""
        if self.baseline_rss_bytes is None:
            return None
        return max(self.peak_bytes - self.baseline_rss_bytes, 0)


class PeakMeter:
    """Handed out by `measure_peak_memory`; `result` is set when the block exits."""

    def __init__(self) -> None:
        self.result: MemoryPeak | None = None


def _status_kib(proc_dir: Path, field: str) -> int | None:
    """Return a `kB` field of <proc_dir>/status (VmRSS, VmHWM) in bytes, or None."""
    try:
        text = (proc_dir / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0]) * 1024
    return None


def _reset_peak(proc_dir: Path) -> bool:
    """Reset the process's VmHWM to its current RSS; False when the kernel refuses."""
    try:
        (proc_dir / "clear_refs").write_text(_RESET_PEAK_RSS)
    except OSError:
        return False
    return True


def _lifetime_peak_bytes() -> int:
    """ru_maxrss in bytes: kilobytes on Linux, bytes on macOS."""
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max_rss if sys.platform == "darwin" else max_rss * 1024


@contextmanager
def measure_peak_memory(proc_dir: Path = PROC_SELF) -> Iterator[PeakMeter]:
    """Measure the block's peak resident memory; the meter's `result` is set on exit, even
    when the block raises. `proc_dir` is the /proc entry of this process (tests point it
    elsewhere to exercise the fallback)."""
    meter = PeakMeter()
    baseline = _status_kib(proc_dir, "VmRSS")
    reset = _reset_peak(proc_dir)
    started = time.perf_counter()
    try:
        yield meter
    finally:
        seconds = time.perf_counter() - started
        peak = _status_kib(proc_dir, "VmHWM") if reset else None
        meter.result = MemoryPeak(
            peak_bytes=peak if peak is not None else _lifetime_peak_bytes(),
            baseline_rss_bytes=baseline,
            seconds=seconds,
            lifetime_peak=peak is None,
        )
