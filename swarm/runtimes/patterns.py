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


@dataclass(frozen=True)
class ScreenVerdict:
    """What a screen shows; `command` is the command a permission prompt asks about."""

    kind: ScreenKind
    reason: str = ""
    command: str | None = None


@cache
def _compile(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


# The sim draws its own permission menu in Claude Code's words, so the two share these.
_PERMISSION_MENU = (
    Pattern(r"Do you want to proceed\?", within=6, label="permission question"),
    Pattern(r"❯\s*1\.\s*Yes", within=4, label="permission menu"),
)
_BASH_COMMAND = (r"^\s*Bash command\s*$\n^\s+(\S.*?)\s*$",)

SIM = ScreenPatterns(
    waiting=_PERMISSION_MENU,
    # The sim's input line is always drawn last, so "busy" and "ready" are told apart by
    # the line above it: what the sim said last.
    busy=(
        Pattern(
            r"^(⏺ received |⏺ working on |⏺ committed|⏺ approved|● sh |  ⎿ |✻ )",
            within=1,
            label="sim at work",
        ),
    ),
    ready=(
        Pattern(
            r"^(swarm sim agent: |⏺ \S+ done: |⏺ \S+ failed: |⏺ task "
            r"|nothing on my hook|✗ |⏺ refused)",
            within=1,
            label="sim at its prompt",
        ),
    ),
    prompt_command=_BASH_COMMAND,
)

# From docs/claude-code.md (Claude Code 2.1): the permission menu and the first-run gates,
# the spinner line while a turn runs, and the input line between two rules when ready.
CLAUDE = ScreenPatterns(
    waiting=(
        *_PERMISSION_MENU,
        Pattern(r"Do you want to use this API key\?", within=12, label="API key question"),
        Pattern(r"Do you trust the files in this folder\?", within=12, label="trust question"),
        Pattern(r"Yes, I accept", within=8, label="bypass-permissions warning"),
        Pattern(r"Yes, proceed", within=8, label="confirmation menu"),
        Pattern(r"Yes, I trust this folder|Quick safety check", within=12, label="trust question"),
    ),
    busy=(
        Pattern(r"esc to interrupt", within=8, label="spinner (esc to interrupt)"),
        Pattern(r"^\s*[✻✶✳✢✽·*]\s+\w+…", within=8, label="spinner"),
        Pattern(r"⎿\s+(Running|Waiting)…", within=8, label="tool running"),
    ),
    ready=(
        # The empty input line (`❯` alone once tmux trims it), never a menu's `❯ 1. Yes`.
        Pattern(r"^\s*❯(?!\s*\d+\.)(\s|$)", within=6, label="input line"),
        Pattern(
            r"\? for shortcuts|accept edits on|bypass permissions on|plan mode on",
            within=4,
            label="footer",
        ),
    ),
    prompt_command=_BASH_COMMAND,
)

# Any other runtime (codex, gemini, aider, a command): the common shapes of a question and
# of an input prompt; a layout with such a runtime should rely on hooks where it can.
GENERIC = ScreenPatterns(
    waiting=(
        *_PERMISSION_MENU,
        Pattern(r"\((y/n|Y/n|y/N)\)\s*:?\s*$", within=3, label="y/n question"),
        Pattern(r"\[(y/n|Y/n|y/N)\]\s*:?\s*$", within=3, label="y/n question"),
        Pattern(r"^\s*Allow .*\?\s*$", within=4, label="allow question"),
    ),
    busy=(
        Pattern(r"esc to interrupt", within=8, label="spinner (esc to interrupt)"),
        Pattern(r"^\s*[✻✶✳✢✽⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s", within=3, label="spinner"),
    ),
    ready=(Pattern(r"[❯>$%]\s*$", within=1, label="input prompt"),),
    prompt_command=_BASH_COMMAND,
)

PATTERNS: dict[str, ScreenPatterns] = {"sim": SIM, "claude": CLAUDE}


def patterns_for(runtime: str) -> ScreenPatterns:
    """Patterns for `runtime`: ours, the other CLIs' (runtimes.others), else the generic ones."""
    from swarm.runtimes.others import SCREEN_PATTERNS  # it imports this module

    return PATTERNS.get(runtime) or SCREEN_PATTERNS.get(runtime, GENERIC)


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


def _matches_all(patterns: tuple[Pattern, ...], lines: list[str]) -> bool:
    """A menu is several lines together: the permission question and its "1. Yes"."""
    return bool(patterns) and all(_matches((p,), lines) for p in patterns)


def _without_input_line(lines: list[str], runtime: str) -> list[str]:
    """The sim draws its input line last; what it said is what comes before."""
    if runtime == "sim" and lines and lines[-1].startswith("sim❯"):
        return lines[:-1]
    return lines


def prompt_command(runtime: str, screen: str) -> str | None:
    """The command a permission prompt on `screen` asks about (the last one shown)."""
    text = "\n".join(screen_lines(screen))
    for regex in patterns_for(runtime).prompt_command:
        found = list(re.finditer(regex, text, re.MULTILINE))
        if found:
            return found[-1].group(1)
    return None


def classify(runtime: str, screen: str) -> ScreenVerdict:
    """Waiting, busy, ready or unknown, from a capture of the agent's pane."""
    patterns = patterns_for(runtime)
    lines = _without_input_line(screen_lines(screen), runtime)
    if not lines:
        return ScreenVerdict("unknown", "blank screen")
    menu = [p for p in patterns.waiting if p in _PERMISSION_MENU]
    if _matches_all(tuple(menu), lines):
        return ScreenVerdict(
            "waiting", "permission prompt on screen", prompt_command(runtime, screen)
        )
    others = tuple(p for p in patterns.waiting if p not in _PERMISSION_MENU)
    gate = _matches(others, lines)
    if gate is not None:
        return ScreenVerdict("waiting", f"{gate} on screen")
    busy = _matches(patterns.busy, lines)
    if busy is not None:
        return ScreenVerdict("busy", f"{busy} on screen")
    ready = _matches(patterns.ready, lines)
    if ready is not None:
        return ScreenVerdict("ready", f"{ready} on screen")
    return ScreenVerdict("unknown", "no pattern matched")
