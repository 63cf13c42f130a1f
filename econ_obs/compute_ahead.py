"""A step's domain compute, run ahead of its writes in a worker process.

A result step alternates two kinds of work: the domain compute of a slice (baselines, trades,
the matched null) and what follows it (Dagster's events and metadata, the rows' COPY, the
checks' reads). In one process they take turns, and on two cores one of them sits idle.
`computed_in_order` hands the compute to a worker process, a few slices ahead, and yields the
results in the order the jobs came, so the step writes slice k while the worker computes
slice k + 1: the step's wall time tends to the larger of the two instead of their sum.

Nothing changes in what is computed: the worker calls the same pure functions on the same
pickled inputs (the tests compare the rows of 0 and 1 workers). An error raised in the worker
is raised again, with its own type and message, when the step reaches that job, after the
jobs before it were written, as it would be without a worker. A worker that dies (killed by
the kernel for memory, say) fails the step with one line that says so.

The worker is a fork of the step's process, made when the step first hands it a job: it
starts in milliseconds with everything the step has imported, and imports nothing again (a
fork server or spawn would re-import the step's modules, about a second on two cores, and
its main module, which some launchers do not guard). It only unpickles jobs, runs numpy code
and pickles results, none of which takes a lock another thread of the step could hold. It
ignores SIGINT, so Ctrl-C reaches the step, which stops it, and it ends with the step's
process however that ends (a kill included). The pool lives as long as the process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from econ_obs.sizing.memory import measure_peak_memory

# Jobs handed to the worker ahead of the one the step waits for: enough to keep it computing
# while the step writes a batch of 32 result partitions (about 11 slices of 3 costs), few
# enough that what waits is a few megabytes of slices and rows.
JOBS_AHEAD = 16
T = TypeVar("T")
_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


class WorkerError(RuntimeError):
    """The worker process died before it returned a job's result."""


@dataclass(frozen=True)
class Computed:
    """A job's result and the worker's peak resident memory while it ran (bytes; 0 inline)."""

    value: Any
    worker_peak_bytes: int


def usable_cpus(cpu_max: Path = _CPU_MAX) -> float:
    """Return the CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota
    (a Kubernetes CPU limit); a pod limited to one CPU counts one whatever the node has."""
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return min(cpus, int(quota) / int(period))


def auto_workers(cpus: float) -> int:
    """Workers for `result_workers: auto`: one when the process has a second CPU for it (the
    step itself keeps the first), none otherwise."""
    return 1 if cpus >= 2 else 0


def resolve_workers(configured: int | None) -> int:
    """Return the worker count a step uses: the configured one, or auto's (None)."""
    return auto_workers(usable_cpus()) if configured is None else configured


def _start_worker(step_pid: int) -> None:
    """A worker ignores Ctrl-C (the step stops it) and ends when the step's process ends,
    however it ends: it holds a copy of the job queue's sending end, so it would otherwise
    wait for work forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(step_pid,), daemon=True).start()


def _exit_with(pid: int) -> None:
    try:
        process = os.pidfd_open(pid)  # readable once the process has ended (Linux 5.3+)
        select.select([process], [], [])
    except (AttributeError, OSError):  # no pidfd: poll, or the step is already gone
        while _alive(pid):
            time.sleep(1.0)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _measured_call(function: Callable[..., Any], args: tuple) -> Computed:
    with measure_peak_memory() as meter:
        value = function(*args)
    return Computed(value, meter.result.peak_bytes if meter.result else 0)


_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


def _shared_pool(workers: int) -> ProcessPoolExecutor:
    """Return the process's pool of `workers` worker processes, started on first use."""
    global _pool, _pool_workers
    if _pool is None or _pool_workers != workers:
        _stop_pool()
        context = multiprocessing.get_context("fork")  # the module docstring says why
        _pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
        )
        _pool_workers = workers
        # A step process that is itself a multiprocessing child (Dagster's code server starts
        # each run so) joins its children when it exits, before the pool's own exit hook would
        # stop them: they would wait for work and the run process for them, forever. This
        # finaliser runs before that join, and at any other process's exit too.
        multiprocessing.util.Finalize(None, _stop_pool, exitpriority=100)
    return _pool


def _stop_pool(wait: bool = True) -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=wait, cancel_futures=True)
    _pool = None


def computed_in_order(
    function: Callable[..., Any], jobs: Iterable[tuple[T, tuple]], workers: int
) -> Iterator[tuple[T, Computed]]:
    """Yield (tag, function(*args)) for each (tag, args) of `jobs`, in the jobs' order; the tag
    stays here (what the step needs beside the result), the args go to the worker.

    workers == 0 calls it here, one job at a time. Otherwise the jobs go to a pool of
    `workers` processes, at most JOBS_AHEAD + workers of them in flight; `function` and every
    args must pickle (a module-level function, plain values). `jobs` is read lazily, so a job
    made from a database read is read while the jobs before it run.
    """
    if workers == 0:
        for tag, args in jobs:
            yield tag, Computed(function(*args), 0)
        return
    pool = _shared_pool(workers)
    pending: deque[tuple[T, Future]] = deque()
    try:
        for tag, args in jobs:
            pending.append((tag, pool.submit(_measured_call, function, args)))
            if len(pending) >= JOBS_AHEAD + workers:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())
    finally:
        for _, future in pending:  # the step failed or stopped early: drop what is left
            future.cancel()


def _result(tag: T, future: Future) -> tuple[T, Computed]:
    try:
        return tag, future.result()
    except BrokenProcessPool:
        _stop_pool(wait=False)  # the next step starts a new pool
        raise WorkerError(
            "the result worker process died before returning its slice (killed by the "
            "kernel for memory?); rerun with result_workers: 0 to compute in the step's "
            "own process"
        ) from None
