"""Which task an agent held when: the attribution of usage read after the fact."""

from __future__ import annotations

from swarm.store.models import Agent, Event
from swarm.usage.holds import AFTER_END, Holds


def event(n: int, kind: str, task: str, ts: float, agent: str = "polecat-1") -> Event:
    return Event(id=n, ts=ts, kind=kind, message="", agent=agent, task=task)


def agent(hook: str | None) -> Agent:
    return Agent(
        "polecat-1", "polecat", "claude", "%1", 1, "working", 0.0, hook, None, 0, None, "", 0.0, 0.0
    )


def test_holds_follow_hand_overs_and_endings() -> None:
    holds = Holds()
    holds.follow(
        [
            event(1, "task.hooked", "sw-a", 100),
            event(2, "task.done", "sw-a", 200),
            event(3, "task.hooked", "sw-b", 400),
            event(4, "task.released", "sw-b", 500),
            event(5, "task.bounced", "sw-a", 600),
        ]
    )
    assert holds.task_at("polecat-1", 50) == ""
    assert holds.task_at("polecat-1", 150) == "sw-a"
    assert holds.task_at("polecat-1", 200 + AFTER_END - 1) == "sw-a"  # its closing words
    assert holds.task_at("polecat-1", 399) == ""
    assert holds.task_at("polecat-1", 450) == "sw-b"
    assert holds.task_at("polecat-1", 700) == "sw-a"  # bounced back to it
    assert holds.task_at("polecat-2", 450) == ""
    assert holds.last_event == 5


def test_a_hold_older_than_the_history_read_is_seeded_from_the_agent() -> None:
    holds = Holds()
    holds.seed([agent("sw-old")], [event(9, "task.added", "sw-x", 50, agent="")])
    assert holds.task_at("polecat-1", 10) == "sw-old"
    seeded = Holds()
    seeded.seed(
        [agent("sw-b")],
        [
            event(1, "task.hooked", "sw-a", 100),
            event(2, "task.done", "sw-a", 200),
            event(3, "task.hooked", "sw-b", 300),
        ],
    )
    assert seeded.task_at("polecat-1", 150) == "sw-a"
    assert seeded.task_at("polecat-1", 310) == "sw-b"
