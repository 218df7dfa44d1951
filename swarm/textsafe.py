"""Text from the store shown safely: control characters made visible, never obeyed.

Task titles, bodies, notes, agent names and event messages are written by agents and by
anyone who can run `swarm task add`. Printed raw, an escape sequence in them would move the
cursor, recolour the terminal, set a pane's title or (inside a tmux format) run a command.
Every place that prints such text to a terminal, a pane or a tmux format passes it through
`visible` (or `one_line`), so `ESC` shows as `^[` and the bytes reach no terminal.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, lone surrogates (from undecodable
# bytes), and the Unicode controls that reorder or hide text (bidi overrides, isolates).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_UNSAFE_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f\x80-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _show(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 0x40)  # ESC -> ^[, NUL -> ^@, CR -> ^M
    if code == 0x7F:
        return "^?"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control character shown as text; newlines and tabs kept."""
    return _UNSAFE.sub(_show, text)


def one_line(text: str) -> str:
    """`visible`, on one line: newlines and tabs shown too (for tables, titles, log lines)."""
    return _UNSAFE_ONE_LINE.sub(_show, text)


def tmux_format(text: str) -> str:
    """Safe inside a tmux format (`display-message`, a border): one line, `#` kept literal."""
    return one_line(text).replace("#", "##")
