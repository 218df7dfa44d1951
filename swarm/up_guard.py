"""`swarm up` is all or nothing, one at a time per repository.

Two `swarm up` of different layouts started at the same moment would each see no swarm
running, and build two tmux servers over one store (two `polecat-1` in one worktree). So
`swarm up` holds an exclusive `flock` on the repository folder itself for its whole run
(a lock on the folder, not a file in it, so a refused or failed `up` leaves no file behind):
the second waits a little, then gets one line.

A failed `swarm up` (tmux refused an option, the store is damaged, the person said no) must
leave nothing half-built: if it made the state folder, the folder goes; if it started a tmux
server that was not running before, the server goes; the previous `swarm.json` comes back.
Before anything is built, an existing store gets SQLite's `quick_check`, so a damaged store
is named now rather than by the first agent that writes to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

from swarm import paths
from swarm.errors import SwarmError
from swarm.flocks import wait_for_flock
from swarm.instance import RECORD_NAME, SwarmInstance
from swarm.store.health import StoreError, explain, quick_check
from swarm.tmux.client import Tmux

WAIT_FOR_OTHER_UP = 30.0  # seconds a second `swarm up` waits for the first to finish


class UpInProgress(SwarmError):
    """Another `swarm up` holds this repository."""


@contextlib.contextmanager
def exclusive_up(repo: Path, wait: float = WAIT_FOR_OTHER_UP) -> Iterator[None]:
    """Hold the repository's `swarm up` lock, then undo everything if the body fails."""
    fd = os.open(repo, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if not wait_for_flock(fd, wait):
            raise UpInProgress(f"another `swarm up` is running in {repo}; wait for it to finish")
        check_store(paths.db_path(paths.state_dir(repo)))
        with undo_on_failure(repo):
            yield
    finally:
        os.close(fd)  # releases the lock


def check_store(db: Path) -> None:
    """An existing store must pass `quick_check` before a swarm is built on it."""
    if not db.exists():
        return
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(explain(exc, db)) from None
    try:
        quick_check(conn, db)
    finally:
        conn.close()


@contextlib.contextmanager
def undo_on_failure(repo: Path) -> Iterator[None]:
    """If the body raises, remove what it made: a new state folder, a new tmux server."""
    state = paths.state_dir(repo)
    existed = state.exists()
    record = state / RECORD_NAME
    old_record = _read(record)
    old_socket = _socket_of(state) if old_record is not None else None
    was_running = False
    if old_socket:
        with contextlib.suppress(SwarmError, OSError):
            was_running = Tmux(old_socket).server_running()
    try:
        yield
    except BaseException:
        new_socket = _socket_of(state) if record.exists() else None
        if new_socket and not (new_socket == old_socket and was_running):
            with contextlib.suppress(SwarmError, OSError):
                Tmux(new_socket).kill_server()
        if not existed:
            shutil.rmtree(state, ignore_errors=True)
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    ["git", "-C", str(repo), "worktree", "prune"], capture_output=True, timeout=30
                )
        elif old_record is None:
            with contextlib.suppress(OSError):
                record.unlink()
        elif _read(record) != old_record:
            with contextlib.suppress(OSError):
                record.write_text(old_record)
        raise


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _socket_of(state: Path) -> str | None:
    try:
        return SwarmInstance.load(state).socket
    except (SwarmError, KeyError, TypeError, ValueError):
        return None
