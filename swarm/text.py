"""Cutting text to fit a line, visibly: a cut line ends in an ellipsis, never mid-word silently."""

from __future__ import annotations

ELLIPSIS = "…"


def shorten(text: str, width: int) -> str:
    """`text` if it fits in `width` characters, else its start and an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    return text[: width - 1].rstrip() + ELLIPSIS
