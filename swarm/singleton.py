"""One controller, one witness, one refinery per swarm: the way each of them runs.

`run_daemon` is the whole life of such a process: take its lock, run its loop, leave
cleanly on SIGTERM, SIGHUP or Ctrl-C (through every `finally`, so a running gate is killed
and the store closed), print a bad-input error as one line, release the lock. The lock is
an advisory `flock` held for the life of the process, so a process killed with -9 releases
it at once and its successor takes over; the pid file beside it lets the witness and the
tests find who holds it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from swarm.errors import SwarmError
from swarm.textsafe import visible

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class AlreadyRunning(SwarmError):
    """Another process of the same kind holds the lock for this swarm."""


class Stopped(BaseException):
    """A stop signal arrived: leave the loop through its clean-up path.

    A BaseException, so no loop's `except Exception` (kept to outlive one bad tick)
    swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def take_lock(state_dir: Path, name: str) -> int:
    """Hold `<state>/<name>.lock`; the returned descriptor keeps it until closed."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / f"{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"another {name} is running for this swarm") from None
    (state_dir / f"{name}.pid").write_text(f"{os.getpid()}\n")
    return fd


def log_line(message: str) -> None:
    """What the controller, witness and refinery panes show: one timestamped line each."""
    print(time.strftime("%H:%M:%S ") + visible(message), flush=True)


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signum)


def run_daemon(state_dir: Path, name: str, loop: Callable[[], int | None]) -> int:
    """Run `loop` as the swarm's one `name` process; its exit code.

    0 when the loop returns; 1 if another `name` holds the lock; 128 + the signal when
    stopped by one (130 for Ctrl-C); the error's code, after one line, for a SwarmError.
    """
    try:
        lock = take_lock(state_dir, name)
    except AlreadyRunning as exc:
        print(f"swarm: {exc.message}", file=sys.stderr)
        return 1
    main = threading.current_thread() is threading.main_thread()  # signals reach only it
    before = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS} if main else {}
    try:
        return int(loop() or 0)
    except Stopped as stop:
        return _stopped(name, stop.signum)
    except BaseExceptionGroup as group:  # raised inside an anyio task group
        stops, rest = group.split(Stopped)
        if stops is None or rest is not None:
            raise
        first = stops.exceptions[0]
        return _stopped(name, first.signum if isinstance(first, Stopped) else signal.SIGTERM)
    except KeyboardInterrupt:
        return _stopped(name, signal.SIGINT)
    except SwarmError as exc:  # a broken plan, a lost store: one line, the pane keeps it
        print(f"swarm: {visible(exc.message)}", file=sys.stderr, flush=True)
        return exc.exit_code
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        os.close(lock)


def _stopped(name: str, signum: int) -> int:
    log_line(f"{name} stopped ({signal.Signals(signum).name})")
    return 128 + signum
