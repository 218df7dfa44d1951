"""The PostgreSQL backend (psycopg 3): one database shared by a team's machines.

Writers are serialised like SQLite's `BEGIN IMMEDIATE`: every write transaction first takes
one transaction-scoped advisory lock. It keeps every invariant the SQL modules rely on on both
backends alike (a read followed by a write in one transaction sees no interleaved writer;
event ids are committed in increasing order, so a follower reading `id > last` never skips
one). Readers never wait: they read committed rows (MVCC).

What the lock costs is how long it is held, and that is round trips, not statements: a loaded
machine takes milliseconds to schedule each answer. So a write transaction runs in psycopg's
pipeline mode: a statement whose result nobody reads (BEGIN, the lock, an UPDATE, an event
row, NOTIFY, COMMIT) is sent with the next one whose result is read, and only reads wait. A
claim is three round trips (agent; next task; all its writes and the commit), not nine.

Every write transaction also sends NOTIFY: `data_version()` and `wait_for_change()` ask this
process's one LISTEN connection (swarm.store.changes), never the server, so a loop that waits
for a change costs the server nothing while nothing changes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from typing import Any

import psycopg
from psycopg import pq

from swarm.errors import SwarmError
from swarm.store import changes
from swarm.store.backend import Connection, Cursor, redact
from swarm.store.changes import CHANNEL

# pg_advisory_xact_lock key: "swarm" as a number; one lock per database.
WRITE_LOCK_KEY = 0x7377_6172_6D
# Statements that change no data: a transaction of only these wakes no listener.
_QUIET = frozenset({"SELECT", "BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK", "NOTIFY"})
# Pipeline mode needs libpq 14 or newer; without it every statement is its own round trip.
PIPELINE = psycopg.Pipeline.is_supported()
CONNECT_TIMEOUT = 15  # seconds (?connect_timeout= in the URL overrides): a dead host is reported
# soon; a refused port or a wrong password is reported at once anyway


class PgRow:
    """A row readable by column name or position, like `sqlite3.Row`."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    description = cursor.description or []
    index = {column.name: i for i, column in enumerate(description)}
    return functools.partial(PgRow, index)


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """`?` -> `%s` outside string literals; a literal `%` is doubled for psycopg."""
    out: list[str] = []
    for i, part in enumerate(re.split(r"('(?:[^']|'')*')", sql)):
        if i % 2:  # a quoted literal
            out.append(part.replace("%", "%%"))
        else:
            out.append(part.replace("%", "%%").replace("?", "%s"))
    return "".join(out)


class _Pipelined:
    """A statement's cursor inside a pipelined transaction: its rows are fetched when read
    (psycopg syncs then), and `rowcount`, which psycopg does not sync for, syncs first."""

    __slots__ = ("_cursor", "_pipe")

    def __init__(self, cursor: psycopg.Cursor[Any], pipe: psycopg.Pipeline) -> None:
        self._cursor = cursor
        self._pipe = pipe

    @property
    def rowcount(self) -> int:
        self._pipe.sync()
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> Any:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class PostgresConnection(Connection):
    dialect = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    listens = True

    def __init__(self, raw: psycopg.Connection[Any], url: str) -> None:
        self.raw = raw
        self.url = url
        self._dirty = False  # the open transaction wrote something: NOTIFY at its commit
        self._pipe: psycopg.Pipeline | None = None  # the open write transaction's pipeline
        self._pipe_mode: AbstractContextManager[psycopg.Pipeline] | None = None

    def _run(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        if not self._dirty and sql.lstrip().split(None, 1)[0].upper() not in _QUIET:
            self._dirty = True
        if self._pipe is not None and sql.startswith("ROLLBACK TO"):
            # A statement failed inside a savepoint: the pipeline skips everything until a
            # sync, so sync first (its error was already raised to the caller).
            with suppress(psycopg.Error):
                self._pipe.sync()
        try:
            if params:
                return self.raw.execute(_placeholders(sql), tuple(params))
            return self.raw.execute(sql)  # no parameters: psycopg sends it as it is
        except psycopg.OperationalError as exc:
            if self.raw.closed or self.raw.broken:
                raise SwarmError(
                    f"lost the swarm store {redact(self.url)}: {_one_line(exc)}"
                ) from None
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cursor = self._run(sql, params)
        return cursor if self._pipe is None else _Pipelined(cursor, self._pipe)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        row = self._run(sql + " RETURNING id", params).fetchone()
        assert row is not None
        return int(row[0])

    @property
    def in_transaction(self) -> bool:
        # A pipelined BEGIN may not have reached the server yet: the pipeline says it.
        return self._pipe is not None or (
            self.raw.info.transaction_status != pq.TransactionStatus.IDLE
        )

    def begin_write(self) -> None:
        if PIPELINE:
            self._pipe_mode = self.raw.pipeline()
            self._pipe = self._pipe_mode.__enter__()
        try:
            self._run("BEGIN", ())
            self._run(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})", ())
        except BaseException:
            self.rollback()
            raise
        self._dirty = False

    def commit(self) -> None:
        dirty = self._dirty
        try:
            if dirty:
                self._run(f"NOTIFY {CHANNEL}", ())  # wakes the listeners at the commit
            self._run("COMMIT", ())
            self._end_pipeline(check=True)  # sends whatever is queued, the commit included
        except BaseException:
            self.rollback()
            raise
        finally:
            self._dirty = False
        if dirty:  # this process's readers see its own write at once, not a NOTIFY later
            changes.committed(self.url)

    def rollback(self) -> None:
        self._dirty = False
        self._end_pipeline(check=False)
        if self.raw.closed or self.raw.broken:
            return
        if self.raw.info.transaction_status != pq.TransactionStatus.IDLE:
            self.raw.execute("ROLLBACK")

    def _end_pipeline(self, *, check: bool) -> None:
        """Leave pipeline mode, every queued statement answered; `check`: raise its error."""
        mode, self._pipe_mode, self._pipe = self._pipe_mode, None, None
        if mode is None:
            return
        try:
            mode.__exit__(None, None, None)
        except psycopg.Error as exc:
            if check:
                if self.raw.closed or self.raw.broken:
                    raise SwarmError(
                        f"lost the swarm store {redact(self.url)}: {_one_line(exc)}"
                    ) from None
                raise

    def close(self) -> None:
        self.raw.close()

    def has_table(self, name: str) -> bool:
        row = self._run("SELECT to_regclass(?)", (name,)).fetchone()
        return row is not None and row[0] is not None

    def data_version(self) -> int:
        """How many changes this process's listener has been told of: no query."""
        return changes.listener(self.url, _open_listener).seq

    @property
    def listening(self) -> bool:
        return changes.running(self.url)

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Sleep on LISTEN: woken by the NOTIFY of any writer's commit (safe from any thread)."""
        return changes.listener(self.url, _open_listener).wait(since, timeout)

    def translate_ddl(self, sql: str) -> str:
        sql = re.sub(
            r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            sql,
            flags=re.IGNORECASE,
        )
        sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
        return re.sub(r"\bINTEGER\b", "BIGINT", sql)

    def now(self) -> float:
        row = self._run("SELECT extract(epoch FROM clock_timestamp())", ()).fetchone()
        assert row is not None
        return float(row[0])


def _open(url: str, **options: Any) -> psycopg.Connection[Any]:
    kwargs: dict[str, Any] = {"autocommit": True, "row_factory": _row_factory, **options}
    if "connect_timeout" not in url:
        kwargs["connect_timeout"] = CONNECT_TIMEOUT
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.Error as exc:
        raise SwarmError(f"cannot reach the swarm store {redact(url)}: {_one_line(exc)}") from None


def _open_listener(url: str) -> psycopg.Connection[Any]:
    """The LISTEN connection: TCP keepalives, so a server that vanished without closing the
    connection (power off, network gone) is noticed and reconnected to, not waited on forever."""
    return _open(url, keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)


def connect(url: str) -> PostgresConnection:
    return PostgresConnection(_open(url), url)
