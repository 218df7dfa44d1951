"""Borders and resource figures: written only where something changed."""

from __future__ import annotations

from swarm.store.models import Agent
from swarm.witness.proc import TreeSample
from swarm.witness.signals import PaneSignal
from swarm.witness.upkeep import border_commands, resources_of, worth_writing


def agent(name: str, state: str, hook: str | None = None) -> Agent:
    return Agent(name, "polecat", "sim", "%1", 1, state, 0.0, hook, None, 0, None, "", 0.0, 0.0)  # type: ignore[arg-type]


def pane(
    pane_id: str, name: str, state: str = "", task: str = "", dead: bool = False
) -> PaneSignal:
    return PaneSignal(
        pane_id, name, "polecat", dead, None, None, 42, "python", state, task, "0,0,0,"
    )


def test_borders_only_where_they_changed() -> None:
    agents = [
        agent("polecat-1", "working", "sw-1"),
        agent("polecat-2", "idle"),
        agent("gone", "dead"),
    ]
    panes = {
        "polecat-1": pane("%1", "polecat-1", "idle", ""),
        "polecat-2": pane("%2", "polecat-2", "idle", ""),
    }
    assert border_commands(agents, panes) == [
        ("set-option", "-p", "-t", "%1", "@swarm_state", "working"),
        ("set-option", "-p", "-t", "%1", "@swarm_task", "sw-1"),
    ]


def test_resources_of_a_live_sampled_pane() -> None:
    sample = TreeSample(alive=True, cpu_percent=12.34, rss_bytes=1000, processes=2)
    assert resources_of(pane("%1", "a"), sample, 42) == (12.3, 1000)
    assert resources_of(pane("%1", "a"), sample, 41) == (None, None)  # sampled another pid
    assert resources_of(pane("%1", "a", dead=True), sample, 42) == (None, None)
    assert resources_of(None, sample, 42) == (None, None)


def test_only_meaningful_changes_are_written() -> None:
    assert worth_writing(None, (1.0, 100))
    assert not worth_writing((1.0, 100_000_000), (4.0, 105_000_000))
    assert worth_writing((1.0, 100_000_000), (7.0, 100_000_000))
    assert worth_writing((1.0, 100_000_000), (1.0, 111_000_000))
    assert worth_writing((1.0, 100), (None, None))
    assert not worth_writing((None, None), (None, None))
