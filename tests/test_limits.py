"""Usage limits: the signals, one pause and one notification per account, the resume."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from transcript_lines import Clock, Told, api_error, append

from swarm.store import Store
from swarm.store.usage import Pause
from swarm.usage.limits import (
    DEFAULT_WAIT,
    GRACE,
    JoinPause,
    LimitSignal,
    StartPause,
    on_limit,
    parse_limit,
    screen_signal,
)
from swarm.usage.meter import UsageMeter
from swarm.usage.pauses import dispatch_allowed, limit_agent, on_report

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def report_limit(store: Store, agent: str, text: str, now: float) -> bool:
    """A limit message as a runtime's report or transcript gives it: True if it was one."""
    signal = parse_limit(text, now)
    return signal is not None and limit_agent(store, agent, signal, now)


def screen_limit(screen: str) -> str | None:
    """The line of a screen (any runtime's) that reports a limit now, or None."""
    found = screen_signal(screen, None, NOW)
    return found.line if found else None


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store.open(tmp_path / ".swarm" / "swarm.db", clock=clock) as opened:
        for i in range(1, 4):
            opened.upsert_agent(f"polecat-{i}", "polecat", "claude", f"%{i}", i)
            opened.set_agent_state(f"polecat-{i}", "idle")
        opened.upsert_agent("polecat-9", "polecat", "sim", "%9", 9)
        opened.set_agent_state("polecat-9", "idle")
        yield opened


# -- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reset"),
    [
        ('API Error: 429 {"type":"rate_limit_error"} retry-after: 30', NOW + 30),
        ("API Error: 429 rate limited retry-after-ms: 1500", NOW + 1.5),
        ("Claude AI usage limit reached|1800003600", 1_800_003_600.0),
        ("429 Too Many Requests anthropic-ratelimit-unified-reset: 1800007200", 1_800_007_200.0),
        ("rate_limit_error; reset: 2027-01-15T09:30:00Z", NOW + 5400),
        ("5-hour limit reached ∙ resets 3pm (UTC)", NOW + 7 * 3600),
        ("Usage limit reached. Try again in 20 minutes.", NOW + 1200),
        ("API Error (429 rate_limit_error) · Retrying in 5 seconds… (attempt 1/10)", NOW + 5),
        ('rate_limit {"rateLimits": {"fiveHour": {"resetsAt": 1800009000000}}}', NOW + 9000),
        (
            "API Error: Request rejected (429) · This request would exceed your account's rate "
            "limit. Please try again later.",
            None,
        ),
    ],
)
def test_a_limit_and_its_reset_time_are_read_from_what_the_runtime_said(
    text: str, reset: float | None
) -> None:
    signal = parse_limit(text, NOW, UTC)
    assert signal is not None
    assert signal.reset_at == (pytest.approx(reset, abs=0.01) if reset is not None else None)


def test_a_clock_reset_time_already_past_today_means_tomorrow() -> None:
    signal = parse_limit("limit reached ∙ resets 7am (UTC)", NOW)
    assert signal is not None and signal.reset_at is not None
    assert datetime.fromtimestamp(signal.reset_at, UTC).day == 16


@pytest.mark.parametrize("text", ["", "1 test failed with an error", "exit status 2"])
def test_other_errors_are_no_limit(text: str) -> None:
    assert parse_limit(text, NOW) is None


def test_the_first_limited_agent_starts_the_pause_later_ones_join_it() -> None:
    first = on_limit(None, "polecat-1", "claude", LimitSignal("rate limited (429)", NOW + 60), NOW)
    assert isinstance(first, StartPause)
    assert first.until == NOW + 60 + GRACE and first.scope == "limit:claude"
    assert "polecat-1" in first.message
    running = Pause(first.scope, "x", NOW, first.until, ("polecat-1",), None)
    second = on_limit(running, "polecat-2", "claude", LimitSignal("x", None), NOW + 1)
    assert isinstance(second, JoinPause)
    assert second.agents == ("polecat-1", "polecat-2")
    assert second.until == NOW + 1 + DEFAULT_WAIT + GRACE  # no reset said: the default wait
    no_reset = on_limit(None, "polecat-1", "claude", LimitSignal("x"), NOW, default_wait=90)
    assert no_reset.until == NOW + 90 + GRACE


# -- the swarm: one event, one notification, dispatch held, then resumed ------------------


def test_thirty_limits_make_one_event_one_notification_and_hold_the_account(
    store: Store, clock: Clock
) -> None:
    told = Told()
    meter = UsageMeter(store, nudge=told.nudge, notify=told.notify)
    for i in range(1, 4):
        assert report_limit(store, f"polecat-{i}", "API Error: 429 retry-after: 600", NOW)
    assert not report_limit(store, "polecat-1", "all tests passed", NOW)
    assert [e.kind for e in store.events() if e.kind.startswith("usage.")] == ["usage.limited"]
    assert {a.name for a in store.list_agents() if a.state == "limited"} == {
        "polecat-1",
        "polecat-2",
        "polecat-3",
    }
    meter.tick(store.list_agents(), NOW + 1)
    meter.tick(store.list_agents(), NOW + 2)
    assert len(told.notes) == 1

    store.upsert_agent("polecat-4", "polecat", "claude", "%4", 4)
    claude_idle = store.get_agent("polecat-4")
    assert dispatch_allowed(store, NOW + 10, claude_idle) is not None
    assert dispatch_allowed(store, NOW + 10, store.get_agent("polecat-9")) is None
    assert dispatch_allowed(store, NOW + 10) is None  # no swarm-wide pause

    clock.now = NOW + 611
    meter.tick(store.list_agents(), NOW + 611)
    assert sorted(agent for agent, _text in told.nudges) == ["polecat-1", "polecat-2", "polecat-3"]
    assert all("Continue where you stopped" in text for _agent, text in told.nudges)
    assert dispatch_allowed(store, NOW + 611, claude_idle) is None
    assert [e.kind for e in store.events() if e.kind.startswith("usage.")] == [
        "usage.limited",
        "usage.resumed",
    ]
    assert not [a for a in store.list_agents() if a.state == "limited"]
    meter.tick(store.list_agents(), NOW + 700)
    assert len(told.nudges) == 3 and len(told.notes) == 1


def test_a_limit_without_a_reset_time_holds_for_the_default_wait(store: Store) -> None:
    told = Told()
    meter = UsageMeter(store, nudge=told.nudge, notify=told.notify)
    on_report(store, "polecat-1", "StopFailure", {"error": "rate_limit", "session_id": "s"})
    on_report(store, "polecat-2", "Stop", {})  # not a failure: nothing
    agent = store.get_agent("polecat-1")
    assert agent.state == "limited" and "no reset time" in agent.detail
    assert store.get_agent("polecat-2").state == "idle"
    until = store.pauses()["limit:claude"].until
    assert until is not None
    assert until == pytest.approx(time.time() + DEFAULT_WAIT + GRACE, abs=60)
    meter.tick(store.list_agents(), until - 1)
    assert told.nudges == []
    meter.tick(store.list_agents(), until + 1)
    assert [a for a, _ in told.nudges] == ["polecat-1"]


def test_a_429_written_in_the_transcript_limits_its_agent(store: Store, tmp_path: Path) -> None:
    transcript = tmp_path / "p1.jsonl"
    transcript.touch()
    store.set_agent_session("polecat-1", "s1", str(transcript))
    told = Told()
    meter = UsageMeter(store, nudge=told.nudge, notify=told.notify)
    append(transcript, api_error("API Error: 429 rate_limit_error retry-after: 45", at=NOW))
    meter.tick(store.list_agents(), NOW + 1)
    assert store.get_agent("polecat-1").state == "limited"
    assert store.pauses()["limit:claude"].until == pytest.approx(NOW + 45 + GRACE, abs=0.01)
    assert len(told.notes) == 1
    old = tmp_path / "p2.jsonl"
    old.touch()
    store.set_agent_session("polecat-2", "s2", str(old))
    append(old, api_error("API Error: 429 retry-after: 45", at=NOW - 3600))  # long past
    meter.tick(store.list_agents(), NOW + 2)
    assert store.get_agent("polecat-2").state == "idle"


def test_the_report_command_marks_a_stop_failure_from_a_limit(store: Store) -> None:
    from swarm.reports import handle_report

    payload = {"error": "rate_limit", "message": "Claude AI usage limit reached|1800003600"}
    handle_report(store, "polecat-2", "StopFailure", payload)
    agent = store.get_agent("polecat-2")
    assert agent.state == "limited"
    assert store.pauses()["limit:claude"].until == 1_800_003_600.0 + GRACE
    handle_report(store, "polecat-3", "StopFailure", {"error": "server_error", "status": 500})
    assert store.get_agent("polecat-3").state == "idle"


def test_the_witness_keeps_a_limited_agent_limited_until_the_reset() -> None:
    from swarm.plan import HealthSpec
    from swarm.witness.state import Observation, decide

    quiet_for_long = Observation(
        now=NOW + 3600,
        name="polecat-1",
        role="polecat",
        runtime="claude",
        stored="limited",
        state_since=NOW,
        detail="usage limit reached until 15:00",
        hook="sw-abcde",
        last_report=NOW,
        pane_present=True,
    )
    assert decide(quiet_for_long, HealthSpec()).state == "limited"
    gone = Observation(**{**quiet_for_long.__dict__, "pane_present": False})
    assert decide(gone, HealthSpec()).state == "dead"  # liveness still wins


def test_an_agent_whose_retry_got_through_is_no_longer_limited(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    from transcript_lines import assistant

    transcript = tmp_path / "p1.jsonl"
    transcript.touch()
    store.set_agent_session("polecat-1", "s1", str(transcript))
    told = Told()
    meter = UsageMeter(store, nudge=told.nudge, notify=told.notify)
    append(transcript, api_error("API Error: 429 retry-after: 30", at=NOW))
    meter.tick(store.list_agents(), NOW + 1)
    assert store.get_agent("polecat-1").state == "limited"
    append(transcript, assistant("m1", input_tokens=5, output_tokens=5, at=NOW + 20))
    meter.tick(store.list_agents(), NOW + 21)
    assert store.get_agent("polecat-1").state == "working"
    meter.tick(store.list_agents(), NOW + 40)  # the pause ends: nobody left to tell
    assert told.nudges == []
    assert dispatch_allowed(store, NOW + 40, store.get_agent("polecat-2")) is None


FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"


def test_real_claude_code_429_reports_are_limits_without_a_reset_time(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claude Code 2.1.332 (API key) answered 429 with `retry-after: 30`: neither its
    transcript nor its StopFailure report carry the header, so SWARM_LIMIT_WAIT holds."""
    import json

    from swarm.store.usage import Cursor
    from swarm.usage.transcript import read_new

    result = read_new(Cursor("a", str(FIXTURES / "claude-2.1.332-429.jsonl")))
    assert result is not None and result.spent == []
    signal = parse_limit(result.errors[0][0], NOW)
    assert signal == LimitSignal("rate limited (429)", None)

    monkeypatch.setenv("SWARM_LIMIT_WAIT", "7")
    payload = json.loads((FIXTURES / "claude-2.1.332-stopfailure-429.json").read_text())
    before = time.time()
    on_report(store, "polecat-1", "StopFailure", payload)
    assert store.get_agent("polecat-1").state == "limited"
    until = store.pauses()["limit:claude"].until
    assert until is not None and before + 7 + GRACE <= until <= time.time() + 7 + GRACE


def test_claude_code_retrying_a_429_holds_the_account_until_its_next_try(
    store: Store, tmp_path: Path
) -> None:
    """While Claude Code 2.1.332 retries a 429 it writes `system/api_error` entries with
    `retryInMs`: the agent is limited until then; an old retry entry starts nothing."""
    line = (FIXTURES / "claude-2.1.332-429-retry.jsonl").read_text()
    at = 1_796_026_573.603  # its timestamp, 2026-11-30T08:16:13.603Z
    transcript = tmp_path / "p1.jsonl"
    transcript.write_text(line)
    store.set_agent_session("polecat-1", "s1", str(transcript))
    meter = UsageMeter(store)
    meter.tick(store.list_agents(), at + 0.5)
    assert store.get_agent("polecat-1").state == "limited"
    assert store.pauses()["limit:claude"].until == pytest.approx(at + 1.222 + GRACE, abs=0.01)
    later = tmp_path / "p2.jsonl"
    later.write_text(line)
    store.set_agent_session("polecat-2", "s2", str(later))
    meter.tick(store.list_agents(), at + 60)  # read a minute late: that retry is long done
    assert store.get_agent("polecat-2").state == "idle"


def test_a_runtime_retrying_by_itself_makes_one_pause_not_one_per_retry(
    store: Store, tmp_path: Path
) -> None:
    import json

    entry = json.loads((FIXTURES / "claude-2.1.332-429-retry.jsonl").read_text())
    transcript = tmp_path / "p1.jsonl"
    transcript.touch()
    store.set_agent_session("polecat-1", "s1", str(transcript))
    told = Told()
    meter = UsageMeter(store, nudge=told.nudge, notify=told.notify)
    at = NOW
    for retry_ms in (1222, 2176, 4330, 8167, 18309):  # Claude Code's own back-off
        stamp = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
        append(transcript, {**entry, "timestamp": stamp, "retryInMs": retry_ms})
        meter.tick(store.list_agents(), at + 0.3)
        at += retry_ms / 1000 + 0.5  # the next try, and its failure written half a second on
        meter.tick(store.list_agents(), at)
    append(transcript, api_error("API Error: Request rejected (429) · try later", at=at))
    meter.tick(store.list_agents(), at + 0.3)
    kinds = [e.kind for e in store.events() if e.kind.startswith("usage.")]
    assert kinds == ["usage.limited"] and len(told.notes) == 1 and told.nudges == []
    meter.tick(store.list_agents(), at + DEFAULT_WAIT + GRACE + 1)  # gave up: held, then told
    assert [a for a, _ in told.nudges] == ["polecat-1"]


def test_a_limit_on_screen_is_found_but_a_bare_429_is_not(store: Store) -> None:
    from swarm.usage.limits import screen_signal
    from swarm.usage.pauses import limit_agent

    busy = "● Bash(pytest -q)\n  ⎿  429 passed in 3.1s\n❯ \n"
    assert screen_limit(busy) is None
    assert (
        screen_limit("▝▝   /tmp/test_a_rate_limited_agent0/repo\n● Read(rate_limit.py)\n") is None
    )
    limited = (
        "● Let me run the tests.\n"
        "  ⎿  API Error: Request rejected (429) · Try again in 40 seconds.\n"
        "❯ \n? for shortcuts\n"
    )
    assert (
        screen_limit(limited) == "⎿  API Error: Request rejected (429) · Try again in 40 seconds."
    )
    found = screen_signal(limited, None, NOW)
    assert found is not None and found.signal.reset_at == NOW + 40
    assert limit_agent(store, "polecat-1", found.signal, NOW)
    assert store.get_agent("polecat-1").state == "limited"
    assert "5-hour limit reached" in (screen_limit("x\n5-hour limit reached ∙ resets 3pm\n") or "")
    # an error the agent has since moved on from (above the screen's last lines) is history
    moved_on = limited + "\n".join(f"● step {n}" for n in range(20)) + "\n❯ \n"
    assert screen_limit(moved_on) is None


@pytest.mark.parametrize(
    "line",
    [
        "✻ API error · retrying in 20s · attempt 1/10",  # Claude Code 2.1.332
        "✻ API error · Retrying in 20s · attempt 1/10",  # 2.1.197
    ],
)
def test_a_runtime_retrying_the_api_by_itself_holds_its_key_until_its_next_try(
    line: str,
) -> None:
    """In an interactive session Claude Code retries a 429 with `retry-after` by itself and
    writes nothing of it to its transcript: the screen's countdown is the only sign."""
    from swarm.runtimes.registry import get_runtime
    from swarm.usage.limits import screen_signal

    patterns = get_runtime("claude").patterns
    screen = f"❯ polecat-1: task sw-1 is on your hook\n\n{line}\n\n❯ \n  ⏵⏵ accept edits on\n"
    found = screen_signal(screen, patterns, NOW)
    assert found is not None and found.signal.reset_at == NOW + 20
    assert "retrying in 20s" in found.signal.reason.lower()
    later = screen_signal(screen.replace("in 20s", "in 12s"), patterns, NOW + 8)
    assert later is not None and later.key == found.key  # the same wait: reported once
    again = screen_signal(screen.replace("attempt 1/10", "attempt 2/10"), patterns, NOW + 30)
    assert again is not None and again.key != found.key  # a new try that failed again
    short = line.replace("20s", "2s")  # a transient error's own back-off holds nothing
    assert screen_signal(screen.replace(line, short), patterns, NOW) is None
    assert screen_signal(screen, None, NOW) is None  # a runtime without such a line


def test_what_was_typed_to_claude_code_is_no_limit_even_when_it_speaks_of_one() -> None:
    """A task about limits, or the swarm's own "continue" message, echoed after `❯`, is
    what the person said; Claude Code's own `● API Error` line is its report."""
    from swarm.runtimes.registry import get_runtime
    from swarm.usage.limits import screen_signal

    patterns = get_runtime("claude").patterns
    typed = (
        "❯ polecat-1: task sw-1 is on your hook: Raise the usage limit reached message\n"
        "  and the 429 API Error: rate limit page\n"
        "● On it.\n❯ \n"
    )
    assert screen_signal(typed, patterns, NOW) is None
    error = "● API Error: Request rejected (429) · This request would exceed your rate limit.\n❯ \n"
    found = screen_signal(typed + error, patterns, NOW)
    assert found is not None and found.line.startswith("● API Error")
