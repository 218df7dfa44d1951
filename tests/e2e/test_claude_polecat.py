"""A Claude Code polecat does a task end to end: the real CLI, a scripted model.

The model's tool calls (Write, then Bash) create a file, commit it and run `swarm done`;
the refinery merges the branch. Nothing here answers a dialog or presses a key: the
prepared config folder, the role's permissions and the hooks do it all.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import psutil
import pytest
from claude_fixtures import ClaudeSwarm
from fake_anthropic import Rule, Tool, run, say

pytestmark = [pytest.mark.slow, pytest.mark.claude]


def git(swarm: ClaudeSwarm, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(swarm.repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_polecat_edits_commits_and_its_work_is_merged(
    claude_swarm: Callable[..., ClaudeSwarm],
) -> None:
    swarm = claude_swarm(
        mayor={"count": 0}, polecat={"count": 1}, witness={"count": 1}, refinery={"count": 1}
    )
    swarm.wait_ready("polecat-1")
    task_id = swarm.cli("task", "add", "Add a greeting file").stdout.strip()
    swarm.script.add(
        Rule(
            f"task {task_id} is on your hook",
            (Tool("Write", {"file_path": "greeting.txt", "content": "hello from claude\n"}),),
        ),
        run(
            "File created successfully",
            "git add greeting.txt && git commit -q -m 'Add a greeting file'"
            " && git log -1 --format=committed:%s",
        ),
        run("committed:", "swarm done", note="Committed; handing it to the refinery."),
        say(f"{task_id} done: merge request", "Done: the greeting is queued for merging."),
    )

    def merged() -> bool:
        with swarm.store() as store:
            return store.get_task(task_id).status == "merged"

    swarm.wait(f"{task_id} to be merged", merged, timeout=45)
    assert git(swarm, "show", "main:greeting.txt") == "hello from claude"
    assert "Add a greeting file" in git(swarm, "log", "-1", "--format=%s", "main")
    with swarm.store() as store:
        requests = [r for r in store.list_merge_requests() if r.task_id == task_id]
        kinds = [e.kind for e in store.events() if e.task == task_id]
    assert [r.status for r in requests] == ["merged"]
    assert kinds.count("task.done") == 1
    # The person's checkout was only changed by the refinery's merge.
    assert git(swarm, "status", "--porcelain") == ""


def test_the_config_folder_is_the_swarms_own(claude_swarm: Callable[..., ClaudeSwarm]) -> None:
    """No dialog was answered: the prepared .claude.json did it; the repo got no .claude/."""
    swarm = claude_swarm(
        mayor={"count": 1}, polecat={"count": 1}, witness={"count": 0}, refinery={"count": 0}
    )
    swarm.wait_ready("mayor", "polecat-1")
    folder = swarm.up.instance.state_dir / "claude" / "polecat-1"
    state = json.loads((folder / ".claude.json").read_text())
    worktree = swarm.up.instance.state_dir / "worktrees" / "polecat-1"
    assert state["hasCompletedOnboarding"] is True
    assert state["projects"][str(worktree)]["hasTrustDialogAccepted"] is True
    assert state["customApiKeyResponses"]["approved"] == ["0123456789abcdefghij"]
    settings = json.loads((folder / "swarm-settings.json").read_text())
    assert set(settings["hooks"]) >= {
        "SessionStart",
        "UserPromptSubmit",
        "Notification",
        "Stop",
        "SessionEnd",
        "PreToolUse",
    }
    assert not (swarm.repo / ".claude").exists()
    # The pane runs Claude itself (confined: bwrap, then Claude inside it).
    pane = swarm.pane("polecat-1")
    assert pane.current_command in ("claude", "bwrap") and pane.pid is not None
    tree = [pane.pid, *(c.pid for c in psutil.Process(pane.pid).children(recursive=True))]
    assert any("claude" in " ".join(psutil.Process(pid).cmdline()) for pid in tree)
