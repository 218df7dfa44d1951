"""The store's health: what is wrong in one line, and whether the file is still the same one.

SQLite reports a read-only folder, a full disk or a damaged file as exceptions whose text
means little to a person; `explain` turns each into one line that says what happened and
what to do. `prepare` makes the state folder private (0700) and the database file 0600 (its
WAL and shared-memory files take the database's mode). `quick_check` is the cheap integrity
check run by `swarm up`.

A store must never be replaced quietly. Deleting `.swarm/swarm.db` under a running swarm
would let the next command create an empty one beside the processes still holding the old
file: a split brain that silently loses every task. So the first process that creates the
file writes a marker beside it (`swarm.db.id`); while the marker says a store existed,
a missing file is an error, not an invitation (`swarm down` clears it). `StoreWatch` lets
a long-lived process notice that the file it opened was deleted or replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from pathlib import Path

from swarm.errors import EXIT_FAILURE, SwarmError
from swarm.paths import STATE_DIR_NAME

MARKER_SUFFIX = ".id"  # swarm.db.id: this folder had a store
WAL_AUTOCHECKPOINT_PAGES = 1  # checkpoint after every commit (SQLite's default: 1000 pages)


class StoreError(SwarmError):
    """The store cannot be used: unreadable, unwritable, damaged or gone."""

    exit_code = EXIT_FAILURE


class StoreLost(StoreError):
    """The store a process opened was deleted or replaced while it ran."""


_last_path: Path | None = None  # the store this process opened last, for `explain`


def explain(exc: BaseException, path: Path | None = None) -> str:
    """One line for a SQLite or OS error met while using the store at `path`."""
    where = path or _last_path
    store = f"the swarm store {where}" if where else "the swarm store"
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        low = text.lower()
        if where is not None and _disk_full(where):  # SQLite often says "disk I/O error"
            return f"the disk holding {store} is full: nothing was written (free some space)"
        if "readonly" in low or "read-only" in low or (where and _read_only(where)):
            return f"{store} is read-only: nothing was written (check the folder's permissions)"
        if "full" in low:
            return f"the disk holding {store} is full: nothing was written (free some space)"
        if "malformed" in low or "not a database" in low or "corrupt" in low:
            return (
                f"{store} is damaged ({text}): move it aside and run `swarm up` to start an "
                "empty one, or restore a copy"
            )
        if "unable to open" in low:
            return f"cannot open {store}: its folder is missing or not writable"
        if "disk i/o" in low:
            return f"{store}: the disk failed to read or write it ({text})"
        return f"{store}: {text}"
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else (where or "")
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            return f"{name}: the disk is full: nothing was written (free some space)"
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return f"{name}: {reason} (check the folder's permissions)"
        return f"{name}: {reason}" if name else reason
    return str(exc)


_ENVIRONMENT = (
    "readonly",
    "read-only",
    "full",
    "malformed",
    "not a database",
    "corrupt",
    "unable to open",
    "disk i/o",
    "locked",
    "busy",
)


def from_environment(exc: sqlite3.Error) -> bool:
    """A failure of the disk, the file or its permissions, not of the swarm's own SQL."""
    low = str(exc).lower()
    return any(word in low for word in _ENVIRONMENT)


def _read_only(path: Path) -> bool:
    """The store's folder cannot be written (a read-only mount, or its permissions)."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return folder.exists() and not os.access(folder, os.W_OK)


def _disk_full(path: Path) -> bool:
    try:
        info = os.statvfs(path.parent)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 64 * 1024  # not even room for the WAL index


def _marker(path: Path) -> Path:
    return path.with_name(path.name + MARKER_SUFFIX)


def prepare(path: Path) -> None:
    """Before opening: a private folder, a 0600 file, and no quiet re-creation of a lost store."""
    global _last_path
    _last_path = path
    folder = path.parent
    try:
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.name == STATE_DIR_NAME:  # only the swarm's own folder, never a caller's
            _make_private(folder, 0o700)
        if not path.exists():
            if _marker(path).exists():
                raise StoreLost(
                    f"the swarm store {path} is missing (deleted while the swarm ran?): its "
                    "tasks are lost; nothing was started empty. Run `swarm down`, then "
                    "`swarm up` for a new store"
                )
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        if not _marker(path).exists():  # also for a store made before markers existed
            _marker(path).write_text(_identity_text(path))
        _make_private(path, 0o600)
    except OSError as exc:
        raise StoreError(explain(exc, path)) from None


def forget(path: Path) -> None:
    """`swarm down`: the next `swarm up` may start a new store if this one is gone."""
    if not path.exists():
        with contextlib.suppress(OSError):
            _marker(path).unlink()


def _make_private(path: Path, mode: int) -> None:
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)


def _identity_text(path: Path) -> str:
    info = path.stat()
    return f"{info.st_dev} {info.st_ino}\n"


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's `quick_check` (O(size), no index cross-check): a damaged store says so at once."""
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.Error as exc:
        raise StoreError(explain(exc, path)) from None
    if rows != ["ok"]:
        detail = rows[0] if rows else "no answer"
        raise StoreError(
            f"the swarm store {path} is damaged ({detail}): move it aside and run `swarm up` "
            "to start an empty one, or restore a copy"
        )


def _identity_of(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


class StoreWatch:
    """Notices that the store file a process opened was deleted or replaced.

    One `stat` per check: cheap enough for every pass of a loop.
    """

    @classmethod
    def of(cls, path: Path | None) -> StoreWatch | None:
        """A watch on a store file; None for a store that is no file of ours (PostgreSQL)."""
        return cls(path) if path is not None else None

    def __init__(self, path: Path) -> None:
        self.path = path
        info = path.stat()
        self.identity = (info.st_dev, info.st_ino)
        self.wal = path.with_name(path.name + "-wal")
        self.wal_identity = _identity_of(self.wal)  # kept while this process holds the store

    def problem(self) -> str | None:
        """None while the file is the one opened; else what happened, in one line."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return (
                f"the swarm store {self.path} was deleted while the swarm ran: dispatch "
                "stopped; run `swarm down`, then `swarm up` for a new store"
            )
        except OSError as exc:
            return explain(exc, self.path)
        if (info.st_dev, info.st_ino) != self.identity:
            return (
                f"the swarm store {self.path} was replaced by another file while the swarm "
                "ran: dispatch stopped; run `swarm down`, then `swarm up`"
            )
        if self.wal_identity is not None and _identity_of(self.wal) != self.wal_identity:
            return (
                f"the swarm store's write-ahead log {self.wal} was deleted or replaced while "
                "the swarm ran: changes not yet copied into the store may be lost; dispatch "
                "stopped; check `swarm task list`, then `swarm down` and `swarm up`"
            )
        return None

    def check(self) -> None:
        """Raise `StoreLost` when `problem` finds one."""
        problem = self.problem()
        if problem is not None:
            raise StoreLost(problem)
