"""The witness's pure state decisions: signals in, one state out (no tmux, no store)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from swarm.plan import HealthSpec
from swarm.runtimes.patterns import ScreenVerdict
from swarm.witness.state import Observation, Verdict, decide

HEALTH = HealthSpec(startup_grace=10, stall_after=60, nudge_after=30)
T0 = 1_000_000.0

BUSY = ScreenVerdict("busy", "spinner on screen")
READY = ScreenVerdict("ready", "input line on screen")
WAITING = ScreenVerdict("waiting", "permission prompt on screen", "git push")


def obs(**changes: object) -> Observation:
    base = Observation(
        now=T0,
        name="polecat-1",
        role="polecat",
        runtime="sim",
        stored="working",
        state_since=T0 - 5,
        detail="turn started",
        hook="sw-abcde",
        last_report=T0 - 5,
        pane_present=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# -- liveness vetoes everything ------------------------------------------------------------


def test_a_missing_pane_is_dead_whatever_the_hooks_said() -> None:
    verdict = decide(obs(pane_present=False), HEALTH)
    assert (verdict.state, verdict.source) == ("dead", "tmux")


def test_a_dead_pane_is_dead_with_its_exit_status() -> None:
    verdict = decide(obs(pane_dead=True, dead_status=137), HEALTH)
    assert verdict.state == "dead" and "137" in verdict.detail


def test_a_clean_exit_holding_nothing_is_done_not_dead() -> None:
    verdict = decide(obs(pane_dead=True, dead_status=0, hook=None), HEALTH)
    assert verdict.state == "done"
    # ... but a clean exit with work on the hook would lose the work: dead, restarted.
    assert decide(obs(pane_dead=True, dead_status=0), HEALTH).state == "dead"


def test_psutil_sees_a_vanished_process_before_tmux() -> None:
    verdict = decide(obs(proc_alive=False), HEALTH)
    assert (verdict.state, verdict.source) == ("dead", "psutil")


def test_a_dead_agent_whose_pane_lives_again_is_starting() -> None:
    assert decide(obs(stored="dead"), HEALTH).state == "starting"


# -- start-up grace ------------------------------------------------------------------------


def test_a_fresh_agent_is_left_alone_during_its_grace() -> None:
    verdict = decide(obs(stored="starting", state_since=T0 - 9, screen=WAITING), HEALTH)
    assert verdict.state == "starting" and not verdict.wants_screen


def test_after_the_grace_a_silent_starter_is_judged_by_its_screen() -> None:
    late = obs(stored="starting", state_since=T0 - 11)
    assert decide(late, HEALTH).wants_screen
    assert decide(replace(late, screen=READY), HEALTH).state == "idle"
    gate = decide(
        replace(late, screen=ScreenVerdict("waiting", "trust question on screen")), HEALTH
    )
    assert gate.state == "waiting" and gate.source == "screen"


def test_a_starter_that_never_reports_in_is_stalled_eventually() -> None:
    never = obs(stored="starting", state_since=T0 - 71, screen=ScreenVerdict("unknown"))
    assert decide(never, HEALTH).state == "stalled"


# -- working, quiet, stalled ---------------------------------------------------------------


def test_hooks_win_while_there_is_activity() -> None:
    assert decide(obs(last_report=T0 - 59), HEALTH).state == "working"


def test_quiet_past_stall_after_asks_for_the_screen_before_calling_it_stalled() -> None:
    quiet = obs(state_since=T0 - 100, last_report=T0 - 61)
    first = decide(quiet, HEALTH)
    assert first.state == "working" and first.wants_screen
    assert decide(replace(quiet, screen=BUSY), HEALTH).state == "stalled"


def test_a_turn_that_ended_without_a_stop_hook_is_idle_by_the_screen() -> None:
    quiet = obs(state_since=T0 - 100, last_report=T0 - 61, screen=READY)
    verdict = decide(quiet, HEALTH)
    assert (verdict.state, verdict.source) == ("idle", "screen")


def test_a_question_without_a_notification_hook_is_waiting_by_the_screen() -> None:
    quiet = obs(state_since=T0 - 100, last_report=T0 - 61, screen=WAITING)
    assert decide(quiet, HEALTH).state == "waiting"


def test_a_long_tool_run_burning_cpu_is_working_not_stalled() -> None:
    busy = obs(state_since=T0 - 600, last_report=T0 - 600, last_cpu=T0 - 1, screen=BUSY)
    assert decide(busy, HEALTH).state == "working"


def test_pane_output_counts_as_activity() -> None:
    printing = obs(state_since=T0 - 600, last_report=T0 - 600, last_output=T0 - 2, screen=BUSY)
    assert decide(printing, HEALTH).state == "working"


def test_a_stalled_agent_recovers_on_any_new_activity() -> None:
    stalled = obs(stored="stalled", state_since=T0 - 10, last_report=T0 - 80)
    assert decide(stalled, HEALTH).state == "stalled"
    verdict = decide(replace(stalled, last_cpu=T0 - 1), HEALTH)
    assert (verdict.state, verdict.source) == ("working", "psutil")


def test_idle_holding_a_task_too_long_is_stalled_idle_without_one_is_fine() -> None:
    idle = obs(stored="idle", state_since=T0 - 31, last_report=T0 - 31)
    assert decide(idle, HEALTH).state == "stalled"
    assert decide(replace(idle, hook=None), HEALTH).state == "idle"
    assert decide(replace(idle, state_since=T0 - 29, last_report=T0 - 29), HEALTH).state == "idle"


def test_waiting_lasts_until_the_prompt_seen_is_gone_for_a_full_tick() -> None:
    waiting = obs(stored="waiting", state_since=T0 - 5, detail="permission prompt for Bash")
    assert decide(waiting, HEALTH).wants_screen
    assert decide(replace(waiting, screen=WAITING), HEALTH).state == "waiting"
    # a capture without the prompt (the menu still being drawn, or never seen): waiting
    drawing = replace(waiting, screen=BUSY, last_output=T0 - 1)
    assert decide(drawing, HEALTH).state == "waiting"
    just_gone = replace(drawing, prompt_gone_since=T0 - 0.1, tick=0.5)
    assert decide(just_gone, HEALTH).state == "waiting"
    answered = replace(drawing, prompt_gone_since=T0 - 0.6, tick=0.5)
    assert decide(answered, HEALTH).state == "working"
    assert decide(replace(answered, screen=READY), HEALTH).state == "idle"


def test_a_turn_that_ended_holding_its_task_waits_for_a_person_not_the_screen() -> None:
    asked = obs(
        stored="waiting",
        state_since=T0 - 500,
        detail="turn ended holding sw-abcde: Which database should I use?",
        handover="acked",
    )
    for screen in (None, READY, BUSY):
        verdict = decide(replace(asked, screen=screen, prompt_gone_since=T0 - 100), HEALTH)
        assert (verdict.state, verdict.detail) == ("waiting", asked.detail)


def test_a_silent_end_of_turn_holding_the_task_is_a_wait_not_idle() -> None:
    quiet = obs(state_since=T0 - 100, last_report=T0 - 61, screen=READY, handover="acked")
    verdict = decide(quiet, HEALTH)
    assert verdict.state == "waiting" and verdict.detail.startswith("turn ended holding sw-abcde")


# -- runtimes without hooks: output and the screen -----------------------------------------


def hookless(**changes: object) -> Observation:
    return obs(runtime="codex", reports=False, **changes)


def test_hookless_output_means_working() -> None:
    verdict = decide(hookless(stored="idle", last_output=T0 - 0.1), HEALTH)
    assert (verdict.state, verdict.source) == ("working", "tmux")


def test_hookless_settled_screen_decides() -> None:
    settled = hookless(stored="working", last_output=T0 - 1)
    assert decide(settled, HEALTH).wants_screen
    assert decide(replace(settled, screen=READY), HEALTH).state == "idle"
    assert decide(replace(settled, screen=WAITING), HEALTH).state == "waiting"
    assert decide(replace(settled, screen=BUSY), HEALTH).state == "working"


def test_hookless_quiet_and_busy_screen_stalls() -> None:
    quiet = hookless(stored="working", state_since=T0 - 100, last_report=None, last_output=T0 - 70)
    assert decide(replace(quiet, screen=BUSY), HEALTH).state == "stalled"


@pytest.mark.parametrize("stored", ["idle", "working", "stalled", "waiting", "starting"])
def test_builtin_loops_are_only_judged_alive_or_dead(stored: str) -> None:
    loop = obs(
        runtime="builtin", builtin=True, name="refinery", role="refinery", stored=stored, hook=None
    )
    assert decide(loop, HEALTH).state in ("working", "idle", "waiting")
    assert decide(replace(loop, pane_dead=True, dead_status=1), HEALTH).state == "dead"


def test_an_agent_that_never_came_up_says_its_last_line() -> None:
    stuck = obs(stored="starting", state_since=T0 - 500, last_report=None)
    screen = ScreenVerdict("unknown", "no pattern matched", last_line="Error: no API key")
    verdict = decide(replace(stuck, screen=screen), HEALTH)
    assert verdict.state == "stalled" and verdict.detail.endswith(": Error: no API key")


def test_a_failed_worktree_set_up_stays_failed_with_its_reason() -> None:
    failed = obs(stored="dead", detail="worktree set-up failed: `npm ci` exited 1")
    verdict = decide(failed, HEALTH)
    assert (verdict.state, verdict.detail) == ("dead", failed.detail)


def test_a_working_agent_silent_in_reports_gets_a_look_now_and_then() -> None:
    """A runtime retrying the API by itself shows its countdown only on screen, redrawn in
    place: a working agent without a report for REPORTS_LAG is captured, once per
    REPORTS_LAG; one that reported recently is not."""
    from swarm.witness.state import REPORTS_LAG

    silent = obs(last_report=T0 - REPORTS_LAG - 1)
    assert decide(silent, HEALTH).wants_screen and decide(silent, HEALTH).state == "working"
    assert not decide(replace(silent, looked=T0 - 1), HEALTH).wants_screen
    assert decide(replace(silent, looked=T0 - REPORTS_LAG), HEALTH).wants_screen
    assert not decide(obs(last_report=T0 - 1), HEALTH).wants_screen


def test_a_limited_agent_is_looked_at_now_and_then_and_stays_limited() -> None:
    """The limit its screen shows is noted while it is limited, so the same line still on
    screen after the reset is not taken for a new limit."""
    from swarm.witness.state import REPORTS_LAG

    limited = obs(stored="limited", detail="rate limited (429) until 12:00")
    assert decide(limited, HEALTH) == Verdict(
        "limited", limited.detail, "report", wants_screen=True
    )
    assert not decide(replace(limited, looked=T0 - 1), HEALTH).wants_screen
    assert decide(replace(limited, looked=T0 - REPORTS_LAG), HEALTH).wants_screen
