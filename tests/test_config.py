"""Layout and role files -> SwarmPlan: bundled layouts, overrides, windows, sidebar, names."""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from swarm import paths
from swarm.config import (
    find_layout,
    list_layouts,
    load_plan,
    render_prompt,
    session_name,
    validate_layout,
)
from swarm.config.roles import check_role_file
from swarm.config.yamlpos import parse_document
from swarm.errors import NotFoundError
from swarm.plan import SwarmPlan
from swarm.runtimes.launch import PRIORITY_PRELUDE, controller_command, swarm_argv
from swarm.runtimes.registry import runtime_names

BUNDLED = ("demo", "factory", "solo", "team")


@pytest.fixture(autouse=True)
def _no_socket_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARM_TMUX_SOCKET", raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path.resolve() / "proj"
    (folder / ".git").mkdir(parents=True)
    return folder


def write_layout(repo: Path, text: str, name: str = "custom.yaml") -> Path:
    path = repo / name
    path.write_text(text)
    return path


def plan_of(repo: Path, text: str, **kwargs: typing.Any) -> SwarmPlan:
    return load_plan(str(write_layout(repo, text)), repo, **kwargs)


def window_panes(plan: SwarmPlan) -> dict[str, list[str]]:
    return {w.name: [p.name for p in w.panes] for w in plan.windows}


# -- bundled layouts ------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_layout_expands(repo: Path, name: str) -> None:
    plan = load_plan(name, repo)
    assert plan.layout_name == name
    assert plan.repo == repo
    assert plan.state_dir == repo / ".swarm"
    assert plan.session == f"proj-{name}"
    assert plan.socket == paths.socket_name(repo, plan.session)
    assert plan.description
    # The controller window is always last, with its one pane.
    last = plan.windows[-1]
    assert last.name == "controller" and last.layout == "tiled"
    assert [(p.kind, p.command) for p in last.panes] == [("controller", controller_command())]
    # Every agent is placed exactly once.
    agent_panes = [p.name for p in plan.pane_specs() if p.kind == "agent"]
    assert sorted(agent_panes) == sorted(a.name for a in plan.agents)
    assert len(set(agent_panes)) == len(agent_panes)
    # The sidebar is the first pane of the first window.
    first = plan.windows[0]
    assert first.panes[0].kind == "sidebar" and first.sidebar_side == "left"
    assert first.panes[0].command == swarm_argv("sidebar")
    assert sum(p.kind == "sidebar" for p in plan.pane_specs()) == 1


def test_team_layout(repo: Path) -> None:
    plan = load_plan(None, repo)  # the default layout
    assert plan.layout_name == "team"
    assert [a.name for a in plan.agents] == [
        "mayor", "polecat-1", "polecat-2", "polecat-3", "polecat-4", "witness", "refinery",
    ]  # fmt: skip
    assert window_panes(plan) == {
        "control": ["sidebar", "mayor", "witness", "refinery"],
        "polecats": ["polecat-1", "polecat-2", "polecat-3", "polecat-4"],
        "controller": ["controller"],
    }
    control = plan.windows[0]
    assert control.layout == "main-vertical" and control.main_size == "60%"
    runtimes = {a.name: a.runtime for a in plan.agents}
    assert runtimes["mayor"] == runtimes["polecat-1"] == "claude"
    assert runtimes["witness"] == runtimes["refinery"] == "builtin"


def test_factory_layout(repo: Path) -> None:
    plan = load_plan("factory", repo)
    assert len(plan.agents) == 33
    assert [w.name for w in plan.windows] == [
        "control", "polecats", "polecats-2", "polecats-3", "controller",
    ]  # fmt: skip
    assert [len(w.panes) for w in plan.windows] == [4, 10, 10, 10, 1]
    assert sum(len(w.panes) for w in plan.windows[:-1]) == 34
    assert len(plan.pane_specs()) == 35
    assert [p.name for p in plan.windows[3].panes][-1] == "polecat-30"
    assert all(w.layout == "tiled" for w in plan.windows[1:4])


def test_solo_layout(repo: Path) -> None:
    plan = load_plan("solo", repo)
    assert [a.name for a in plan.agents] == ["mayor", "polecat-1"]  # polecats always numbered
    assert window_panes(plan) == {
        "swarm": ["sidebar", "mayor", "polecat-1"],
        "controller": ["controller"],
    }


def test_demo_layout_runs_without_claude(repo: Path) -> None:
    plan = load_plan("demo", repo)
    assert len(plan.windows) == 2  # everything in one window, plus the controller
    assert window_panes(plan)["demo"] == [
        "sidebar", "mayor", "polecat-1", "polecat-2", "polecat-3", "witness", "refinery",
    ]  # fmt: skip
    commands = {p.name: p.command for p in plan.pane_specs()}
    assert commands["mayor"] == swarm_argv("agent", "sim", "--files-tasks")
    # a polecat lowers its priority, enters its worktree, then becomes the sim agent
    assert commands["polecat-3"][:5] == ("/bin/sh", "-c", PRIORITY_PRELUDE, "swarm-agent", "19")
    assert commands["polecat-3"][9].endswith("/.swarm/worktrees/polecat-3")
    assert commands["polecat-3"][-len(swarm_argv("agent", "sim")) :] == swarm_argv("agent", "sim")
    assert commands["witness"] == swarm_argv("witness")
    assert commands["refinery"] == swarm_argv("refinery")


def test_list_layouts() -> None:
    rows = list_layouts()
    assert [r[0] for r in rows] == list(BUNDLED)
    counts = {name: agents for name, _, agents in rows}
    assert counts == {"demo": 6, "factory": 33, "solo": 2, "team": 7}
    assert all(description for _, description, _ in rows)


def test_bundled_roles_are_valid_and_have_real_prompts() -> None:
    folder = paths.bundled_dir("roles")
    roles = {p.stem: check_role_file(p) for p in sorted(folder.glob("*.yaml"))}
    assert set(roles) == {"mayor", "polecat", "witness", "refinery"}
    assert roles["mayor"].runtime == roles["polecat"].runtime == "claude"
    assert roles["witness"].runtime == roles["refinery"].runtime == "builtin"
    assert "swarm task add" in roles["mayor"].prompt
    assert "swarm status" in roles["mayor"].prompt
    assert "swarm done" in roles["polecat"].prompt
    assert "{worktree}" in roles["polecat"].prompt and "{branch}" in roles["polecat"].prompt
    assert any(p.startswith("git push") for p in roles["polecat"].guard.deny)


def test_validate_layout_summary(tmp_path: Path) -> None:
    summary = validate_layout(paths.bundled_dir("layouts") / "team.yaml", repo=tmp_path)
    assert str(summary) == "7 agents, 3 windows: control, polecats, controller"
    assert summary.lines()[1] == "  control (main-vertical): sidebar, mayor, witness, refinery"


# -- finding layouts ------------------------------------------------------------------------


def test_find_layout(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = paths.bundled_dir("layouts")
    assert find_layout(None, repo) == bundled / "team.yaml"
    assert find_layout("factory", repo) == bundled / "factory.yaml"
    local = repo / ".swarm" / "layouts"
    local.mkdir(parents=True)
    (local / "factory.yaml").write_text("roles: {mayor: {}}\n")
    assert find_layout("factory", repo) == local / "factory.yaml"
    monkeypatch.chdir(repo)
    write_layout(repo, "roles: {mayor: {}}\n", "mine.yml")
    assert find_layout("mine.yml", repo) == Path("mine.yml")
    assert find_layout("./mine.yml", repo) == Path("mine.yml")
    with pytest.raises(NotFoundError, match=r"unknown layout 'big' \(bundled: demo, factory"):
        find_layout("big", repo)


# -- roles and overrides --------------------------------------------------------------------


def test_role_overrides_merge_deeply(repo: Path) -> None:
    plan = plan_of(
        repo,
        "roles:\n"
        "  polecat:\n"
        "    count: 2\n"
        "    runtime: sim\n"
        "    health: {stall_after: 600}\n"
        "    permissions: {allow: [Read]}\n"
        "    guard: {deny: ['rm *']}\n",
    )
    role = plan.agents[0].role
    assert role.runtime == "sim"
    assert role.health.stall_after == 600.0
    assert role.health.startup_grace == 30.0  # from roles/polecat.yaml
    assert role.permissions.allow == ("Read",)  # lists replace
    assert role.permissions.deny == ("Bash(git push:*)",)  # untouched mapping keys stay
    assert role.guard_deny == ("rm *",)
    assert "swarm done" in role.prompt
    assert role.source == paths.bundled_dir("roles") / "polecat.yaml"


def test_layout_runtime_applies_to_agent_roles_not_builtin_loops(repo: Path) -> None:
    plan = plan_of(
        repo,
        "runtime: sim\nroles: {mayor: {}, polecat: {count: 1}, witness: {},"
        " refinery: {runtime: claude}}\n",
    )
    runtimes = {a.name: a.runtime for a in plan.agents}
    assert runtimes == {
        "mayor": "sim", "polecat-1": "sim", "witness": "builtin", "refinery": "claude",
    }  # fmt: skip


def test_user_role_paths_and_repo_roles(repo: Path) -> None:
    mine = repo / "my-roles"
    mine.mkdir()
    (mine / "reviewer.yaml").write_text(
        "description: reviews\nruntime: command\ncommand: [echo, hi]\nprompt: Review {agent}\n"
    )
    (mine / "polecat.yaml").write_text(
        "runtime: sim\ndescription: from role_paths\n"
        "capabilities: {numbered: true, takes_tasks: true, worktree: true}\n"
    )
    repo_roles = repo / ".swarm" / "roles"
    repo_roles.mkdir(parents=True)
    (repo_roles / "polecat.yaml").write_text("runtime: sim\ndescription: from the repo\n")
    (repo_roles / "mayor.yaml").write_text("runtime: sim\ndescription: repo mayor\n")
    plan = plan_of(
        repo,
        "role_paths: [./my-roles]\nroles: {mayor: {}, polecat: {count: 1}, reviewer: {count: 2}}\n",
    )
    described = {a.name: a.role.description for a in plan.agents}
    assert described == {
        "mayor": "repo mayor",
        "polecat-1": "from role_paths",  # role_paths come before <repo>/.swarm/roles
        "reviewer-1": "reviews",
        "reviewer-2": "reviews",
    }
    assert plan.agent("reviewer-2") is not None
    commands = {p.name: p.command for p in plan.pane_specs()}
    assert commands["reviewer-1"] == ("echo", "hi")
    assert window_panes(plan) == {
        "control": ["sidebar", "mayor"],
        "polecats": ["polecat-1"],
        "reviewers": ["reviewer-1", "reviewer-2"],
        "controller": ["controller"],
    }


def test_agent_names(repo: Path) -> None:
    plan = plan_of(repo, "roles: {mayor: {count: 2}, polecat: {count: 1}, witness: {}}\n")
    assert [a.name for a in plan.agents] == ["mayor-1", "mayor-2", "polecat-1", "witness"]


def test_overrides_from_command_line(repo: Path) -> None:
    plan = load_plan("team", repo, overrides={"runtime": "sim", "roles": {"polecat": {"count": 2}}})
    assert [a.name for a in plan.agents if a.role.name == "polecat"] == ["polecat-1", "polecat-2"]
    assert {a.runtime for a in plan.agents} == {"sim", "builtin"}


# -- windows --------------------------------------------------------------------------------


def test_polecat_overflow_windows(repo: Path) -> None:
    plan = plan_of(
        repo,
        "polecats_per_window: 10\nroles: {mayor: {}, polecat: {count: 25}}\n"
        "windows:\n  - name: workers\n    layout: main-horizontal\n"
        "    panes: [{agent: polecat, size: '30%'}]\n",
    )
    panes = window_panes(plan)
    assert list(panes) == ["workers", "workers-2", "workers-3", "control", "controller"]
    assert [len(panes[n]) for n in ("workers", "workers-2", "workers-3")] == [11, 10, 5]
    assert panes["workers-3"][-1] == "polecat-25"
    assert [w.main_size for w in plan.windows[:3]] == ["30%", None, None]
    assert {w.layout for w in plan.windows[:3]} == {"main-horizontal"}
    assert panes["control"] == ["mayor"]  # not placed by any window: default window


def test_empty_window_is_dropped(repo: Path) -> None:
    plan = plan_of(repo, "roles: {mayor: {}, polecat: {count: 0}, witness: {count: 0}}\n")
    assert window_panes(plan) == {"control": ["sidebar", "mayor"], "controller": ["controller"]}


def test_role_reference_takes_agents_not_placed_by_name(repo: Path) -> None:
    plan = plan_of(
        repo,
        "roles: {polecat: {count: 4}}\nwindows:\n"
        "  - {name: a, panes: [polecat]}\n  - {name: b, panes: [polecat-2]}\n",
    )
    assert window_panes(plan) == {
        "a": ["sidebar", "polecat-1", "polecat-3", "polecat-4"],
        "b": ["polecat-2"],
        "controller": ["controller"],
    }


@pytest.mark.parametrize(
    ("sidebar", "expected_first", "expected_last"),
    [
        ("{side: left, width: 40}", "sidebar", "witness"),
        ("{side: right}", "mayor", "sidebar"),
    ],
)
def test_sidebar_placement(
    repo: Path, sidebar: str, expected_first: str, expected_last: str
) -> None:
    plan = plan_of(repo, f"sidebar: {sidebar}\nroles: {{mayor: {{}}, witness: {{}}}}\n")
    first = plan.windows[0]
    assert first.panes[0].name == expected_first
    assert first.panes[-1].name == expected_last
    assert first.sidebar_side == ("left" if expected_first == "sidebar" else "right")
    assert first.sidebar_width == (40 if "40" in sidebar else 32)


def test_sidebar_disabled(repo: Path) -> None:
    plan = plan_of(repo, "sidebar: {enabled: false}\nroles: {mayor: {}}\n")
    assert all(p.kind != "sidebar" for p in plan.pane_specs())
    assert all(w.sidebar_side is None for w in plan.windows)


# -- session, environment, options, merge ---------------------------------------------------


def test_default_session_name(tmp_path: Path) -> None:
    repo = tmp_path.resolve() / "my.repo v2"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git").rmdir()
    (repo / ".git").write_text("gitdir: elsewhere\n")  # a worktree: .git is a file
    plan = load_plan("solo", repo)
    assert plan.session == "my-repo-v2-solo"
    assert session_name(Path("/x/_"), "t!") == "_-t"


def test_session_and_socket(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_of(repo, "session: work\nroles: {mayor: {}}\n")
    assert plan.session == "work"
    assert plan.socket == paths.socket_name(repo, "work")
    monkeypatch.setenv("SWARM_TMUX_SOCKET", "test-sock")
    assert plan_of(repo, "roles: {mayor: {}}\n").socket == "test-sock"


def test_environment_options_and_keys(repo: Path) -> None:
    plan = plan_of(
        repo,
        "environment: {FOO: bar, N: 3, SWARM_AGENT: nope}\n"
        "options: {mouse: true, status: off, history-limit: 5000}\n"
        "keys: {prefix: C-s}\n"
        "roles: {mayor: {}}\n",
    )
    assert plan.environment == (("FOO", "bar"), ("N", "3"), ("SWARM_AGENT", "nope"))
    assert plan.options == (("mouse", "on"), ("status", "off"), ("history-limit", "5000"))
    assert plan.key_prefix == "C-s"
    mayor = next(p for p in plan.pane_specs() if p.name == "mayor")
    env = dict(mayor.environment)
    assert env["FOO"] == "bar" and env["N"] == "3"
    assert env["SWARM_AGENT"] == "mayor"  # the agent's own environment wins
    assert env["SWARM_ROLE"] == "mayor"
    assert env["SWARM_HOME"] == str(repo / ".swarm")
    assert env["SWARM_TMUX_SOCKET"] == plan.socket
    controller = plan.windows[-1].panes[0]
    assert dict(controller.environment)["SWARM_SESSION"] == plan.session


def test_start_directory_and_repo_keys(repo: Path) -> None:
    (repo / "src").mkdir()
    plan = plan_of(repo, "start_directory: src\nroles: {mayor: {}}\n")
    assert plan.start_directory == repo / "src"
    assert {p.start_directory for p in plan.pane_specs()} == {repo / "src"}
    other = repo.parent / "other"
    (other / ".git").mkdir(parents=True)
    plan = plan_of(repo, "repo: ../other\nroles: {mayor: {}}\n")
    assert plan.repo == other and plan.state_dir == other / ".swarm"


def test_gate_and_merge(repo: Path) -> None:
    plan = plan_of(
        repo,
        "roles: {mayor: {}}\ngate: ['pytest -q', 'ruff check .']\n"
        "merge: {strategy: merge, batch_size: 2, batch_wait: 0, target: trunk}\n",
    )
    assert plan.gate == ("pytest -q", "ruff check .")
    assert plan.merge.strategy == "merge" and plan.merge.batch_size == 2
    assert plan.merge.batch_wait == 0.0 and plan.merge.max_bounces == 3
    assert plan.merge.target == "trunk"
    assert load_plan("solo", repo).merge.target is None


# -- pieces ---------------------------------------------------------------------------------


def test_positions_of_keys_values_and_list_items() -> None:
    doc = parse_document(
        "base: &b {count: 2}\nroles:\n  polecat:\n    <<: *b\n    runtime: sim\n"
        "windows:\n  - name: a\n    layout: tiled\n",
        "f.yaml",
    )
    assert doc.data["roles"]["polecat"] == {"count": 2, "runtime": "sim"}
    assert doc.values[("roles", "polecat", "runtime")] == (5, 14)
    assert doc.keys[("roles", "polecat", "runtime")] == (5, 5)
    assert doc.values[("windows", 0, "layout")] == (8, 13)
    assert doc.values[("windows", 0)] == (7, 5)
    assert doc.where(("windows", 0, "panes")) == "f.yaml:7:5"  # missing: nearest parent


def test_render_prompt_fills_only_known_placeholders() -> None:
    text = render_prompt("{agent} on {branch}: keep {braces} and {}", {"agent": "polecat-1"})
    assert text == "polecat-1 on {branch}: keep {braces} and {}"


def test_runtime_names_come_from_the_registry() -> None:
    assert {"sim", "claude", "codex", "gemini", "aider", "command", "builtin"} <= set(
        runtime_names()
    )


def test_config_imports_stay_light() -> None:
    code = (
        "import sys, swarm.config; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('libtmux', 'textual', 'sqlite3', 'psutil', 'swarm')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    loaded = ast.literal_eval(out)
    assert not [m for m in loaded if not m.startswith("swarm")]
    assert all(not m.startswith(("swarm.tmux", "swarm.store", "swarm.ui")) for m in loaded)
