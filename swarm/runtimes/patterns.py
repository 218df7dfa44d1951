"""Screen patterns per runtime: the witness's last resort for an agent's state.

Hooks report state exactly; tmux and psutil say whether an agent lives and moves. Only
when those cannot tell (a runtime without hooks, a prompt whose command must be read, a
turn that ended without a Stop hook) does the witness capture a pane and look at it here.

The patterns are data, not code: one `ScreenPatterns` per runtime, each a list of regular
expressions with how many of the screen's last non-empty lines they may match in. Waiting
beats busy beats ready, because a permission menu is drawn under the spinner line that
started the tool, and a busy agent still shows its input line. Golden captures of real
screens live in `tests/fixtures/screens/<runtime>-<state>[-what].txt`, and every file there
is checked against these patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

ScreenKind = Literal["waiting", "busy", "ready", "unknown"]


@dataclass(frozen=True)
class Pattern:
    """A regular expression that must match one of the screen's last `within` lines."""

    regex: str
    within: int = 8
    label: str = ""  # what the witness's log says it saw; the regex if empty

    @property
    def name(self) -> str:
        return self.label or self.regex

    @property
    def compiled(self) -> re.Pattern[str]:
        return _compile(self.regex)


@dataclass(frozen=True)
class ScreenPatterns:
    """What a runtime's screen looks like when it waits for a person, works, or is ready.

    `prompt_command` finds the command a permission prompt asks about (its first group),
    searched in the lines above the waiting pattern's match.
    """

    waiting: tuple[Pattern, ...] = ()
    busy: tuple[Pattern, ...] = ()
    ready: tuple[Pattern, ...] = ()
    prompt_command: tuple[str, ...] = field(default=())
    # The line a runtime shows while it waits to try the API again by itself (a 429's
    # `retry-after`, an overloaded API); its group `wait` is the seconds left. The only sign
    # of a rate limit some runtimes give while they retry (swarm.usage.limits).
    backoff: str = ""
    # A line the runtime wrote itself, as opposed to the echo of what was typed to it (a
    # task that speaks of "usage limits"): only such lines may report a limit. "": any.
    said: str = ""


@dataclass(frozen=True)
class ScreenVerdict:
    """What a screen shows; `command` is the command a permission prompt asks about, and
    `last_line` its last words (why an agent that never came up did not)."""

    kind: ScreenKind
    reason: str = ""
    command: str | None = None
    last_line: str = ""


@cache
def _compile(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


# A permission menu, as Claude Code draws it (the sim draws the same words): the question,
# then its options with the selected one marked `❯ N.`. Found as a structure, not by
# counting lines from the bottom: the menu may have three options or four (2.1.3xx adds
# "Yes, and switch to auto mode"), and a footer may follow it.
PERMISSION_QUESTION = Pattern(r"Do you want to proceed\?", within=14, label="permission question")
_SELECTED_OPTION = re.compile(r"^\s*❯\s*\d+\.\s")
# What may follow the question while the menu is live: options, their wrapped (indented)
# continuations, the footer. Anything else (an agent's output) means it was answered.
_MENU_LINE = re.compile(r"^(\s*❯?\s*\d+\.\s|\s+\S|.*(Esc to cancel|Tab to amend))")
# The command a permission prompt asks about: the first line under "Bash command" that is
# not a tip (2.1.3xx puts "Tip: auto mode handles these prompts…" there first).
BASH_COMMAND = (r"^\s*Bash command\s*$\n(?:^\s*Tip:.*$\n)*^\s+(\S.*?)\s*$",)

# Any runtime without patterns of its own: the common shapes of a question and of an input
# prompt; such a runtime should rely on `swarm report` where it can.
GENERIC = ScreenPatterns(
    waiting=(
        PERMISSION_QUESTION,
        Pattern(r"\((y/n|Y/n|y/N)\)\s*:?\s*$", within=3, label="y/n question"),
        Pattern(r"\[(y/n|Y/n|y/N)\]\s*:?\s*$", within=3, label="y/n question"),
        Pattern(r"^\s*Allow .*\?\s*$", within=4, label="allow question"),
    ),
    busy=(
        Pattern(r"esc to interrupt", within=8, label="spinner (esc to interrupt)"),
        Pattern(r"^\s*[✻✶✳✢✽⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s", within=3, label="spinner"),
    ),
    ready=(Pattern(r"[❯>$%]\s*$", within=1, label="input prompt"),),
    prompt_command=BASH_COMMAND,
)


def screen_lines(screen: str) -> list[str]:
    """The non-empty lines of a capture, non-breaking spaces made plain."""
    return [line.replace("\u00a0", " ").rstrip() for line in screen.splitlines() if line.strip()]


def _matches(patterns: tuple[Pattern, ...], lines: list[str]) -> str | None:
    """The name of the first pattern that matches in its window of last lines, or None."""
    for pattern in patterns:
        compiled = pattern.compiled
        for line in lines[-pattern.within :]:
            if compiled.search(line):
                return pattern.name
    return None


def permission_menu(lines: list[str]) -> bool:
    """The permission question on screen with a selected option drawn below it."""
    question = PERMISSION_QUESTION.compiled
    tail = lines[-PERMISSION_QUESTION.within :]
    for index in range(len(tail) - 1, -1, -1):
        if question.search(tail[index]):
            after = tail[index + 1 :]
            return any(_SELECTED_OPTION.match(line) for line in after) and all(
                _MENU_LINE.match(line) for line in after
            )
    return False


def prompt_command(patterns: ScreenPatterns, screen: str) -> str | None:
    """The command a permission prompt on `screen` asks about (the last one shown)."""
    text = "\n".join(screen_lines(screen))
    for regex in patterns.prompt_command:
        found = list(re.finditer(regex, text, re.MULTILINE))
        if found:
            return found[-1].group(1)
    return None


def classify(patterns: ScreenPatterns, screen: str) -> ScreenVerdict:
    """Waiting, busy, ready or unknown, from a capture of an agent's pane."""
    lines = screen_lines(screen)
    if not lines:
        return ScreenVerdict("unknown", "blank screen")
    last = lines[-1].strip()[:200]
    if PERMISSION_QUESTION in patterns.waiting and permission_menu(lines):
        command = prompt_command(patterns, screen)
        return ScreenVerdict("waiting", "permission prompt on screen", command, last)
    others = tuple(p for p in patterns.waiting if p is not PERMISSION_QUESTION)
    gate = _matches(others, lines)
    if gate is not None:
        return ScreenVerdict("waiting", f"{gate} on screen", last_line=last)
    busy = _matches(patterns.busy, lines)
    if busy is not None:
        return ScreenVerdict("busy", f"{busy} on screen", last_line=last)
    ready = _matches(patterns.ready, lines)
    if ready is not None:
        return ScreenVerdict("ready", f"{ready} on screen", last_line=last)
    return ScreenVerdict("unknown", "no pattern matched", last_line=last)
