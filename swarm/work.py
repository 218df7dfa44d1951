"""A polecat's unit of work, from hand-over to `swarm done`.

Both ends are deterministic code: the controller prepares the task's branch in the
polecat's worktree before it says a word to the agent, and `swarm done` checks the work
(at least one commit, nothing uncommitted) before it queues the merge request.
"""

from __future__ import annotations

import os
from pathlib import Path

from swarm import paths
from swarm.errors import SwarmError
from swarm.git import setup, worktrees
from swarm.git.repo import head_sha
from swarm.instance import SwarmInstance
from swarm.store import Store, branch_for
from swarm.store.models import MergeRequest, PushRequest, Task


def agent_worktree(instance: SwarmInstance, agent: str) -> Path:
    return paths.agent_worktree(instance.state_dir, agent)


def base_ref(instance: SwarmInstance, *, fetch: bool = True) -> str:
    """Where new work starts: the target branch, or in a team the remote's (fetched now;
    `fetch=False`: as last fetched, for a confined polecat, which cannot fetch)."""
    if not instance.remote:
        return instance.target_branch
    from swarm.team.remote import fetch_target, tracking_ref

    if not fetch:
        return tracking_ref(instance.remote, instance.target_branch)
    return fetch_target(instance.repo, instance.remote, instance.target_branch)


def prepare_task(instance: SwarmInstance, agent: str, task: Task) -> Path:
    """Check out the task's branch in the agent's worktree (created if missing)."""
    path = agent_worktree(instance, agent)
    base = base_ref(instance)
    branch = task.branch or branch_for(task.id)
    worktrees.ensure_worktree(instance.repo, path, base)
    ensure_setup(instance, agent, path)
    if instance.remote:  # work another machine pushed for this task is where we go on
        from swarm.team.remote import adopt_task_branch

        adopt_task_branch(instance.repo, instance.remote, branch)
    worktrees.start_task_branch(path, branch, base)
    return path


def ensure_setup(instance: SwarmInstance, agent: str, path: Path) -> None:
    """The worktree's set-up normally ran in the agent's pane; if it has not (a worktree
    made again under a live agent), run it now, its output in `.swarm/logs/`, so no task
    reaches an unprepared worktree. A failure fails the hand-over: the task is released."""
    spec = setup.WorktreeSetup.from_env(os.environ)
    if not spec or setup.is_done(path):
        return
    logs = instance.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"worktree-setup-{agent}.log").open("a") as out:
        setup.prepare(instance.repo, path, spec, out)


def task_prompt(agent: str, task: Task) -> str:
    """What the agent is told: which task is on its hook and how to finish it."""
    lines = [
        f"{agent}: task {task.id} is on your hook: {task.title}",
        f"You are on branch {task.branch} in your own worktree. Do the task, commit your work,",
        "then run `swarm done`.",
    ]
    if task.body.strip():
        lines += ["", task.body.strip()]
    if task.notes.strip():
        lines += ["", "Notes from earlier attempts:", task.notes.strip()]
    return "\n".join(lines)


def finish_work(instance: SwarmInstance, store: Store, agent: str) -> MergeRequest | PushRequest:
    """`swarm done`: the agent's branch has commits; queue it and free the polecat (in a
    team: its machine's controller pushes the branch first, then queues it)."""
    record = store.get_agent(agent)
    if not record.hook:
        raise SwarmError(f"{agent} holds no task (nothing to finish)")
    task = store.get_task(record.hook)
    path = agent_worktree(instance, agent)
    branch = task.branch or branch_for(task.id)
    if worktrees.current_branch(path) != branch:
        raise SwarmError(f"{agent}: worktree {path} is not on {branch} (task {task.id})")
    worktrees.require_clean(path, agent)
    target = base_ref(instance, fetch=False)
    base = head_sha(path, target)
    if worktrees.commits_ahead(path, target) < 1:
        raise SwarmError(
            f"{agent}: branch {branch} has no commit beyond {instance.target_branch}; "
            "commit your work first"
        )
    done: MergeRequest | PushRequest
    if instance.remote:  # pushed from outside the sandbox, then queued (swarm.team.pushes)
        done = store.request_push(agent, head_sha(path), base)
    else:
        done = store.finish_task(agent, head_sha(path), base)
    worktrees.park(path, target)
    return done


def give_up(instance: SwarmInstance, store: Store, agent: str, reason: str) -> Task:
    """`swarm done --failed`: the agent cannot do its task; it fails with why; the agent is free."""
    record = store.get_agent(agent)
    if not record.hook:
        raise SwarmError(f"{agent} holds no task (nothing to give up)")
    task = store.fail_task(record.hook, f"{agent} gave up: {reason}")
    path = agent_worktree(instance, agent)
    if path.exists() and not worktrees.is_dirty(path):
        worktrees.park(path, instance.target_branch)
    return task
