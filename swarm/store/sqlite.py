"""The SQLite backend: one `.swarm/swarm.db` file (WAL) shared by every process on a machine.

Up to ~100 agents' processes (`swarm done`, hooks) and the controller, witness, refinery and
sidebar write to one file at once. So that they wait for each other instead of failing with
"database is locked":

- WAL lets readers run while one writer writes.
- `busy_timeout` makes a blocked writer wait (up to 2 min) instead of failing at once. SQLite
  does not queue writers: a waiter looks again after sleeps of up to 100 ms, so under heavy
  contention one can miss its turn many times: at a burst of 100 sim polecats on 2 cores an
  agent's `swarm done` waited out 30 s (the old limit) and failed, its finished task left
  held (in 2 of 2 runs, before the witness batched its writes; in none of the runs since).
  What fails now is a writer stuck for minutes.
- Every change opens its transaction with `BEGIN IMMEDIATE`, taking the write lock *before*
  reading. A deferred transaction that reads first and writes later can be refused with
  SQLITE_BUSY without the busy handler ever running (its snapshot went stale), which is
  exactly the error we must never show.

The connection runs with `isolation_level=None` (autocommit) so that Python's sqlite3 module
never opens or commits a transaction behind our back; `swarm.store.db.transaction()` is the
only place transactions begin and end.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from swarm.store.backend import Connection, Cursor, sqlite_url

BUSY_TIMEOUT_MS = 120_000
POLL = 0.05  # seconds between data_version looks while waiting for a change


class SQLiteConnection(Connection):
    dialect = "sqlite"

    def __init__(self, raw: sqlite3.Connection, path: Path) -> None:
        self.raw = raw
        self.path = path
        self.url = sqlite_url(path)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.raw.execute(sql, params)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        row_id = self.raw.execute(sql, params).lastrowid
        assert row_id is not None
        return row_id

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def begin_write(self) -> None:
        self.raw.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()

    def has_table(self, name: str) -> bool:
        row = self.raw.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def data_version(self) -> int:
        """Changes whenever another connection commits: a free "anything new?" check."""
        return int(self.raw.execute("PRAGMA data_version").fetchone()[0])

    def wait_for_change(self, since: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            version = self.data_version()
            left = deadline - time.monotonic()
            if version != since or left <= 0:
                return version
            time.sleep(min(POLL, left))


def connect(path: Path) -> SQLiteConnection:
    """Open (creating folder and file if needed) a connection with the swarm's pragmas.

    Every failure is one line (`health.explain`): a read-only folder, a full disk, a damaged
    file, a store deleted under a running swarm (never silently re-created empty).
    """
    from swarm.store import health

    health.prepare(path)
    try:
        raw = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=True,
        )
    except (OSError, sqlite3.Error) as exc:
        raise health.StoreError(health.explain(exc, path)) from None
    try:
        raw.row_factory = sqlite3.Row
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(raw)
        raw.execute("PRAGMA synchronous = NORMAL")
        raw.execute("PRAGMA foreign_keys = ON")
        # Copy each commit into the database file at once (a passive checkpoint, which
        # never waits): a deleted or damaged WAL then holds nothing acknowledged.
        raw.execute(f"PRAGMA wal_autocheckpoint = {health.WAL_AUTOCHECKPOINT_PAGES}")
    except sqlite3.Error as exc:
        raw.close()
        raise health.StoreError(health.explain(exc, path)) from None
    except BaseException:
        raw.close()
        raise
    return SQLiteConnection(raw, path)


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, retrying: the switch needs an exclusive lock that the busy handler
    does not always wait for when many processes open a brand-new file at the same moment."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text
