"""compute_ahead: a step's compute in a worker process, results in order, errors as they were."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from econ_obs import compute_ahead
from econ_obs.compute_ahead import (
    JOBS_AHEAD,
    WorkerError,
    auto_workers,
    computed_in_order,
    resolve_workers,
    usable_cpus,
)


def slow_square(value: int, seconds: float) -> int:
    time.sleep(seconds)
    return value * value


def fails_on(value: int, bad: int) -> int:
    if value == bad:
        raise ValueError(f"value {value} is bad on purpose")
    return value


def big_array(megabytes: int) -> float:
    block = np.ones(megabytes * 1024 * 1024 // 8)
    return float(block.sum())


def kill_self(value: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return value


def worker_pid(value: int) -> int:
    return os.getpid()


def test_results_come_in_the_jobs_order_whatever_each_takes():
    # The first jobs are the slowest: a pool that yielded as jobs finish would reorder them.
    jobs = [(f"tag{i}", (i, 0.05 if i < 2 else 0.0)) for i in range(8)]

    computed = list(computed_in_order(slow_square, jobs, workers=1))

    assert [tag for tag, _ in computed] == [f"tag{i}" for i in range(8)]
    assert [c.value for _, c in computed] == [i * i for i in range(8)]


def test_a_worker_gives_what_the_step_would_compute_itself():
    jobs = [(i, (i, 0.0)) for i in range(5)]

    inline = [(tag, c.value) for tag, c in computed_in_order(slow_square, jobs, workers=0)]
    ahead = [(tag, c.value) for tag, c in computed_in_order(slow_square, jobs, workers=1)]

    assert ahead == inline == [(i, i * i) for i in range(5)]


def test_the_work_runs_in_another_process_and_tags_stay_here():
    unpicklable_tag = lambda: None  # noqa: E731  (a tag never leaves this process)

    ((tag, computed),) = computed_in_order(worker_pid, [(unpicklable_tag, (0,))], workers=1)

    assert tag is unpicklable_tag
    assert computed.value != os.getpid()


def test_jobs_are_read_a_few_ahead_not_all_at_once():
    read: list[int] = []

    def jobs():
        for i in range(JOBS_AHEAD + 10):
            read.append(i)
            yield i, (i, 0.0)

    results = computed_in_order(slow_square, jobs(), workers=1)
    next(results)

    assert len(read) == JOBS_AHEAD + 1  # the first, and JOBS_AHEAD behind it
    assert [c.value for _, c in results] == [i * i for i in range(1, JOBS_AHEAD + 10)]


def test_an_error_is_raised_with_its_message_after_the_results_before_it():
    taken = []
    with pytest.raises(ValueError, match="value 3 is bad on purpose"):
        for _tag, computed in computed_in_order(fails_on, [(i, (i, 3)) for i in range(6)], 1):
            taken.append(computed.value)

    assert taken == [0, 1, 2]


def test_the_worker_measures_its_peak_memory():
    ((_, small),) = computed_in_order(big_array, [(0, (1,))], workers=1)
    ((_, large),) = computed_in_order(big_array, [(0, (200,))], workers=1)
    ((_, inline),) = computed_in_order(big_array, [(0, (1,))], workers=0)

    assert large.worker_peak_bytes - small.worker_peak_bytes > 150 * 1024 * 1024
    assert inline.worker_peak_bytes == 0  # the step's own peak already counts it


def test_a_killed_worker_fails_the_step_in_one_line_and_the_next_step_starts_a_new_one():
    with pytest.raises(WorkerError, match=r"worker process died.*result_workers: 0"):
        list(computed_in_order(kill_self, [(0, (0,))], workers=1))

    assert [c.value for _, c in computed_in_order(slow_square, [(0, (3, 0.0))], 1)] == [9]


def test_a_worker_ends_when_its_step_process_is_killed(tmp_path):
    """A step process killed outright (SIGKILL: no exit handler runs) leaves no worker."""
    script = textwrap.dedent(
        """
        import os, sys, time
        from econ_obs.compute_ahead import computed_in_order
        from econ_obs_tests.test_compute_ahead import worker_pid
        ((_, c),) = computed_in_order(worker_pid, [(0, (0,))], workers=1)
        print(c.value, flush=True)
        time.sleep(60)
        """
    )
    step = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        worker = int(step.stdout.readline())
        assert _running(worker)
    finally:
        step.kill()
        step.wait()

    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("100000 100000\n", 1.0), ("50000 100000\n", 0.5), (None, None)],
)
def test_usable_cpus_follow_a_cgroup_cpu_limit(tmp_path, cpu_max, expected):
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    affinity = float(len(os.sched_getaffinity(0)))

    assert usable_cpus(path) == (affinity if expected is None else min(affinity, expected))


def test_auto_takes_a_worker_only_beside_a_second_cpu(monkeypatch):
    assert [auto_workers(cpus) for cpus in (0.5, 1.0, 1.9, 2.0, 8.0)] == [0, 0, 0, 1, 1]
    monkeypatch.setattr(compute_ahead, "usable_cpus", lambda: 1.0)
    assert resolve_workers(None) == 0
    assert resolve_workers(2) == 2


def _run_one_job_and_return(_: int) -> None:
    list(computed_in_order(slow_square, [(0, (2, 0.0))], workers=1))


def test_a_step_process_that_is_itself_a_multiprocessing_child_still_exits():
    """Dagster's code server runs each run in a spawned child; at its exit multiprocessing joins
    the child's own children before the pool's exit hook would stop them (it hung before)."""
    import multiprocessing

    step = multiprocessing.get_context("spawn").Process(target=_run_one_job_and_return, args=(0,))
    step.start()
    step.join(timeout=60)
    alive = step.is_alive()
    if alive:
        step.kill()
    assert not alive
    assert step.exitcode == 0
