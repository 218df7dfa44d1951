"""The queue section: counts by status, then the next tasks in the order they are taken."""

from __future__ import annotations

from rich.text import Text

from swarm.ui import format as fmt
from swarm.ui.data import Snapshot, TaskRow
from swarm.ui.widgets.section import TextSection

# Short names for the counts line, in the task lifecycle's order.
COUNT_NAMES = {
    "open": "open",
    "hooked": "hook",
    "working": "work",
    "done": "done",
    "merged": "merged",
    "failed": "failed",
    "cancelled": "cancel",
}
COUNT_STYLES = {"failed": "red", "merged": "green", "working": "bold green", "open": "bold"}


def counts_line(snapshot: Snapshot, width: int) -> Text:
    """`open 12 · work 3 · merged 40 · failed 1`: statuses with tasks only, cut to width."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for status, count in snapshot.counts:
        if not count:
            continue
        if line.plain:
            line.append(" · ", style="dim")
        line.append(
            f"{COUNT_NAMES.get(status, status)} {count}", style=COUNT_STYLES.get(status, "")
        )
    if not line.plain:
        line.append("no tasks yet (t adds one)", style="dim")
    line.truncate(width, overflow="ellipsis")
    return line


def task_line(task: TaskRow, width: int, now: float) -> Text:
    """`P1 3m sw-7k2m9 fix the login page`, with the holder when there is room."""
    line = Text(no_wrap=True, overflow="ellipsis")
    priority_style = fmt.PRIORITY_STYLES[min(max(task.priority, 0), len(fmt.PRIORITY_STYLES) - 1)]
    line.append(f"P{task.priority} ", style=priority_style)
    line.append(f"{fmt.age(task.created_at, now):>3} ", style="dim")
    marker = "→" if task.status == "hooked" else " "
    line.append(f"{task.id}{marker}", style="cyan")
    rest = width - len(line.plain) - 1
    title = task.title
    if task.status == "hooked" and task.assignee and width >= 50:
        title = f"{task.assignee}: {title}"
    line.append(" " + fmt.clip(title, max(0, rest)))
    return line


def rows_for(screen_height: int) -> int:
    """How many queued tasks to list: about a tenth of the screen, 2 to 12."""
    return min(12, max(2, screen_height // 10))


class QueueView(TextSection):
    """Counts and the first queued tasks."""

    def draw(self, snapshot: Snapshot, width: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append_text(counts_line(snapshot, width))
        shown = snapshot.queue[: rows_for(self.app.size.height)]
        for task in shown:
            text.append("\n")
            text.append_text(task_line(task, width, snapshot.now))
        hidden = snapshot.queue_total - len(shown)
        if hidden > 0:
            text.append("\n")
            text.append(fmt.clip(f"… {hidden} more queued", width), style="dim")
        return text


def queue_title(snapshot: Snapshot | None) -> str:
    if snapshot is None:
        return "queue"
    return f"queue {snapshot.queue_total}"
