"""Rate and usage limits: is this a limit, until when, and what the swarm does about it.

A runtime tells of a limit in several ways: Claude Code's StopFailure hook (versions that
have it), an API error it writes into the transcript ("API Error: 429 …", "Claude AI usage
limit reached|1760000000"), or the message on its screen ("5-hour limit reached ∙ resets
3pm"). `parse_limit` turns any of those texts into a `LimitSignal` with the reset time
when one was given. The rest is pure decisions over the stored pause of the agent's
account: the first limited agent starts the pause (one event, one notification for the
whole swarm), later ones join it silently, and when the reset time passes the limited
agents are told to continue where they stopped.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from swarm.runtimes.patterns import ScreenPatterns
from swarm.store.usage import Pause

DEFAULT_WAIT = 300.0  # seconds to hold an account whose limit came without a reset time
# Added to every reset time: a runtime that retries by itself (Claude Code backs off up to
# ten times) reports its next failure a moment after the time it gave, and that report must
# find the pause still running (one pause, one notification), not end it and start another.
GRACE = 10.0
WAIT_ENV = "SWARM_LIMIT_WAIT"  # overrides DEFAULT_WAIT (seconds), e.g. in a layout's environment
RESUME_TEXT = (
    "Your account takes requests again. Continue where you stopped: finish the task on "
    "your hook, commit, then run `swarm done`."
)

_LIMIT = re.compile(
    r"\b429\b|rate[_ ]limit|usage limit|limit reached|too many requests|"
    r"exceed your account's rate limit|out of (?:extra )?usage",
    re.IGNORECASE,
)
_EPOCH = re.compile(r"usage limit reached\|(\d{9,11})", re.IGNORECASE)
_RETRY_MS = re.compile(r"retry[-_]after[-_]ms\W+(\d+(?:\.\d+)?)", re.IGNORECASE)
_RETRY = re.compile(r"retry[-_]after\W+(\d+(?:\.\d+)?)\b(?!\s*[:.]\d)", re.IGNORECASE)
_RESET_EPOCH = re.compile(r"ratelimit[-\w]*reset\W+(\d{9,11})\b", re.IGNORECASE)
_RESETS_AT = re.compile(r"resets?_?at\W+(\d{10,13})\b", re.IGNORECASE)  # epoch s or ms
_RESET_ISO = re.compile(
    r"reset\W+(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)",
    re.IGNORECASE,
)
_TRY_IN = re.compile(
    r"(?:try again|retry|retrying|resets?) in (\d+) ?"
    r"(seconds?|secs?|s|minutes?|mins?|m|hours?|h)\b",
    re.IGNORECASE,
)
_CLOCK = re.compile(
    r"resets?(?: at)? (\d{1,2})(?::(\d\d))? ?(am|pm)?(?: \(([\w/+-]+)\))?", re.IGNORECASE
)


@dataclass(frozen=True)
class LimitSignal:
    """One agent's runtime reported a limit; `reset_at` is when it said it lifts."""

    reason: str
    reset_at: float | None = None


def parse_limit(text: str, now: float, local: tzinfo | None = None) -> LimitSignal | None:
    """A limit and its reset time from whatever the runtime said; None if it is no limit."""
    if not text or not _LIMIT.search(text):
        return None
    return LimitSignal(_reason(text), _reset_time(text, now, local))


# What a runtime prints, never a word a path or code may hold ("test_rate_limited.py"): a
# rate limit only inside an API error, usage limits by their phrases.
_SCREEN_LINE = re.compile(
    r"API Error.*(?:\b429\b|rate[_ ]limit)|usage limit|limit reached|out of (?:extra )?usage",
    re.IGNORECASE,
)
SCREEN_NOW = 12  # a screen's last non-empty lines: what it shows now, not its scrollback
LONG_BACKOFF = 10.0  # a runtime's own retry wait from which its key counts as held
_SPINNER = "✻✶✳✢✽·* "


@dataclass(frozen=True)
class ScreenLimit:
    """A limit a screen shows now. `key` is the line without its countdown: the witness
    reports a limit when its key appears, not on every capture of the same wait."""

    line: str
    key: str
    signal: LimitSignal


def screen_signal(
    screen: str, patterns: ScreenPatterns | None, now: float, local: tzinfo | None = None
) -> ScreenLimit | None:
    """The limit the screen's last lines show, or None.

    A screen holds anything (code, test output with "429 passed"), so only lines that read
    like a runtime's limit message count, never a bare number, and only lines the runtime
    wrote itself (`patterns.said`: not the echo of a message typed to it, which may well
    speak of limits); and only the last lines, so an error the agent has since moved on
    from is not found again. A runtime retrying by itself (`patterns.backoff`) holds the
    key when it waits `LONG_BACKOFF` or more: a 429's retry-after, not a transient error's
    second of back-off."""
    backoff = patterns.backoff if patterns is not None else ""
    said = patterns.said if patterns is not None else ""
    lines = [line for line in screen.splitlines() if line.strip()][-SCREEN_NOW:]
    for line in reversed(lines):
        if said and not re.search(said, line):
            continue
        line = line.strip()
        match = re.search(backoff, line) if backoff else None
        if match is not None:
            wait = float(match.group("wait"))
            if wait < LONG_BACKOFF:
                return None
            shown = line.lstrip(_SPINNER)
            key = line[: match.start("wait")] + "#" + line[match.end("wait") :]
            reason = f"the API asks to wait ({shown})"
            return ScreenLimit(line, key, LimitSignal(reason, now + wait))
        if _SCREEN_LINE.search(line):
            signal = parse_limit(line, now, local)
            return ScreenLimit(line, line, signal) if signal is not None else None
    return None


def _reason(text: str) -> str:
    lowered = text.lower()
    if "usage limit" in lowered or "limit reached" in lowered or "out of" in lowered:
        return "usage limit reached"
    return "rate limited (429)"


def _reset_time(text: str, now: float, local: tzinfo | None) -> float | None:
    if match := _EPOCH.search(text):
        return float(match.group(1))
    if match := _RETRY_MS.search(text):
        return now + float(match.group(1)) / 1000
    if match := _RESET_EPOCH.search(text):
        return float(match.group(1))
    if match := _RESETS_AT.search(text):
        value = float(match.group(1))
        return value / 1000 if value > 1e11 else value
    if match := _RESET_ISO.search(text):
        try:
            stamp = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
        except ValueError:
            stamp = None
        if stamp is not None:
            return stamp.timestamp() if stamp.tzinfo else stamp.replace(tzinfo=local).timestamp()
    if match := _RETRY.search(text):
        return now + float(match.group(1))
    if match := _TRY_IN.search(text):
        unit = match.group(2)[0].lower()
        return now + int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]
    if match := _CLOCK.search(text):
        return _next_clock(match, now, local)
    return None


def _next_clock(match: re.Match[str], now: float, local: tzinfo | None) -> float | None:
    """ "resets 3pm (Europe/Paris)": the next such moment after `now`."""
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    meridiem = (match.group(3) or "").lower()
    if meridiem == "pm" and hour < 12:
        hour += 12
    if meridiem == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    zone: tzinfo | None = local
    if match.group(4):
        try:
            zone = ZoneInfo(match.group(4))
        except (ZoneInfoNotFoundError, ValueError):
            zone = local
    current = datetime.fromtimestamp(now, zone) if zone else datetime.fromtimestamp(now)
    target = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target.timestamp() <= now:
        target += timedelta(days=1)
    return target.timestamp()


def default_wait() -> float:
    """How long an account is held when its limit said no reset time.

    Claude Code 2.1.332 with an API key passes no 429 header on: its transcript ("API Error:
    Request rejected (429) · …") and its StopFailure report (`error: rate_limit`) say nothing
    of `retry-after`, so this wait is what holds the account then.
    """
    try:
        value = float(os.environ.get(WAIT_ENV, ""))
    except ValueError:
        return DEFAULT_WAIT
    return value if value > 0 else DEFAULT_WAIT


def from_report(event: str, payload: Mapping[str, Any], now: float) -> LimitSignal | None:
    """Claude Code's StopFailure (a turn ended by an API error): a limit, if it was one."""
    if event != "StopFailure":
        return None
    fields = {k: v for k, v in payload.items() if k not in ("transcript_path", "cwd", "session_id")}
    return parse_limit(json.dumps(fields, default=str), now)


# -- decisions -------------------------------------------------------------------------------


def account_of(runtime: str) -> str:
    """Agents that share a limit: those of one runtime (one key or subscription per swarm)."""
    return runtime


def scope_of(runtime: str) -> str:
    return f"limit:{account_of(runtime)}"


@dataclass(frozen=True)
class StartPause:
    """The account's first limited agent: one event and one notification for the swarm."""

    scope: str
    until: float
    agents: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class JoinPause:
    """Another agent of an account already paused: no new event, no new notification."""

    scope: str
    until: float
    agents: tuple[str, ...]


def on_limit(
    pause: Pause | None,
    agent: str,
    runtime: str,
    signal: LimitSignal,
    now: float,
    default_wait: float = DEFAULT_WAIT,
) -> StartPause | JoinPause:
    """What one limit signal changes: a new pause, or the running one extended."""
    scope = scope_of(runtime)
    reset = signal.reset_at if signal.reset_at and signal.reset_at > now else now + default_wait
    until = reset + GRACE
    if pause is None or not pause.active(now):
        when = clock_text(until, now) if signal.reset_at else f"~{clock_text(until, now)}"
        message = (
            f"{signal.reason} for {account_of(runtime)} agents (first: {agent}); "
            f"no task handed to them until {when}"
        )
        return StartPause(scope, until, (agent,), message)
    agents = tuple(sorted({*pause.agents, agent}))
    return JoinPause(scope, max(until, pause.until or until), agents)


def due(pauses: Mapping[str, Pause], now: float) -> list[Pause]:
    """Pauses whose time is up and whose end was not announced yet."""
    return [
        p for p in pauses.values() if p.ended_at is None and p.until is not None and p.until <= now
    ]


def clock_text(at: float, now: float) -> str:
    """`15:00`, or `Tue 15:00` when not today (local time)."""
    moment, today = time.localtime(at), time.localtime(now)
    if moment.tm_yday == today.tm_yday and moment.tm_year == today.tm_year:
        return time.strftime("%H:%M", moment)
    return time.strftime("%a %H:%M", moment)
