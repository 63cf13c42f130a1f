"""Dagster runs whose process is gone: found by the process tags every sweep run carries.

A run executes in the process of the `econ-obs` command that started it. Killed with
`kill -9` (or by the OOM killer, or a power cut), that process cannot report the end of its
run, which stays STARTED in Dagster's storage for ever. Every run a sweep starts carries its
process's pid, start time and host; a run on this host whose process no longer exists (or
whose pid now belongs to a younger process) is an orphan, and the next command that opens
the instance marks it FAILED with the reason.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psutil
from dagster_postgres.utils import DagsterPostgresException
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from econ_obs.runtime import LOGS_DIR_ENV_VAR
from econ_obs.store.database import (
    DatabaseError,
    connect,
    describe,
    first_line,
    make_engine,
    mask_password,
)

PID_TAG = "econ_obs/pid"
HOST_TAG = "econ_obs/host"
PROCESS_STARTED_TAG = "econ_obs/process_started"  # psutil create_time, seconds since epoch
# A pid's create time is read with a precision of a clock tick; allow for it.
START_TIME_TOLERANCE_SECONDS = 1.0
# What Dagster prints to stderr, with the whole SQL statement, each time storage refuses an event
# (alone, or in a batch that it then tries event by event).
STORAGE_FAILURE_PRINTS = (
    "Exception while writing logger call to event log",
    "Exception while storing event batch",
    "Falling back to storing multiple single-event storage requests",
)
STORAGE_LOG_NAME = "dagster_storage_errors.log"  # in the compute log folder
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def process_tags() -> dict[str, str]:
    """Return the run tags naming this process: pid, its start time and the host."""
    started = psutil.Process(os.getpid()).create_time()
    return {
        PID_TAG: str(os.getpid()),
        PROCESS_STARTED_TAG: f"{started:.2f}",
        HOST_TAG: socket.gethostname(),
    }


def _process_alive(pid: int, started: float) -> bool:
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and (
            abs(process.create_time() - started) <= START_TIME_TOLERANCE_SECONDS
        )
    except psutil.Error:
        return False


def _unfinished_runs_on_this_host(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    filters = dg.RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: socket.gethostname()})
    return list(instance.get_runs(filters=filters))


def mark_orphaned_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Mark FAILED every unfinished run of this host whose process is gone; return them."""
    orphans = []
    for run in _unfinished_runs_on_this_host(instance):
        try:
            pid = int(run.tags[PID_TAG])
            started = float(run.tags[PROCESS_STARTED_TAG])
        except (KeyError, ValueError):
            continue  # not started by econ-obs: Dagster's run monitoring looks after it
        if pid == os.getpid() or _process_alive(pid, started):
            continue
        instance.report_run_failed(
            run,
            message=(
                f"orphaned: the econ-obs process {pid} on {run.tags[HOST_TAG]} that ran it is "
                f"gone (killed?); marked FAILED by econ-obs pid {os.getpid()}"
            ),
        )
        orphans.append(run)
    return orphans


def end_own_runs(instance: dg.DagsterInstance, reason: str) -> list[dg.DagsterRun]:
    """Mark CANCELED every unfinished run this process started; return them."""
    own = process_tags()
    ended = []
    for run in _unfinished_runs_on_this_host(instance):
        if run.tags.get(PID_TAG) == own[PID_TAG]:
            instance.report_run_canceled(run, message=reason)
            ended.append(run)
    return ended


def _storage_error(
    dagster_url: URL, doing: str, error: BaseException, details: Path | None = None
) -> DatabaseError:
    cause = error.__cause__ if error.__cause__ is not None else error
    reason = mask_password(first_line(getattr(cause, "orig", None) or cause))
    where = f" (Dagster's own messages: {details})" if details and details.exists() else ""
    return DatabaseError(f"{doing} Dagster's storage, {describe(dagster_url)}: {reason}{where}")


class _DivertedStderr(io.TextIOBase):
    """stderr, except Dagster's event-storage write failures, which are appended to a file."""

    def __init__(self, stderr: io.TextIOBase, details: Path) -> None:
        self.stderr, self.details = stderr, details
        self.diverting = True  # a handler made inside the block may keep this object

    def write(self, text: str) -> int:
        if not (self.diverting and text.startswith(STORAGE_FAILURE_PRINTS)):
            return self.stderr.write(text)
        with self.details.open("a", encoding="utf-8") as log:
            log.write(mask_password(text))
        return len(text)

    def flush(self) -> None:
        self.stderr.flush()

    def fileno(self) -> int:
        return self.stderr.fileno()

    def isatty(self) -> bool:
        return self.stderr.isatty()


class _DivertWarnings(logging.Filter):
    """Sends root-logger records below ERROR (dagster-postgres' "Retrying failed database
    connection", one per attempt) to the file instead of the console."""

    def __init__(self, details: Path) -> None:
        super().__init__()
        self.details = details

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        with self.details.open("a", encoding="utf-8") as log:
            log.write(mask_password(f"{record.levelname}:{record.name}:{record.getMessage()}\n"))
        return False


@contextmanager
def _storage_noise_to(details: Path | None) -> Iterator[None]:
    """While the block runs, write what Dagster and dagster-postgres say about a storage
    outage (a retry warning and the failed SQL per event, dozens of lines) to `details`, so
    that the console keeps one line: the error the block ends with."""
    if details is None:
        yield
        return
    root, stderr = logging.getLogger(), sys.stderr
    divert = _DivertWarnings(details)
    root.addFilter(divert)
    sys.stderr = diverted = _DivertedStderr(stderr, details)
    try:
        yield
    finally:
        sys.stderr, diverted.diverting = stderr, False
        root.removeFilter(divert)


def _storage_log() -> Path | None:
    """The file in the compute log folder (set by prepare_runtime) for storage messages."""
    folder = os.environ.get(LOGS_DIR_ENV_VAR)
    return Path(folder) / STORAGE_LOG_NAME if folder else None


@contextmanager
def open_instance(dagster_url: URL) -> Iterator[dg.DagsterInstance]:
    """Yield the Dagster instance of DAGSTER_HOME; storage that cannot be reached, before or
    during the block, is a one-line DatabaseError instead of dagster-postgres' retries."""
    engine = make_engine(dagster_url)
    try:
        with connect(engine):  # one attempt, one line: not five retries with a warning each
            pass
    finally:
        engine.dispose()
    try:
        instance = dg.DagsterInstance.get()
    except Exception as error:  # dagster-postgres raises its own and SQLAlchemy's errors
        raise _storage_error(dagster_url, "cannot open", error) from None
    # dagster-postgres opens a new connection for every read and write of its storage, about
    # 2.6 per event of a run; the webserver's pooled engine (one connection held, no statement
    # timeout) serves this process's runs instead. A dead pooled connection is dropped by
    # SQLAlchemy on its first error, and the block below turns that error into one line.
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=20)
    details = _storage_log()
    with instance, _storage_noise_to(details):
        try:
            yield instance
        except (DagsterPostgresException, SQLAlchemyError) as error:
            # Steps' own database errors end as step failures; what reaches here is storage.
            raise _storage_error(dagster_url, "lost", error, details) from None
