"""The head of the open queue, kept current from task events instead of re-read.

The sidebar lists the first dozen open tasks, but the store can only hand out all of them,
and reading 4,000 open tasks costs ~30 ms: too much for every new task. Every task change
writes a `task.*` event in the same transaction, so the sidebar keeps the first `keep` open
tasks (a prefix of the queue, in `(priority, seq)` order) and looks up only the tasks named
by new events. The prefix stays exact:

- a task that leaves `open` is dropped (the rest is still the queue's head);
- a task that becomes open is inserted if it sorts before the prefix's last task (or if the
  prefix holds every open task); otherwise it is beyond the prefix and not needed yet.

It is read in full again only when it runs short, when events may have been missed, when
the count of open tasks disagrees with it, or after `reread_every` seconds as a safety net.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from swarm.errors import SwarmError
from swarm.store import Store
from swarm.store.models import Task

KEEP = 64
REREAD_EVERY = 120.0


def queue_key(task: Task) -> tuple[int, int]:
    """The order work is taken in: best priority first, then oldest."""
    return (task.priority, task.seq)


@dataclass
class OpenTasks:
    monotonic: Callable[[], float]
    keep: int = KEEP
    reread_every: float = REREAD_EVERY
    tasks: list[Task] = field(default_factory=list)
    complete: bool = False  # the prefix holds every open task
    valid: bool = False
    read_at: float = float("-inf")
    full_reads: int = 0

    def invalidate(self) -> None:
        self.valid = False

    def changed(self, store: Store, task_ids: Iterable[str]) -> None:
        """Tasks named by new events: look each up once and fix the prefix."""
        if not self.valid:
            return
        for task_id in dict.fromkeys(task_ids):
            self.tasks = [t for t in self.tasks if t.id != task_id]
            try:
                task = store.get_task(task_id)
            except SwarmError:
                continue
            if task.status != "open":
                continue
            beyond = bool(self.tasks) and queue_key(task) > queue_key(self.tasks[-1])
            if self.complete or not beyond:
                bisect.insort(self.tasks, task, key=queue_key)
                if len(self.tasks) > self.keep:
                    self.tasks.pop()
                    self.complete = False

    def first(self, store: Store, count: int, open_total: int) -> list[Task]:
        """The first `count` open tasks, reading them all only when the prefix cannot say."""
        stale = (
            not self.valid
            or (len(self.tasks) < count and not self.complete)
            or (self.complete and len(self.tasks) != open_total)
            or self.monotonic() - self.read_at >= self.reread_every
        )
        if stale:
            every = store.list_tasks(("open",))
            self.tasks = every[: self.keep]
            self.complete = len(every) <= self.keep
            self.valid = True
            self.read_at = self.monotonic()
            self.full_reads += 1
        return self.tasks[:count]
