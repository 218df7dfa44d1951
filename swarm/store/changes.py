"""One LISTEN connection per process and PostgreSQL store: how a team's loops learn of a change.

Every write transaction on PostgreSQL ends with `NOTIFY swarm_changes` (swarm.store.postgres).
A process's controller, sidebar, witness and refinery all want to know "did anything change?"
many times a second; asking the server (a query each time, per loop, per machine) is what made
five machines cost five times one. Instead one daemon thread per process holds a LISTEN
connection and counts the notifications it receives: `seq` is that count, so asking it costs no
query, and `wait` sleeps on a condition that the thread signals within milliseconds of any
machine's commit.

The count is only ever conservative: a notification never received (the server restarted, the
network dropped) would hide a change, so every (re)connection counts as a change too, and a lost
connection is retried forever with one log line each time it goes and comes back, never a
traceback. Until the first LISTEN is in place no caller is told a number (they would miss a
commit made before it).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from swarm.errors import SwarmError
from swarm.store.backend import redact

CHANNEL = "swarm_changes"
RECONNECT_MIN = 0.5  # seconds before the first reconnection attempt, doubled up to the max
RECONNECT_MAX = 10.0
IDLE_CHECK = 5.0  # seconds the listening thread waits for a notification before looking again

Opener = Callable[[str], psycopg.Connection[Any]]
Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ChangeListener:
    """Counts the NOTIFYs of one store (thread-safe): `seq` and `wait` never query."""

    def __init__(self, url: str, opener: Opener, log: Log = _stderr) -> None:
        self.url = url
        self._open = opener
        self._log = log
        self._cond = threading.Condition()
        self._seq = 0
        self._connected = False
        self._first_error: SwarmError | None = None
        self._stop = False  # the thread ends within IDLE_CHECK seconds
        self._thread = threading.Thread(target=self._run, name="swarm-listen", daemon=True)

    def start(self) -> None:
        """Start listening; returns once LISTEN is in place (or raises the first failure)."""
        self._thread.start()
        with self._cond:
            while not self._connected and self._first_error is None:
                self._cond.wait()
            if self._first_error is not None:
                raise self._first_error

    @property
    def seq(self) -> int:
        with self._cond:
            return self._seq

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._connected

    def wait(self, since: int, timeout: float) -> int:
        """Sleep until `seq` is no longer `since` or `timeout` seconds pass; return `seq`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seq == since and not self._stop:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._seq

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def bump(self) -> None:
        """This process committed a change: every reader in it sees a new `seq` at once
        (its NOTIFY, a moment later, only wakes them once more)."""
        self._bump()

    def _bump(self, connected: bool | None = None) -> None:
        with self._cond:
            self._seq += 1
            if connected is not None:
                self._connected = connected
            self._cond.notify_all()

    def _run(self) -> None:
        delay = RECONNECT_MIN
        lost: str | None = None
        while not self._stop:
            try:
                conn = self._open(self.url)
            except SwarmError as exc:
                if not self._thread_started_ok(exc):
                    return
                if lost is None:
                    lost = exc.message
                    self._log(f"store listener: {exc.message}; reconnecting")
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                if lost is not None:
                    self._log(f"store listener: listening to {redact(self.url)} again")
                lost, delay = None, RECONNECT_MIN
                self._bump(connected=True)  # whatever happened while away counts as a change
                while not self._stop:
                    # One wake per turn: a burst's other notifications are the next turns'.
                    if any(True for _ in conn.notifies(timeout=IDLE_CHECK, stop_after=1)):
                        self._bump()
            except psycopg.Error as exc:
                if self._stop:
                    break
                lost = " ".join(str(exc).split()) or type(exc).__name__
                self._log(f"store listener: lost {redact(self.url)} ({lost}); reconnecting")
                with self._cond:
                    self._connected = False
            finally:
                conn.close()
            if not self._stop:
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)

    def _thread_started_ok(self, exc: SwarmError) -> bool:
        """The first connection failing is the caller's error (one line), not a retry loop."""
        with self._cond:
            if self._seq == 0:
                self._first_error = exc
                self._cond.notify_all()
                return False
            return True


_listeners: dict[tuple[int, str], ChangeListener] = {}
_lock = threading.Lock()


def listener(url: str, opener: Opener) -> ChangeListener:
    """This process's listener for the store at `url` (started on first use).

    Keyed by the process id too: a forked child never inherits its parent's thread.
    """
    key = (os.getpid(), url)
    with _lock:
        found = _listeners.get(key)
        if found is not None:
            return found
        made = ChangeListener(url, opener)
        made.start()  # raises (one line) if the store cannot be reached at all
        _listeners[key] = made
        return made


def running(url: str) -> bool:
    """This process already listens to `url` (a loop asked it for changes)."""
    return (os.getpid(), url) in _listeners


def committed(url: str) -> None:
    """This process committed a change to `url`: its listener, if it has one, counts it now."""
    found = _listeners.get((os.getpid(), url))
    if found is not None:
        found.bump()


def forget(url: str) -> None:
    """Stop and drop this process's listener for `url` (tests; a store that went away)."""
    with _lock:
        found = _listeners.pop((os.getpid(), url), None)
    if found is not None:
        found.stop()
