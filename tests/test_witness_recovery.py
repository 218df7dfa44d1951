"""The witness's recovery policies, with a fake clock: backoff, crash loops, the stall ladder,
prompts and the allowlist, and the controller watch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from swarm.plan import HealthSpec
from swarm.witness.overseer import CONTROLLER_GRACE, ControllerWatch
from swarm.witness.recovery import (
    Approve,
    Escalate,
    GiveUp,
    Memory,
    Note,
    Notify,
    Nudge,
    Policy,
    Reconcile,
    RespawnPane,
    backoff,
    recover,
)
from swarm.witness.signals import PaneSignal
from swarm.witness.state import Verdict

HEALTH = HealthSpec(
    startup_grace=2, stall_after=4, nudge_after=2, max_restarts=3, restart_window=60
)
POLICY = Policy(health=HEALTH)
DEAD = Verdict("dead", "exited (status 137)", "tmux")
ALIVE = Verdict("starting", "restarted", "tmux")
STALLED = Verdict("stalled", "no activity for 4s", "time")
WAITING = Verdict("waiting", "Claude needs your permission", "report")


def kinds(actions: Sequence[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff(50) == 60.0


def test_a_death_is_restarted_after_its_backoff_once() -> None:
    memory = Memory()
    first = recover("polecat-1", DEAD, "sw-1", memory, POLICY, 100.0)
    assert kinds(first) == ["Note"]  # seen, restart scheduled in 2 s
    assert recover("polecat-1", DEAD, "sw-1", memory, POLICY, 101.0) == []
    again = recover("polecat-1", DEAD, "sw-1", memory, POLICY, 102.0)
    assert kinds(again) == ["Restart"]
    # the restart failed (still dead): retried after the wait, never every tick
    assert recover("polecat-1", DEAD, "sw-1", memory, POLICY, 102.5) == []
    assert kinds(recover("polecat-1", DEAD, "sw-1", memory, POLICY, 104.0)) == ["Restart"]


def test_repeated_deaths_back_off_longer_then_a_crash_loop_gives_up() -> None:
    memory = Memory()
    now = 100.0
    waits = []
    for _ in range(3):
        note = recover("polecat-1", DEAD, "sw-1", memory, POLICY, now)
        assert isinstance(note[0], Note)
        waits.append(memory.restart_at - now if memory.restart_at else None)
        now = memory.restart_at or now
        assert kinds(recover("polecat-1", DEAD, "sw-1", memory, POLICY, now)) == ["Restart"]
        recover("polecat-1", ALIVE, "sw-1", memory, POLICY, now + 0.5)  # it came back...
        now += 1.0  # ... and died again
    assert waits == [2.0, 4.0, 8.0]
    final = recover("polecat-1", DEAD, "sw-1", memory, POLICY, now)
    assert kinds(final) == ["GiveUp", "Escalate"]
    give_up = final[0]
    assert isinstance(give_up, GiveUp) and give_up.task == "sw-1"
    assert "crash loop" in give_up.reason
    assert isinstance(final[1], Escalate) and "sw-1" in final[1].reason
    # given up: never restarted again by the witness
    assert recover("polecat-1", DEAD, "sw-1", memory, POLICY, now + 100) == []


def test_deaths_outside_the_window_do_not_count() -> None:
    memory = Memory(deaths=[0.0, 1.0, 2.0])  # long ago
    actions = recover("polecat-1", DEAD, None, memory, POLICY, 1000.0)
    assert kinds(actions) == ["Note"] and memory.deaths == [1000.0]


def test_a_person_restarting_a_failed_agent_gives_it_a_fresh_start() -> None:
    memory = Memory(failed="crash loop: 4 deaths", deaths=[1.0, 2.0, 3.0, 4.0])
    recover("polecat-1", ALIVE, None, memory, POLICY, 10.0)
    assert memory.failed is None and memory.deaths == []


def test_panes_the_controller_keeps_alive_are_left_to_it() -> None:
    policy = Policy(health=HEALTH, restartable=False)
    assert recover("refinery", DEAD, None, Memory(), policy, 100.0) == []
    assert recover("refinery", DEAD, None, Memory(), policy, 100.0, pane_missing=True) == []


def test_a_vanished_pane_is_rebuilt_not_restarted() -> None:
    actions = recover("polecat-2", DEAD, "sw-1", Memory(), POLICY, 100.0, pane_missing=True)
    assert kinds(actions) == ["Reconcile"]
    assert isinstance(actions[0], Reconcile)


def test_done_agents_are_left_alone() -> None:
    done = Verdict("done", "exited cleanly", "tmux")
    assert recover("polecat-1", done, None, Memory(), POLICY, 100.0) == []


def test_the_stall_ladder_nudge_restart_escalate() -> None:
    memory = Memory()
    nudge = recover("polecat-1", STALLED, "sw-1", memory, POLICY, 100.0)
    assert kinds(nudge) == ["Nudge"]
    assert isinstance(nudge[0], Nudge) and "sw-1" in nudge[0].text and "\n" not in nudge[0].text
    assert recover("polecat-1", STALLED, "sw-1", memory, POLICY, 101.0) == []
    restart = recover("polecat-1", STALLED, "sw-1", memory, POLICY, 102.0)
    assert kinds(restart) == ["Restart"]
    # after the restart it works a while, then stalls again on the same task
    recover("polecat-1", Verdict("working", "", "report"), "sw-1", memory, POLICY, 110.0)
    assert kinds(recover("polecat-1", STALLED, "sw-1", memory, POLICY, 120.0)) == ["Nudge"]
    escalate = recover("polecat-1", STALLED, "sw-1", memory, POLICY, 122.0)
    assert kinds(escalate) == ["Escalate"]
    assert recover("polecat-1", STALLED, "sw-1", memory, POLICY, 130.0) == []


def test_a_new_task_starts_a_new_ladder() -> None:
    memory = Memory(stall_task="sw-1", stall_restarts=1, escalated=True)
    assert kinds(recover("polecat-1", STALLED, "sw-2", memory, POLICY, 100.0)) == ["Nudge"]
    assert kinds(recover("polecat-1", STALLED, "sw-2", memory, POLICY, 102.0)) == ["Restart"]


def test_a_nudge_that_works_ends_the_episode() -> None:
    memory = Memory()
    recover("polecat-1", STALLED, "sw-1", memory, POLICY, 100.0)
    recover("polecat-1", Verdict("working", "", "report"), "sw-1", memory, POLICY, 101.0)
    # stalled again later: a fresh nudge first, not a restart
    assert kinds(recover("polecat-1", STALLED, "sw-1", memory, POLICY, 150.0)) == ["Nudge"]


def test_a_question_is_told_to_the_person_once() -> None:
    memory = Memory()
    first = recover(
        "polecat-1", WAITING, "sw-1", memory, POLICY, 100.0, prompt="git push", screen_seen=True
    )
    assert kinds(first) == ["Notify"]
    assert isinstance(first[0], Notify) and "git push" in first[0].message
    assert (
        recover(
            "polecat-1", WAITING, "sw-1", memory, POLICY, 101.0, prompt="git push", screen_seen=True
        )
        == []
    )
    # answered, then a new question: told again
    recover("polecat-1", Verdict("working", "", "report"), "sw-1", memory, POLICY, 102.0)
    assert kinds(
        recover("polecat-1", WAITING, "sw-1", memory, POLICY, 103.0, screen_seen=True)
    ) == ["Notify"]


def test_the_witness_waits_a_few_ticks_for_the_prompt_to_be_readable() -> None:
    memory = Memory()
    for tick in range(3):
        assert recover("polecat-1", WAITING, None, memory, POLICY, 100.0 + tick) == []
    assert kinds(recover("polecat-1", WAITING, None, memory, POLICY, 104.0)) == ["Notify"]


def test_never_auto_approve_by_default() -> None:
    actions = recover(
        "polecat-1", WAITING, None, Memory(), POLICY, 1.0, prompt="git status", screen_seen=True
    )
    assert kinds(actions) == ["Notify"]


def test_auto_approve_only_what_the_layout_allows() -> None:
    policy = Policy(health=HEALTH, auto_approve=("git *", "pytest*"))
    ok = recover(
        "polecat-1", WAITING, None, Memory(), policy, 1.0, prompt="pytest -q", screen_seen=True
    )
    assert ok == [Approve("polecat-1", "pytest -q", "pytest*")]
    no = recover(
        "polecat-1", WAITING, None, Memory(), policy, 1.0, prompt="rm -rf /", screen_seen=True
    )
    assert kinds(no) == ["Notify"]
    gate = recover("polecat-1", WAITING, None, Memory(), policy, 1.0, prompt=None, screen_seen=True)
    assert kinds(gate) == ["Notify"]  # a question with no command is never answered for you


# -- the controller watch ------------------------------------------------------------------


def pane(dead: bool = False) -> PaneSignal:
    status = 1 if dead else None
    return PaneSignal("%9", "controller", "controller", dead, status, None, 42, "sh", "", "", "")


def test_controller_pane_gone_is_rebuilt_and_dead_pane_respawned(tmp_path: Path) -> None:
    watch = ControllerWatch(tmp_path / "controller.pid")
    assert kinds(watch.check(0.0, None, None, False)) == ["Reconcile"]
    respawn = watch.check(0.0, pane(dead=True), None, False)
    assert kinds(respawn) == ["RespawnPane"] and isinstance(respawn[0], RespawnPane)
    assert not respawn[0].kill
    assert watch.check(1.0, pane(dead=True), None, False) == []  # not every tick


def test_a_controller_its_loop_restarts_is_left_to_the_loop(tmp_path: Path) -> None:
    watch = ControllerWatch(tmp_path / "controller.pid")
    assert kinds(watch.check(0.0, pane(), 1234, False)) == ["Note"]
    assert watch.check(1.0, pane(), 1234, False) == []
    assert watch.check(2.0, pane(), 1240, True) == []  # back, with a new pid


def test_a_controller_that_never_comes_back_gets_its_pane_respawned(tmp_path: Path) -> None:
    watch = ControllerWatch(tmp_path / "controller.pid")
    watch.check(0.0, pane(), 1234, False)
    assert watch.check(CONTROLLER_GRACE - 1, pane(), 1234, False) == []
    respawn = watch.check(CONTROLLER_GRACE, pane(), 1234, False)
    assert kinds(respawn) == ["RespawnPane"] and isinstance(respawn[0], RespawnPane)
    assert respawn[0].kill


def test_controller_pid_file_and_liveness(tmp_path: Path) -> None:
    import os

    pid_file = tmp_path / "controller.pid"
    watch = ControllerWatch(pid_file)
    pid_file.write_text(f"{os.getpid()}\n")
    assert watch.observe(0.0, pane()) == []
    pid_file.write_text("999999999\n")
    assert kinds(watch.observe(1.0, pane())) == ["Note"]


def test_a_restart_that_dies_between_two_looks_is_a_new_death() -> None:
    """A crash loop faster than the witness's tick: the restarted process runs and dies
    before the next look, so the witness never sees it alive; its pane's new process id
    says it is a new death, and the loop is given up like any other."""
    memory = Memory()
    now, pid = 100.0, 500
    for _ in range(3):
        note = recover("polecat-1", DEAD, "sw-1", memory, POLICY, now, process=pid)
        assert isinstance(note[0], Note)
        now = memory.restart_at or now
        restart = recover("polecat-1", DEAD, "sw-1", memory, POLICY, now, process=pid)
        assert kinds(restart) == ["Restart"]
        now, pid = now + 0.5, pid + 1  # respawned: a new process, dead again at the next look
    final = recover("polecat-1", DEAD, "sw-1", memory, POLICY, now, process=pid)
    assert kinds(final) == ["GiveUp", "Escalate"]


def test_a_restart_that_never_started_is_retried_not_counted() -> None:
    memory = Memory()
    recover("polecat-1", DEAD, "sw-1", memory, POLICY, 100.0, process=500)
    assert kinds(recover("polecat-1", DEAD, "sw-1", memory, POLICY, 102.0, process=500)) == [
        "Restart"
    ]
    # the same dead process at the next looks: the respawn failed; retried after the wait
    assert recover("polecat-1", DEAD, "sw-1", memory, POLICY, 102.5, process=500) == []
    assert kinds(recover("polecat-1", DEAD, "sw-1", memory, POLICY, 104.0, process=500)) == [
        "Restart"
    ]
    assert len(memory.deaths) == 1
