"""SIGINT and SIGTERM stop a command within seconds, at any stage, with status 128 + signal.

Two paths, because Dagster takes the signals over while a run executes in-process: it
replaces both handlers, swallows a signal that arrives outside an op, and retries an op
interrupted inside it when the op has a retry policy (ours do, for lost connections), so a
run would go on writing every partition.

* Graceful: while our handler is installed, a signal raises `Interrupted` (a BaseException,
  like KeyboardInterrupt, so no `except Exception` swallows it); open transactions roll back
  on the way out, and the command exits 130 (SIGINT) or 143 (SIGTERM).
* Hard: the C-level handler also writes the signal number to a wake-up pipe, whoever's Python
  handler is installed. A watcher thread reads it; if the main thread has not left
  `stop_on_signals` within GRACE_SECONDS, it runs the registered clean-ups (mark this
  process's Dagster run canceled), the exit functions (stop an embedded server this command
  started) and ends the process with os._exit. PostgreSQL rolls back the transaction of a
  connection that goes away, so a partition being written is never half there.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_SECONDS = 1.0  # how long the main thread has to unwind by itself
HARD_STOP_DEADLINE_SECONDS = 3.0  # clean-ups that take longer are abandoned

_hard_stop_callbacks: list[Callable[[int], None]] = []
_received: list[int] = []  # signals seen by the watcher inside the current block


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; the command stops with exit status 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def on_hard_stop(callback: Callable[[int], None]) -> Callable[[], None]:
    """Run callback(signum) if the process must be ended by the watcher; return an undo."""
    _hard_stop_callbacks.append(callback)
    return lambda: _hard_stop_callbacks.remove(callback)


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def raise_if_signalled() -> None:
    """Raise Interrupted if SIGINT or SIGTERM arrived inside the current `stop_on_signals`.

    For the signal that Dagster's own handler turned into a failed step: the run ends
    "failed", returns normally, and without this the command would go on to its next stage.
    Outside a block it does nothing.
    """
    if _received:
        raise Interrupted(_received[0])


def _hard_stop(signum: int) -> None:
    exit_status = 128 + signum
    # Whatever happens below, the process is gone within the deadline.
    deadline = threading.Timer(HARD_STOP_DEADLINE_SECONDS, os._exit, args=(exit_status,))
    deadline.daemon = True
    deadline.start()
    name = signal.Signals(signum).name
    for callback in reversed(list(_hard_stop_callbacks)):
        try:
            callback(signum)
        except Exception as error:  # a clean-up that fails must not keep the process alive
            print(f"econ-obs: clean-up after {name} failed: {error}", file=sys.stderr)
    print(f"econ-obs: interrupted by {name}", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # The main thread is still running; once the server stops it may complain. Not to us.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    atexit._run_exitfuncs()  # what a normal exit runs: stop an embedded server we started
    os._exit(exit_status)


def _watch(read_fd: int, main_done: threading.Event) -> None:
    try:
        while data := os.read(read_fd, 64):
            received = [number for number in data if number in INTERRUPT_SIGNALS]
            _received.extend(received)
            if received and not main_done.wait(GRACE_SECONDS):
                _hard_stop(received[0])
    except OSError:
        pass
    finally:
        os.close(read_fd)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM stop the command (see the module docstring).

    Must be entered from the main thread. Raises Interrupted when the main thread sees the
    signal itself; otherwise the watcher ends the process.
    """
    previous = {signum: signal.getsignal(signum) for signum in INTERRUPT_SIGNALS}
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    main_done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(read_fd, main_done), name="econ-obs-signals", daemon=True
    )
    watcher.start()
    previous_wakeup_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in INTERRUPT_SIGNALS:
        signal.signal(signum, _raise_interrupted)
    _received.clear()
    try:
        yield
        raise_if_signalled()  # a signal someone else's handler swallowed still stops us
    finally:
        main_done.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_wakeup_fd)
        os.close(write_fd)  # the watcher reads end-of-file and returns
        _received.clear()
