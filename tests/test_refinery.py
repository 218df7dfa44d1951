"""The refinery on real git repositories: merges, conflicts, gate failures, bisection,
moved branches, a kill -9 in the middle of a gate, and the `swarm mq` commands.

Most tests drive `Refinery.step()` directly with a store and real branches (no tmux). After
each, every commit on main's first-parent history must pass the gate again (re-run in a
scratch worktree), and no task may be closed twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from swarm.cli.main import main as swarm_main
from swarm.config import load_plan
from swarm.errors import SwarmError
from swarm.git.repo import exclude_path
from swarm.instance import SwarmInstance
from swarm.plan import MergeSpec
from swarm.planfile import write_plan
from swarm.refinery import BOUNCE_MARK
from swarm.refinery.candidate import CandidateWorktree
from swarm.refinery.gate import run_gate
from swarm.refinery.journal import Journal, Landing
from swarm.refinery.queue import Refinery
from swarm.refinery.settings import Settings
from swarm.store import MergeRequest, Store

# Fails when any file named BAD* is in the tree, and says which.
GATE = ('for f in BAD*; do if [ -e "$f" ]; then echo "gate: broken by $f"; exit 1; fi; done',)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


class Clock:
    """Real time, which a test can move forward (past a refinery's wait before a retry)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


class Rig:
    """A repository with a swarm state folder, a store, polecats and a way to make branches."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.state = repo / ".swarm"
        exclude_path(repo, "/.swarm/")
        self.store = Store.open(self.state / "swarm.db")
        self.clock = Clock()
        self.lines: list[str] = []
        self.escalations: list[tuple[str, str]] = []
        self.scratch = self.state / "scratch"
        git(repo, "worktree", "add", "-q", "--detach", str(self.scratch), "main")
        for n in (1, 2, 3):
            self.polecat(f"polecat-{n}")

    def polecat(self, name: str) -> str:
        self.store.upsert_agent(name, "polecat", "sim")
        self.store.set_agent_state(name, "idle", "test")
        return name

    def settings(self, **changes: object) -> Settings:
        merge_keys = {f.name for f in dataclasses.fields(MergeSpec)} - {"gate_jobs"}
        merge: dict[str, object] = {"batch_size": 8, "batch_wait": 0.0}
        merge.update({k: v for k, v in changes.items() if k in merge_keys})
        base: dict[str, object] = {
            "repo": self.repo,
            "state_dir": self.state,
            "target": "main",
            "gate": GATE,
            "merge": MergeSpec(**merge),  # type: ignore[arg-type]
            "gate_jobs": 1,
        }
        base.update({k: v for k, v in changes.items() if k not in merge_keys})
        return Settings(**base)  # type: ignore[arg-type]

    def refinery(self, **changes: object) -> Refinery:
        refinery = Refinery(
            self.settings(**changes),
            self.store,
            log=self.lines.append,
            clock=self.clock,
            escalate=lambda task, text: self.escalations.append((task, text)),
        )
        refinery.recover()
        return refinery

    def free_agent(self) -> str:
        for agent in self.store.list_agents(role="polecat"):
            if agent.hook is None:
                return agent.name
        return self.polecat(f"polecat-{len(self.store.list_agents()) + 1}")

    def request(
        self, files: dict[str, str], title: str = "", agent: str | None = None
    ) -> MergeRequest:
        """A polecat's finished task: a branch from main with one commit, queued."""
        agent = agent or self.free_agent()
        task = self.store.add_task(title or f"write {', '.join(files)}")
        self.store.hook_task(task.id, agent)
        head = self.commit(f"swarm/{task.id}", files, f"{task.title} ({task.id})", start="main")
        return self.store.finish_task(agent, head, git(self.repo, "rev-parse", "main"))

    def commit(
        self, branch: str, files: dict[str, str], message: str, start: str | None = None
    ) -> str:
        if start is not None:
            git(self.scratch, "checkout", "-q", "-B", branch, start)
        else:
            git(self.scratch, "checkout", "-q", branch)
        for name, text in files.items():
            (self.scratch / name).write_text(text)
        git(self.scratch, "add", "-A")
        git(self.scratch, "commit", "-q", "-m", message)
        head = git(self.scratch, "rev-parse", "HEAD")
        git(self.scratch, "checkout", "-q", "--detach")
        return head

    def statuses(self) -> dict[str, str]:
        return {mr.task_id: mr.status for mr in self.store.list_merge_requests()}

    def kinds(self) -> Counter[str]:
        return Counter(e.kind for e in self.store.events())

    def first_parents(self) -> list[str]:
        return git(self.repo, "rev-list", "--first-parent", "main").split()

    def check(self, gate: tuple[str, ...] = GATE) -> None:
        """Every commit on main passes the gate; no task or request was closed twice."""
        verify = self.state / "verify"
        checker = CandidateWorktree(self.repo, verify)
        for sha in self.first_parents():
            checker.reset_to(sha)
            result = run_gate(gate, verify, marker="verify")
            assert result.passed, f"main commit {sha[:10]} fails the gate: {result.report()}"
        events = self.store.events()
        merged_tasks = Counter(e.task for e in events if e.kind == "task.merged")
        merged_mrs = Counter(e.data.get("mr") for e in events if e.kind == "merge.merged")
        assert all(n == 1 for n in merged_tasks.values()), merged_tasks
        assert all(n == 1 for n in merged_mrs.values()), merged_mrs
        history = set(git(self.repo, "rev-list", "main").split())
        for task in self.store.list_tasks(["merged"]):
            assert task.merge_sha in history, f"{task.id} merged as {task.merge_sha}, not on main"
        per_task = Counter(mr.task_id for mr in self.store.list_merge_requests(["merged"]))
        assert all(n == 1 for n in per_task.values())


@pytest.fixture
def rig(repo: Path) -> Iterator[Rig]:
    made = Rig(repo)
    yield made
    made.store.close()


def test_clean_batch_merges_in_order_and_cleans_up(rig: Rig) -> None:
    requests = [rig.request({f"f{i}.txt": f"{i}\n"}) for i in range(3)]
    refinery = rig.refinery()
    refinery.drain()
    assert set(rig.statuses().values()) == {"merged"}
    assert refinery.stats.gate_runs == 1 and refinery.stats.batches == 1
    # one commit per request, in queue order, each task's sha is the commit after its change
    subjects = git(rig.repo, "log", "--format=%s", "--first-parent", "main").splitlines()
    assert subjects[:3][::-1] == [f"write f{i}.txt ({mr.task_id})" for i, mr in enumerate(requests)]
    for i, mr in enumerate(requests):
        task = rig.store.get_task(mr.task_id)
        assert task.status == "merged"
        assert git(rig.repo, "show", f"{task.merge_sha}:f{i}.txt") == str(i)
        assert git(rig.repo, "branch", "--list", f"swarm/{mr.task_id}") == ""  # branch deleted
    # main was checked out: the person's checkout moved with it, and is clean
    assert (rig.repo / "f2.txt").read_text() == "2\n"
    assert git(rig.repo, "status", "--porcelain") == ""
    kinds = rig.kinds()
    assert kinds["merge.testing"] == 1 and kinds["merge.merged"] == 3 and kinds["merge.landed"] == 1
    assert any("batch of 3" in line for line in rig.lines)
    rig.check()


@pytest.mark.parametrize("strategy", ["rebase", "merge"])
def test_textual_conflict_is_bounced_with_the_file_named(rig: Rig, strategy: str) -> None:
    first = rig.request({"README.md": "# first version\n"}, agent="polecat-1")
    second = rig.request({"README.md": "# second version\n"}, agent="polecat-2")
    rig.refinery(strategy=strategy).drain()
    assert rig.statuses() == {first.task_id: "merged", second.task_id: "bounced"}
    task = rig.store.get_task(second.task_id)
    # back to the polecat that did it (free and alive), with the file named
    assert task.status == "hooked" and task.assignee == "polecat-2"
    assert task.notes.startswith(BOUNCE_MARK) and "README.md" in task.notes
    bounced = [e for e in rig.store.events() if e.kind == "merge.bounced"]
    assert len(bounced) == 1 and bounced[0].data["files"] == ["README.md"]
    assert bounced[0].data["to"] == "agent"
    assert any("conflict in README.md" in line for line in rig.lines)
    rig.check()


def test_gate_failure_is_bounced_with_the_output_tail(rig: Rig) -> None:
    good = rig.request({"ok.txt": "ok\n"})
    bad = rig.request({"BAD-widget": "broken\n"})
    refinery = rig.refinery(batch_size=1)
    refinery.drain()
    assert rig.statuses() == {good.task_id: "merged", bad.task_id: "bounced"}
    task = rig.store.get_task(bad.task_id)
    assert "gate: broken by BAD-widget" in task.notes  # the output tail
    assert "gate failed" in task.notes and BOUNCE_MARK in task.notes
    mr = rig.store.get_merge_request(bad.id)
    assert "gate: broken by BAD-widget" in mr.result
    assert not (rig.repo / "BAD-widget").exists()
    rig.check()


@pytest.mark.parametrize("jobs", [1, 4])
def test_batch_of_eight_with_two_bad_is_bisected(rig: Rig, jobs: int) -> None:
    bad_positions = {2, 5}
    requests = [
        rig.request({f"f{i}.txt": f"{i}\n", **({f"BAD{i}": "x\n"} if i in bad_positions else {})})
        for i in range(8)
    ]
    refinery = rig.refinery(gate_jobs=jobs)
    refinery.drain()
    statuses = rig.statuses()
    merged = [mr for mr in requests if statuses[mr.task_id] == "merged"]
    bounced = [mr for mr in requests if statuses[mr.task_id] == "bounced"]
    assert len(merged) == 6 and len(bounced) == 2
    assert {requests.index(mr) for mr in bounced} == bad_positions
    assert refinery.stats.batches == 1
    if jobs == 1:
        assert refinery.stats.gate_runs == 8  # the batch, then bisection
    else:
        assert refinery.stats.rounds <= 4
    # the six landed in one fast-forward, in queue order
    assert rig.kinds()["merge.landed"] == 1
    for mr in bounced:
        notes = rig.store.get_task(mr.task_id).notes
        assert "gate: broken by BAD" in notes
    rig.check()


def test_branch_moved_after_queueing_is_retested_with_its_new_head(rig: Rig) -> None:
    mr = rig.request({"BAD-early": "oops\n"})
    # the polecat fixes its branch after `swarm done`: the queued head is stale
    git(rig.scratch, "checkout", "-q", mr.branch)
    git(rig.scratch, "rm", "-q", "BAD-early")
    (rig.scratch / "fixed.txt").write_text("fixed\n")
    git(rig.scratch, "add", "-A")
    git(rig.scratch, "commit", "-q", "-m", "fix")
    new_head = git(rig.scratch, "rev-parse", "HEAD")
    git(rig.scratch, "checkout", "-q", "--detach")
    rig.refinery().drain()
    fresh = rig.store.get_merge_request(mr.id)
    assert fresh.status == "merged" and fresh.head_sha == new_head
    assert (rig.repo / "fixed.txt").exists() and not (rig.repo / "BAD-early").exists()
    assert rig.kinds()["merge.head"] == 1
    rig.check()


def test_branch_moved_during_the_gate_is_not_merged_stale(rig: Rig, tmp_path: Path) -> None:
    mr = rig.request({"one.txt": "1\n"})
    moved = rig.commit(mr.branch, {"two.txt": "2\n"}, "more work")
    # put the branch back; the gate moves it forward (once), as a late `git commit` would
    git(rig.repo, "update-ref", f"refs/heads/{mr.branch}", mr.head_sha)
    flag = tmp_path / "moved-once"
    mover = (
        f"[ -e {flag} ] || {{ touch {flag}; "
        f"git -C {rig.repo} update-ref refs/heads/{mr.branch} {moved}; }}"
    )
    refinery = rig.refinery(gate=(mover, *GATE))
    refinery.step()  # tested the old head; the branch moved meanwhile: not merged
    assert rig.store.get_merge_request(mr.id).status == "queued"
    assert rig.store.get_task(mr.task_id).status == "done"
    refinery.drain()
    fresh = rig.store.get_merge_request(mr.id)
    assert fresh.status == "merged" and fresh.head_sha == moved
    assert (rig.repo / "two.txt").exists()
    rig.check()


def test_bounced_too_often_fails_and_is_escalated(rig: Rig) -> None:
    mr = rig.request({"BAD": "x\n"}, agent="polecat-1")
    refinery = rig.refinery(max_bounces=1)
    refinery.drain()
    task = rig.store.get_task(mr.task_id)
    assert task.status == "hooked" and task.assignee == "polecat-1"  # first bounce: back
    # the polecat runs `swarm done` again without fixing it
    again = rig.store.finish_task("polecat-1", mr.head_sha, mr.base_sha)
    refinery.drain()
    assert rig.store.get_task(mr.task_id).status == "failed"
    assert rig.store.get_merge_request(again.id).status == "rejected"
    escalations = [e for e in rig.store.events() if e.kind == "escalation"]
    assert len(escalations) == 1 and escalations[0].task == mr.task_id
    assert rig.escalations and rig.escalations[0][0] == mr.task_id
    rig.check()


def test_bounce_goes_to_the_queue_when_the_polecat_is_busy_or_dead(rig: Rig) -> None:
    busy = rig.request({"BAD1": "x\n"}, agent="polecat-1")
    dead = rig.request({"BAD2": "x\n"}, agent="polecat-2")
    other = rig.store.add_task("something else")
    rig.store.hook_task(other.id, "polecat-1")
    rig.store.set_agent_state("polecat-2", "dead", "test")
    rig.refinery().drain()
    for mr in (busy, dead):
        task = rig.store.get_task(mr.task_id)
        assert task.status == "open" and task.assignee is None and BOUNCE_MARK in task.notes
    rig.check()


def test_fast_forward_refused_by_local_changes_waits_then_lands(rig: Rig) -> None:
    mr = rig.request({"README.md": "# merged text\n"})
    (rig.repo / "README.md").write_text("# the person's unsaved edit\n")
    refinery = rig.refinery()
    refinery.drain()
    assert rig.store.get_merge_request(mr.id).status == "queued"  # left queued, with why
    assert "waiting to fast-forward" in rig.store.get_merge_request(mr.id).result
    assert rig.kinds()["merge.blocked"] == 1
    assert (rig.repo / "README.md").read_text() == "# the person's unsaved edit\n"
    assert any("cannot fast-forward main" in line for line in rig.lines)
    runs, attempts = refinery.stats.gate_runs, rig.store.get_merge_request(mr.id).attempts
    rig.clock.ahead += 6
    refinery.drain()  # tried again, still refused: quietly, no second event
    assert rig.store.get_merge_request(mr.id).status == "queued"
    assert rig.kinds()["merge.blocked"] == 1
    git(rig.repo, "checkout", "--", "README.md")  # the person puts their edit away
    refinery.drain()
    assert rig.store.get_merge_request(mr.id).status == "queued"  # still waiting its turn
    rig.clock.ahead += 30
    refinery.drain()
    assert rig.store.get_merge_request(mr.id).status == "merged"
    # the stack that passed was neither tested again nor counted as another attempt
    assert refinery.stats.gate_runs == runs
    assert rig.store.get_merge_request(mr.id).attempts == attempts
    assert (rig.repo / "README.md").read_text() == "# merged text\n"
    rig.check()


def test_target_not_checked_out_moves_by_compare_and_swap(rig: Rig) -> None:
    git(rig.repo, "checkout", "-q", "-b", "elsewhere")
    mr = rig.request({"x.txt": "x\n"})
    rig.refinery().drain()
    assert rig.store.get_merge_request(mr.id).status == "merged"
    assert git(rig.repo, "rev-parse", "--abbrev-ref", "HEAD") == "elsewhere"
    assert not (rig.repo / "x.txt").exists()  # the person's checkout is untouched
    assert git(rig.repo, "show", "main:x.txt") == "x"
    rig.check()


def test_merge_strategy_keeps_one_merge_commit_per_task(rig: Rig) -> None:
    requests = [rig.request({f"m{i}.txt": f"{i}\n"}) for i in range(3)]
    rig.refinery(strategy="merge").drain()
    parents = [
        git(rig.repo, "rev-list", "--parents", "-n1", sha).split()[1:]
        for sha in rig.first_parents()[:3]
    ]
    assert all(len(p) == 2 for p in parents)  # merge commits
    for mr in requests:
        assert rig.store.get_task(mr.task_id).merge_sha in rig.first_parents()
    rig.check()


def test_a_red_target_bounces_nobody(rig: Rig) -> None:
    mr = rig.request({"y.txt": "y\n"})
    refinery = rig.refinery(gate=("test -e NEVER-THERE || { echo 'main is red'; exit 1; }",))
    refinery.drain()
    assert rig.store.get_merge_request(mr.id).status == "queued"
    assert rig.store.get_task(mr.task_id).notes == ""
    assert rig.kinds()["merge.blocked"] == 1 and rig.kinds()["merge.bounced"] == 0


def test_a_person_rejecting_during_the_gate_keeps_it_out(rig: Rig) -> None:
    first = rig.request({"a.txt": "a\n"})
    second = rig.request({"b.txt": "b\n"})
    db = rig.state / "swarm.db"
    # the gate rejects the first request, as `swarm mq reject` from another terminal would
    rejector = (
        f"{sys.executable} -c \"from swarm.store import Store; s = Store.open(__import__('pathlib')"
        f".Path('{db}')); m = s.get_merge_request({first.id}); "
        f"m.status == 'testing' and s.fail_task(m.task_id, 'rejected')\""
    )
    refinery = rig.refinery(gate=(f"cd {Path.cwd()} && {rejector}",))
    refinery.drain()
    assert rig.statuses() == {first.task_id: "rejected", second.task_id: "merged"}
    assert not (rig.repo / "a.txt").exists() and (rig.repo / "b.txt").exists()
    rig.check(gate=())


def test_recovery_finishes_a_landing_killed_before_the_store_knew(rig: Rig) -> None:
    mr = rig.request({"z.txt": "z\n"})
    rig.store.set_merge_status(mr.id, "testing", "testing")
    old = git(rig.repo, "rev-parse", "main")
    # the candidate a killed refinery had built and fast-forwarded to
    new = rig.commit("tmp-candidate", {"z.txt": "z\n"}, "z", start="main")
    Journal(rig.state / "refinery" / "landing.json").write(
        Landing("main", old, new, ((mr.id, new),))
    )
    git(rig.repo, "merge", "--ff-only", "-q", new)
    refinery = rig.refinery()
    assert rig.store.get_merge_request(mr.id).status == "merged"
    assert rig.store.get_task(mr.task_id).merge_sha == new
    refinery.drain()
    assert rig.kinds()["merge.merged"] == 1 and rig.kinds()["merge.recovered"] == 1
    assert not (rig.state / "refinery" / "landing.json").exists()


def test_recovery_aborts_a_half_done_cherry_pick(rig: Rig) -> None:
    a = rig.request({"README.md": "a\n"})
    b = rig.request({"README.md": "b\n"})
    wt = rig.state / "worktrees" / "refinery"
    git(rig.repo, "worktree", "add", "-q", "--detach", str(wt), a.head_sha)
    subprocess.run(["git", "-C", str(wt), "cherry-pick", b.head_sha], capture_output=True)
    assert (Path(git(wt, "rev-parse", "--git-path", "CHERRY_PICK_HEAD"))).exists()
    rig.store.set_merge_status(a.id, "testing", "")
    refinery = rig.refinery()
    assert any("cherry-pick" in line for line in rig.lines if line.startswith("recovered"))
    assert git(wt, "status", "--porcelain") == ""
    refinery.drain()
    assert rig.statuses()[a.task_id] == "merged"
    rig.check()


def test_empty_gate_always_passes(rig: Rig) -> None:
    rig.request({"BAD-but-no-gate": "x\n"})
    refinery = rig.refinery(gate=())
    refinery.drain()
    assert set(rig.statuses().values()) == {"merged"}


def test_commits_without_a_git_identity(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.request({"c.txt": "c\n"})
    git(rig.repo, "config", "--unset", "user.email")
    git(rig.repo, "config", "--unset", "user.name")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no global identity either
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_AUTHOR_EMAIL", raising=False)
    monkeypatch.delenv("GIT_COMMITTER_EMAIL", raising=False)
    monkeypatch.setenv("EMAIL", "")
    rig.refinery(strategy="merge").drain()
    assert set(rig.statuses().values()) == {"merged"}
    assert git(rig.repo, "log", "-1", "--format=%ce", "main") == "refinery@swarm.local"


# -- the refinery as a process --------------------------------------------------------------


def write_instance(rig: Rig, gate: list[str], tmp_path: Path, mayors: int = 0) -> SwarmInstance:
    layout = tmp_path / "layout.yaml"
    panes = "[polecat, mayor]" if mayors else "[polecat]"
    layout.write_text(
        "description: refinery test\nruntime: sim\nroles:\n  polecat: {count: 1}\n"
        f"  mayor: {{count: {mayors}}}\n"
        f"windows:\n  - name: work\n    layout: tiled\n    panes: {panes}\n"
        f"gate: {json.dumps(gate)}\n"
        "merge: {strategy: rebase, batch_size: 4, batch_wait: 0}\n"
    )
    instance = SwarmInstance(
        repo=rig.repo,
        state_dir=rig.state,
        session="refinery-test",
        socket="refinery-test-none",
        layout_name="test",
        layout_path=layout,
        target_branch="main",
    )
    instance.save()
    write_plan(load_plan(str(layout), rig.repo))  # what `swarm up` leaves for the refinery
    return instance


def start_refinery(rig: Rig, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SWARM_HOME": str(rig.state), "SWARM_GATE_JOBS": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "swarm", "refinery"],
            cwd=rig.repo,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_kill_minus_nine_in_the_middle_of_a_gate(rig: Rig, tmp_path: Path) -> None:
    requests = [
        rig.request({f"k{i}.txt": f"{i}\n", **({"BAD": "x\n"} if i == 1 else {})}) for i in range(3)
    ]
    started, once = tmp_path / "gate-started", tmp_path / "slept-once"
    script = tmp_path / "gate.sh"
    script.write_text(
        f"touch {started}\nif [ ! -e {once} ]; then touch {once}; sleep 60; fi\n{GATE[0]}\n"
    )
    write_instance(rig, [f"sh {script}"], tmp_path)
    log = tmp_path / "refinery.log"
    first = start_refinery(rig, log)
    try:
        wait_for(started.exists, 20, "the first gate to start")
        assert set(rig.statuses().values()) == {"testing"}
        gate_procs = [
            p for p in psutil.Process(first.pid).children(recursive=True) if "sleep" in p.name()
        ]
        assert gate_procs, "the gate's sleep should be running"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
        assert gate_procs[0].is_running()  # orphaned: only the next refinery can clean it up
    finally:
        if first.poll() is None:
            first.kill()
    second = start_refinery(rig, log)
    try:
        wait_for(
            lambda: all(s in ("merged", "bounced") for s in rig.statuses().values()),
            30,
            "the second refinery to finish the queue",
        )
        wait_for(
            lambda: not gate_procs[0].is_running() or gate_procs[0].status() == "zombie",
            5,
            "the leftover gate to be ended",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    text = log.read_text()
    assert "recovered" in text and "back to queued" in text
    assert rig.statuses() == {
        requests[0].task_id: "merged",
        requests[1].task_id: "bounced",
        requests[2].task_id: "merged",
    }
    assert rig.kinds()["merge.recovered"] == 1
    # nothing half-done is left in the refinery's worktree
    assert git(rig.state / "worktrees" / "refinery", "status", "--porcelain") == ""
    rig.check()


def test_one_refinery_at_a_time(rig: Rig, tmp_path: Path) -> None:
    write_instance(rig, [], tmp_path)
    log = tmp_path / "refinery.log"
    first = start_refinery(rig, log)
    try:
        wait_for(lambda: "gate:" in log.read_text(), 20, "the first refinery to start")
        proc = subprocess.run(
            [sys.executable, "-m", "swarm", "refinery"],
            env={**os.environ, "SWARM_HOME": str(rig.state)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 1 and "another refinery is running" in proc.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 128 + signal.SIGTERM  # left through its clean-up path


# -- swarm mq -------------------------------------------------------------------------------


def run_cli(rig: Rig, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = swarm_main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_mq_lists_retries_and_rejects(
    rig: Rig, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_instance(rig, list(GATE), tmp_path)
    monkeypatch.setenv("SWARM_HOME", str(rig.state))
    bad = rig.request({"BAD": "x\n"}, agent="polecat-1")
    keep = rig.request({"keep.txt": "k\n"}, agent="polecat-2")
    code, out = run_cli(rig, capsys, "mq")
    assert code == 0
    assert "POS" in out and f"#{bad.id}" in out and bad.task_id in out and "queued" in out

    code, out = run_cli(rig, capsys, "mq", "reject", keep.task_id, "--reason", "not wanted")
    assert code == 0 and "rejected" in out
    assert rig.store.get_task(keep.task_id).status == "failed"
    code, out = run_cli(rig, capsys, "mq", "reject", f"#{keep.id}")
    assert code != 0 and "not in the queue" in out

    rig.refinery().drain()
    assert rig.store.get_merge_request(bad.id).status == "bounced"
    code, out = run_cli(rig, capsys, "mq", "--all")
    assert "bounced" in out and "gate failed" in out
    # the bounced task is back with its polecat: retry refuses, it will come back by itself
    code, out = run_cli(rig, capsys, "mq", "retry", str(bad.id))
    assert code != 0 and "hooked" in out

    # a rejected (failed) task's branch can go back in as it is
    code, out = run_cli(rig, capsys, "mq", "retry", keep.task_id)
    assert code == 0 and "queued" in out
    rig.refinery().drain()
    assert rig.store.get_task(keep.task_id).status == "merged"
    code, out = run_cli(rig, capsys, "mq", "retry", keep.task_id)
    assert code != 0 and "merged already" in out
    code, out = run_cli(rig, capsys, "mq", "--json")
    assert json.loads(out) == []
    rig.check()


def test_requeue_is_refused_for_work_in_progress(rig: Rig) -> None:
    task = rig.store.add_task("never finished")
    with pytest.raises(SwarmError, match="never reached the merge queue"):
        rig.store.requeue_task(task.id, "a" * 40, "b" * 40)
    rig.store.hook_task(task.id, "polecat-1")
    with pytest.raises(SwarmError, match="only open or failed"):
        rig.store.requeue_task(task.id, "a" * 40, "b" * 40)


# -- the gate runner ------------------------------------------------------------------------


def test_gate_keeps_the_tail_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    noisy = "for i in $(seq 1 100); do echo line $i; done; exit 3"
    result = run_gate((noisy, "touch never-ran"), tmp_path, marker="t-tail")
    assert not result.passed and result.exit_code == 3 and result.command == noisy
    lines = result.tail.splitlines()
    assert len(lines) == 40 and lines[-1] == "line 100"
    assert not (tmp_path / "never-ran").exists()
    assert "exited 3" in result.summary() and "line 100" in result.brief()


def test_gate_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    marker = f"t-timeout-{os.getpid()}"
    started = time.monotonic()
    result = run_gate(("sleep 30 & sleep 30; wait",), tmp_path, marker=marker, timeout=0.5)
    assert result.timed_out and not result.passed and time.monotonic() - started < 10
    assert "timed out" in result.summary()
    time.sleep(0.2)
    leftovers = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("SWARM_REFINERY_GATE") == marker:
                leftovers.append(proc)
        except psutil.Error:
            continue
    assert [p for p in leftovers if p.status() != psutil.STATUS_ZOMBIE] == []


def test_gate_does_not_see_the_swarm_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_HOME", "/somewhere")
    monkeypatch.setenv("GIT_DIR", "/elsewhere/.git")
    result = run_gate(('test -z "$SWARM_HOME" && test -z "$GIT_DIR"',), tmp_path, marker="t-env")
    assert result.passed
    assert run_gate((), tmp_path, marker="t-empty").passed  # an empty gate passes


def test_escalation_is_typed_into_a_live_mayor_only(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import swarm.actions
    from swarm.refinery.loop import mayor_nudger

    instance = write_instance(rig, [], tmp_path, mayors=1)
    typed: list[tuple[str, str]] = []
    monkeypatch.setattr(
        swarm.actions, "nudge", lambda inst, store, agent, text: typed.append((agent, text))
    )
    lines: list[str] = []
    escalate = mayor_nudger(instance, rig.store, lines.append)
    escalate("sw-aaaaa", "nobody to tell")
    assert typed == [] and "nobody receives escalations" in lines[-1]
    rig.store.upsert_agent("mayor", "mayor", "sim")
    rig.store.set_agent_state("mayor", "dead", "test")
    escalate("sw-aaaaa", "still nobody")
    assert typed == []
    rig.store.set_agent_state("mayor", "idle", "test")
    escalate("sw-aaaaa", "decide about sw-aaaaa")
    assert typed == [("mayor", "decide about sw-aaaaa")]
