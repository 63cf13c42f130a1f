"""measure_peak_memory: the peak inside the block, after a reset of the process high-water mark."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import pytest

from econ_obs.sizing import measure_peak_memory

MB = 1_000_000


def _allocate_and_touch(n_bytes: int) -> int:
    """Allocate n_bytes of float64, write every page (so it is resident), free it; return a sum."""
    block = np.ones(n_bytes // 8)
    total = int(block[:: 4096 // 8].sum())
    del block
    gc.collect()
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_peak_grows_with_an_allocation_inside_the_block():
    with measure_peak_memory() as meter:
        _allocate_and_touch(200 * MB)
    peak = meter.result
    assert peak is not None
    assert not peak.lifetime_peak, "the kernel refused the VmHWM reset"
    assert peak.baseline_rss_bytes is not None
    # The array was freed inside the block: only the high-water mark still shows it.
    assert peak.growth_bytes >= 150 * MB
    assert peak.seconds > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_the_reset_forgets_an_earlier_peak():
    _allocate_and_touch(300 * MB)  # a large peak before the block, in the same process
    with measure_peak_memory() as meter:
        small = np.ones(1000)
        assert small.sum() == 1000
    peak = meter.result
    assert not peak.lifetime_peak
    # Without the reset VmHWM would still hold the 300 MB above; with it, the block's own
    # peak is its starting RSS plus a few pages.
    assert peak.growth_bytes < 20 * MB


def test_without_proc_the_figure_is_the_lifetime_peak_and_says_so(tmp_path: Path):
    _allocate_and_touch(100 * MB)
    with measure_peak_memory(proc_dir=tmp_path / "missing") as meter:
        pass
    peak = meter.result
    assert peak.lifetime_peak
    assert peak.baseline_rss_bytes is None
    assert peak.growth_bytes is None
    assert peak.peak_bytes >= 100 * MB  # ru_maxrss still remembers the earlier allocation


def test_the_result_is_set_when_the_block_raises():
    with pytest.raises(RuntimeError, match="step failed"), measure_peak_memory() as meter:
        raise RuntimeError("step failed")
    assert meter.result is not None
    assert meter.result.peak_bytes > 0
