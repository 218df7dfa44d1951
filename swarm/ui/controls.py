"""What the sidebar's keys do, as one object the app is given.

`SwarmControls` calls the very functions the CLI calls (`swarm.actions`, `Store.add_task`),
so the sidebar can do nothing the CLI cannot. Each call runs on a worker thread and opens its
own short-lived `Store` (a SQLite connection belongs to the thread that opened it). Tests of
the pure UI hand the app a recording fake with the same methods instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from swarm import actions
from swarm.errors import EXIT_USAGE, SwarmError
from swarm.instance import SwarmInstance
from swarm.store import Store
from swarm.store.models import DEFAULT_PRIORITY, PRIORITY_MAX, PRIORITY_MIN


class Controls(Protocol):
    """Every action the sidebar offers; each returns the one line to show the person."""

    def focus(self, agent: str, zoom: bool = False) -> str: ...

    def nudge(self, agent: str, text: str) -> str: ...

    def answer(self, agent: str, approve: bool) -> str: ...

    def restart(self, agent: str) -> str: ...

    def add_task(self, title: str, priority: int = DEFAULT_PRIORITY) -> str: ...

    def retry_merge(self, mr_id: int) -> str: ...

    def reject_merge(self, mr_id: int) -> str: ...

    def diff(self, agent: str) -> str: ...

    def shell(self, agent: str) -> str: ...


def parse_task_input(text: str) -> tuple[str, int]:
    """`P1 fix the login page` -> ("fix the login page", 1); no prefix means priority 2."""
    words = text.strip().split(maxsplit=1)
    if len(words) == 2 and len(words[0]) == 2 and words[0][0] in "pP" and words[0][1].isdigit():
        priority = int(words[0][1])
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise SwarmError(
                f"priority P{priority} is out of range (P{PRIORITY_MIN}..P{PRIORITY_MAX})",
                exit_code=EXIT_USAGE,
            )
        return words[1].strip(), priority
    return text.strip(), DEFAULT_PRIORITY


class SwarmControls:
    """The real thing: a running swarm's tmux server and store."""

    def __init__(self, instance: SwarmInstance) -> None:
        self.instance = instance

    @contextmanager
    def _store(self) -> Iterator[Store]:
        with self.instance.open_store() as store:
            yield store

    def focus(self, agent: str, zoom: bool = False) -> str:
        return actions.focus(self.instance, agent, zoom=zoom)

    def nudge(self, agent: str, text: str) -> str:
        with self._store() as store:
            result = actions.nudge(self.instance, store, agent, text)
        if not result.confirmed:
            return f"{agent}: text pasted, but not confirmed after {result.enters} Enters"
        return f"{agent}: nudged ({result.size} bytes)"

    def answer(self, agent: str, approve: bool) -> str:
        with self._store() as store:
            return actions.answer_prompt(self.instance, store, agent, approve)

    def restart(self, agent: str) -> str:
        with self._store() as store:
            return actions.restart_agent(self.instance, store, agent, "asked from the sidebar")

    def add_task(self, title: str, priority: int = DEFAULT_PRIORITY) -> str:
        with self._store() as store:
            task = store.add_task(title, priority=priority)
        return f"{task.id} added (P{task.priority}): {task.title}"

    def retry_merge(self, mr_id: int) -> str:
        with self._store() as store:
            return actions.retry_merge(self.instance, store, mr_id)

    def reject_merge(self, mr_id: int) -> str:
        with self._store() as store:
            return actions.reject_merge(store, mr_id, "from the sidebar")

    def diff(self, agent: str) -> str:
        from swarm.agent_views import diff_summary

        return f"{agent}: {diff_summary(self.instance, agent).line()}"

    def shell(self, agent: str) -> str:
        from swarm.agent_views import open_shell

        return open_shell(self.instance, agent)
