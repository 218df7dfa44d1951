"""The guard: which tool calls an agent may make, and `swarm guard`'s hook contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarm.guard import GuardPolicy, check_command, check_tool, default_policy, split_commands
from swarm.instance import SwarmInstance
from swarm.store import Store

REPO = "/work/repo"
WORKTREE = f"{REPO}/.swarm/worktrees/polecat-1"
ENV = {"HOME": "/home/me"}
POLICY = GuardPolicy(
    root=WORKTREE, deny=("git push*", "sudo *", "git worktree *"), protected=(REPO,)
)


def allowed(command: str, policy: GuardPolicy = POLICY, cwd: str = WORKTREE) -> bool:
    return check_command(command, policy, cwd, ENV).allowed


@pytest.mark.parametrize(
    "command",
    [
        "echo hi > notes.txt",
        "mkdir -p src/pkg && touch src/pkg/__init__.py",
        "cd src && echo x >> log.txt && cd ..",
        "git add -A && git commit -m 'a; cd / && rm -rf /' && swarm done",
        "python -m pytest -q 2>&1 | tail -5",
        "ls > /dev/null 2>&1",
        "cat /etc/hosts",
        "cp /etc/hosts hosts.copy",
        "cat > /tmp/body.md <<'EOF'\nrm -rf /\necho x > /etc/passwd\nEOF\nswarm task add T",
        "cd /tmp && touch scratch",
        "git status && git diff HEAD~1",
        f"git -C {WORKTREE}/sub log",
        "git log --oneline",
        "echo $HOME",
        "FOO=1 make test",
    ],
)
def test_work_inside_the_worktree_is_allowed(command: str) -> None:
    assert allowed(command), check_command(command, POLICY, WORKTREE, ENV).reason


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (f"echo hi > {REPO}/README.md", f"writes to {REPO}/README.md"),
        (f"cd {REPO} && git status", f"`cd {REPO}` goes to {REPO}"),
        ("cd ../.. && ls", "`cd ../..`"),
        ("cd", "`cd /home/me`"),
        ("cd ~/src", "goes to /home/me/src"),
        (f"git -C {REPO} checkout main", f"`git -C {REPO}`"),
        ("git --work-tree=/elsewhere status", "--work-tree"),
        ("rm -rf ~/.cache", "`rm` changes /home/me/.cache"),
        ("echo alias >> ~/.bashrc", "/home/me/.bashrc"),
        ("mv notes.txt ../polecat-2/", "`mv` changes"),
        (f"cp notes.txt {REPO}/notes.txt", "`cp` changes"),
        ("touch $HOME/x", "/home/me/x"),
        ("sed -i 's/a/b/' /etc/hosts", "`sed` changes /etc/hosts"),
        ("dd if=/dev/zero of=/var/lib/x bs=1 count=1", "`dd` changes /var/lib/x"),
        ("ls && tee /etc/motd < notes.txt", "`tee` changes /etc/motd"),
        (f"echo x > {REPO}/.swarm/worktrees/polecat-2/f", "polecat-2"),
        ("cd sub; cd ../../..; touch x", "`cd ../../..`"),
        ("echo x &> /opt/log", "/opt/log"),
    ],
)
def test_leaving_the_worktree_is_refused(command: str, says: str) -> None:
    ruling = check_command(command, POLICY, WORKTREE, ENV)
    assert not ruling.allowed
    assert says in ruling.reason and "outside your folder" in ruling.reason


@pytest.mark.parametrize(
    "command",
    [
        "git push -f origin x",
        "git push --force",
        "git push --force-with-lease=main",
        "git push origin +main",
        "git -C . push -fu origin x",
    ],
)
def test_force_pushes_are_refused_whatever_the_role(command: str) -> None:
    ruling = check_command(command, GuardPolicy(root=WORKTREE), WORKTREE, ENV)
    assert not ruling.allowed and "force pushes" in ruling.reason


def test_a_repo_under_tmp_is_still_protected() -> None:
    """Temp folders are open, but not the person's checkout when it lives in one."""
    policy = GuardPolicy(root="/tmp/r/.swarm/worktrees/p", protected=("/tmp/r",))
    assert check_command("echo x > /tmp/scratch.txt", policy, policy.root, ENV).allowed
    assert not check_command("echo x > /tmp/r/escaped.txt", policy, policy.root, ENV).allowed
    assert not check_command("cd /tmp/r", policy, policy.root, ENV).allowed


@pytest.mark.parametrize(
    ("command", "rule"),
    [
        ("git push origin x", "git push*"),
        ("ls; sudo apt-get install -y jq", "sudo *"),
        ("FOO=1 sudo -E make install", "sudo *"),
        ("git worktree add ../x", "git worktree *"),
    ],
)
def test_role_patterns_are_refused(command: str, rule: str) -> None:
    ruling = check_command(command, POLICY, WORKTREE, ENV)
    assert not ruling.allowed and f"(rule `{rule}`)" in ruling.reason


def test_the_mayor_may_work_anywhere_in_the_repo() -> None:
    mayor = GuardPolicy(root=REPO, protected=(REPO,))
    assert check_command(
        f"cat {REPO}/README.md > /tmp/x && ls {REPO}/src", mayor, REPO, ENV
    ).allowed
    assert not check_command("echo x > /etc/x", mayor, REPO, ENV).allowed


def test_split_commands() -> None:
    assert split_commands("a 'b; c' && d | e\nf; g") == [["a", "b; c"], ["d"], ["e"], ["f"], ["g"]]
    assert split_commands("cat <<EOF > f\nbody; rm -rf /\nEOF\nls") == [
        ["cat", "<<", "EOF", ">", "f"],
        ["ls"],
    ]
    assert split_commands("echo 'unbalanced") == [["echo", "'unbalanced"]]


def test_file_tools() -> None:
    inside = {
        "tool_name": "Write",
        "tool_input": {"file_path": "src/a.py", "content": ""},
        "cwd": WORKTREE,
    }
    assert check_tool(inside, POLICY, ENV).allowed
    outside = {
        "tool_name": "Edit",
        "tool_input": {"file_path": f"{REPO}/setup.py"},
        "cwd": WORKTREE,
    }
    ruling = check_tool(outside, POLICY, ENV)
    assert not ruling.allowed and f"Edit of {REPO}/setup.py" in ruling.reason
    notebook = {
        "tool_name": "NotebookEdit",
        "tool_input": {"notebook_path": "/etc/x.ipynb"},
        "cwd": WORKTREE,
    }
    assert not check_tool(notebook, POLICY, ENV).allowed
    assert check_tool(
        {"tool_name": "Read", "tool_input": {"file_path": "/etc/hosts"}}, POLICY, ENV
    ).allowed
    assert check_tool({"tool_name": "Bash", "tool_input": "nonsense"}, POLICY, ENV).allowed


def test_default_policy_from_the_agent_environment() -> None:
    env = {
        "SWARM_HOME": f"{REPO}/.swarm",
        "SWARM_AGENT": "polecat-3",
        "SWARM_ROLE": "polecat",
        "SWARM_REPO": REPO,
    }
    assert default_policy(env, "/x") == GuardPolicy(
        root=f"{REPO}/.swarm/worktrees/polecat-3", protected=(REPO,)
    )
    assert default_policy({**env, "SWARM_ROLE": "mayor"}, "/x").root == REPO
    assert default_policy({}, "/x").root == "/x"


# ------------------------------------------------------------ `swarm guard`, the hook


def guard(
    payload: object, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    base = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    return subprocess.run(
        [sys.executable, "-m", "swarm", "guard", *args],
        input=text,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=30,
    )


def test_hook_contract_exit_2_and_the_reason_on_stderr(tmp_path: Path) -> None:
    policy = tmp_path / "guard.json"
    policy.write_text(json.dumps({"root": WORKTREE, "deny": ["git push*"], "protected": [REPO]}))
    call = {"tool_name": "Bash", "tool_input": {"command": f"echo x > {REPO}/f"}, "cwd": WORKTREE}
    refused = guard(call, "--policy", str(policy))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("swarm guard: refused:") and f"{REPO}/f" in refused.stderr
    ok = guard({**call, "tool_input": {"command": "echo x > f"}}, "--policy", str(policy))
    assert ok.returncode == 0 and ok.stderr == ""
    pushed = guard({**call, "tool_input": {"command": "git push"}}, "--policy", str(policy))
    assert pushed.returncode == 2 and "rule `git push*`" in pushed.stderr


def test_flags_without_a_policy_file() -> None:
    call = {"tool_name": "Bash", "tool_input": {"command": "make deploy"}, "cwd": "/srv/app"}
    assert guard(call, "--root", "/srv/app").returncode == 0
    refused = guard(call, "--root", "/srv/app", "--deny", "make deploy*")
    assert refused.returncode == 2 and "make deploy" in refused.stderr


def test_the_guard_fails_closed(tmp_path: Path) -> None:
    """A guard that silently let everything through would be worse than none."""
    assert guard("not json").returncode == 2
    broken = guard(
        {"tool_name": "Bash", "tool_input": {"command": "ls"}},
        "--policy",
        str(tmp_path / "missing.json"),
    )
    assert broken.returncode == 2 and "cannot read the policy" in broken.stderr


def test_refusals_are_events_and_allowed_calls_mean_working(repo: Path) -> None:
    state = repo / ".swarm"
    instance = SwarmInstance(
        repo=repo,
        state_dir=state,
        session="s",
        socket="s",
        layout_name="l",
        layout_path=repo / "l.yaml",
    )
    instance.save()
    with Store.open(instance.db_path) as store:
        store.upsert_agent("polecat-1", "polecat", "claude", None, None)
        store.set_agent_state("polecat-1", "idle", "test")
    worktree = str(state / "worktrees" / "polecat-1")
    env = {
        "SWARM_HOME": str(state),
        "SWARM_AGENT": "polecat-1",
        "SWARM_ROLE": "polecat",
        "SWARM_REPO": str(repo),
    }
    call = {"tool_name": "Bash", "tool_input": {"command": "git status"}, "cwd": worktree}
    assert guard(call, env=env).returncode == 0
    with Store.open(instance.db_path) as store:
        assert store.get_agent("polecat-1").state == "working"
    refused = guard({**call, "tool_input": {"command": f"rm {repo}/README.md"}}, env=env)
    assert refused.returncode == 2
    with Store.open(instance.db_path) as store:
        events = [e for e in store.events() if e.kind == "agent.guarded"]
    assert len(events) == 1 and events[0].agent == "polecat-1" and "README.md" in events[0].message
