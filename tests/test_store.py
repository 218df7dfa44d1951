"""The store: task lifecycle, agents, merge requests, events, errors and migrations.

Every test taking `store` or `store_url` runs on both backends: `[sqlite]` on a file,
`[postgres]` on a fresh database of the session's PostgreSQL server (`-k postgres`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from swarm.errors import EXIT_FAILURE, EXIT_USAGE, NotFoundError, SwarmError
from swarm.store import SCHEMA_VERSION, Store, is_task_id
from swarm.store import backend as store_backend
from swarm.store import db as store_db
from swarm.store.ids import new_task_id
from swarm.store.sqlite import SQLiteConnection

DB_ERRORS = (sqlite3.Error, psycopg.Error)


class Clock:
    """A clock the test moves by hand, so timestamps are exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "repo" / ".swarm" / "swarm.db"


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[Store]:
    with Store.open(store_url, clock=clock) as opened:
        yield opened


def raw(url: str) -> store_backend.Connection:
    """A plain connection to the same store, bypassing `Store` (to check or to break it)."""
    return store_backend.connect(url)


def polecats(store: Store, n: int) -> list[str]:
    names = [f"polecat-{i}" for i in range(1, n + 1)]
    for i, name in enumerate(names, start=1):
        store.upsert_agent(name, "polecat", "sim", f"%{i}", 100 + i)
    return names


def kinds(store: Store, after: int = 0) -> list[str]:
    return [event.kind for event in store.events(after_id=after)]


def last_id(store: Store) -> int:
    latest = store.latest_events(1)
    return latest[0].id if latest else 0


# -- opening, pragmas, migrations ---------------------------------------------------------


def test_open_creates_folder_file_and_schema(db_file: Path) -> None:
    assert not db_file.parent.exists()
    with Store.open(db_file) as store:
        assert db_file.is_file()
        assert store.schema_version == SCHEMA_VERSION
        assert store.list_tasks() == []
        assert (store.dialect, store.path) == ("sqlite", db_file)
    conn = sqlite3.connect(db_file)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"meta", "tasks", "agents", "merge_requests", "events"} <= tables
    finally:
        conn.close()


def test_open_creates_the_schema(store_url: str) -> None:
    with Store.open(store_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.list_tasks() == []
    conn = raw(store_url)
    try:
        for table in ("meta", "tasks", "agents", "merge_requests", "events"):
            assert conn.has_table(table), table
    finally:
        conn.close()


def test_connection_pragmas(db_file: Path) -> None:
    conn = store_db.connect(db_file)
    assert isinstance(conn, SQLiteConnection)
    try:
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == store_db.BUSY_TIMEOUT_MS
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.raw.isolation_level is None
    finally:
        conn.close()


def test_reopen_keeps_data_and_does_not_remigrate(store_url: str) -> None:
    with Store.open(store_url) as store:
        task = store.add_task("survive a restart")
    with Store.open(store_url) as store:
        assert store.get_task(task.id) == task
        assert store.schema_version == SCHEMA_VERSION
        assert [e.kind for e in store.events()] == ["task.added"]


def test_migration_from_empty_applies_each_script_once(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(store_url) as store:
        store.add_task("before v2")
    second = "CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (1);"
    monkeypatch.setattr(store_db, "MIGRATIONS", (*store_db.MIGRATIONS, second))
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    for _ in range(2):  # the second open must not apply it again
        with Store.open(store_url) as store:
            assert store.schema_version == SCHEMA_VERSION + 1
            assert len(store.list_tasks()) == 1
    conn = raw(store_url)
    try:
        assert conn.execute("SELECT count(*) FROM extra").fetchone()[0] == 1
    finally:
        conn.close()


def test_failed_migration_rolls_back_entirely(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(store_url):
        pass
    broken = "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);"
    monkeypatch.setattr(store_db, "MIGRATIONS", (*store_db.MIGRATIONS, broken))
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(DB_ERRORS):
        Store.open(store_url)
    monkeypatch.undo()
    with Store.open(store_url) as store:
        assert store.schema_version == SCHEMA_VERSION
    conn = raw(store_url)
    try:
        assert not conn.has_table("half")
    finally:
        conn.close()


def test_newer_schema_is_refused(store_url: str) -> None:
    with Store.open(store_url):
        pass
    conn = raw(store_url)
    conn.begin_write()
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(SwarmError, match="schema version 99, newer"):
        Store.open(store_url)


def test_sql_with_percent_and_question_marks_in_strings(store_url: str) -> None:
    conn = raw(store_url)
    try:
        assert conn.execute("SELECT 'a%b?' LIKE '%?'").fetchone()[0] in (1, True)
        row = conn.execute("SELECT ? || '%?', 7 % 3", ("x",)).fetchone()
        assert (row[0], row[1]) == ("x%?", 1)
    finally:
        conn.close()


def test_split_statements_respects_strings_and_comments() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    INSERT INTO t VALUES ('c;d');
    """
    statements = store_db.split_statements(script)
    assert len(statements) == 2
    assert statements[1] == "INSERT INTO t VALUES ('c;d');"


def test_transaction_groups_calls_and_rolls_back(store: Store) -> None:
    with store.transaction():
        store.add_task("one")
        store.add_task("two")
    assert len(store.list_tasks()) == 2
    with pytest.raises(SwarmError), store.transaction():
        store.add_task("three")
        store.add_task("")
    assert [t.title for t in store.list_tasks()] == ["one", "two"]
    # A failing call inside a group leaves nothing behind even when its error is caught.
    with store.transaction():
        store.add_task("four")
        with pytest.raises(SwarmError):
            store.hook_task(store.add_task("five").id, "nobody")
    assert [t.title for t in store.list_tasks()] == ["one", "two", "four", "five"]
    polecats(store, 1)
    first = store.list_tasks()[0]
    with store.transaction():
        store.hook_task(first.id, "polecat-1")
        with pytest.raises(SwarmError, match="holds no task"), store.transaction():
            store.start_task("polecat-1")
            store.finish_task("polecat-1", "h", "b")
            store.finish_task("polecat-1", "h", "b")
    assert store.get_task(first.id).status == "hooked"
    assert store.list_merge_requests() == []


def test_a_statement_the_database_refuses_inside_a_group_is_undone_alone(
    store: Store, store_url: str
) -> None:
    """A constraint the server checks (on PostgreSQL reported after the statement, the
    transaction being pipelined) undoes only its own part of the group, on both backends."""
    conn = store._conn
    with store.transaction():
        store.add_task("kept")
        with pytest.raises((sqlite3.Error, psycopg.Error)), store_db.transaction(conn):
            conn.execute("INSERT INTO agents (name) VALUES (?)", ("no-role",))
            conn.execute("SELECT 1").fetchone()
        store.add_task("after")
    assert [t.title for t in store.list_tasks()] == ["kept", "after"]


# -- task ids ------------------------------------------------------------------------------


def test_task_ids_have_the_documented_shape() -> None:
    ids = {new_task_id() for _ in range(200)}
    assert all(is_task_id(task_id) for task_id in ids)
    assert len(ids) > 190
    assert not is_task_id("sw-ABCDE")
    assert not is_task_id("sw-abc")


def test_add_task_retries_on_id_collision(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    first = store.add_task("first")
    minted = iter([first.id, first.id, "sw-zzzzz"])
    monkeypatch.setattr("swarm.store.tasks.new_task_id", lambda: next(minted))
    second = store.add_task("second")
    assert second.id == "sw-zzzzz"


# -- tasks ---------------------------------------------------------------------------------


def test_add_task_defaults_and_validation(store: Store, clock: Clock) -> None:
    task = store.add_task("  Fix the parser  ", body="details")
    assert is_task_id(task.id)
    assert task.title == "Fix the parser"
    assert task.body == "details"
    assert task.priority == 2
    assert task.status == "open"
    assert task.assignee is None
    assert task.attempts == 0
    assert task.created_at == task.updated_at == clock.now
    assert task.notes == ""

    with pytest.raises(SwarmError, match="a task needs a title") as empty:
        store.add_task("   ")
    assert empty.value.exit_code == EXIT_USAGE
    for bad in (-1, 5, 99):
        with pytest.raises(SwarmError, match=rf"priority must be 0\.\.4 .*got {bad}") as info:
            store.add_task("x", priority=bad)
        assert info.value.exit_code == EXIT_USAGE
    assert len(store.list_tasks()) == 1


def test_unknown_task_and_agent(store: Store) -> None:
    with pytest.raises(NotFoundError, match="unknown task 'sw-xxxxx'") as info:
        store.get_task("sw-xxxxx")
    assert info.value.exit_code == EXIT_USAGE
    calls: list[Callable[[], object]] = [
        lambda: store.cancel_task("sw-nope1"),
        lambda: store.retry_task("sw-nope1"),
        lambda: store.release_task("sw-nope1"),
        lambda: store.fail_task("sw-nope1", "x"),
        lambda: store.mark_merged("sw-nope1", "abc"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match="unknown task 'sw-nope1'"):
            call()
    with pytest.raises(NotFoundError, match="unknown agent 'ghost'"):
        store.get_agent("ghost")
    with pytest.raises(NotFoundError, match="unknown agent 'ghost'"):
        store.claim_next_task("ghost")
    with pytest.raises(NotFoundError, match="unknown agent 'ghost'"):
        store.touch_agent("ghost")


def test_list_tasks_by_status_and_counts(store: Store) -> None:
    polecats(store, 1)
    a = store.add_task("a")
    b = store.add_task("b")
    store.add_task("c")
    store.hook_task(b.id, "polecat-1")
    store.cancel_task(a.id)
    assert [t.title for t in store.list_tasks(["open"])] == ["c"]
    assert [t.title for t in store.list_tasks(["open", "hooked"])] == ["b", "c"]
    counts = store.task_counts()
    assert counts == {
        "open": 1,
        "hooked": 1,
        "working": 0,
        "done": 0,
        "merged": 0,
        "failed": 0,
        "cancelled": 1,
    }
    with pytest.raises(SwarmError, match="unknown task status 'bogus'"):
        store.list_tasks(["bogus"])


def test_claim_order_is_priority_then_age(store: Store) -> None:
    names = polecats(store, 5)
    low = store.add_task("low", priority=4)
    old_normal = store.add_task("old normal")
    urgent = store.add_task("urgent", priority=0)
    new_normal = store.add_task("new normal")
    high = store.add_task("high", priority=1)
    assert [t.id for t in store.list_tasks()] == [
        urgent.id,
        high.id,
        old_normal.id,
        new_normal.id,
        low.id,
    ]
    claimed = [store.claim_next_task(name) for name in names]
    assert [t.id if t else None for t in claimed] == [
        urgent.id,
        high.id,
        old_normal.id,
        new_normal.id,
        low.id,
    ]
    store.upsert_agent("polecat-6", "polecat", "sim")
    assert store.claim_next_task("polecat-6") is None


def test_claim_sets_hook_branch_attempts_and_refuses_second(store: Store) -> None:
    polecats(store, 1)
    first = store.add_task("first")
    store.add_task("second")
    task = store.claim_next_task("polecat-1")
    assert task is not None
    assert task.id == first.id
    assert task.status == "hooked"
    assert task.assignee == "polecat-1"
    assert task.attempts == 1
    assert task.branch == f"swarm/{task.id}"
    assert store.get_agent("polecat-1").hook == task.id
    with pytest.raises(SwarmError, match=f"polecat-1 already holds {task.id}"):
        store.claim_next_task("polecat-1")
    assert store.task_counts()["hooked"] == 1


def test_full_lifecycle_through_merge(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("do it")
    assert store.hook_task(task.id, "polecat-1").status == "hooked"
    working = store.start_task("polecat-1")
    assert working.status == "working"
    assert store.start_task("polecat-1") == working  # idempotent, no second event
    mr = store.finish_task("polecat-1", "head1", "base1")
    assert (mr.task_id, mr.agent, mr.branch, mr.head_sha, mr.base_sha, mr.status) == (
        task.id,
        "polecat-1",
        f"swarm/{task.id}",
        "head1",
        "base1",
        "queued",
    )
    assert store.get_task(task.id).status == "done"
    assert store.get_agent("polecat-1").hook is None
    merged = store.mark_merged(task.id, "merge1")
    assert merged.status == "merged"
    assert merged.merge_sha == "merge1"
    after = store.get_merge_request(mr.id)
    assert (after.status, after.merge_sha) == ("merged", "merge1")
    assert kinds(store) == [
        "agent.registered",
        "task.added",
        "task.hooked",
        "task.started",
        "task.done",
        "merge.queued",
        "merge.merged",
        "task.merged",
    ]
    assert [e.task for e in store.events(task=task.id)] == [task.id] * 7


def test_sling_errors_name_task_and_agent(store: Store) -> None:
    polecats(store, 2)
    a = store.add_task("a")
    b = store.add_task("b")
    store.hook_task(a.id, "polecat-1")
    with pytest.raises(
        SwarmError, match=f"cannot hook {b.id} to polecat-1: polecat-1 already holds {a.id}"
    ):
        store.hook_task(b.id, "polecat-1")
    with pytest.raises(
        SwarmError, match=rf"cannot hook {a.id} to polecat-2: {a.id} is hooked \(polecat-1\)"
    ):
        store.hook_task(a.id, "polecat-2")
    with pytest.raises(NotFoundError, match="unknown agent 'polecat-9'"):
        store.hook_task(b.id, "polecat-9")
    with pytest.raises(NotFoundError, match="unknown task 'sw-00000'"):
        store.hook_task("sw-00000", "polecat-2")
    assert store.get_task(b.id).status == "open"
    assert store.get_agent("polecat-2").hook is None


def test_double_finish_creates_one_merge_request(store: Store) -> None:
    polecats(store, 1)
    store.add_task("once")
    store.claim_next_task("polecat-1")
    store.finish_task("polecat-1", "h", "b")
    with pytest.raises(SwarmError, match=r"^polecat-1 holds no task$") as info:
        store.finish_task("polecat-1", "h", "b")
    assert info.value.exit_code == EXIT_FAILURE
    assert len(store.list_merge_requests()) == 1
    with pytest.raises(SwarmError, match="polecat-1 holds no task"):
        store.start_task("polecat-1")
    with pytest.raises(SwarmError, match="without a head and a base commit"):
        store.finish_task("polecat-1", "", "b")


def test_double_merge_raises_and_changes_nothing(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("merge me")
    store.claim_next_task("polecat-1")
    mr = store.finish_task("polecat-1", "h", "b")
    store.mark_merged(task.id, "m1")
    before_task, before_mr, before_events = (
        store.get_task(task.id),
        store.get_merge_request(mr.id),
        last_id(store),
    )
    with pytest.raises(SwarmError, match=rf"{task.id} is already merged \(as m1\)"):
        store.mark_merged(task.id, "m2")
    with pytest.raises(SwarmError, match=rf"merge request #{mr.id} is already merged \(as m1\)"):
        store.mark_request_merged(mr.id, "m2")
    assert store.get_task(task.id) == before_task
    assert store.get_merge_request(mr.id) == before_mr
    assert last_id(store) == before_events


def test_mark_merged_needs_done(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("not yet")
    with pytest.raises(SwarmError, match=f"cannot mark {task.id} merged: it is open, not done"):
        store.mark_merged(task.id, "m")
    store.claim_next_task("polecat-1")
    with pytest.raises(SwarmError, match="it is hooked, not done"):
        store.mark_merged(task.id, "m")


def test_merge_request_merge_marks_task(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("via refinery")
    store.claim_next_task("polecat-1")
    mr = store.finish_task("polecat-1", "h", "b")
    store.set_merge_status(mr.id, "testing")
    merged = store.mark_request_merged(mr.id, "m")
    assert (merged.status, merged.merge_sha, merged.attempts) == ("merged", "m", 1)
    assert store.get_task(task.id).status == "merged"
    assert store.get_task(task.id).merge_sha == "m"


def test_cancel_retry(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("maybe")
    store.claim_next_task("polecat-1")
    store.start_task("polecat-1")
    cancelled = store.cancel_task(task.id)
    assert cancelled.status == "cancelled"
    assert store.get_agent("polecat-1").hook is None
    with pytest.raises(SwarmError, match=f"cannot cancel {task.id}: it is cancelled"):
        store.cancel_task(task.id)
    reopened = store.retry_task(task.id)
    assert (reopened.status, reopened.assignee, reopened.attempts) == ("open", None, 1)
    with pytest.raises(SwarmError, match=f"cannot retry {task.id}: it is open"):
        store.retry_task(task.id)
    again = store.claim_next_task("polecat-1")
    assert again is not None
    assert again.attempts == 2


def test_fail_frees_agent_rejects_request_and_keeps_reason(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("hard")
    store.claim_next_task("polecat-1")
    mr = store.finish_task("polecat-1", "h", "b")
    failed = store.fail_task(task.id, "gate failed 3 times\nFAILED test_x")
    assert failed.status == "failed"
    assert "FAILED test_x" in failed.notes
    rejected = store.get_merge_request(mr.id)
    assert rejected.status == "rejected"
    assert "FAILED test_x" in rejected.result
    with pytest.raises(SwarmError, match=f"cannot fail {task.id}: it is already failed"):
        store.fail_task(task.id, "again")
    assert store.retry_task(task.id).status == "open"

    other = store.add_task("held")
    store.hook_task(other.id, "polecat-1")
    assert store.fail_task(other.id, "agent gave up").status == "failed"
    assert store.get_agent("polecat-1").hook is None


def test_release_returns_work_to_the_queue_with_notes(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("bounce me")
    store.claim_next_task("polecat-1")
    mr = store.finish_task("polecat-1", "h", "b")
    released = store.release_task(task.id, "conflict in a.py")
    assert (released.status, released.assignee, released.notes) == (
        "open",
        None,
        "conflict in a.py",
    )
    assert store.get_merge_request(mr.id).status == "bounced"
    assert store.merge_request_for_task(task.id) is None
    # Held (not yet finished) work can be released too, e.g. its agent died for good.
    store.claim_next_task("polecat-1")
    released = store.release_task(task.id, "polecat-1 died")
    assert released.notes == "conflict in a.py\n\npolecat-1 died"
    assert store.get_agent("polecat-1").hook is None
    with pytest.raises(SwarmError, match=f"cannot release {task.id}: it is open"):
        store.release_task(task.id)
    # Finishing again after a bounce queues a fresh request.
    store.claim_next_task("polecat-1")
    second = store.finish_task("polecat-1", "h2", "b")
    assert second.id != mr.id
    assert store.queue_position(second.id) == 1


def test_bounce_back_to_same_agent_or_queue(store: Store) -> None:
    polecats(store, 2)
    task = store.add_task("fix conflicts")
    store.claim_next_task("polecat-1")
    mr = store.finish_task("polecat-1", "h", "b")
    bounced = store.bounce_task_to(task.id, "polecat-1", "conflict: src/a.py")
    assert (bounced.status, bounced.assignee, bounced.attempts) == ("hooked", "polecat-1", 2)
    assert bounced.notes == "conflict: src/a.py"
    assert store.get_agent("polecat-1").hook == task.id
    assert store.get_merge_request(mr.id).status == "bounced"
    assert store.latest_events(1)[0].kind == "task.bounced"

    # The agent is busy with something else: the task goes back to the queue instead.
    store.finish_task("polecat-1", "h2", "b")
    other = store.add_task("other")
    store.hook_task(other.id, "polecat-1")
    queued = store.bounce_task_to(task.id, "polecat-1", "gate: 2 failed")
    assert (queued.status, queued.assignee) == ("open", None)
    assert queued.notes == "conflict: src/a.py\n\ngate: 2 failed"
    assert store.get_agent("polecat-1").hook == other.id
    assert len(store.list_merge_requests(["queued", "testing"])) == 0


def test_terminal_statuses_refuse_changes(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("t")
    store.claim_next_task("polecat-1")
    store.finish_task("polecat-1", "h", "b")
    store.mark_merged(task.id, "m")
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: store.cancel_task(task.id), "cancel"),
        (lambda: store.retry_task(task.id), "retry"),
        (lambda: store.release_task(task.id), "release"),
        (lambda: store.bounce_task_to(task.id, "polecat-1"), "bounce"),
    ]
    for call, verb in calls:
        with pytest.raises(SwarmError, match=f"cannot {verb} {task.id}: it is merged"):
            call()
    with pytest.raises(SwarmError, match="already merged"):
        store.fail_task(task.id, "late")
    assert store.get_task(task.id).status == "merged"


# -- agents --------------------------------------------------------------------------------


def test_upsert_agent_keeps_hook_and_restarts(store: Store, clock: Clock) -> None:
    agent = store.upsert_agent("polecat-1", "polecat", "claude", "%3", 42)
    assert (agent.state, agent.state_since, agent.hook, agent.restarts) == (
        "starting",
        clock.now,
        None,
        0,
    )
    task = store.add_task("x")
    store.claim_next_task("polecat-1")
    store.record_restart("polecat-1")
    mark = last_id(store)
    clock.tick()
    again = store.upsert_agent("polecat-1", "polecat", "claude", "%9", 77)
    assert (again.pane, again.pid, again.hook, again.restarts) == ("%9", 77, task.id, 1)
    assert kinds(store, mark) == ["agent.updated"]
    assert store.upsert_agent("polecat-1", "polecat", "claude", "%9", 77) == again
    assert kinds(store, mark) == ["agent.updated"]  # no change, no event


def test_agent_state_changes_and_events(store: Store, clock: Clock) -> None:
    store.upsert_agent("polecat-1", "polecat", "sim")
    mark = last_id(store)
    clock.tick(5)
    idle = store.set_agent_state("polecat-1", "idle", "ready")
    assert (idle.state, idle.state_since, idle.detail) == ("idle", clock.now, "ready")
    clock.tick(5)
    same = store.set_agent_state("polecat-1", "idle", "still ready")
    assert same.state_since == idle.state_since
    assert same.detail == "still ready"
    assert kinds(store, mark) == ["agent.state"]
    with pytest.raises(SwarmError, match="unknown agent state 'sleepy'") as info:
        store.set_agent_state("polecat-1", "sleepy")
    assert info.value.exit_code == EXIT_USAGE


def test_touch_restart_worktree(store: Store, clock: Clock, tmp_path: Path) -> None:
    store.upsert_agent("polecat-1", "polecat", "sim")
    clock.tick(3)
    mark = last_id(store)
    store.touch_agent("polecat-1")
    assert store.get_agent("polecat-1").last_activity == clock.now
    assert kinds(store, mark) == []  # touching is cheap: no event
    assert store.record_restart("polecat-1").restarts == 1
    assert store.record_restart("polecat-1").restarts == 2
    tree = tmp_path / "wt"
    assert store.set_worktree("polecat-1", tree).worktree == str(tree)
    assert store.set_worktree("polecat-1", None).worktree is None
    assert kinds(store, mark) == [
        "agent.restarted",
        "agent.restarted",
        "agent.worktree",
        "agent.worktree",
    ]


def test_remove_agent_only_without_hook(store: Store) -> None:
    polecats(store, 1)
    task = store.add_task("held")
    store.claim_next_task("polecat-1")
    with pytest.raises(
        SwarmError, match=f"cannot remove polecat-1: it holds {task.id}; release {task.id} first"
    ):
        store.remove_agent("polecat-1")
    store.release_task(task.id)
    store.remove_agent("polecat-1")
    assert store.find_agent("polecat-1") is None
    with pytest.raises(NotFoundError, match="unknown agent 'polecat-1'"):
        store.remove_agent("polecat-1")
    assert store.latest_events(1)[0].kind == "agent.removed"


def test_idle_agents_and_natural_order(store: Store) -> None:
    for i in (10, 2, 1):
        store.upsert_agent(f"polecat-{i}", "polecat", "sim")
        store.set_agent_state(f"polecat-{i}", "idle")
    store.upsert_agent("witness", "witness", "sim")
    store.set_agent_state("witness", "idle")
    assert [a.name for a in store.list_agents()] == [
        "polecat-1",
        "polecat-2",
        "polecat-10",
        "witness",
    ]
    store.add_task("x")
    store.claim_next_task("polecat-2")
    assert [a.name for a in store.idle_agents(role="polecat")] == ["polecat-1", "polecat-10"]
    assert [a.name for a in store.idle_agents(role="witness")] == ["witness"]
    assert len(store.idle_agents(role=None)) == 3


# -- merge requests ------------------------------------------------------------------------


def finished(store: Store, n: int) -> list[int]:
    names = polecats(store, n)
    ids = []
    for name in names:
        store.add_task(f"work of {name}")
        store.claim_next_task(name)
        ids.append(store.finish_task(name, f"head-{name}", "base").id)
    return ids


def test_merge_queue_order_status_and_position(store: Store) -> None:
    first, second, third = finished(store, 3)
    assert [mr.id for mr in store.list_merge_requests()] == [first, second, third]
    assert [store.queue_position(i) for i in (first, second, third)] == [1, 2, 3]
    testing = store.set_merge_status(first, "testing", "running gate")
    assert (testing.status, testing.attempts, testing.result) == ("testing", 1, "running gate")
    store.set_merge_status(first, "queued", "rebased")
    assert store.set_merge_status(first, "testing").attempts == 2
    store.set_merge_status(second, "rejected", "not wanted")
    assert store.queue_position(second) is None
    assert store.queue_position(third) == 2
    assert [mr.id for mr in store.list_merge_requests(["queued", "testing"])] == [first, third]
    with pytest.raises(SwarmError, match=f"merge request #{second} is already rejected"):
        store.set_merge_status(second, "queued")
    with pytest.raises(SwarmError, match="use mark_merged"):
        store.set_merge_status(first, "merged")
    with pytest.raises(SwarmError, match="unknown merge status 'lost'"):
        store.set_merge_status(first, "lost")
    with pytest.raises(NotFoundError, match="unknown merge request #999"):
        store.get_merge_request(999)
    with pytest.raises(SwarmError, match=f"cannot merge merge request #{second}: it is rejected"):
        store.mark_request_merged(second, "m")


def test_update_merge_head(store: Store) -> None:
    (mr_id,) = finished(store, 1)
    updated = store.update_merge_head(mr_id, "newhead")
    assert updated.head_sha == "newhead"
    assert store.latest_events(1)[0].kind == "merge.head"
    store.set_merge_status(mr_id, "bounced", "conflict")
    with pytest.raises(SwarmError, match="already bounced"):
        store.update_merge_head(mr_id, "x")


def test_database_allows_one_live_request_per_task(store: Store) -> None:
    (mr_id,) = finished(store, 1)
    mr = store.get_merge_request(mr_id)
    conn = raw(store.url)
    try:
        with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
            conn.execute(
                "INSERT INTO merge_requests (task_id, agent, branch, head_sha, base_sha,"
                " created_at, updated_at) VALUES (?, 'x', 'b', 'h', 'b', 0, 0)",
                (mr.task_id,),
            )
    finally:
        conn.close()


# -- events --------------------------------------------------------------------------------


def test_events_filters_and_latest(store: Store, clock: Clock) -> None:
    polecats(store, 2)
    a = store.add_task("a")
    store.add_task("b")
    store.claim_next_task("polecat-1")
    store.claim_next_task("polecat-2")
    custom = store.add_event("note", "hello", agent="mayor", data={"n": 1, "path": Path("/x")})
    assert (custom.kind, custom.ts, custom.data) == ("note", clock.now, {"n": 1, "path": "/x"})
    everything = store.events()
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert everything[-1].data == {"n": 1, "path": "/x"}
    assert [e.kind for e in store.events(task=a.id)] == ["task.added", "task.hooked"]
    assert [e.kind for e in store.events(agent="polecat-2")] == [
        "agent.registered",
        "task.hooked",
    ]
    tail = store.events(after_id=everything[-3].id)
    assert [e.id for e in tail] == [e.id for e in everything[-2:]]
    assert len(store.events(limit=2)) == 2
    assert [e.id for e in store.latest_events(3)] == [e.id for e in everything[-3:]]
    assert store.latest_events(0) == []


def test_every_change_records_an_event(store: Store) -> None:
    """Each task operation appends its event in the same transaction."""
    polecats(store, 1)
    task = store.add_task("t")
    mark = last_id(store)
    expectations: list[tuple[Callable[[], object], list[str]]] = [
        (lambda: store.hook_task(task.id, "polecat-1"), ["task.hooked"]),
        (lambda: store.start_task("polecat-1"), ["task.started"]),
        (lambda: store.finish_task("polecat-1", "h", "b"), ["task.done", "merge.queued"]),
        (
            lambda: store.release_task(task.id, "n"),
            ["merge.status", "task.released"],
        ),
        (lambda: store.cancel_task(task.id), ["task.cancelled"]),
        (lambda: store.retry_task(task.id), ["task.retried"]),
        (lambda: store.fail_task(task.id, "r"), ["task.failed"]),
    ]
    for call, expected in expectations:
        call()
        assert kinds(store, mark) == expected
        mark = last_id(store)
