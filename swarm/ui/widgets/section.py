"""A sidebar section drawn as one block of text from the latest snapshot."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from swarm.ui.data import Snapshot


def needs_layout(before: tuple[str, str] | None, text: Text) -> bool:
    """Whether showing `text` instead of what `before` looked like can change the widget's
    height: only a different number of lines can (Textual lays the whole screen out again
    otherwise, the costliest part of a refresh)."""
    return before is None or before[0].count("\n") != text.plain.count("\n")


class TextSection(Static):
    """Redrawn on a new snapshot or a resize, and sent to the screen only when it changed:
    a refresh that changes nothing costs no repaint, and one that keeps the number of lines
    costs no layout."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.snapshot: Snapshot | None = None
        self._shown: tuple[str, str] | None = None

    def show(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def draw(self, snapshot: Snapshot, width: int) -> Text:
        """The section's text at `width` columns (each section says what it shows)."""
        return Text()

    def redraw(self) -> None:
        if self.snapshot is None:
            return
        text = self.draw(self.snapshot, max(10, self.size.width or 30))
        look = (text.plain, str(text.spans))
        if look != self._shown:
            layout = needs_layout(self._shown, text)
            self._shown = look
            self.update(text, layout=layout)
