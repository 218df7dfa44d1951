"""Small dialogs: a one-line prompt (nudge, new task, filter), a yes/no and the key help.

Each is a modal screen docked at the bottom, full width, so it fits a 30-column pane and
the lists stay visible above it while the person types.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from swarm.ui.keys import KEYS, MOVES


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line; Enter returns it, Escape returns None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question for the actions that cannot be undone (restart, reject)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes"),
        Binding("enter", "answer(True)", "yes", show=False),
        Binding("n", "answer(False)", "no"),
        Binding("escape", "answer(False)", "no", show=False),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(classes="dialog")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, classes="dialog-title")
            yield Label(Text.assemble(("y", "bold"), " yes   ", ("n", "bold"), " no"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def help_text() -> Text:
    """Keys first (the footer's word in bold), then moves, then what the symbols mean;
    no columns, so it wraps cleanly in a 30-column pane."""
    text = Text()
    for key in KEYS:
        text.append(f"{key.label} {key.short}", style="bold")
        text.append(f"  {key.help}\n")
    text.append("\n")
    for label, meaning in MOVES:
        text.append(label, style="bold")
        text.append(f"  {meaning}\n")
    text.append("\nstates  ", style="bold")
    text.append("● work ○ idle ◌ start ? wait ◔ stall ✗ dead ! escalated ✓ done ■ stop")
    return text


class HelpScreen(ModalScreen[None]):
    """Every key, what it does, and what the symbols mean."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close"),
        Binding("question_mark", "close", "close", show=False),
        Binding("q", "close", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Label("swarm sidebar: keys", classes="dialog-title")
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
