"""A team polecat's `swarm done` records its push; its machine's controller pushes, then queues.

Real git (a bare repository as the team's remote, the polecat's worktree), a real store, the
controller's `Pusher` in a real anyio task group. The confined half (the polecat's `swarm done`
inside bubblewrap) is in tests/test_sandbox.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest

from swarm import paths
from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.store import Store
from swarm.store.models import MergeRequest, PushRequest
from swarm.team.pushes import Pusher, due
from swarm.work import finish_work, prepare_task

AGENT = "laptop-a/polecat-1"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def remote_branch(remote: Path, branch: str) -> str | None:
    found = subprocess.run(
        ["git", "-C", str(remote), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() or None


@pytest.fixture
def team(repo: Path, tmp_path: Path) -> tuple[SwarmInstance, Path]:
    """This machine's clone of a team repository (remote `origin`, a bare one)."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    instance = SwarmInstance(
        repo=repo,
        state_dir=paths.state_dir(repo),
        session="team",
        socket="unused",
        layout_name="team",
        layout_path=repo / "team.yaml",
        remote="origin",
        host="laptop-a",
    )
    return instance, remote


def hooked_with_work(instance: SwarmInstance, store: Store) -> tuple[str, str, Path]:
    """A task on the polecat's hook, its branch one commit ahead (what `swarm done` meets)."""
    store.upsert_agent(AGENT, "polecat", "sim")
    task = store.add_task("write the docs")
    claimed = store.claim_next_task(AGENT)
    assert claimed is not None and claimed.branch
    path = prepare_task(instance, AGENT, claimed)  # the controller's part: fetches the target
    (path / "docs.txt").write_text("docs\n")
    git(path, "add", "docs.txt")
    git(path, "commit", "-q", "-m", "docs")
    return task.id, claimed.branch, path


def run_pusher(pusher: Pusher, store: Store) -> None:
    async def main() -> None:
        async with anyio.create_task_group() as group:
            pusher.start(store, group)

    anyio.run(main)


def test_team_done_is_queued_only_once_its_machine_pushed_it(
    team: tuple[SwarmInstance, Path],
) -> None:
    instance, remote = team
    logged: list[str] = []
    with instance.open_store() as store:
        task_id, branch, path = hooked_with_work(instance, store)
        head = git(path, "rev-parse", "HEAD")
        done = finish_work(instance, store, AGENT)
        assert isinstance(done, PushRequest) and done.head_sha == head
        # Nothing pushed, nothing queued: the agent keeps its hook until its machine pushes.
        assert remote_branch(remote, branch) is None
        assert store.list_merge_requests() == []
        assert store.get_agent(AGENT).hook == task_id
        assert [e.kind for e in store.events(task=task_id)][-1] == "task.push_wanted"

        run_pusher(Pusher(instance.repo, "origin", "laptop-a", logged.append), store)

        assert remote_branch(remote, branch) == head
        [request] = store.list_merge_requests()
        assert (request.task_id, request.head_sha, request.status) == (task_id, head, "queued")
        assert store.get_task(task_id).status == "done"
        assert store.get_agent(AGENT).hook is None
        assert store.pending_pushes() == []
        assert logged == [f"pushed {branch}: merge request #{request.id} queued"]
        run_pusher(Pusher(instance.repo, "origin", "laptop-a", logged.append), store)
        assert len(store.list_merge_requests()) == 1  # queued once


def test_a_failed_team_push_is_one_event_and_tried_again(
    team: tuple[SwarmInstance, Path], tmp_path: Path
) -> None:
    instance, remote = team
    now = [1000.0]
    logged: list[str] = []
    pusher = Pusher(instance.repo, "origin", "laptop-a", logged.append, clock=lambda: now[0])
    with instance.open_store(clock=lambda: now[0]) as store:  # one clock: tried_at is the store's
        task_id, branch, _ = hooked_with_work(instance, store)
        finish_work(instance, store, AGENT)
        git(instance.repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
        run_pusher(pusher, store)
        [pending] = store.pending_pushes()
        assert pending.attempts == 1 and "could not push" in pending.error
        assert not due(pending, now[0])  # waits before trying again
        now[0] += 3600
        run_pusher(pusher, store)
        assert store.pending_pushes()[0].attempts == 2
        failed = [e for e in store.events(task=task_id) if e.kind == "task.push_failed"]
        assert len(failed) == 1 and "trying again" in failed[0].message  # one event, not two
        assert len(logged) == 1
        assert store.list_merge_requests() == []  # nothing queued that was not pushed

        git(instance.repo, "remote", "set-url", "origin", str(remote))
        now[0] += 3600
        run_pusher(pusher, store)
        assert remote_branch(remote, branch) is not None
        assert [m.task_id for m in store.list_merge_requests()] == [task_id]


def test_another_machines_push_is_left_to_it(team: tuple[SwarmInstance, Path]) -> None:
    instance, remote = team
    with instance.open_store() as store:
        _, branch, _ = hooked_with_work(instance, store)
        finish_work(instance, store, AGENT)
        run_pusher(Pusher(instance.repo, "origin", "laptop-b", lambda _: None), store)
        assert remote_branch(remote, branch) is None
        assert len(store.pending_pushes()) == 1


def test_a_push_for_a_task_given_back_meanwhile_is_not_queued(
    team: tuple[SwarmInstance, Path],
) -> None:
    instance, _ = team
    with instance.open_store() as store:
        task_id, _, _ = hooked_with_work(instance, store)
        finish_work(instance, store, AGENT)
        store.release_task(task_id, "its machine was lost")
        run_pusher(Pusher(instance.repo, "origin", "laptop-a", lambda _: None), store)
        assert store.list_merge_requests() == []
        assert store.pending_pushes() == []
        assert "task.push_dropped" in [e.kind for e in store.events(task=task_id)]


def test_done_without_a_hook_is_one_line(team: tuple[SwarmInstance, Path]) -> None:
    instance, _ = team
    with instance.open_store() as store:
        store.upsert_agent(AGENT, "polecat", "sim")
        with pytest.raises(SwarmError, match="holds no task"):
            store.request_push(AGENT, "abc", "def")


def test_push_retries_wait_longer_each_time() -> None:
    def request(attempts: int, tried_at: float | None) -> PushRequest:
        return PushRequest(AGENT, "sw-1", "swarm/sw-1", "h", "b", attempts, "", 0.0, tried_at)

    assert due(request(0, None), 0.0)
    assert not due(request(1, 100.0), 101.0) and due(request(1, 100.0), 102.0)
    assert not due(request(3, 100.0), 107.0) and due(request(3, 100.0), 108.0)
    assert not due(request(20, 100.0), 159.0) and due(request(20, 100.0), 160.0)


def test_single_machine_done_still_queues_at_once(repo: Path) -> None:
    instance = SwarmInstance(
        repo=repo,
        state_dir=paths.state_dir(repo),
        session="one",
        socket="unused",
        layout_name="solo",
        layout_path=repo / "solo.yaml",
    )
    with instance.open_store() as store:
        store.upsert_agent("polecat-1", "polecat", "sim")
        store.add_task("alone")
        claimed = store.claim_next_task("polecat-1")
        assert claimed is not None
        path = prepare_task(instance, "polecat-1", claimed)
        (path / "a.txt").write_text("a\n")
        git(path, "add", "a.txt")
        git(path, "commit", "-q", "-m", "a")
        assert isinstance(finish_work(instance, store, "polecat-1"), MergeRequest)
