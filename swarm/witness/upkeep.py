"""What the witness keeps up to date besides states: pane borders and resource figures.

Both are written only where something changed, so a calm swarm costs no tmux command and
no store write for them: the border options of a pane are compared with what its border
shows now (read in the same `list-panes` as everything else), and CPU and memory reach
the store only when they moved enough for the sidebar to show a different figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from swarm.store.models import Agent
from swarm.witness.proc import TreeSample
from swarm.witness.signals import PaneSignal

Command = tuple[str, ...]
Resources = tuple[float | None, int | None]  # CPU percent and RSS bytes of a process tree

CPU_REPORT_STEP = 5.0  # percent points: a smaller change is not worth a store write
RSS_REPORT_STEP = 0.10  # a tenth of the last written value


def border_commands(agents: Iterable[Agent], panes: Mapping[str, PaneSignal]) -> list[Command]:
    """`set-option` for each pane whose `@swarm_state` or `@swarm_task` is out of date."""
    commands: list[Command] = []
    for agent in agents:
        pane = panes.get(agent.name)
        if pane is None:
            continue
        task = agent.hook or ""
        if pane.border_state != agent.state:
            commands.append(("set-option", "-p", "-t", pane.pane_id, "@swarm_state", agent.state))
        if pane.border_task != task:
            commands.append(("set-option", "-p", "-t", pane.pane_id, "@swarm_task", task))
    return commands


def resources_of(
    pane: PaneSignal | None, sample: TreeSample | None, sampled_pid: int | None
) -> Resources:
    """CPU and memory of the agent's tree; none for a dead pane or a sample of another pid."""
    if pane is None or pane.dead or sample is None or sampled_pid != pane.pid:
        return (None, None)
    cpu = round(sample.cpu_percent, 1) if sample.cpu_percent is not None else None
    return (cpu, sample.rss_bytes)


def worth_writing(before: Resources | None, after: Resources) -> bool:
    """Only a meaningful change reaches the store: the sidebar needs a trend, not noise."""
    if before is None:
        return True
    (cpu0, rss0), (cpu1, rss1) = before, after
    if (cpu0 is None) != (cpu1 is None) or (rss0 is None) != (rss1 is None):
        return True
    if cpu0 is not None and cpu1 is not None and abs(cpu0 - cpu1) >= CPU_REPORT_STEP:
        return True
    return bool(rss0 and rss1 is not None and abs(rss0 - rss1) >= RSS_REPORT_STEP * rss0)
