"""The SQLite connection, its pragmas, transactions and the schema migrations.

Up to ~30 processes (agents calling `swarm done`, hooks, the controller, the sidebar) write
to one `.swarm/swarm.db` at once. So that they wait for each other instead of failing with
"database is locked":

- WAL lets readers run while one writer writes.
- `busy_timeout` makes a blocked writer wait (up to 30 s) instead of failing at once.
- Every change opens its transaction with `BEGIN IMMEDIATE`, taking the write lock *before*
  reading. A deferred transaction that reads first and writes later can be refused with
  SQLITE_BUSY without the busy handler ever running (its snapshot went stale), which is
  exactly the error we must never show.

The connection runs with `isolation_level=None` (autocommit) so that Python's sqlite3 module
never opens or commits a transaction behind our back; `transaction()` is the only place
transactions begin and end.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from swarm.errors import SwarmError
from swarm.store import health

BUSY_TIMEOUT_MS = 30_000

# One SQL script per schema version, applied in order, each in its own transaction.
# Never edit a released script: append a new one (a table rebuild if need be) instead.
MIGRATIONS: tuple[str, ...] = (
    # 1: tasks, agents, merge requests, events.
    """
    CREATE TABLE tasks (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,  -- age order, never reused
        id          TEXT    NOT NULL UNIQUE,            -- sw-7k2m9
        title       TEXT    NOT NULL CHECK (length(trim(title)) > 0),
        body        TEXT    NOT NULL DEFAULT '',
        priority    INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
        status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN
                        ('open', 'hooked', 'working', 'done', 'merged', 'failed', 'cancelled')),
        assignee    TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        branch      TEXT,
        notes       TEXT    NOT NULL DEFAULT '',
        merge_sha   TEXT,
        created_at  REAL    NOT NULL,
        updated_at  REAL    NOT NULL
    );
    CREATE INDEX tasks_queue ON tasks (status, priority, seq);

    CREATE TABLE agents (
        name          TEXT    PRIMARY KEY,
        role          TEXT    NOT NULL,
        runtime       TEXT    NOT NULL,
        pane          TEXT,
        pid           INTEGER,
        state         TEXT    NOT NULL DEFAULT 'starting' CHECK (state IN
                          ('starting', 'idle', 'working', 'waiting', 'stalled', 'dead', 'done',
                           'stopped')),
        state_since   REAL    NOT NULL,
        hook          TEXT    UNIQUE REFERENCES tasks (id),  -- one holder per task
        last_activity REAL,
        restarts      INTEGER NOT NULL DEFAULT 0,
        worktree      TEXT,
        detail        TEXT    NOT NULL DEFAULT '',
        created_at    REAL    NOT NULL,
        updated_at    REAL    NOT NULL
    );

    CREATE TABLE merge_requests (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- queue order
        task_id     TEXT    NOT NULL REFERENCES tasks (id),
        agent       TEXT    NOT NULL,
        branch      TEXT    NOT NULL,
        head_sha    TEXT    NOT NULL,
        base_sha    TEXT    NOT NULL,
        status      TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN
                        ('queued', 'testing', 'merged', 'bounced', 'rejected')),
        attempts    INTEGER NOT NULL DEFAULT 0,
        result      TEXT    NOT NULL DEFAULT '',
        merge_sha   TEXT,
        created_at  REAL    NOT NULL,
        updated_at  REAL    NOT NULL
    );
    -- A task has at most one request in the queue, and is merged at most once.
    CREATE UNIQUE INDEX merge_requests_live ON merge_requests (task_id)
        WHERE status IN ('queued', 'testing');
    CREATE UNIQUE INDEX merge_requests_merged ON merge_requests (task_id)
        WHERE status = 'merged';
    CREATE INDEX merge_requests_status ON merge_requests (status, id);

    CREATE TABLE events (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        ts       REAL    NOT NULL,
        kind     TEXT    NOT NULL,
        agent    TEXT,
        task     TEXT,
        message  TEXT    NOT NULL,
        data     TEXT    NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_agent ON events (agent, id);
    CREATE INDEX events_task ON events (task, id);
    """,
    # 2: what the witness measures of each agent's process tree.
    """
    ALTER TABLE agents ADD COLUMN cpu_percent REAL;
    ALTER TABLE agents ADD COLUMN rss_bytes INTEGER;
    """,
    # 3: the hand-over protocol and the runtime's own session. SQLite cannot change a CHECK,
    # so the table is rebuilt: `limited` (a usage or rate limit) joins the states; the
    # runtime's session id and transcript let a crashed agent resume its own conversation;
    # `handover` records how far the hand-over of the held task got (see swarm.handover).
    """
    CREATE TABLE agents_v3 (
        name            TEXT    PRIMARY KEY,
        role            TEXT    NOT NULL,
        runtime         TEXT    NOT NULL,
        pane            TEXT,
        pid             INTEGER,
        state           TEXT    NOT NULL DEFAULT 'starting' CHECK (state IN
                            ('starting', 'idle', 'working', 'waiting', 'stalled', 'limited',
                             'dead', 'done', 'stopped')),
        state_since     REAL    NOT NULL,
        hook            TEXT    UNIQUE REFERENCES tasks (id),
        last_activity   REAL,
        restarts        INTEGER NOT NULL DEFAULT 0,
        worktree        TEXT,
        detail          TEXT    NOT NULL DEFAULT '',
        created_at      REAL    NOT NULL,
        updated_at      REAL    NOT NULL,
        cpu_percent     REAL,
        rss_bytes       INTEGER,
        session_id      TEXT,
        transcript_path TEXT,
        handover        TEXT    NOT NULL DEFAULT 'none' CHECK (handover IN
                            ('none', 'pending', 'typing', 'sent', 'acked')),
        handover_at     REAL
    );
    INSERT INTO agents_v3 (name, role, runtime, pane, pid, state, state_since, hook,
        last_activity, restarts, worktree, detail, created_at, updated_at, cpu_percent,
        rss_bytes)
    SELECT name, role, runtime, pane, pid, state, state_since, hook, last_activity, restarts,
        worktree, detail, created_at, updated_at, cpu_percent, rss_bytes FROM agents;
    DROP TABLE agents;
    ALTER TABLE agents_v3 RENAME TO agents;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating folder and file if needed) a connection with the swarm's pragmas.

    Every failure is one line (`health.explain`): a read-only folder, a full disk, a damaged
    file, a store deleted under a running swarm (never silently re-created empty).
    """
    health.prepare(path)
    try:
        return _open(path)
    except sqlite3.Error as exc:
        raise health.StoreError(health.explain(exc, path)) from None


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path),
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=True,
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Copy each commit into the database file at once (a passive checkpoint, which
        # never waits): a deleted or damaged WAL then holds nothing acknowledged.
        conn.execute(f"PRAGMA wal_autocheckpoint = {health.WAL_AUTOCHECKPOINT_PAGES}")
    except BaseException:
        conn.close()
        raise
    return conn


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


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short write transaction: `BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on error.

    Inside an open transaction it becomes a savepoint, so several store calls can be made
    atomic together (the outermost block commits them all), and a call that fails inside
    such a group leaves nothing half-written even if the caller catches its error.
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT swarm_nested")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO swarm_nested")
                conn.execute("RELEASE swarm_nested")
            raise
        conn.execute("RELEASE swarm_nested")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in `meta`, 0 for a new file."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection, path: Path | None = None) -> int:
    """`_migrate`, with a read-only, full or damaged store reported in one line."""
    try:
        return _migrate(conn, path)
    except sqlite3.Error as exc:
        if not health.from_environment(exc):
            raise  # a broken migration is a bug: keep its traceback
        raise health.StoreError(health.explain(exc, path)) from None


def _migrate(conn: sqlite3.Connection, path: Path | None = None) -> int:
    """Bring the schema up to `SCHEMA_VERSION`, one transaction per migration.

    Safe when many processes open a new file at once: each migration re-reads the version
    under the write lock, so exactly one process applies it and the others skip it.
    """
    for target in range(1, SCHEMA_VERSION + 1):
        with transaction(conn):
            current = schema_version(conn)
            if current > SCHEMA_VERSION:
                where = f" {path}" if path else ""
                raise SwarmError(
                    f"the swarm store{where} has schema version {current}, newer than this "
                    f"swarm understands ({SCHEMA_VERSION}): upgrade swarm"
                )
            if current >= target:
                continue
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            for statement in split_statements(MIGRATIONS[target - 1]):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(target),),
            )
    return SCHEMA_VERSION


def split_statements(script: str) -> list[str]:
    """Split a SQL script into statements.

    `executescript` would commit any open transaction first, so a migration could not be
    atomic; `sqlite3.complete_statement` tells where each statement really ends (a `;`
    inside a string or trigger body does not).
    """
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _strip_comments(buffer).strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if _strip_comments(buffer).strip(" \t\r\n;"):
        raise SwarmError(f"incomplete SQL statement in a migration: {buffer.strip()[:80]}")
    return statements


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
