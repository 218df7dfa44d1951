"""What the end-to-end tests do and look at in a Claude Code swarm, written once."""

from __future__ import annotations

import subprocess
from typing import Any

from claude_fixtures import ClaudeSwarm
from fake_anthropic import Rule, run, say


def full_swarm(polecats: int = 1) -> dict[str, dict[str, int]]:
    """The roles of a whole swarm around `polecats` Claude Code polecats: the controller,
    the witness and the refinery run; no mayor (nothing to talk to)."""
    return {
        "mayor": {"count": 0},
        "polecat": {"count": polecats},
        "witness": {"count": 1},
        "refinery": {"count": 1},
    }


def git(swarm: ClaudeSwarm, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(swarm.repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def typed_task(task_id: str) -> str:
    """The words that open a task typed into a polecat (swarm.work.task_prompt)."""
    return f"task {task_id} is on your hook"


def times_typed(swarm: ClaudeSwarm, task_id: str) -> int:
    """How many answered requests brought the typed task to the model as something new (a
    request refused with a 429 and sent again is one)."""
    return sum(
        1
        for e in swarm.script.log
        if e.main_turn and e.status == 200 and typed_task(task_id) in e.last_text
    )


def status_of(swarm: ClaudeSwarm, task_id: str) -> str:
    with swarm.store() as store:
        return store.get_task(task_id).status


def wait_merged(swarm: ClaudeSwarm, task_id: str, timeout: float = 60) -> None:
    swarm.wait(f"{task_id} merged", lambda: status_of(swarm, task_id) == "merged", timeout)
    with swarm.store() as store:
        merges = [m.status for m in store.list_merge_requests() if m.task_id == task_id]
    assert merges == ["merged"]


def commit_and_finish(file: str) -> str:
    """The shell line a polecat runs to finish: a file, a commit, `swarm done`."""
    return f"echo done > {file} && git add {file} && git commit -q -m 'Add {file}' && swarm done"


def finish(task_id: str, file: str, after: str) -> list[Rule]:
    """Rules that write `file`, commit it and run `swarm done` once `after` is seen."""
    return [run(after, commit_and_finish(file)), say(f"{task_id} done", "Finished.")]


def events(swarm: ClaudeSwarm) -> list[Any]:
    with swarm.store() as store:
        return store.events()
