"""One connection interface over the two stores a swarm can keep its state in.

SQLite (a file in the state folder, the default for one machine) and PostgreSQL (a team's
shared server) run the *same* SQL in `swarm.store.{tasks,agents,merges,events,requeue}`. The
few places where the two really differ live here and in the two backend modules, nowhere else:

- placeholders (`?` in our SQL, `%s` for psycopg), translated by the PostgreSQL connection;
- the write lock: SQLite's `BEGIN IMMEDIATE`, PostgreSQL's transaction-scoped advisory lock
  (so both serialise writers the same way, and every invariant the store relies on holds
  on both: read-then-write transactions, event ids committed in increasing order);
- new-row ids (`lastrowid` vs `RETURNING id`);
- column types in the schema (`INTEGER PRIMARY KEY AUTOINCREMENT`, `REAL`), rewritten by
  `translate_ddl`, so the migrations are written once;
- "did anything change?": SQLite's `data_version` (a pragma on the file), PostgreSQL's
  NOTIFY counted by one LISTEN connection per process (`swarm.store.changes`: no query).

Stores are named by URL: `sqlite:///abs/path/swarm.db` (or a plain path) and
`postgresql://user@host/db`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from swarm.errors import EXIT_USAGE, SwarmError

POSTGRES_SCHEMES = ("postgresql", "postgres")


class Row(Protocol):
    """A result row: by column name or by position (sqlite3.Row and the PostgreSQL row)."""

    def __getitem__(self, key: Any, /) -> Any: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(ABC):
    """What the SQL modules need of a connection; one subclass per backend."""

    dialect: str
    url: str
    # Appended to a claim's SELECT: PostgreSQL's `FOR UPDATE SKIP LOCKED` lets a claim pass
    # over rows another transaction is taking instead of queueing behind it.
    skip_locked: str = ""
    # `wait_for_change` is woken by the server and may be called from any thread (PostgreSQL);
    # False: it polls this connection, so only its own thread may call it (SQLite).
    listens: bool = False

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement written with `?` placeholders."""

    @abstractmethod
    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT into a table with an `id` key and return the new row's id."""

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def begin_write(self) -> None:
        """Open a write transaction holding the store's one write lock."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def has_table(self, name: str) -> bool: ...

    @abstractmethod
    def data_version(self) -> int:
        """A number that changes when another writer commits (cheap to ask often)."""

    @abstractmethod
    def wait_for_change(self, since: int, timeout: float) -> int:
        """Block until `data_version()` differs from `since` or `timeout` passes."""

    @property
    def listening(self) -> bool:
        """This process already hears every commit (`listens`, and a loop started it)."""
        return False

    def translate_ddl(self, sql: str) -> str:
        """The schema as this backend spells it (the migrations are written for SQLite)."""
        return sql

    def now(self) -> float:
        """The database's clock (epoch seconds): the one clock every machine agrees on."""
        import time

        return time.time()


@dataclass(frozen=True)
class StoreURL:
    """A parsed store address; `display` never shows a password."""

    dialect: str  # "sqlite" or "postgresql"
    url: str
    path: Path | None = None

    @property
    def display(self) -> str:
        return str(self.path) if self.path is not None else redact(self.url)


def sqlite_url(path: Path) -> str:
    return "sqlite://" + str(path.resolve() if not path.is_absolute() else path)


def parse_url(target: Path | str) -> StoreURL:
    """A store address from `--store`, the instance record or a plain path.

    One line naming the bad value for anything else, never a traceback.
    """
    if isinstance(target, Path):
        return StoreURL("sqlite", sqlite_url(target), target)
    text = target.strip()
    if not text:
        raise SwarmError("empty store URL", exit_code=EXIT_USAGE)
    scheme, sep, rest = text.partition("://")
    if not sep:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) and not re.match(r"^[A-Za-z]:\\", text):
            raise SwarmError(
                f"bad store URL '{redact(text)}': use sqlite:///path/to/swarm.db or "
                f"postgresql://user@host/database",
                exit_code=EXIT_USAGE,
            )
        path = Path(text).expanduser()
        return StoreURL("sqlite", sqlite_url(path), path)
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise SwarmError(
                f"bad store URL '{text}': a SQLite store is sqlite:///absolute/path/swarm.db",
                exit_code=EXIT_USAGE,
            )
        return StoreURL("sqlite", text, Path(rest))
    if scheme in POSTGRES_SCHEMES:
        try:
            parts = urlsplit(text)
            _ = parts.port  # raises on a port that is not a number
        except ValueError as exc:
            raise SwarmError(f"bad store URL '{redact(text)}': {exc}", EXIT_USAGE) from None
        if not parts.path.strip("/"):
            raise SwarmError(
                f"bad store URL '{redact(text)}': name the database "
                f"(postgresql://user@host/database)",
                exit_code=EXIT_USAGE,
            )
        return StoreURL("postgresql", text)
    raise SwarmError(
        f"bad store URL '{redact(text)}': unknown scheme '{scheme}' (sqlite or postgresql)",
        exit_code=EXIT_USAGE,
    )


def redact(url: str) -> str:
    """The URL with its password replaced by `***`, for messages and `swarm status`."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/:@]*):[^@/]*@", r"\1:***@", url)


def connect(target: Path | str) -> Connection:
    """Open a connection to the store at `target` (creating a SQLite file if needed)."""
    where = parse_url(target)
    if where.dialect == "sqlite":
        from swarm.store import sqlite

        assert where.path is not None
        return sqlite.connect(where.path)
    try:
        from swarm.store import postgres
    except ImportError:
        raise SwarmError(
            "a PostgreSQL store needs psycopg: pip install 'swarm-tmux[postgres]'"
        ) from None
    return postgres.connect(where.url)
