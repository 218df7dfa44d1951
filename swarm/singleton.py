"""One controller, one witness, one refinery per swarm: a lock file each, and their log lines.

The lock is an advisory `flock` held for the life of the process, so a process killed with
-9 releases it at once and its successor takes over; the pid file beside it lets the
witness and the tests find who holds it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from swarm.errors import SwarmError
from swarm.textsafe import visible


class AlreadyRunning(SwarmError):
    """Another process of the same kind holds the lock for this swarm."""


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
