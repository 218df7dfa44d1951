"""What a new user meets (issue 12), item by item, on real git, tmux and SQLite."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm.agent_views import diff_summary, open_shell
from swarm.cli.main import NO_REPO, build_parser
from swarm.cli.mq import try_numbers
from swarm.cli.plumbing import PLUMBING
from swarm.config.reference import DESCRIPTIONS, layout_keys, reference_markdown, role_keys
from swarm.demo import fresh_folder
from swarm.git.repo import git
from swarm.inbox import from_the_swarm, inbox, mark_done
from swarm.instance import SwarmInstance
from swarm.preflight import missing_runtimes
from swarm.refinery import merge_reason
from swarm.refinery.bounce import bounce
from swarm.refinery.gate import GateResult, failure_reason
from swarm.running import running_swarms
from swarm.starter import guess_gate, write_starter
from swarm.store import MergeRequest, Store
from swarm.text import shorten
from swarm.tmux.nesting import keys_hint, nested_hint
from swarm.witness.recovery import escalation_text, nudge_text

ROOT = Path(__file__).resolve().parent.parent


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=120,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def server_alive(socket: str) -> bool:
    return (
        subprocess.run(["tmux", "-L", socket, "list-sessions"], capture_output=True).returncode == 0
    )


NO_CLAUDE = {"SWARM_CLAUDE_BIN": "/nonexistent/claude"}


# -- 1. a missing runtime is caught before anything changes --------------------------------


def test_missing_runtime_is_one_line_exit_2_and_nothing_left(repo: Path, tmux_socket: str) -> None:
    proc = run("up", "team", "--detach", cwd=repo, env=NO_CLAUDE)
    assert proc.returncode == 2
    line = one_line(proc)
    assert "mayor, polecat-1 and 3 more need `claude` (SWARM_CLAUDE_BIN=" in line
    assert "npm install -g @anthropic-ai/claude-code" in line
    assert "swarm up --runtime sim" in line
    assert not (repo / ".swarm").exists()
    assert not server_alive(tmux_socket)


def test_runtime_sim_override_brings_the_same_layout_up(repo: Path, tmux_socket: str) -> None:
    proc = run("up", "team", "--detach", "--runtime", "sim", cwd=repo, env=NO_CLAUDE)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(run("status", "--json", cwd=repo).stdout)
    runtimes = {row["name"]: row["runtime"] for row in status}
    assert runtimes["mayor"] == "sim" and runtimes["polecat-4"] == "sim"
    assert runtimes["witness"] == "builtin" and runtimes["refinery"] == "builtin"
    bad = run("up", "team", "--runtime", "simm", cwd=repo)
    assert bad.returncode == 2 and "did you mean 'sim'" in one_line(bad)


def test_a_too_old_runtime_is_refused(tmp_path: Path) -> None:
    from swarm.config import load_plan

    package = tmp_path / "claude-code"
    package.mkdir()
    (package / "package.json").write_text(
        json.dumps({"name": "@anthropic-ai/claude-code", "version": "1.0.3"})
    )
    binary = package / "cli.js"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    repo = tmp_path / "r"
    (repo / ".git").mkdir(parents=True)
    plan = load_plan("solo", repo)
    problems = missing_runtimes(plan, {"SWARM_CLAUDE_BIN": str(binary), "PATH": ""})
    assert len(problems) == 1 and "1.0.3 at" in problems[0]
    assert "is older than 2.1.197, the oldest supported; update it" in problems[0]


# -- 3. a repository without a commit --------------------------------------------------------


def test_a_repo_without_commits_gets_one_line(tmp_path: Path, tmux_socket: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    proc = run("up", "demo", "--detach", cwd=empty)
    assert proc.returncode == 2
    assert "no commit yet; make a first commit" in one_line(proc)
    assert not (empty / ".swarm").exists() and not server_alive(tmux_socket)


# -- 4. nested tmux ------------------------------------------------------------------------


@pytest.fixture
def outer_tmux(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A tmux server of the test's own, as the person's outer tmux; TMUX as inside it."""
    name = f"outer-{uuid.uuid4().hex[:8]}"
    subprocess.run(["tmux", "-L", name, "-f", "/dev/null", "new-session", "-d"], check=True)
    path = subprocess.run(
        ["tmux", "-L", name, "display-message", "-p", "#{socket_path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    yield name, {"TMUX": f"{path},1,0"}
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


def test_nested_tmux_names_the_keys_that_work(
    repo: Path, tmux_socket: str, outer_tmux: tuple[str, dict[str, str]]
) -> None:
    outer, env = outer_tmux
    proc = run("up", "demo", "--detach", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "inside tmux (nested): C-b goes to your outer tmux" in proc.stdout
    assert "C-b C-b g" in proc.stdout and "C-b C-b d to detach" in proc.stdout
    # a different outer prefix: the swarm's own prefix works as documented
    subprocess.run(["tmux", "-L", outer, "set-option", "-g", "prefix", "C-a"], check=True)
    hint = nested_hint(env, tmux_socket)
    assert hint is not None and "the swarm's prefix is C-b (C-a is your outer tmux)" in hint
    assert nested_hint({}, tmux_socket) is None
    assert "C-b C-b g" in keys_hint("C-b", None, "g")


# -- 5. bounce reasons, log lines, bounce counts, TRIES ----------------------------------------

PYTEST_TAIL = """\
tests/test_more.py ..F.
=========================== short test summary info ============================
FAILED tests/test_more.py::ChunkedTests::test_even - AssertionError: 3 != 4
1 failed, 764 passed in 3.21s
"""


def test_failure_reason_names_the_failing_tests() -> None:
    assert failure_reason(PYTEST_TAIL) == "tests/test_more.py::ChunkedTests::test_even"
    unittest_tail = "FAIL: test_even (test_more.ChunkedTests.test_even)\n----\nFAILED (failures=1)"
    assert failure_reason(unittest_tail) == "test_even (test_more.ChunkedTests.test_even)"
    cargo = "test parse::empty ... FAILED\ntest parse::full ... ok\ntest result: FAILED"
    assert failure_reason(cargo) == "parse::empty"
    many = "\n".join(f"FAILED t.py::test_{n}" for n in range(5))
    assert failure_reason(many) == "t.py::test_0, t.py::test_1 and 3 more"
    assert failure_reason("make: *** [test] Error 2") == "make: *** [test] Error 2"
    assert shorten("a" * 50, 10) == "aaaaaaaaa…" and shorten("short", 10) == "short"


def _finished(store: Store, repo: Path, agent: str = "polecat-1") -> MergeRequest:
    task = store.add_task("Chunk evenly")
    store.upsert_agent(agent, "polecat", "sim", None, None)
    store.hook_task(task.id, agent)
    head = git(repo, "rev-parse", "main")
    return store.finish_task(agent, head, head)


def test_bounce_reason_shown_and_counted_right(repo: Path) -> None:
    with Store.open(repo / "s.db") as store:
        mr = _finished(store, repo)
        cause = GateResult(False, "pytest -q", 1, 3.2, tail=PYTEST_TAIL)
        for _ in range(4):  # max_bounces 3: three sent back, the fourth gives up
            bounced = bounce(store, mr, target="main", tip="a" * 40, max_bounces=3, cause=cause)
            if bounced.sent.destination == "failed":
                break
            head = git(repo, "rev-parse", "main")
            if store.get_task(mr.task_id).status == "open":
                store.hook_task(mr.task_id, "polecat-1")
            mr = store.finish_task("polecat-1", head, head)
        first = store.list_merge_requests()[0]
        reason = merge_reason(first.status, first.result)
        assert reason == "gate failed: tests/test_more.py::ChunkedTests::test_even (bounce 1)"
        task = store.get_task(first.task_id)
        assert task.status == "failed"
        assert "failed to merge again after 3 bounces (merge.max_bounces is 3)" in task.notes
        assert bounced.escalation is not None and "after 3 bounces" in bounced.escalation
        # `swarm mq --all`'s TRIES: which try of its task each request is
        tries = try_numbers(store.list_merge_requests())
    assert [tries[n] for n in sorted(tries)] == [1, 2, 3, 4]


def test_a_status_set_twice_is_not_testing_to_testing(repo: Path) -> None:
    with Store.open(repo / "s.db") as store:
        mr = _finished(store, repo)
        store.set_merge_status(mr.id, "testing", "in a batch of 2")
        store.set_merge_status(mr.id, "testing", "in a batch of 1")
        messages = [e.message for e in store.events() if e.kind == "merge.status"]
    assert messages[-1].startswith(f"merge request #{mr.id}: still testing")
    assert not any("testing -> testing" in m for m in messages)


# -- 6. swarm demo run again ---------------------------------------------------------------


def test_demo_again_in_a_finished_folder_starts_fresh(tmp_path: Path) -> None:
    done = tmp_path / "swarm-demo"
    done.mkdir()
    git(done, "init", "-q")
    with Store.open(done / ".swarm" / "swarm.db") as store:
        task = store.add_task("finished")
        store.cancel_task(task.id)
    assert fresh_folder(done) == tmp_path / "swarm-demo-2"
    assert fresh_folder(tmp_path / "elsewhere") == tmp_path / "elsewhere"


# -- 7. small CLI breaks ---------------------------------------------------------------------


def test_small_cli_breaks(repo: Path, tmux_socket: str) -> None:
    assert run("up", "demo", "--detach", cwd=repo).returncode == 0
    empty = run("nudge", "polecat-1", "", cwd=repo)
    assert empty.returncode == 2 and "nothing to type" in one_line(empty)
    assert "buffer" not in empty.stderr
    nobody = run("log", "--agent", "nobody", cwd=repo)
    assert nobody.returncode == 2 and "unknown agent 'nobody'" in one_line(nobody)
    assert run("log", "--agent", "mayor", cwd=repo).returncode == 0
    teams = run("up", "teams", cwd=repo)
    assert teams.returncode == 2 and "did you mean 'team'?" in one_line(teams)

    # item 9: the status line holds the whole session name; the key help stays on screen
    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", tmux_socket, *args], capture_output=True, text=True
        ).stdout

    assert tmux("show-options", "-gv", "status-left-length").strip() == "40"
    assert "display-message -d 0" in tmux("list-keys", "-T", "swarm")
    valid = run("validate", "team", cwd=repo)
    assert valid.returncode == 0 and "team: ok" in valid.stdout
    elsewhere = run("status", "--repo", str(repo), cwd=repo.parent)
    assert elsewhere.returncode == 0 and "mayor" in elsewhere.stdout


def _leaves(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _leaves(child, f"{path} {name}".strip())


def test_every_argument_has_help_and_plumbing_is_apart() -> None:
    parser = build_parser()
    listed = parser.format_help()
    for name in PLUMBING:
        assert f"\n    {name} " not in listed  # not among the person's commands
    assert "plumbing (run by the swarm" in listed
    for path, sub in _leaves(parser):
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction) or action.dest == "help":
                continue
            assert action.help, f"swarm {path}: {action.option_strings or action.dest} has no help"
        top = path.split(" ")[0] if path else ""
        if (
            top
            and top not in NO_REPO
            and not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
        ):
            assert any("--repo" in a.option_strings for a in sub._actions), f"swarm {path}"


# -- 2. escalations are not tasks -----------------------------------------------------------


def test_escalations_wait_in_the_inbox_until_dealt_with(repo: Path) -> None:
    with Store.open(repo / "s.db") as store:
        task = store.add_task("too hard")
        store.fail_task(task.id, "gave up")
        store.add_event("escalation", f"refinery: task {task.id} failed", task=task.id)
        store.add_event("escalation", "polecat-2 died 3 times in 10m", agent="polecat-2")
        items = inbox(store)
        assert [i.kind for i in items] == ["escalation", "escalation"]
        store.retry_task(task.id)  # settled: the task is open again
        (left,) = inbox(store)
        assert left.agent == "polecat-2"
        mark_done(store, left.key)
        assert inbox(store) == []
        assert not [t for t in store.list_tasks() if "died" in t.title]


def test_the_swarms_own_messages_are_not_a_persons_words() -> None:
    assert from_the_swarm("refinery: task sw-1 failed to merge after 3 bounces (last: …)")
    assert from_the_swarm(escalation_text("polecat-2 died 3 times"))
    assert from_the_swarm(nudge_text("mayor", None))
    assert not from_the_swarm("Write the release notes")


# -- 8. the reference of layouts and roles ---------------------------------------------------


def test_the_reference_doc_is_generated_and_current() -> None:
    committed = (ROOT / "docs" / "layouts.md").read_text()
    assert committed == reference_markdown(), (
        "run: swarm layouts --reference --write docs/layouts.md"
    )
    keys = layout_keys() + role_keys()
    assert all(k.text for k in keys), [k.path for k in keys if not k.text]
    paths = {k.path for k in keys}
    assert set(DESCRIPTIONS) <= paths, set(DESCRIPTIONS) - paths


def test_the_readme_lists_every_command_a_person_uses() -> None:
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    for path, _sub in _leaves(parser):
        top = path.split(" ")[0] if path else ""
        if not path or top in PLUMBING:
            continue
        assert f"swarm {path}" in readme, f"README does not mention `swarm {path}`"
    for flag in ("--status", "--runtime", "--clean", "--reference"):
        assert flag in readme


# -- init, ls, down --clean ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "gate"),
    [
        ({"tests/test_a.py": "def test(): pass\n"}, ["python3 -m pytest -q"]),
        ({"package.json": '{"scripts": {"test": "jest"}}'}, ["npm test"]),
        ({"Cargo.toml": "[package]\n"}, ["cargo test"]),
        ({"go.mod": "module x\n"}, ["go test ./..."]),
        ({"Makefile": "test:\n\ttrue\n"}, ["make test"]),
        ({"README": "hi\n"}, []),
    ],
)
def test_init_guesses_the_gate(tmp_path: Path, files: dict[str, str], gate: list[str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert guess_gate(tmp_path) == gate


def test_init_writes_a_valid_starter_and_keeps_an_existing_one(repo: Path) -> None:
    (repo / "test_x.py").write_text("def test(): pass\n")
    written = write_starter(repo, env={"PATH": "", "SWARM_CLAUDE_BIN": "/none"})
    assert written.runtime == "sim" and written.gate == ["python3 -m pytest -q"]
    valid = run("validate", "swarm.yaml", cwd=repo)
    assert valid.returncode == 0, valid.stderr
    again = run("init", cwd=repo)
    assert again.returncode == 2 and "already exists" in one_line(again)


def test_ls_lists_the_running_swarms(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    socket = f"swarm-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SWARM_TMUX_SOCKET", socket)
    try:
        assert run("up", "solo", "--detach", "--runtime", "sim", cwd=repo).returncode == 0
        found = [s for s in running_swarms() if s.socket == socket]
        assert len(found) == 1 and found[0].repo == repo and found[0].agents == 2
        listed = run("ls", cwd=repo.parent)
        assert socket in listed.stdout and str(repo) in listed.stdout
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def wait_until_idle(repo: Path, agent: str) -> None:
    """Until the agent is up: its pane starts it only once its worktree is made and checked
    out (the worktree's `.git` file appears first, while git still works on it)."""
    deadline = time.monotonic() + 30
    with Store.open(repo / ".swarm" / "swarm.db") as store:
        while store.get_agent(agent).state != "idle":
            assert time.monotonic() < deadline, f"{agent} never came up"
            time.sleep(0.1)


def test_down_clean_asks_then_removes_what_the_swarm_made(repo: Path, tmux_socket: str) -> None:
    assert run("up", "solo", "--detach", "--runtime", "sim", cwd=repo).returncode == 0
    worktree = repo / ".swarm" / "worktrees" / "polecat-1"
    wait_until_idle(repo, "polecat-1")
    git(repo, "branch", "swarm/sw-merged", "main")
    git(repo, "checkout", "-q", "-b", "swarm/sw-open")
    (repo / "wip.txt").write_text("work in progress\n")
    git(repo, "add", "wip.txt")
    git(repo, "commit", "-q", "-m", "wip")
    git(repo, "checkout", "-q", "main")
    refused = run("down", "--clean", cwd=repo)
    assert refused.returncode == 2 and "confirm with --yes" in one_line(refused)
    assert worktree.exists() and server_alive(tmux_socket)
    proc = run("down", "--clean", "--yes", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert not (repo / ".swarm").exists() and not server_alive(tmux_socket)
    branches = git(repo, "branch", "--format=%(refname:short)").split()
    assert "swarm/sw-merged" not in branches and "swarm/sw-open" in branches
    assert "kept 1 unmerged branch(es): swarm/sw-open" in proc.stdout
    assert git(repo, "worktree", "list").count("\n") == 0


# -- the sidebar's diff summary and shell --------------------------------------------------


def test_diff_summary_and_shell_of_an_agent(repo: Path, tmux_socket: str) -> None:
    assert run("up", "solo", "--detach", "--runtime", "sim", cwd=repo).returncode == 0
    instance = SwarmInstance.load(repo / ".swarm")
    worktree = repo / ".swarm" / "worktrees" / "polecat-1"
    wait_until_idle(repo, "polecat-1")
    git(worktree, "checkout", "-q", "-b", "swarm/sw-diff")
    (worktree / "README.md").write_text("# test repo\nmore\n")
    git(worktree, "commit", "-qam", "more")
    (worktree / "new.py").write_text("a = 1\nb = 2\n")
    line = diff_summary(instance, "polecat-1").line()
    assert line == "swarm/sw-diff vs main: 2 files +3 −0: README.md +1 −0, new.py +2 −0"
    said = open_shell(instance, "polecat-1")
    assert "window sh-polecat-1" in said
    cwd, deadline = "", time.monotonic() + 15
    while not cwd and time.monotonic() < deadline:  # empty until tmux has read the shell's
        cwd = subprocess.run(
            ["tmux", "-L", tmux_socket, "display-message", "-p", "-t", "sh-polecat-1",
             "#{pane_current_path}"],
            capture_output=True,
            text=True,
        ).stdout.strip()  # fmt: skip
        time.sleep(0.1)
    assert Path(cwd).resolve() == worktree.resolve()


# -- 2. in a running swarm: the sim mayor and the sim polecat -------------------------------


@pytest.mark.slow
def test_the_sim_mayor_files_a_persons_words_not_an_escalation(
    repo: Path, tmux_socket: str
) -> None:
    from swarm.lifecycle import bring_up

    result = bring_up("demo", repo, overrides={"roles": {"refinery": {"count": 0}}})
    escalation = "refinery: task sw-abcde failed to merge after 3 bounces (last: conflict in a.py)."
    assert run("nudge", "mayor", escalation, cwd=repo).returncode == 0
    assert run("nudge", "mayor", "Write the release notes", cwd=repo).returncode == 0
    with Store.open(result.instance.db_path) as store:
        deadline = time.monotonic() + 60
        while not any(t.title == "Write the release notes" for t in store.list_tasks()):
            assert time.monotonic() < deadline, "the mayor never filed the person's task"
            time.sleep(0.2)
        assert not any("sw-abcde" in t.title for t in store.list_tasks())


@pytest.mark.slow
def test_a_sim_without_instructions_commits_nothing(repo: Path, tmux_socket: str) -> None:
    from swarm.lifecycle import bring_up

    overrides = {
        "environment": {"SWARM_SIM_NOTES": "0"},
        "roles": {"polecat": {"count": 1}, "refinery": {"count": 0}},
    }
    result = bring_up("demo", repo, overrides=overrides)
    before = git(repo, "rev-parse", "main")
    with Store.open(result.instance.db_path) as store:
        task = store.add_task("Add a --verbose flag")  # what `t` in the sidebar files
        deadline = time.monotonic() + 60
        while store.get_task(task.id).status != "failed":
            assert time.monotonic() < deadline, store.get_task(task.id).status
            time.sleep(0.2)
        assert "sh block" in store.get_task(task.id).notes
    assert git(repo, "rev-parse", "main") == before
    ahead = git(repo, "rev-list", "--count", f"main..swarm/{task.id}")
    assert ahead == "0"


def test_each_command_is_parsed_by_the_module_that_adds_it() -> None:
    """`COMMAND_MODULES` names, per module, exactly the commands it registers: a command
    line is parsed with its module alone, so a command missing there would be unknown."""
    from importlib import import_module

    from swarm.cli.main import COMMAND_MODULES, OneLineParser

    for module, names in COMMAND_MODULES.items():
        parser = OneLineParser(prog="swarm")
        sub = parser.add_subparsers(dest="command")
        import_module(f"swarm.cli.{module}").register(sub)
        assert sorted(sub.choices) == sorted(names), module
    listed = [name for names in COMMAND_MODULES.values() for name in names]
    assert len(listed) == len(set(listed))
    every = build_parser()
    commands = next(a for a in every._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(commands.choices) == sorted(listed)
