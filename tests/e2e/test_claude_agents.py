"""Claude Code agents in a swarm: the mayor files tasks, a permission prompt is seen at once
and answered through `swarm approve`, the guard refuses a write outside the worktree, bypass
mode only when asked. The real CLI against a scripted model on 127.0.0.1. (A killed agent
resuming its conversation is in test_handover.py.)"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from conftest import ClaudeSwarm
from fake_anthropic import run, say

pytestmark = [pytest.mark.slow, pytest.mark.claude]

NO_HELPERS = {"witness": {"count": 0}, "refinery": {"count": 0}}
TASK_ID = re.compile(r"^sw-[0-9a-z]{5}$", re.MULTILINE)


def test_mayor_turns_a_request_into_two_tasks(claude_swarm: Callable[..., ClaudeSwarm]) -> None:
    swarm = claude_swarm(mayor={"count": 1}, polecat={"count": 0}, **NO_HELPERS)
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


def test_permission_prompt_is_seen_at_once_and_approved(
    claude_swarm: Callable[..., ClaudeSwarm],
) -> None:
    swarm = claude_swarm(mayor={"count": 0}, polecat={"count": 1}, **NO_HELPERS)
    swarm.wait_ready("polecat-1")
    task_id = swarm.cli("task", "add", "Record the build date").stdout.strip()
    # `python3` is in no allow list: Claude Code asks before running it.
    swarm.script.add(
        run(
            f"task {task_id} is on your hook",
            "python3 -c 'print(2026)' > build-date.txt && echo wrote-date",
        ),
        run(
            "wrote-date",
            "git add build-date.txt && git commit -q -m 'Record the build date' && swarm done",
        ),
        say("merge request", "Done."),
    )

    def menu_shown() -> float | None:
        return time.monotonic() if "Do you want to proceed?" in swarm.screen("polecat-1") else None

    shown = swarm.wait("the permission menu", menu_shown, timeout=30, every=0.05)
    waiting = swarm.wait(
        "the waiting state",
        lambda: time.monotonic() if swarm.agent("polecat-1").state == "waiting" else None,
        timeout=10,
        every=0.05,
    )
    assert waiting - shown < 1.0, f"waiting seen {waiting - shown:.2f}s after the menu"
    assert "Bash" in swarm.agent("polecat-1").detail
    assert (
        swarm.up.instance.state_dir / "worktrees" / "polecat-1" / "build-date.txt"
    ).exists() is False

    assert "prompt approved" in swarm.cli("approve", "polecat-1").stdout

    def done() -> bool:
        with swarm.store() as store:
            return store.get_task(task_id).status == "done"

    swarm.wait(f"{task_id} done after the approval", done, timeout=30)
    with swarm.store() as store:
        assert [r.task_id for r in store.list_merge_requests()] == [task_id]
        waits = [e for e in store.events() if e.kind == "agent.waiting"]
    assert len(waits) == 1, "a late Notification marked the agent waiting again"


def test_guard_refuses_a_write_outside_the_worktree(
    claude_swarm: Callable[..., ClaudeSwarm],
) -> None:
    swarm = claude_swarm(mayor={"count": 0}, polecat={"count": 1}, **NO_HELPERS)
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
        **NO_HELPERS,
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
    with swarm.store() as store:
        assert not [e for e in store.events() if e.kind == "agent.waiting"]
    assert "bypass permissions on" in swarm.screen("polecat-1")
