"""Loops on a PostgreSQL store are woken by the server (LISTEN/NOTIFY), never by asking it.

The sidebar's data source and the controller's wait between passes, on the real server:
woken by another connection's commit, and no statement sent while nothing changes
(counted by a wrapper on psycopg's `Connection.execute`, which every store query and the
listener's LISTEN go through). The listener survives a server restart with one line each way.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import psycopg
import pytest
from pgserver import PgServer, Unavailable, start_server

from swarm.controller.loop import wait_for_store
from swarm.store import Store, changes
from swarm.ui.data import StoreSource

WOKEN_WITHIN = 20.0  # generous: a loaded machine; without a wake-up the waits below are minutes


class Statements:
    """Every statement any psycopg connection of this process sends."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        original = psycopg.Connection.execute

        def counting(conn: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            self.sent.append(str(query))
            return original(conn, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "execute", counting)


def write_later(url: str, title: str, delay: float = 0.2) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        with Store.open(url) as writer:
            writer.add_task(title)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def source(pg_url: str) -> Iterator[StoreSource]:
    src = StoreSource(db_path=pg_url, panes=None, full_every=600.0)
    yield src
    src.close()
    changes.forget(pg_url)


def test_postgres_sidebar_source_is_woken_by_another_connections_write(
    source: StoreSource, pg_url: str
) -> None:
    first = source.poll()
    assert first is not None and first.queue_total == 0
    writer = write_later(pg_url, "write the docs")
    began = time.monotonic()
    source.wait(threading.Event(), 0.25)  # would sleep until the next timed read: 10 min
    assert time.monotonic() - began < WOKEN_WITHIN
    writer.join()
    changed = source.poll()
    assert changed is not None and [t.title for t in changed.queue] == ["write the docs"]


def test_postgres_sidebar_wait_ends_when_woken_by_the_app(source: StoreSource) -> None:
    assert source.poll() is not None
    wake = threading.Event()
    threading.Timer(0.1, wake.set).start()
    began = time.monotonic()
    source.wait(wake, 0.25)
    assert time.monotonic() - began < WOKEN_WITHIN


def test_postgres_controller_wait_is_woken_by_another_connections_write(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        assert store.listens
        since = store.data_version()
        writer = write_later(pg_url, "fix the bug")
        began = time.monotonic()
        anyio.run(wait_for_store, store, since, time.monotonic() + 600, float("-inf"))
        assert time.monotonic() - began < WOKEN_WITHIN
        writer.join()
        assert store.data_version() != since
        assert [t.title for t in store.list_tasks()] == ["fix the bug"]
    changes.forget(pg_url)


def test_postgres_idle_sidebar_and_controller_send_no_statement(
    source: StoreSource, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source.full_every = 0.2  # timed snapshots (tmux liveness, ages) keep coming while idle
    assert source.poll() is not None
    with Store.open(pg_url) as controller:
        since = controller.data_version()
        statements = Statements(monkeypatch)
        timed = 0
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            source.wait(threading.Event(), 0.25)
            timed += source.poll() is not None
            anyio.run(wait_for_store, controller, since, time.monotonic() + 0.1, float("-inf"))
            assert controller.data_version() == since
        assert timed >= 2, "the timed snapshots came from the rows already read"
        assert statements.sent == []
        # The wrapper does see the store's statements: a change is read.
        write_later(pg_url, "a change", delay=0).join()
        source.wait(threading.Event(), 0.25)
        assert source.poll() is not None
        assert statements.sent


def test_sqlite_sources_still_poll_their_file(tmp_path: Any) -> None:
    db = tmp_path / ".swarm" / "swarm.db"
    src = StoreSource(db_path=db, panes=None, full_every=600.0)
    try:
        assert src.poll() is not None
        assert src.store is not None and not src.store.listens
        began = time.monotonic()
        src.wait(threading.Event(), 0.05)  # one poll interval, no listener
        assert time.monotonic() - began < WOKEN_WITHIN
        with Store.open(db) as writer:
            writer.add_task("on the file")
        assert src.poll() is not None
    finally:
        src.close()


@pytest.mark.slow
def test_postgres_listener_survives_a_server_restart(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Its own server: restarting the session's would cut every other test's connections."""
    try:
        server: PgServer = start_server()
    except Unavailable as exc:
        pytest.skip(str(exc))
    url = server.url()
    try:
        with Store.open(url) as store:
            since = store.data_version()
            server.restart(down=1.0)
            # The restart itself counts as a change (notifications may have been missed).
            after = store.wait_for_change(since, 60.0)
            assert after != since
            with Store.open(url) as writer:  # a new connection: the old one was cut
                writer.add_task("after the restart")
            assert store.wait_for_change(after, 60.0) != after
        err = capfd.readouterr().err
        assert err.count("store listener: lost") == 1, err
        assert err.count("listening to") == 1, err
        assert "Traceback" not in err
    finally:
        changes.forget(url)
        server.stop()


def test_postgres_idle_claims_and_pauses_send_no_statement_until_a_change(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A controller asks for every idle polecat each second: no task open, nothing asked."""
    with Store.open(pg_url) as store, Store.open(pg_url) as writer:
        store.upsert_agent("polecat-1", "polecat", "sim")
        assert not store._conn.listening  # a one-shot command: its claims always ask
        store.data_version()  # a loop's process: it listens from now on
        assert store.claim_next_task("polecat-1") is None
        assert store.pauses() == {}
        statements = Statements(monkeypatch)
        for _ in range(5):
            assert store.claim_next_task("polecat-1") is None
            assert store.pauses() == {}
        assert statements.sent == []
        # Another connection of this process: seen at its commit, no NOTIFY awaited.
        task = writer.add_task("new work")
        claimed = store.claim_next_task("polecat-1")
        assert claimed is not None and claimed.id == task.id and claimed.status == "hooked"
        assert store.get_task(task.id) == claimed  # the claim's answer is the stored row
    changes.forget(pg_url)


def test_postgres_claims_seen_from_another_process_after_the_wake(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        store.upsert_agent("polecat-1", "polecat", "sim")
        assert store.claim_next_task("polecat-1") is None
        since = store.data_version()
        subprocess.run(
            [sys.executable, "-c", "import sys; from swarm.store import Store; "
             "Store.open(sys.argv[1]).add_task('from elsewhere')", pg_url],
            check=True,
        )  # fmt: skip
        store.wait_for_change(since, WOKEN_WITHIN)
        claimed = store.claim_next_task("polecat-1")
        assert claimed is not None and claimed.title == "from elsewhere"
    changes.forget(pg_url)
