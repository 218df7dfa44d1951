"""Claude Code agents in a swarm: the mayor files tasks, the guard refuses a write outside
the worktree, bypass mode only when asked. The real CLI against a scripted model on
127.0.0.1. (Permission prompts, questions and a killed agent resuming its conversation are
in test_handover.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from claude_fixtures import ClaudeSwarm
from fake_anthropic import run, say

pytestmark = [pytest.mark.slow, pytest.mark.claude]

# The whole swarm runs in every test: what the witness and the controller do to an agent
# is part of what is tested.
HELPERS = {"witness": {"count": 1}, "refinery": {"count": 1}}
TASK_ID = re.compile(r"^sw-[0-9a-z]{5}$", re.MULTILINE)


def test_mayor_turns_a_request_into_two_tasks(claude_swarm: Callable[..., ClaudeSwarm]) -> None:
    swarm = claude_swarm(mayor={"count": 1}, polecat={"count": 0}, **HELPERS)
    swarm.wait_ready("mayor")
    swarm.script.add(
        # As the mayor's prompt teaches: the body from a heredoc, no file to write first.
        run(
            "add two tasks:",
            "swarm task add 'Write the install guide' --priority 1 --body - <<'EOF'\n"
            "Cover pip and installing from source.\nEOF",
        ),
        run(TASK_ID, "swarm task add 'Fix the typo in the README'"),
        say(TASK_ID, "I filed two tasks: the install guide and the README typo."),
    )
    swarm.cli(
        "nudge", "mayor", "add two tasks: write the install guide; fix the typo in the README"
    )

    def filed() -> list[str]:
        with swarm.store() as store:
            titles = [t.title for t in store.list_tasks()]
        return titles if len(titles) == 2 else []

    titles = swarm.wait("the mayor's two tasks", filed, timeout=30)
    assert sorted(titles) == ["Fix the typo in the README", "Write the install guide"]
    with swarm.store() as store:
        priorities = {t.title: t.priority for t in store.list_tasks()}
    assert priorities["Write the install guide"] == 1
    with swarm.store() as store:
        bodies = {t.title: t.body for t in store.list_tasks()}
    assert bodies["Write the install guide"].strip() == "Cover pip and installing from source."
    swarm.wait("the mayor's answer", lambda: "I filed two tasks" in swarm.screen("mayor"))


def test_guard_refuses_a_write_outside_the_worktree(
    claude_swarm: Callable[..., ClaudeSwarm],
) -> None:
    swarm = claude_swarm(mayor={"count": 0}, polecat={"count": 1}, **HELPERS)
    swarm.wait_ready("polecat-1")
    task_id = swarm.cli("task", "add", "Touch the main checkout").stdout.strip()
    outside = swarm.repo / "escaped.txt"
    swarm.script.add(
        run(f"task {task_id} is on your hook", f"echo escaped > {outside}"),
        say("swarm guard: refused", "The guard refused that; I will stay in my worktree."),
    )
    swarm.wait(
        "the model to hear the refusal",
        lambda: any(e.rule == "swarm guard: refused" for e in swarm.script.log),
    )
    refusal = next(e.last_text for e in swarm.script.log if e.rule == "swarm guard: refused")
    assert str(outside) in refusal and "outside your folder" in refusal
    assert not outside.exists()
    with swarm.store() as store:
        guarded = [e for e in store.events() if e.kind == "agent.guarded"]
    assert guarded and guarded[0].agent == "polecat-1"


def test_bypass_mode_only_when_asked_and_with_no_gate(
    claude_swarm: Callable[..., ClaudeSwarm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`skip_permissions: true` starts Claude Code in bypass mode with no warning to accept;
    as root, only because the swarm set IS_SANDBOX=1 for that agent (not inherited here)."""
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    swarm = claude_swarm(
        mayor={"count": 0},
        polecat={"count": 1, "permissions": {"skip_permissions": True}},
        **HELPERS,
    )
    swarm.wait_ready("polecat-1")
    task_id = swarm.cli("task", "add", "Unasked").stdout.strip()
    outside = swarm.repo / "escaped.txt"
    swarm.script.add(
        run(
            f"task {task_id} is on your hook",
            "python3 -c 'print(6 * 7)' > answer.txt && echo ran-it",
        ),
        # bypass mode skips permission prompts, not hooks: the guard still holds
        run("ran-it", f"echo escaped > {outside}"),
        say("swarm guard: refused", "Ran it without asking; the guard stopped the other."),
    )
    swarm.wait(
        "the model's last word", lambda: "the guard stopped the other" in swarm.screen("polecat-1")
    )
    worktree = swarm.up.instance.state_dir / "worktrees" / "polecat-1"
    assert (worktree / "answer.txt").read_text() == "42\n"
    assert not outside.exists()
    with swarm.store() as store:  # no permission asked (the turn's end holding the task is)
        waits = [e for e in store.events() if e.kind == "agent.waiting"]
        assert not [e for e in waits if e.data.get("why") != "turn ended"]
    assert "bypass permissions on" in swarm.screen("polecat-1")
