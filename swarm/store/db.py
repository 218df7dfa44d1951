"""Transactions and schema migrations, the same for both backends.

The connection itself (SQLite file or PostgreSQL server) comes from `swarm.store.backend`;
here a write transaction is "take the store's write lock, run, commit", and the schema is
one list of scripts written once (in SQLite's spelling; `Connection.translate_ddl` turns
the few column types into PostgreSQL's). Migrations must therefore stick to SQL both
understand: CREATE/ALTER/DROP TABLE, CREATE INDEX (partial ones too), INSERT ... SELECT.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from swarm.errors import SwarmError
from swarm.store.backend import Connection, connect
from swarm.store.sqlite import BUSY_TIMEOUT_MS

__all__ = ["BUSY_TIMEOUT_MS", "MIGRATIONS", "SCHEMA_VERSION", "connect", "migrate", "transaction"]

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
    # team leases (issue 14): who holds the team's one refinery, which machines are alive.
    # A lease is held until `expires` (the store's clock); an expired one may be taken over.
    """
    CREATE TABLE leases (
        name        TEXT    PRIMARY KEY,  -- 'refinery', 'host:laptop-a'
        holder      TEXT    NOT NULL,     -- who holds it: 'laptop-a', 'laptop-a/refinery'
        expires     REAL    NOT NULL,
        acquired_at REAL    NOT NULL,
        renewed_at  REAL    NOT NULL
    );
    """,
    # usage11: what the runtimes report they spent (tokens and dollars per agent, task, day
    # and model), how far each transcript was read, swarm-wide pauses (a daily budget, a
    # usage limit per account) and the index of `.swarm/history/<task>.md` files.
    """
    CREATE TABLE usage (
        agent               TEXT    NOT NULL,
        role                TEXT    NOT NULL DEFAULT '',
        task                TEXT    NOT NULL DEFAULT '',  -- '' when the agent held none
        day                 TEXT    NOT NULL,             -- local YYYY-MM-DD
        model               TEXT    NOT NULL DEFAULT '',
        input_tokens        INTEGER NOT NULL DEFAULT 0,
        output_tokens       INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
        cost_usd            REAL    NOT NULL DEFAULT 0,
        updated_at          REAL    NOT NULL,
        PRIMARY KEY (agent, task, day, model)
    );
    CREATE INDEX usage_task ON usage (task);
    CREATE INDEX usage_day ON usage (day);

    CREATE TABLE usage_cursors (
        transcript  TEXT    PRIMARY KEY,          -- one per file: a resumed session goes on
        agent       TEXT    NOT NULL,
        inode       INTEGER NOT NULL DEFAULT 0,
        byte_offset INTEGER NOT NULL DEFAULT 0,
        recent      TEXT    NOT NULL DEFAULT '{}',  -- message id -> usage already counted
        updated_at  REAL    NOT NULL
    );

    CREATE TABLE pauses (
        scope       TEXT    PRIMARY KEY,  -- 'budget' or 'limit:<account>'
        reason      TEXT    NOT NULL,
        since       REAL    NOT NULL,
        until       REAL,                 -- when dispatch may go on; NULL: until cleared
        agents      TEXT    NOT NULL DEFAULT '[]',
        notified_at REAL,                 -- the person was told (once per pause)
        ended_at    REAL                  -- set once the pause is over and was announced
    );

    CREATE TABLE history (
        task        TEXT    PRIMARY KEY,
        title       TEXT    NOT NULL,
        outcome     TEXT    NOT NULL,
        ended_at    REAL    NOT NULL,
        path        TEXT    NOT NULL,
        tokens      INTEGER,
        cost_usd    REAL
    );
    CREATE INDEX history_ended ON history (ended_at);
    """,
    # team pushes: a confined team polecat's `swarm done` records the push of its task
    # branch; its machine's controller pushes it, then queues the task (swarm.store.pushes).
    """
    CREATE TABLE pushes (
        agent        TEXT    PRIMARY KEY,
        task_id      TEXT    NOT NULL,
        branch       TEXT    NOT NULL,
        head_sha     TEXT    NOT NULL,
        base_sha     TEXT    NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,  -- failed tries so far
        error        TEXT    NOT NULL DEFAULT '', -- the last one's reason
        requested_at REAL    NOT NULL,
        tried_at     REAL
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """One short write transaction: the write lock ... `COMMIT`, or `ROLLBACK` on error.

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
    conn.begin_write()
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def schema_version(conn: Connection) -> int:
    """The version recorded in `meta`, 0 for a new store."""
    if not conn.has_table("meta"):
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: Connection, where: Path | str | None = None) -> int:
    """`_migrate`, with a read-only, full or damaged SQLite store reported in one line."""
    from swarm.store import health

    try:
        return _migrate(conn, where)
    except sqlite3.Error as exc:
        if not health.from_environment(exc):
            raise  # a broken migration is a bug: keep its traceback
        raise health.StoreError(
            health.explain(exc, where if isinstance(where, Path) else None)
        ) from None


def _migrate(conn: Connection, where: Path | str | None = None) -> int:
    """Bring the schema up to `SCHEMA_VERSION`, one transaction per migration.

    Safe when many processes open a new store at once: each migration re-reads the version
    under the write lock, so exactly one process applies it and the others skip it. An
    up-to-date store (every open but the first) costs one read and no write.
    """
    if schema_version(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    for target in range(1, SCHEMA_VERSION + 1):
        with transaction(conn):
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            current = schema_version(conn)
            if current > SCHEMA_VERSION:
                named = f" {where}" if where else ""
                raise SwarmError(
                    f"the swarm store{named} has schema version {current}, newer than this "
                    f"swarm understands ({SCHEMA_VERSION}): upgrade swarm"
                )
            if current >= target:
                continue
            for statement in split_statements(conn.translate_ddl(MIGRATIONS[target - 1])):
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
