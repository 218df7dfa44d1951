"""Shared fixtures: every test gets its own tmux server and its own git repository.

No test may reach the person's tmux server: TMUX_TMPDIR points at a private folder for
the whole run, every swarm gets a unique socket name, and each test kills only the
servers it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pgserver import PgServer, Unavailable, start_server

from swarm.tmux.client import Tmux

if TYPE_CHECKING:
    from swarm.instance import SwarmInstance

_TMUX_DIR = tempfile.mkdtemp(prefix="swt-")  # short: socket paths are limited to ~100 bytes
os.environ["TMUX_TMPDIR"] = _TMUX_DIR
os.environ.pop("TMUX", None)
os.environ.pop("TMUX_PANE", None)
os.environ["SWARM_TRUST_FILE"] = os.path.join(_TMUX_DIR, "trusted")  # never the person's
for _var in ("SWARM_HOME", "SWARM_AGENT", "SWARM_ROLE", "SWARM_TMUX_SOCKET"):
    os.environ.pop(_var, None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_TMUX_DIR, ignore_errors=True)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@swarm.local")
    git(path, "config", "user.name", "Swarm Test")
    (path / "README.md").write_text("# test repo\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial commit")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository with one commit on main."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def tmux_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A unique socket name for this test's swarm; its server is killed afterwards."""
    name = f"swt-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("SWARM_TMUX_SOCKET", name)
    yield name
    Tmux(name).kill_server()  # and whatever its panes left running


@pytest.fixture
def recorded_swarm(repo: Path, tmux_socket: str) -> SwarmInstance:
    """The record `swarm up` leaves (`.swarm/swarm.json`, the demo layout), with no tmux:
    enough for every command that finds its swarm and opens its store."""
    from swarm import paths
    from swarm.instance import SwarmInstance as Instance

    instance = Instance(
        repo=repo,
        state_dir=paths.state_dir(repo),
        session="recorded",
        socket=tmux_socket,
        layout_name="demo",
        layout_path=paths.bundled_dir("layouts") / "demo.yaml",
    )
    instance.save()
    return instance


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole run (see tests/pgserver.py); never skipped in CI."""
    try:
        server = start_server()
    except Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests cannot be skipped in CI: {exc}")
        pytest.skip(str(exc))
    except Exception as exc:
        pytest.fail(f"the test PostgreSQL server did not start: {exc}")
    try:
        server.tests_db = server.create_database()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty store on the session's server (its own schema); dropped afterwards."""
    name, url = pg_server.create_schema(pg_server.tests_db)
    yield url
    from swarm.store import changes

    changes.forget(url)  # this process's LISTEN connection to it, if a test opened one
    pg_server.drop_schema(pg_server.tests_db, name)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store of each backend: test ids end in [sqlite] or [postgres]."""
    if request.param == "sqlite":
        return str(tmp_path / "repo" / ".swarm" / "swarm.db")
    url: str = request.getfixturevalue("pg_url")
    return url
