"""`SidebarApp`: the swarm at a glance, and keyboard control of its panes.

Data flows one way: a single background worker (exclusive, so two reads never overlap)
asks the `SnapshotSource` about four times a second whether anything changed, reads when it
did (or every couple of seconds for tmux liveness), and posts the `Snapshot` to the UI,
whose widgets change only the rows that differ. Keys flow the other way: each action runs
on a worker thread through the `Controls` object (the same functions the CLI calls), and its
outcome, success or `SwarmError`, comes back as a one-line notification, never a crash.

The sidebar holds no state of its own: kill it and the swarm goes on; the controller
respawns its pane and the new one reads everything back from the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label
from textual.worker import get_current_worker

from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.ui.commands import SwarmCommands
from swarm.ui.controls import Controls, SwarmControls, parse_task_input
from swarm.ui.data import POLL_INTERVAL, Snapshot, SnapshotSource, StoreSource
from swarm.ui.keys import KEYS, by_action
from swarm.ui.screens import ConfirmScreen, HelpScreen, PromptScreen
from swarm.ui.widgets.agents import AgentDetail, AgentsTable
from swarm.ui.widgets.events import EventsView
from swarm.ui.widgets.merges import MergesTable, merges_title
from swarm.ui.widgets.needs import NeedsView, needs_title
from swarm.ui.widgets.queue import QueueView, queue_title
from swarm.usage.tokens import money

AFTER_REDRAW = 2  # poll intervals to wait after a snapshot was drawn (0.5 s by default)


class SnapshotReady(Message):
    """The poll worker read something new."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class SourceFailed(Message):
    """The poll worker could not read (the store is gone, locked for too long, ...)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class ControlDone(Message):
    """An action finished on its worker thread: the line to show, and whether it failed."""

    def __init__(self, line: str, ok: bool) -> None:
        super().__init__()
        self.line = line
        self.ok = ok


class SidebarApp(App[None]):
    """The sidebar; give it where snapshots come from and what the keys do."""

    CSS_PATH = "sidebar.tcss"
    TITLE = "swarm"
    COMMANDS = App.COMMANDS | {SwarmCommands}
    # "? help" first: a 30-column footer has room for three keys, and help lists the rest.
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(k.key, k.action, k.short, show=k.footer)
            for k in sorted(KEYS, key=lambda k: k.action != "help")
            if k.key != "enter"
        ),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    def __init__(
        self,
        source: SnapshotSource,
        controls: Controls | None = None,
        *,
        poll_interval: float = POLL_INTERVAL,
        title: str = "swarm",
    ) -> None:
        super().__init__()
        self.source = source
        self.controls = controls
        self.poll_interval = poll_interval
        self.title = title
        self.snapshot: Snapshot | None = None
        self.filter_text = ""
        self.results: list[tuple[str, bool]] = []  # every action's outcome, for tests
        self.read_errors: list[str] = []
        self.apply_times: list[float] = []  # seconds spent updating widgets per snapshot
        self.started_at = time.perf_counter()
        self.first_paint: float | None = None  # seconds from start to the first data shown
        self._wake = threading.Event()
        self._force = threading.Event()
        self._last_error = ""
        self._labels: dict[str, tuple[str, str]] = {}
        self._pending: Snapshot | None = None  # the newest snapshot not drawn yet

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Label("needs you", id="needs-title", classes="title")
        yield NeedsView(id="needs")
        yield Label("agents", id="agents-title", classes="title")
        yield AgentsTable(id="agents")
        yield AgentDetail(id="detail")
        yield Label("queue", id="queue-title", classes="title")
        yield QueueView(id="queue")
        yield Label("merges", id="merges-title", classes="title")
        yield MergesTable(id="merges")
        yield Label("events", id="events-title", classes="title")
        yield EventsView(id="events")
        yield Footer()

    def on_mount(self) -> None:
        self._show_needs(False)
        self.query_one(AgentsTable).focus()
        self.query_one("#agents-title", Label).update(Text("agents … reading", style="bold"))
        self.poll_source()

    def on_unmount(self) -> None:
        self._wake.set()  # let the poll thread see its cancellation at once

    # -- data -------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def poll_source(self) -> None:
        """The only reader: one thread, one store connection, never two reads at once."""
        worker = get_current_worker()
        try:
            while not worker.is_cancelled:
                force = self._force.is_set()
                self._force.clear()
                try:
                    snapshot = self.source.poll(force=force)
                except Exception as exc:  # shown, and tried again next tick
                    self.post_message(SourceFailed(f"{type(exc).__name__}: {exc}"))
                    snapshot = None
                if snapshot is not None:
                    self.post_message(SnapshotReady(snapshot))
                # After a redraw, a longer pause: a busy swarm changes the store all the
                # time, and each redraw repaints the tables (Textual's main cost); twice a
                # second is live enough. An action's refresh_now() still wakes it at once.
                if snapshot is not None:
                    self._wake.wait(self.poll_interval * AFTER_REDRAW)
                else:  # until the store changes (LISTEN on PostgreSQL) or the next poll
                    self.source.wait(self._wake, self.poll_interval)
                self._wake.clear()
        finally:
            self.source.close()

    def refresh_now(self) -> None:
        """Read everything again at once (after an action), tmux included."""
        self._force.set()
        self._wake.set()

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        """Draw the newest snapshot once the messages already waiting are handled: a burst
        of snapshots (a busy UI thread, a slow terminal) costs one redraw, not one each."""
        first = self._pending is None
        self._pending = message.snapshot
        if first:
            self.call_later(self._draw_pending)

    def _draw_pending(self) -> None:
        snapshot, self._pending = self._pending, None
        if snapshot is None:
            return
        began = time.perf_counter()
        self.apply(snapshot)
        self.apply_times.append(time.perf_counter() - began)
        if self.first_paint is None:
            self.first_paint = time.perf_counter() - self.started_at
        self._last_error = ""

    def on_source_failed(self, message: SourceFailed) -> None:
        if message.error != self._last_error:
            self._last_error = message.error
            self.read_errors.append(message.error)
            self.notify(
                f"cannot read the swarm: {message.error}", severity="error", timeout=8, markup=False
            )

    def apply(self, snapshot: Snapshot) -> None:
        """Hand the snapshot to every section; each changes only what differs."""
        self.snapshot = snapshot
        agents = self.query_one(AgentsTable)
        agents.show(snapshot, self.filter_text)
        self.query_one(AgentDetail).show(agents.selected, snapshot.now, not snapshot.agents)
        self.query_one(QueueView).show(snapshot)
        self.query_one(MergesTable).show(snapshot)
        self.query_one(EventsView).show(snapshot)
        self._show_needs(bool(snapshot.escalations))
        self.query_one(NeedsView).show(snapshot)
        self._titles(snapshot)

    def _show_needs(self, shown: bool) -> None:
        """Escalations first, when there are any; no room taken when there are none."""
        for selector in ("#needs-title", "#needs"):
            widget = self.query_one(selector)
            if widget.display != shown:
                widget.display = shown

    def _titles(self, snapshot: Snapshot) -> None:
        title = Text("agents ", style="bold")
        if self.filter_text:  # first, so a narrow pane still shows what is filtered
            shown = len(self.query_one(AgentsTable).shown)
            title.append(f"{shown}/{len(snapshot.agents)} ", style="bold")
            title.append(f"/{self.filter_text}", style="italic")
        else:
            title.append(str(len(snapshot.agents)), style="bold")
        if snapshot.cost_total is not None:
            title.append(f" · {money(snapshot.cost_total)}", style="dim")
        if snapshot.attention:
            title.append(f" · {snapshot.attention} need you", style="bold yellow")
        if not snapshot.tmux_seen:
            title.append(" · tmux?", style="bold red")
        self._set_label("#agents-title", title)
        self._set_label("#queue-title", Text(queue_title(snapshot), style="bold"))
        self._set_label("#merges-title", Text(merges_title(snapshot), style="bold"))
        self._set_label("#events-title", Text("events", style="bold"))
        needs = Text(needs_title(len(snapshot.escalations)), style="bold magenta")
        self._set_label("#needs-title", needs)

    def _set_label(self, selector: str, text: Text) -> None:
        """Titles change rarely: update a label only when its text or colours do."""
        look = (text.plain, str(text.spans))
        if self._labels.get(selector) != look:
            self._labels[selector] = look
            # one line, full width (sidebar.tcss): a new title never moves anything else
            self.query_one(selector, Label).update(text, layout=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, AgentsTable) and self.snapshot is not None:
            self.query_one(AgentDetail).show(event.data_table.selected, self.snapshot.now)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on an agent, or a click on the selected one: go to its pane."""
        if isinstance(event.data_table, AgentsTable):
            event.stop()
            self.action_focus_agent()

    # -- selection --------------------------------------------------------------------------

    def agent_names(self) -> list[str]:
        return [] if self.snapshot is None else [a.name for a in self.snapshot.agents]

    def selected_agent(self) -> str | None:
        agent = self.query_one(AgentsTable).selected
        return None if agent is None else agent.name

    def selected_merge(self) -> int | None:
        merge = self.query_one(MergesTable).selected
        return None if merge is None else merge.id

    def _need_agent(self, agent: str | None) -> str | None:
        name = agent or self.selected_agent()
        if name is None:
            self._report("no agent selected", ok=False)
        return name

    # -- running actions --------------------------------------------------------------------

    def run_control(self, label: str, call: Callable[[Controls], str]) -> None:
        """Run one action off the UI thread; its outcome comes back as a notification."""
        if self.controls is None:
            self._report(f"{label}: this sidebar is read-only", ok=False)
            return
        self._control_worker(label, call)

    @work(thread=True, group="controls", exit_on_error=False)
    def _control_worker(self, label: str, call: Callable[[Controls], str]) -> None:
        assert self.controls is not None
        try:
            line = call(self.controls)
        except SwarmError as exc:
            self.post_message(ControlDone(exc.message, ok=False))
        except Exception as exc:  # any failure is one line on screen, never a crash
            self.post_message(ControlDone(f"{label} failed: {type(exc).__name__}: {exc}", ok=False))
        else:
            self.post_message(ControlDone(line, ok=True))
        self.refresh_now()

    def on_control_done(self, message: ControlDone) -> None:
        self._report(message.line, message.ok)

    def _report(self, line: str, ok: bool) -> None:
        self.results.append((line, ok))
        severity: SeverityLevel = "information" if ok else "error"
        self.notify(line, severity=severity, timeout=4 if ok else 8, markup=False)

    def run_action_named(self, action: str) -> None:
        """The palette's way to press a key."""
        getattr(self, f"action_{action}")()

    def act_on_agent(self, action: str, agent: str) -> None:
        """The palette's way to act on any agent: select it, then act on it."""
        self.query_one(AgentsTable).select_key(agent)
        getattr(self, f"action_{action}")(agent)

    # -- key actions ------------------------------------------------------------------------

    def action_focus_agent(self, agent: str | None = None) -> None:
        name = self._need_agent(agent)
        if name:
            self.run_control(f"focus {name}", lambda c: c.focus(name))

    def action_zoom(self, agent: str | None = None) -> None:
        name = self._need_agent(agent)
        if name:
            self.run_control(f"zoom {name}", lambda c: c.focus(name, zoom=True))

    def action_nudge(self, agent: str | None = None) -> None:
        name = self._need_agent(agent)
        if not name:
            return

        def send(text: str | None) -> None:
            if text and text.strip():
                self.run_control(f"nudge {name}", lambda c: c.nudge(name, text))

        self.push_screen(PromptScreen(f"nudge {name}", "message, Enter sends"), send)

    def action_approve(self, agent: str | None = None) -> None:
        name = self._need_agent(agent)
        if name:
            self.run_control(f"approve {name}", lambda c: c.answer(name, True))

    def action_refuse(self, agent: str | None = None) -> None:
        name = self._need_agent(agent)
        if name:
            self.run_control(f"refuse {name}", lambda c: c.answer(name, False))

    def action_restart(self, agent: str | None = None) -> None:
        name = self._need_agent(agent)
        if not name:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_control(f"restart {name}", lambda c: c.restart(name))

        self.push_screen(ConfirmScreen(f"restart {name}?"), confirmed)

    def action_add_task(self) -> None:
        def add(text: str | None) -> None:
            if not text or not text.strip():
                return
            try:
                title, priority = parse_task_input(text)
            except SwarmError as exc:
                self._report(exc.message, ok=False)
                return
            self.run_control("add task", lambda c: c.add_task(title, priority))

        self.push_screen(PromptScreen("new task", "title (P0-P4 first sets priority)"), add)

    def action_retry_merge(self) -> None:
        mr_id = self.selected_merge()
        if mr_id is None:
            self._report("no merge request selected", ok=False)
            return
        merge = self.snapshot.merge(mr_id) if self.snapshot else None
        what = f"#{mr_id}" + (f" ({merge.task_id})" if merge else "")

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_control(f"retry #{mr_id}", lambda c: c.retry_merge(mr_id))

        self.push_screen(ConfirmScreen(f"queue merge request {what} again?"), confirmed)

    def action_diff(self, agent: str | None = None) -> None:
        name = self._need_agent(agent)
        if name:
            self.run_control(f"diff {name}", lambda c: c.diff(name))

    def action_shell(self, agent: str | None = None) -> None:
        name = self._need_agent(agent)
        if name:
            self.run_control(f"shell {name}", lambda c: c.shell(name))

    def action_reject_merge(self) -> None:
        mr_id = self.selected_merge()
        if mr_id is None:
            self._report("no merge request selected", ok=False)
            return
        merge = self.snapshot.merge(mr_id) if self.snapshot else None
        what = f"#{mr_id}" + (f" ({merge.task_id})" if merge else "")

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_control(f"reject #{mr_id}", lambda c: c.reject_merge(mr_id))

        self.push_screen(ConfirmScreen(f"reject merge request {what}?"), confirmed)

    def action_filter(self) -> None:
        def apply(text: str | None) -> None:
            if text is not None:
                self.set_filter(text.strip())

        self.push_screen(
            PromptScreen("filter agents", "name, role, state or task", self.filter_text), apply
        )

    def action_clear_filter(self) -> None:
        if self.filter_text:
            self.set_filter("")

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        if self.snapshot is not None:
            self.apply(self.snapshot)
        self.query_one(AgentsTable).focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Only the swarm's own entries (and Quit): Textual's Keys, Screenshot and Theme
        would sit next to ours and say less."""
        for command in super().get_system_commands(screen):
            if command.title == "Quit":
                yield command
        yield SystemCommand("Keys", by_action("help").help, self.action_help)


def run_sidebar(instance: SwarmInstance) -> int:
    """`swarm sidebar`: run until closed; the swarm does not depend on it."""
    app = SidebarApp(
        StoreSource.for_instance(instance),
        SwarmControls(instance),
        title=f"swarm {instance.session}",
    )
    app.run()
    return 0
