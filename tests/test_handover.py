"""The hand-over protocol: its transitions, and the reports and dispatch that drive it.

A task reaches one session exactly once: typed only into a ready agent, acknowledged by a
prompt report that carries it, never typed again into a session that has it (a turn that
ends with a question, a restart whose start gave it back), typed again only when lost.
These run on a real SQLite store and need no tmux.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm import handover
from swarm.controller.dispatch import ACK_TIMEOUT, TYPING_GRACE, Dispatcher, lost
from swarm.delivery import DeliveryResult
from swarm.instance import SwarmInstance
from swarm.plan import Capabilities, HealthSpec, RoleSpec
from swarm.reports import TURN_WAIT, handle_report
from swarm.store import Store
from swarm.store.models import HANDOVER_STATES, Handover, Task
from swarm.tmux.client import PaneInfo
from swarm.witness.recovery import Memory, Notify, Nudge, Policy, recover
from swarm.witness.state import Verdict


def test_every_transition_of_the_diagram() -> None:
    path: list[tuple[handover.Signal, str]] = [
        ("hooked", "pending"),
        ("typing", "typing"),
        ("typed", "sent"),
        ("prompted", "acked"),
        ("session_fresh", "pending"),
        ("typing", "typing"),
        ("not_typed", "pending"),
        ("typing", "typing"),
        ("confirmed", "acked"),
        ("session_restored", "acked"),
        ("unhooked", "none"),
    ]
    state: Handover = "none"
    for signal, expected in path:
        after = handover.next_state(state, signal)
        assert after == expected, f"{state} --{signal}--> {after}, expected {expected}"
        state = after


def test_signals_that_do_not_apply_are_ignored() -> None:
    assert handover.next_state("acked", "typed") is None  # acknowledged before typing ended
    assert handover.next_state("acked", "prompted") is None
    assert handover.next_state("acked", "lost") is None  # a session that has it keeps it
    assert handover.next_state("none", "prompted") is None
    assert handover.next_state("pending", "typed") is None


def test_lost_only_from_typed_or_typing() -> None:
    for state in HANDOVER_STATES:
        after = handover.next_state(state, "lost")
        assert (after == "pending") == (state in ("typing", "sent"))


def test_only_a_pending_task_is_typed_and_only_into_a_ready_agent() -> None:
    assert handover.ready_to_type("idle", "pending")
    assert not handover.ready_to_type("starting", "pending")  # start-up turn still runs
    assert not handover.ready_to_type("waiting", "pending")
    assert not handover.ready_to_type("idle", "acked")


# -- the store, the reports and dispatch -------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "swarm.db") as opened:
        opened.upsert_agent("polecat-1", "polecat", "claude", "%1", 100)
        yield opened


def pane() -> dict[str, PaneInfo]:
    info = PaneInfo(
        pane_id="%1",
        window_id="@1",
        window_name="polecats",
        window_index=1,
        pane_index=0,
        agent="polecat-1",
        role="polecat",
        swarm_window="polecats",
        dead=False,
        dead_status=None,
        pid=100,
        current_command="claude",
        width=80,
        height=24,
        window_width=80,
        window_height=24,
        active=False,
        window_active=False,
    )
    return {"polecat-1": info}


def dispatcher(store: Store, tmp_path: Path) -> Dispatcher:
    instance = SwarmInstance(
        repo=tmp_path,
        state_dir=tmp_path,
        session="s",
        socket="s",
        layout_name="t",
        layout_path=tmp_path / "t.yaml",
    )
    worker = RoleSpec(
        "polecat", "", "claude", "", capabilities=Capabilities(worktree=True, takes_tasks=True)
    )
    return Dispatcher(instance, store, roles=lambda: {"polecat": worker})


def start_up(store: Store) -> None:
    """Claude Code starts: SessionStart, its start-up turn, that turn's Stop."""
    handle_report(store, "polecat-1", "SessionStart", {"source": "startup", "session_id": "s1"})
    assert store.get_agent("polecat-1").state == "starting"
    handle_report(store, "polecat-1", "UserPromptSubmit", {"prompt": "You are polecat-1"})
    handle_report(store, "polecat-1", "Stop", {"last_assistant_message": "Ready."})


def test_no_task_is_typed_into_a_start_up_turn(store: Store, tmp_path: Path) -> None:
    handle_report(store, "polecat-1", "SessionStart", {"source": "startup"})
    task = store.add_task("Write the notes")
    assert dispatcher(store, tmp_path).plan_handovers(pane()) == []
    handle_report(store, "polecat-1", "UserPromptSubmit", {"prompt": "You are polecat-1"})
    handle_report(store, "polecat-1", "Stop", {"last_assistant_message": "Ready."})
    planned = dispatcher(store, tmp_path).plan_handovers(pane())
    assert [h.task.id for h in planned] == [task.id]
    assert store.get_agent("polecat-1").handover == "typing"


def test_a_question_at_the_end_of_a_turn_is_waiting_and_never_retyped(
    store: Store, tmp_path: Path
) -> None:
    start_up(store)
    task = store.add_task("Pick the database")
    control = dispatcher(store, tmp_path)
    assert len(control.plan_handovers(pane())) == 1
    prompt = f"polecat-1: task {task.id} is on your hook: Pick the database"
    handle_report(store, "polecat-1", "UserPromptSubmit", {"prompt": prompt})
    assert store.get_agent("polecat-1").handover == "acked"
    assert store.get_task(task.id).status == "working"
    handle_report(store, "polecat-1", "Stop", {"last_assistant_message": "Postgres or SQLite?"})
    agent = store.get_agent("polecat-1")
    assert agent.state == "waiting"
    assert agent.detail == f"{TURN_WAIT} {task.id}: Postgres or SQLite?"
    for _tick in range(5):
        assert control.plan_handovers(pane()) == []


def test_a_restart_whose_start_gives_the_task_back_is_not_typed_it(
    store: Store, tmp_path: Path
) -> None:
    start_up(store)
    task = store.add_task("Write the changelog")
    control = dispatcher(store, tmp_path)
    control.plan_handovers(pane())
    handle_report(store, "polecat-1", "UserPromptSubmit", {"prompt": f"task {task.id} is on"})
    # killed; the new session's SessionStart context hands the task back
    reply = handle_report(store, "polecat-1", "SessionStart", {"source": "startup"})
    assert f"Task {task.id} is on your hook" in reply.output
    handle_report(store, "polecat-1", "UserPromptSubmit", {"prompt": "You are polecat-1"})
    handle_report(store, "polecat-1", "Stop", {"last_assistant_message": "On it."})
    assert store.get_agent("polecat-1").handover == "acked"
    assert control.plan_handovers(pane()) == []


def test_a_restart_of_a_runtime_that_forgets_gets_the_task_typed_again(
    store: Store, tmp_path: Path
) -> None:
    store.upsert_agent("polecat-1", "polecat", "sim", "%1", 100)
    handle_report(store, "polecat-1", "SessionStart", {"source": "startup"})
    task = store.add_task("Write the changelog")
    control = dispatcher(store, tmp_path)
    control.plan_handovers(pane())
    handle_report(store, "polecat-1", "UserPromptSubmit", {"prompt": f"task {task.id} is on"})
    handle_report(store, "polecat-1", "SessionStart", {"source": "startup"})  # a restart
    assert store.get_agent("polecat-1").handover == "pending"
    assert [h.task.id for h in control.plan_handovers(pane())] == [task.id]


def test_a_hand_over_never_acknowledged_is_typed_again_only_after_the_timeout(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_up(store)
    task = store.add_task("Lost in the post")
    control = dispatcher(store, tmp_path)
    assert len(control.plan_handovers(pane())) == 1
    store.set_handover("polecat-1", "sent")
    store.set_agent_state("polecat-1", "idle", "turn ended")
    assert control.plan_handovers(pane()) == []  # a slow acknowledgement is waited for
    import time  # the clock the dispatcher reads

    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + ACK_TIMEOUT + 1)
    again = control.plan_handovers(pane())
    assert [h.task.id for h in again] == [task.id] and again[0].attempt == 2
    assert any(e.kind == "handover.lost" for e in store.events())


def test_the_person_is_told_at_once_then_the_agent_reminded_once() -> None:
    health = HealthSpec(startup_grace=2, stall_after=4, nudge_after=20)
    policy = Policy(health=health)
    memory = Memory()
    asked = Verdict("waiting", f"{TURN_WAIT} sw-1: Postgres or SQLite?", "report")
    first = recover("polecat-1", asked, "sw-1", memory, policy, 100.0)
    assert [type(a) for a in first] == [Notify]
    assert isinstance(first[0], Notify) and "Postgres or SQLite?" in first[0].message
    assert recover("polecat-1", asked, "sw-1", memory, policy, 110.0) == []
    reminder = recover("polecat-1", asked, "sw-1", memory, policy, 121.0)
    assert [type(a) for a in reminder] == [Nudge]
    assert isinstance(reminder[0], Nudge) and "swarm done" in reminder[0].text
    # the reminder's turn ends in a new wait: the person is told again, no second reminder
    recover("polecat-1", Verdict("working", "turn started", "report"), "sw-1", memory, policy, 122)
    again = recover("polecat-1", asked, "sw-1", memory, policy, 130.0)
    assert [type(a) for a in again] == [Notify]
    assert recover("polecat-1", asked, "sw-1", memory, policy, 500.0) == []


def test_a_restart_resumes_its_conversation_once_then_fresh_if_that_failed(
    store: Store, tmp_path: Path
) -> None:
    from swarm.resume import plan_session

    transcript = tmp_path / "s1.jsonl"
    transcript.write_text("{}\n")
    start_up(store)
    store.set_agent_session("polecat-1", "s1", str(transcript))
    task = store.add_task("Write the changelog")
    dispatcher(store, tmp_path).plan_handovers(pane())
    handle_report(store, "polecat-1", "UserPromptSubmit", {"prompt": f"task {task.id} is on"})
    agent = store.get_agent("polecat-1")
    first = plan_session(store, agent, tmp_path)
    assert first.resume == "s1" and first.message is not None
    assert f"task {task.id}" in first.message and "Continue where you left off" in first.message
    # the attempt is recorded; the resumed session never reports in: the next is fresh
    store.add_event("agent.resume", "resuming", agent="polecat-1", data={"session": "s1"})
    again = plan_session(store, agent, tmp_path)
    assert again.resume is None and "failed" in again.note
    # a resume that reported in (SessionStart, source resume) lets the next one resume
    handle_report(store, "polecat-1", "SessionStart", {"source": "resume", "session_id": "s1"})
    assert plan_session(store, agent, tmp_path).resume == "s1"


def test_the_lost_timeout_counts_from_the_end_of_the_typing() -> None:
    """`since`: seconds since the hand-over's state last changed, which for a `sent` one is
    when its typing ended: however long the typing took, the report has ACK_TIMEOUT."""
    assert not lost("sent", "idle", ACK_TIMEOUT - 1)
    assert lost("sent", "idle", ACK_TIMEOUT + 1)
    assert not lost("sent", "working", 10 * ACK_TIMEOUT)  # queued behind a running turn
    assert not lost("typing", "working", TYPING_GRACE - 1)
    assert lost("typing", "working", TYPING_GRACE + 1)  # its controller died typing it
    for state in ("none", "pending", "acked"):
        assert not lost(state, "idle", 10 * ACK_TIMEOUT)


def test_a_slow_hand_over_is_never_typed_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typing that took 25 s (a long queue for the pane, a loaded machine) and a report
    that comes 25 s after it: typed once. Only silence for ACK_TIMEOUT after the typing
    ended makes it lost."""
    import time  # the clock the dispatcher reads

    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    with Store.open(tmp_path / "clock.db", clock=lambda: now[0]) as store:
        store.upsert_agent("polecat-1", "polecat", "claude", "%1", 100)
        start_up(store)
        task = store.add_task("Slow to type")
        control = dispatcher(store, tmp_path)
        [handed] = control.plan_handovers(pane())
        busy = {"polecat-1"}
        now[0] += TYPING_GRACE + 5  # still typing, in this controller
        assert control.plan_handovers(pane(), busy=busy) == []
        control.record(handed, DeliveryResult("%1", 100, 1, False))  # typed; no report yet
        assert store.get_agent("polecat-1").handover == "sent"
        store.set_agent_state("polecat-1", "idle", "screen ready")  # as the witness may
        now[0] += ACK_TIMEOUT - 5
        assert control.plan_handovers(pane()) == []  # 55 s after the claim: waited for
        prompt = f"polecat-1: task {task.id} is on your hook: Slow to type"
        handle_report(store, "polecat-1", "UserPromptSubmit", {"prompt": prompt})
        now[0] += 10 * ACK_TIMEOUT
        assert control.plan_handovers(pane()) == []
        assert store.get_agent("polecat-1").handover == "acked"
        assert not any(e.kind == "handover.lost" for e in store.events())
        delivered = [e for e in store.events() if e.kind == "task.delivered"]
        assert len(delivered) == 1


def test_an_idle_swarm_with_nothing_open_claims_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No claim (a write transaction) per idle agent per pass when no task is open."""
    start_up(store)
    control = dispatcher(store, tmp_path)
    claims: list[str] = []
    claim = store.claim_next_task

    def counted(agent: str) -> Task | None:
        claims.append(agent)
        return claim(agent)

    monkeypatch.setattr(store, "claim_next_task", counted)
    for _pass in range(3):
        assert control.plan_handovers(pane()) == []
    assert claims == []
    task = store.add_task("Now there is one")
    assert [h.task.id for h in control.plan_handovers(pane())] == [task.id]
    assert claims == ["polecat-1"]


def test_an_agent_that_never_takes_its_task_gives_it_back_and_rests(
    store: Store, tmp_path: Path
) -> None:
    """Typed three times, restarted three times: the task goes back to the queue, and the
    same agent is not handed it again at once (the store would give it the same best open
    task, and it would be given back again: for ever, never reaching another agent)."""
    store.upsert_agent("polecat-1", "polecat", "sim", "%1", 100)
    handle_report(store, "polecat-1", "SessionStart", {"source": "startup"})
    task = store.add_task("Crashes whoever takes it")
    control = dispatcher(store, tmp_path)
    for attempt in (1, 2, 3):
        [handed] = control.plan_handovers(pane())
        assert (handed.task.id, handed.attempt) == (task.id, attempt)
        handle_report(store, "polecat-1", "SessionStart", {"source": "startup"})  # it died
    assert control.plan_handovers(pane()) == []  # given back
    assert store.get_task(task.id).status == "open"
    assert control.plan_handovers(pane()) == []  # and not claimed by it again
    assert store.get_task(task.id).status == "open"
    assert [e.kind for e in store.events() if e.kind == "handover.failed"] == ["handover.failed"]
