"""The sidebar's data layer (no Textual): what a snapshot holds and when the store is read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm import actions
from swarm.errors import SwarmError
from swarm.store import Store
from swarm.tmux.client import PaneInfo
from swarm.ui import format as fmt
from swarm.ui.controls import parse_task_input
from swarm.ui.data import EVENT_ROWS, StoreSource, needs_person


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pane(agent: str, pane_id: str, dead: bool = False) -> PaneInfo:
    return PaneInfo(
        pane_id=pane_id,
        window_id="@1",
        window_name="demo",
        window_index=0,
        pane_index=0,
        agent=agent,
        role="polecat",
        swarm_window="demo",
        dead=dead,
        dead_status=1 if dead else None,
        pid=None if dead else 4242,
        current_command="python",
        width=80,
        height=20,
        window_width=200,
        window_height=50,
        active=False,
        window_active=True,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / ".swarm" / "swarm.db"


@pytest.fixture
def writer(db: Path) -> Iterator[Store]:
    """Another process's connection: its commits change the reader's data_version."""
    with Store.open(db) as store:
        yield store


@pytest.fixture
def mono() -> FakeClock:
    return FakeClock()


@pytest.fixture
def source(db: Path, writer: Store, mono: FakeClock) -> Iterator[StoreSource]:
    src = StoreSource(db_path=db, session="t", monotonic=mono, clock=lambda: 5000.0)
    yield src
    src.close()


def test_poll_reads_only_when_something_changed(
    source: StoreSource, writer: Store, mono: FakeClock
) -> None:
    first = source.poll()
    assert first is not None and first.queue_total == 0
    assert source.poll() is None  # nothing committed: one pragma, no read
    writer.add_task("write the docs")
    changed = source.poll()
    assert changed is not None and [t.title for t in changed.queue] == ["write the docs"]
    assert source.poll() is None
    mono.now += 2.5  # a full read is due anyway (tmux liveness, ages)
    assert source.poll() is not None
    assert source.poll(force=True) is not None


def test_agents_that_need_a_person_come_first(source: StoreSource, writer: Store) -> None:
    for name, role in (
        ("mayor", "mayor"),
        ("polecat-10", "polecat"),
        ("polecat-2", "polecat"),
        ("witness", "witness"),
        ("polecat-3", "polecat"),
    ):
        writer.upsert_agent(name, role, "sim")
    writer.set_agent_state("polecat-10", "waiting", "permission prompt")
    writer.set_agent_state("polecat-2", "working")
    writer.set_agent_state("witness", "idle", "escalated: polecat-3 died 3 times")
    writer.set_agent_state("polecat-3", "stalled", "no output for 6m")
    snap = source.poll()
    assert snap is not None
    assert [a.name for a in snap.agents] == [
        "polecat-3",
        "polecat-10",
        "witness",
        "mayor",
        "polecat-2",
    ]
    assert snap.attention == 3
    assert snap.agent("witness") is not None
    assert snap.agent("witness").shown_state == "escalated"  # type: ignore[union-attr]


def test_tmux_overrides_the_store_and_failure_is_shown(db: Path, writer: Store) -> None:
    writer.upsert_agent("polecat-1", "polecat", "sim", "%1")
    writer.upsert_agent("polecat-2", "polecat", "sim", "%2")
    writer.set_agent_state("polecat-1", "working")
    writer.set_agent_state("polecat-2", "working")
    calls: list[int] = []

    def panes() -> list[PaneInfo]:
        calls.append(1)
        return [pane("polecat-1", "%1", dead=True), pane("polecat-2", "%2")]

    src = StoreSource(db_path=db, panes=panes)
    snap = src.poll()
    assert snap is not None and snap.tmux_seen
    states = {a.name: a.state for a in snap.agents}
    assert states == {"polecat-1": "dead", "polecat-2": "working"}
    assert snap.agents[0].name == "polecat-1"  # dead: first
    assert len(calls) == 1  # one tmux call for all panes

    def broken() -> list[PaneInfo]:
        raise OSError("tmux is gone")

    src.panes = broken
    snap = src.poll(force=True)
    assert snap is not None and not snap.tmux_seen
    assert {a.name: a.state for a in snap.agents} == {
        "polecat-1": "working",
        "polecat-2": "working",
    }
    src.close()


def test_the_queue_follows_task_events_without_rereading(
    source: StoreSource, writer: Store
) -> None:
    writer.upsert_agent("polecat-1", "polecat", "sim")
    for n in range(30):
        writer.add_task(f"task {n}", priority=n % 5)
    first = source.poll()
    assert first is not None
    assert first.queue_total == 30 and len(first.queue) == 12
    assert [t.id for t in first.queue] == [t.id for t in writer.list_tasks(("open",))[:12]]
    assert source.store is not None
    reads: list[tuple[str, ...]] = []
    original = source.store.list_tasks

    def counting(statuses: tuple[str, ...] | None = None) -> list[object]:
        reads.append(tuple(statuses or ()))
        return original(statuses)  # type: ignore[return-value]

    source.store.list_tasks = counting  # type: ignore[method-assign, assignment]
    writer.set_agent_state("polecat-1", "working")
    task = writer.claim_next_task("polecat-1")
    urgent = writer.add_task("urgent", priority=0)
    assert task is not None
    snap = source.poll()
    assert snap is not None
    assert ("open",) not in reads  # kept from the events, not read again
    assert snap.queue[0].id == task.id and snap.queue[0].status == "hooked"
    expected = [t.id for t in writer.list_tasks(("open",))[:11]]
    assert [t.id for t in snap.queue[1:]] == expected
    assert urgent.id in expected
    assert snap.agent("polecat-1") is not None
    assert snap.agent("polecat-1").task_title == task.title  # type: ignore[union-attr]


def test_the_queue_head_stays_exact_through_every_change(tmp_path: Path) -> None:
    """Adds, claims, cancels, retries, bursts: the kept head always equals a full read."""
    import random

    from swarm.ui.open_tasks import OpenTasks

    rng = random.Random(7)
    mono = FakeClock()
    with Store.open(tmp_path / "a.db") as writer, Store.open(tmp_path / "a.db") as reader:
        head = OpenTasks(monotonic=mono, keep=8)
        for n in range(4):
            writer.upsert_agent(f"polecat-{n}", "polecat", "sim")
        after = 0
        for step in range(300):
            choice = rng.random()
            open_now = writer.list_tasks(("open",))
            if choice < 0.45 or not open_now:
                writer.add_task(f"t{step}", priority=rng.randrange(5))
            elif choice < 0.65:
                free = [a.name for a in writer.list_agents() if a.hook is None]
                if free:
                    writer.claim_next_task(rng.choice(free))
            elif choice < 0.8:
                writer.cancel_task(rng.choice(open_now).id)
            elif choice < 0.9:
                gone = writer.list_tasks(("cancelled",))
                if gone:
                    writer.retry_task(rng.choice(gone).id)
            else:
                busy = [a for a in writer.list_agents() if a.hook]
                if busy:
                    writer.release_task(rng.choice(busy).hook or "", "back")
            fresh = reader.events(after_id=after)
            after = fresh[-1].id if fresh else after
            head.changed(reader, [e.task for e in fresh if e.kind.startswith("task.") and e.task])
            total = reader.task_counts()["open"]
            got = [t.id for t in head.first(reader, 5, total)]
            assert got == [t.id for t in reader.list_tasks(("open",))[:5]], step
        assert head.full_reads < 20  # most steps needed no full read (2 when written)


def test_merges_show_the_queue_and_the_latest_results(source: StoreSource, writer: Store) -> None:
    writer.upsert_agent("polecat-1", "polecat", "sim")
    writer.upsert_agent("polecat-2", "polecat", "sim")
    first = writer.add_task("first")
    second = writer.add_task("second")
    writer.hook_task(first.id, "polecat-1")
    writer.hook_task(second.id, "polecat-2")
    mr1 = writer.finish_task("polecat-1", "a" * 40, "b" * 40)
    mr2 = writer.finish_task("polecat-2", "c" * 40, "b" * 40)
    snap = source.poll()
    assert snap is not None
    assert [m.id for m in snap.merges_live] == [mr1.id, mr2.id]
    assert snap.merges_done == ()
    writer.set_merge_status(mr1.id, "testing")
    writer.bounce_task_to(first.id, "polecat-1", "conflict in src/a.py\n")
    writer.mark_request_merged(mr2.id, "d" * 40)
    snap = source.poll()
    assert snap is not None
    assert snap.merges_live == ()
    done = {m.id: m for m in snap.merges_done}
    assert done[mr1.id].status == "bounced" and done[mr1.id].result == "conflict in src/a.py"
    assert done[mr2.id].status == "merged"
    # A fresh source (a restarted sidebar) finds the same results without the events.
    fresh = StoreSource(db_path=source.db_path)
    again = fresh.poll()
    fresh.close()
    assert again is not None and {m.id for m in again.merges_done} == {mr1.id, mr2.id}


def test_events_are_read_incrementally_and_survive_a_burst(
    source: StoreSource, writer: Store
) -> None:
    for n in range(5):
        writer.add_event("test.event", f"event {n}")
    snap = source.poll()
    assert snap is not None and [e.message for e in snap.events][-1] == "event 4"
    with writer.transaction():
        for n in range(5, 200):
            writer.add_event("test.event", f"event {n}")
    snap = source.poll()
    assert snap is not None
    assert len(snap.events) == EVENT_ROWS
    assert snap.events[-1].message == "event 199"
    assert [e.id for e in snap.events] == sorted(e.id for e in snap.events)


def test_needs_person() -> None:
    assert needs_person("waiting", "")
    assert needs_person("dead", "")
    assert needs_person("stalled", "")
    assert needs_person("idle", "Escalated to the mayor")
    assert not needs_person("working", "tool Bash")


def test_formatting_fits_narrow_columns() -> None:
    assert fmt.age(None, 100.0) == "-"
    assert fmt.age(95.0, 100.0) == "5s"
    assert fmt.age(50_000.0 - 3 * 3600, 50_000.0) == "3h"
    assert fmt.size(None) == "-"
    assert fmt.size(340 * 1024 * 1024) == "340M"
    assert fmt.size(3 * 1024**3) == "3.0G"
    assert fmt.cpu(12.4) == "12%"
    assert fmt.clip("a long line\nwith a break", 8) == "a long …"
    assert fmt.cell("abc", 5).plain == "abc  "
    assert all(len(look.symbol) == 1 for look in fmt.STATE_LOOKS.values())


def test_task_input_takes_an_optional_priority() -> None:
    assert parse_task_input("fix the login page") == ("fix the login page", 2)
    assert parse_task_input("P0 fix the login page") == ("fix the login page", 0)
    assert parse_task_input("p4  later ") == ("later", 4)
    assert parse_task_input("P12 is a title") == ("P12 is a title", 2)
    with pytest.raises(SwarmError, match="out of range"):
        parse_task_input("P7 too low")


def test_retry_and_reject_are_the_merge_queue_commands(repo: Path, writer: Store) -> None:
    """The sidebar's m / R are `swarm mq retry` / `swarm mq reject`, same rules."""
    from swarm.git.repo import git
    from swarm.instance import SwarmInstance

    instance = SwarmInstance(
        repo=repo,
        state_dir=repo / ".swarm",
        session="t",
        socket="unused",
        layout_name="demo",
        layout_path=repo / "demo.yaml",
    )
    writer.upsert_agent("polecat-1", "polecat", "sim")
    task = writer.add_task("work")
    writer.hook_task(task.id, "polecat-1")
    base = git(repo, "rev-parse", "main")
    branch = writer.get_task(task.id).branch or ""
    git(repo, "checkout", "-q", "-b", branch)
    (repo / "work.txt").write_text("done\n")
    git(repo, "add", "work.txt")
    git(repo, "commit", "-q", "-m", "work")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    mr = writer.finish_task("polecat-1", head, base)
    assert "already in the queue, position 1" in actions.retry_merge(instance, writer, mr.id)
    line = actions.reject_merge(writer, mr.id, "not wanted")
    assert line.startswith(f"#{mr.id} rejected; {task.id} failed")
    assert writer.get_merge_request(mr.id).status == "rejected"
    assert writer.get_task(task.id).status == "failed"
    assert "not wanted" in writer.get_task(task.id).notes
    with pytest.raises(SwarmError, match="not in the queue"):
        actions.reject_merge(writer, mr.id)
    line = actions.retry_merge(instance, writer, mr.id)  # the branch goes back in the queue
    again = writer.merge_request_for_task(task.id)
    assert again is not None and again.id != mr.id and again.head_sha == head
    assert (
        line == f"{task.id}: merge request #{again.id} queued ({branch} @ {head[:12]}), position 1"
    )
    assert writer.get_task(task.id).status == "done"
    writer.mark_request_merged(again.id, head)
    with pytest.raises(SwarmError, match="merged already"):
        actions.retry_merge(instance, writer, again.id)
    with pytest.raises(SwarmError, match="unknown merge request"):
        actions.retry_merge(instance, writer, 999)


def test_events_after_an_empty_start_are_all_followed(source: StoreSource, writer: Store) -> None:
    """A sidebar started on an empty store must not lose task changes in a later burst."""
    assert source.poll() is not None  # no events at all yet
    with writer.transaction():
        urgent = writer.add_task("urgent", priority=0)
        for n in range(EVENT_ROWS + 10):
            writer.add_event("test.event", f"event {n}")
    snap = source.poll()
    assert snap is not None and snap.events[-1].message == f"event {EVENT_ROWS + 9}"
    assert [t.id for t in snap.queue] == [urgent.id]
