"""OS confinement of a polecat: what bwrap is told, and the escape corpus run for real."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from escape_corpus import entries

from swarm import sandbox
from swarm.config import load_plan
from swarm.runtimes.launch import LaunchContext, launch_command
from swarm.store import Store

WHY_NOT = sandbox.available()
needs_bwrap = pytest.mark.skipif(WHY_NOT is not None, reason=f"no sandbox here: {WHY_NOT}")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_confine_binds_deeper_paths_after_shallower_ones() -> None:
    argv = sandbox.confine(
        ["make"], writable=["/r/.swarm/w/p1", "/r/.swarm"], readonly=["/r/.swarm/w", "/r"]
    )
    assert argv[0] == "bwrap" and argv[-2:] == ("--", "make")
    flags = list(argv)
    assert flags[flags.index("--cap-drop") + 1] == "ALL" and "--unshare-pid" in flags
    assert flags[flags.index("--ro-bind") : flags.index("--ro-bind") + 3] == ["--ro-bind", "/", "/"]
    order = [flags[i + 1] for i, f in enumerate(flags) if f in ("--bind", "--ro-bind")]
    assert order.index("/r") < order.index("/r/.swarm") < order.index("/r/.swarm/w")
    assert order.index("/r/.swarm/w") < order.index("/r/.swarm/w/p1")
    assert "/proc/sys" in order  # root could otherwise write core_pattern


def test_the_launch_keeps_the_persons_git_data_read_only(
    swarm_repo: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch script run with a stand-in bwrap that prints what it was told."""
    monkeypatch.setattr(sandbox, "available", lambda: None)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (fake / "bwrap").chmod(0o755)
    repo, state, worktree = swarm_repo["repo"], swarm_repo["state"], swarm_repo["worktree"]
    argv = sandbox.launch_argv(
        ["make"], worktree=worktree, repo=repo, state_dir=state, agent="polecat-1"
    )
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    words = subprocess.run(
        argv, cwd=worktree, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    order = [(f, p) for f, p in itertools.pairwise(words) if f in ("--bind", "--ro-bind")]
    modes = dict((p, f) for f, p in order)
    where = [p for _, p in order]
    assert modes[str(repo)] == "--ro-bind" and modes[str(state)] == "--bind"
    assert modes[str(worktree)] == "--bind" and modes[str(worktree / ".git")] == "--ro-bind"
    assert modes[str(state / "worktrees")] == modes[str(state / "swarm.json")] == "--ro-bind"
    assert str(state / "swarm.db") not in modes  # the store's files stay writable
    assert where.index(str(state / "worktrees")) < where.index(str(worktree))
    assert where.index(str(state / "claude")) < where.index(str(state / "claude/polecat-1"))
    assert where.index(str(repo)) < where.index(str(state)) < where.index(str(state / "bin"))
    git = repo / ".git"
    assert modes[str(git / "refs/heads/swarm")] == "--bind"
    assert modes[str(git / "swarm-objects/polecat-1")] == "--bind"
    assert modes[str(git / "worktrees/polecat-1")] == "--bind"
    assert modes[str(git / "worktrees/polecat-1/commondir")] == "--ro-bind"
    for person in ("objects", "config", "refs/heads", "hooks"):
        assert str(git / person) not in modes
    assert words[words.index("GIT_OBJECT_DIRECTORY") + 1] == str(git / "swarm-objects/polecat-1")
    assert words[-2:] == ["--", "make"]
    assert (git / "objects/info/alternates").read_text().splitlines().count(
        str(git / "swarm-objects/polecat-1")
    ) == 1


@needs_bwrap
def test_a_worktree_link_outside_the_repository_is_refused(
    swarm_repo: dict[str, Path], tmp_path: Path
) -> None:
    link = swarm_repo["worktree"] / ".git"
    link.write_text(f"gitdir: {tmp_path}/evil\n")
    (tmp_path / "evil").mkdir()
    done = confined(swarm_repo, "echo RAN", timeout=5)
    assert "cannot confine polecat-1" in done.stdout and "RAN" not in done.stdout


def test_polecats_are_launched_through_the_sandbox_unless_the_role_says_no(repo: Path) -> None:
    ctx = LaunchContext(repo=repo, state_dir=repo / ".swarm", socket="s", session="s")
    plan = load_plan("demo", repo)
    polecat = next(a for a in plan.agents if a.role.name == "polecat")
    mayor = next(a for a in plan.agents if a.role.name == "mayor")
    argv = launch_command(polecat, ctx)
    assert str(sandbox.LAUNCH_SCRIPT) in argv or "NOT confined" in " ".join(argv)
    assert str(sandbox.LAUNCH_SCRIPT) not in launch_command(mayor, ctx)
    layout = (Path(__file__).parent.parent / "layouts/demo.yaml").read_text()
    layout = layout.replace("polecat: {count: 3}", "polecat: {count: 3, guard: {sandbox: false}}")
    (repo / "off.yaml").write_text(layout)
    off = next(a for a in load_plan(str(repo / "off.yaml"), repo).agents if a.name == polecat.name)
    assert str(sandbox.LAUNCH_SCRIPT) not in launch_command(off, ctx)


# ----------------------------------------------------------------------- for real


@pytest.fixture
def swarm_repo(repo: Path) -> dict[str, Path]:
    """A repository with the swarm's state: two polecat worktrees, a store, a shim."""
    state = repo / ".swarm"
    state.mkdir()
    (repo / ".git/info/exclude").write_text(".swarm/\n")
    with Store.open(state / "swarm.db") as store:
        store.upsert_agent("polecat-1", "polecat", "sim", None, None)
    (state / "swarm.json").write_text("{}\n")
    (state / "bin").mkdir()
    (state / "bin/swarm").write_text("#!/bin/sh\n")
    (repo / ".git/hooks/pre-commit").write_text("#!/bin/sh\n")
    for name in ("polecat-1", "polecat-2"):
        git(repo, "worktree", "add", "-q", "--detach", str(state / "worktrees" / name), "main")
    # what the launcher makes before confining (the swarm's branch folders …) is made now
    if WHY_NOT is None:
        first = sandbox.launch_argv(
            ["true"],
            worktree=state / "worktrees/polecat-1",
            repo=repo,
            state_dir=state,
            agent="polecat-1",
        )
        subprocess.run(first, cwd=state / "worktrees/polecat-1", check=True)
    home = repo.parent / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine\n")
    return {
        "repo": repo,
        "state": state,
        "worktree": state / "worktrees/polecat-1",
        "other": state / "worktrees/polecat-2",
        "home": home,
    }


def confined(
    where: dict[str, Path], script: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    argv = sandbox.launch_argv(
        ["bash", "-c", script],
        worktree=where["worktree"],
        repo=where["repo"],
        state_dir=where["state"],
        agent="polecat-1",
    )
    try:
        return subprocess.run(
            argv,
            cwd=where["worktree"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "HOME": str(where["home"]), **env},
        )
    except subprocess.TimeoutExpired as exc:  # a refused launch waits forever, on purpose
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return subprocess.CompletedProcess(argv, -1, out, "")


WRITABLE = (
    ".swarm/worktrees/polecat-1/",
    ".swarm/claude/polecat-1/",
    ".swarm/sim/polecat-1/",
    ".swarm/swarm.db",
    ".git/swarm-objects/polecat-1/",
    ".git/refs/heads/swarm/",
    ".git/logs/refs/heads/swarm/",
    ".git/worktrees/polecat-1/",
)
READ_ONLY_INSIDE = (
    ".swarm/worktrees/polecat-1/.git",
    ".git/worktrees/polecat-1/commondir",
    ".git/worktrees/polecat-1/gitdir",
)


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file, folder and link under `folders` but the polecat's own writable places."""
    seen: dict[str, str] = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in [*dirs, *files]:
                path = Path(root) / name
                rel = str(path.relative_to(folder.parent))
                key = rel.split("/", 1)[1] if "/" in rel else rel
                if key.startswith(WRITABLE) and key not in READ_ONLY_INSIDE:
                    continue
                if path.is_symlink():
                    seen[rel] = "link " + os.readlink(path)
                elif path.is_file():
                    digest = hashlib.sha1(path.read_bytes()).hexdigest()
                    seen[rel] = f"{oct(path.stat().st_mode)} {digest}"
                else:
                    seen[rel] = f"dir {oct(path.stat().st_mode)}"
    return seen


@needs_bwrap
def test_a_confined_polecat_works_in_its_worktree(swarm_repo: dict[str, Path]) -> None:
    """The work a polecat does: commit on its task branch, the store, scratch files."""
    db = swarm_repo["state"] / "swarm.db"
    script = (
        "set -e\n"
        "git checkout -q -b swarm/sw-1 && echo work > work.txt && git add work.txt\n"
        "git commit -q -m 'the work' && echo COMMITTED\n"
        "echo scratch > /tmp/scratch && cat /tmp/scratch\n"
        f'{sys.executable} -c "from pathlib import Path; from swarm.store import Store\n'
        f"with Store.open(Path('{db}')) as s:\n"
        "    s.add_event('note', 'from inside', agent='polecat-1')\"\n"
        "git checkout -q --detach main && echo PARKED\n"
    )
    done = confined(swarm_repo, script)
    assert done.returncode == 0, done.stderr
    assert "COMMITTED" in done.stdout and "scratch" in done.stdout and "PARKED" in done.stdout
    # the `swarm` shim Claude Code's start writes is there before: read-only inside
    assert "-m swarm" in (swarm_repo["state"] / "bin/swarm").read_text()
    assert git(swarm_repo["repo"], "log", "--format=%s", "main..swarm/sw-1") == "the work"
    with Store.open(db) as store:
        assert any(e.message == "from inside" for e in store.events())


DONE_IN_A_TEAM = """
import sys
from pathlib import Path
from swarm.instance import SwarmInstance
from swarm.store import Store
from swarm.work import finish_work
repo, state = Path(sys.argv[1]), Path(sys.argv[2])
team = SwarmInstance(repo, state, "t", "t", "team", repo / "team.yaml", remote="origin")
with Store.open(state / "swarm.db") as store:
    print("DONE:", type(finish_work(team, store, "polecat-1")).__name__)
"""


@needs_bwrap
def test_a_team_polecat_finishes_confined_and_its_machine_pushes(
    swarm_repo: dict[str, Path], tmp_path: Path
) -> None:
    """A team's `swarm done` inside the sandbox records the push (git could not: `.git` is
    read-only there); the controller, outside, pushes the polecat's commit (its objects read
    through the alternates) and only then queues the task."""
    import anyio

    from swarm.team.pushes import Pusher

    repo, state = swarm_repo["repo"], swarm_repo["state"]
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "fetch", "-q", "origin")
    with Store.open(state / "swarm.db") as store:
        store.add_task("confined work")
        claimed = store.claim_next_task("polecat-1")
    assert claimed is not None and claimed.branch
    script = (
        "set -e\n"
        f"git checkout -q -b {claimed.branch} && echo work > work.txt && git add work.txt\n"
        "git commit -q -m 'the work'\n"
        f'{sys.executable} -c "$DONE_IN_A_TEAM" "{repo}" "{state}"\n'
    )
    done = confined(swarm_repo, script, DONE_IN_A_TEAM=DONE_IN_A_TEAM)
    assert done.returncode == 0, done.stderr
    assert "DONE: PushRequest" in done.stdout
    head = git(repo, "rev-parse", claimed.branch)
    with Store.open(state / "swarm.db") as store:
        assert store.list_merge_requests() == []  # not pushed yet: not queued

        async def controller_pass() -> None:
            async with anyio.create_task_group() as group:
                Pusher(repo, "origin", "", lambda _: None).start(store, group)

        anyio.run(controller_pass)
        assert git(remote, "rev-parse", claimed.branch) == head
        [request] = store.list_merge_requests()
        assert (request.task_id, request.head_sha) == (claimed.id, head)


@needs_bwrap
@pytest.mark.slow
def test_no_escape_from_the_corpus_changes_anything_outside(
    swarm_repo: dict[str, Path], tmux_socket: str, tmp_path: Path
) -> None:
    """Every corpus command, run for real inside the sandbox: the person's repository, its
    git data, the other worktree, the swarm's files and the home folder stay as they were."""
    subprocess.run(["tmux", "-L", tmux_socket, "new-session", "-d", "sleep 600"], check=True)
    corpus = entries(
        repo=str(swarm_repo["repo"]),
        home=str(swarm_repo["home"]),
        other_worktree=str(swarm_repo["other"]),
        shim=str(swarm_repo["state"] / "bin/swarm"),
        socket=tmux_socket,
    )
    assert len(corpus) >= 150
    cases = swarm_repo["state"] / "cases"  # read-only inside: no case can delete the next
    cases.mkdir()
    for entry in corpus:
        (cases / entry.name).write_text(entry.command + "\n")
    protected = (swarm_repo["repo"], swarm_repo["home"])
    before = snapshot(*protected)
    runner = (
        f'for f in {cases}/*; do [ -f "$f" ] || echo MISSING;'
        ' (timeout 10 bash "$f") </dev/null >/dev/null 2>&1; echo "${f##*/} $?"; done'
    )
    done = confined(swarm_repo, runner)
    assert done.returncode == 0, done.stderr
    assert "MISSING" not in done.stdout
    ran = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert set(ran) == {e.name for e in corpus}
    after = snapshot(*protected)
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()}
    changed = {k: v for k, v in changed.items() if v[0] != v[1]}
    assert changed == {}, changed
    assert git(swarm_repo["repo"], "branch", "--list", "main") == "* main"
    # the polecat may wreck its own worktree (`find … -delete`); the person's data is whole
    shutil.rmtree(swarm_repo["repo"] / ".git/worktrees/polecat-1")
    assert git(swarm_repo["repo"], "fsck", "--no-dangling") == ""


@needs_bwrap
def test_a_polecat_still_commits_after_the_last_task_branch_was_deleted(
    swarm_repo: dict[str, Path],
) -> None:
    """The refinery deletes a merged task branch; when it was the last one, git removes the
    emptied `refs/heads/swarm` folder, and a confined polecat's writable bind of it would be
    gone with it (its next commit: "Read-only file system"). The folder is never emptied."""
    repo, worktree = swarm_repo["repo"], swarm_repo["worktree"]
    script = (
        "set -e\n"
        "git checkout -q -b swarm/sw-1 && echo a > a.txt && git add a.txt\n"
        "git commit -q -m first && git checkout -q --detach && echo ready > ready.flag\n"
        "while [ ! -f go.flag ]; do sleep 0.05; done\n"
        "git checkout -q -b swarm/sw-3 && echo b > b.txt && git add b.txt\n"
        "git commit -q -m second && echo COMMITTED\n"
    )
    argv = sandbox.launch_argv(
        ["bash", "-c", script], worktree=worktree, repo=repo, state_dir=swarm_repo["state"],
        agent="polecat-1",
    )  # fmt: skip
    env = {**os.environ, "HOME": str(swarm_repo["home"])}
    with subprocess.Popen(
        argv, cwd=worktree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        deadline = time.monotonic() + 60
        while not (worktree / "ready.flag").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
        git(repo, "branch", "-D", "swarm/sw-1")  # merged and deleted: no swarm branch left
        (worktree / "go.flag").write_text("")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "COMMITTED" in out, err
    assert git(repo, "log", "--format=%s", "-1", "swarm/sw-3") == "second"
    assert git(repo, "for-each-ref", "refs/heads/swarm").count("refs/heads/swarm/") == 1


@needs_bwrap
def test_a_confined_commit_lands_with_its_objects(swarm_repo: dict[str, Path]) -> None:
    """A polecat's objects live in its own store until the refinery lands them."""
    repo = swarm_repo["repo"]
    done = confined(
        swarm_repo,
        "git checkout -q -b swarm/sw-2 && echo new > new.txt && git add new.txt"
        " && git commit -q -m new",
    )
    assert done.returncode == 0, done.stderr
    old, new = git(repo, "rev-parse", "main"), git(repo, "rev-parse", "swarm/sw-2")
    assert git(repo, "cat-file", "-t", new) == "commit"  # seen through the alternates
    own = ["git", "-C", str(repo), "cat-file", "-e", new]
    alone = {**os.environ, "GIT_OBJECT_DIRECTORY": str(repo / ".git/objects")}
    alternates = repo / ".git/objects/info/alternates"
    listed = alternates.read_text()
    alternates.write_text("")
    assert subprocess.run(own, env=alone, capture_output=True).returncode != 0
    alternates.write_text(listed)
    sandbox.keep_objects(repo, old, new)
    alternates.write_text("")
    assert subprocess.run(own, env=alone, capture_output=True).returncode == 0
    assert git(repo, "show", f"{new}:new.txt") == "new"
    sandbox.keep_objects(repo, new, new)  # nothing to copy: nothing written


@needs_bwrap
def test_root_cannot_undo_the_confinement(swarm_repo: dict[str, Path]) -> None:
    """Capabilities dropped, /proc/sys read-only: nothing to remount, no kernel knob."""
    script = (
        "grep CapEff /proc/self/status\n"
        "cat /proc/sys/kernel/core_pattern > /proc/sys/kernel/core_pattern && echo KNOB\n"
        f"mount -o remount,rw {swarm_repo['repo']} && echo REMOUNTED\n"
        "ls /proc | grep -c '^[0-9]'\n"
    )
    done = confined(swarm_repo, script)
    assert "CapEff:\t0000000000000000" in done.stdout
    assert "KNOB" not in done.stdout and "REMOUNTED" not in done.stdout
    assert int(done.stdout.split()[-1]) < 10  # its own PID namespace: few processes seen


@needs_bwrap
def test_claude_code_starts_inside(swarm_repo: dict[str, Path]) -> None:
    from swarm.runtimes.claude import config_dir, find_binary

    binary = find_binary()
    if binary is None:
        pytest.skip("Claude Code is not installed")
    folder = config_dir(swarm_repo["state"], "polecat-1")
    done = confined(swarm_repo, f"'{binary}' --version", CLAUDE_CONFIG_DIR=str(folder))
    assert done.returncode == 0 and "Claude Code" in done.stdout, done.stderr


def test_without_bwrap_the_agent_runs_unconfined_and_says_so(
    swarm_repo: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "available", lambda: "bwrap not found: install bubblewrap")
    where = swarm_repo
    argv = sandbox.launch_argv(
        ["/bin/sh", "-c", "echo RAN"],
        worktree=where["worktree"],
        repo=where["repo"],
        state_dir=where["state"],
        agent="polecat-1",
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    why = "bwrap not found: install bubblewrap"
    assert done.stdout == f"swarm: polecat-1 is NOT confined: {why}\nRAN\n", done.stderr
    with Store.open(where["state"] / "swarm.db") as store:
        told = [e.message for e in store.events() if e.kind == "agent.unconfined"]
    assert told == [f"polecat-1 is NOT confined: {why}"]


def test_doctor_says_when_agents_are_not_confined(monkeypatch: pytest.MonkeyPatch) -> None:
    from swarm import doctor

    monkeypatch.setattr(sandbox, "available", lambda: "bwrap not found: install bubblewrap")
    check = doctor.check_sandbox()
    assert not check.ok and not check.required and check.label == "warning"
    assert check.detail == "agents are NOT confined: bwrap not found: install bubblewrap"
    monkeypatch.setattr(sandbox, "available", lambda: None)
    assert doctor.check_sandbox().ok


def test_the_launch_script_execs_bwrap_with_the_same_options() -> None:
    last = sandbox.LAUNCH_SCRIPT.read_text().rstrip("\n").splitlines()[-1]
    assert last == "exec " + " ".join(sandbox.options()) + ' "$@"'
