"""Store URLs: parsing, `swarm up --store`, and one clear line for every way a URL can fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pgserver import PgServer, free_port

from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.store.backend import parse_url, redact, sqlite_url
from swarm.tmux.client import Tmux


def test_parse_sqlite_forms(tmp_path: Path) -> None:
    file = tmp_path / "s.db"
    assert parse_url(file).path == file
    assert parse_url(str(file)).path == file
    assert parse_url(sqlite_url(file)).path == file
    assert parse_url(f"sqlite://{file}").url == f"sqlite://{file}"
    pg = parse_url("postgresql://u:secret@db.example:5433/team")
    assert (pg.dialect, pg.path) == ("postgresql", None)
    assert "secret" not in pg.display and "***" in pg.display


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://u@h/db", "unknown scheme 'mysql'"),
        ("postgresql://u@h", "name the database"),
        ("postgresql://u:pw@h:notaport/db", "bad store URL"),
        ("sqlite://relative.db", "sqlite:///absolute/path"),
        ("   ", "empty store URL"),
        ("http:", "bad store URL"),
    ],
)
def test_bad_urls_are_one_line(url: str, words: str) -> None:
    with pytest.raises(SwarmError, match=words) as caught:
        parse_url(url)
    assert "\n" not in caught.value.message
    assert "pw@" not in caught.value.message


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://swarm:hunter2@db:5432/x") == "postgresql://swarm:***@db:5432/x"
    assert redact("postgresql://swarm@db/x") == "postgresql://swarm@db/x"


def swarm_up(repo: Path, socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWARM_TMUX_SOCKET": socket}
    return subprocess.run(
        [sys.executable, "-m", "swarm", "up", "solo", "--detach", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def assert_nothing_built(repo: Path, socket: str, proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swarm:")]
    assert len(errors) == 1, proc.stderr
    assert not Tmux(socket).server_running()
    assert not (repo / ".swarm" / "swarm.json").exists()


def test_up_with_a_bad_store_url_builds_nothing(repo: Path, tmux_socket: str) -> None:
    proc = swarm_up(repo, tmux_socket, "--store", "mysql://u@h/db")
    assert_nothing_built(repo, tmux_socket, proc)
    assert "unknown scheme 'mysql'" in proc.stderr


@pytest.mark.slow
def test_up_with_postgres_down_or_refusing_builds_nothing(
    repo: Path, tmux_socket: str, pg_server: PgServer, pg_url: str
) -> None:
    down = f"postgresql://swarm:x@127.0.0.1:{free_port()}/swarm"
    proc = swarm_up(repo, tmux_socket, "--store", down)
    assert_nothing_built(repo, tmux_socket, proc)
    assert "cannot reach the swarm store" in proc.stderr and ":***@" in proc.stderr

    wrong = pg_url.replace(":swarm-test@", ":wrong@")
    proc = swarm_up(repo, tmux_socket, "--store", wrong)
    assert_nothing_built(repo, tmux_socket, proc)
    assert "password authentication failed" in proc.stderr and "wrong" not in proc.stderr

    missing = pg_server.url("no_such_database")
    proc = swarm_up(repo, tmux_socket, "--store", missing)
    assert_nothing_built(repo, tmux_socket, proc)
    assert "no_such_database" in proc.stderr


@pytest.mark.slow
def test_up_records_the_postgres_store_for_every_command(
    repo: Path, tmux_socket: str, pg_url: str
) -> None:
    proc = swarm_up(repo, tmux_socket, "--store", pg_url)
    assert proc.returncode == 0, proc.stderr
    instance = SwarmInstance.load(repo / ".swarm")
    assert instance.store == pg_url and instance.store_url == pg_url
    assert not (repo / ".swarm" / "swarm.db").exists()

    def swarm(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "swarm", *args], cwd=repo, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    swarm("task", "add", "kept in postgres")
    assert "kept in postgres" in swarm("task", "list")
    # A second `swarm up` without --store keeps the recorded one.
    assert swarm_up(repo, tmux_socket).returncode == 0
    assert SwarmInstance.load(repo / ".swarm").store == pg_url
