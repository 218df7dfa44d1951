"""Waiting for an exclusive `flock` with a deadline: one loop for every lock the swarm takes
(a pane's sender, a build, a `swarm up`). Closing the descriptor releases the lock."""

from __future__ import annotations

import fcntl
import time


def wait_for_flock(fd: int, timeout: float, interval: float = 0.05) -> bool:
    """Take the lock on `fd`; False if another holder kept it past `timeout` (0: try once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)
