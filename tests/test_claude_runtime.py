"""The claude runtime without the real CLI: launch line, config folder, start, screens.

The real CLI is driven in tests/e2e/test_claude_*.py; here a fake `claude` (a script that
records its argv and environment) stands in, so these run everywhere and fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarm.config import load_plan
from swarm.errors import ConfigError
from swarm.plan import AgentSpec, Capabilities, PermissionsSpec, RoleSpec
from swarm.runtimes import claude
from swarm.runtimes.launch import LaunchContext, launch_command
from swarm.runtimes.registry import get_runtime

CLAUDE = get_runtime("claude")

# Real captures (tests/e2e/capture_claude_screens.py), one folder per tested version.
SCREENS = Path(__file__).parent / "fixtures" / "screens"
VERSIONS = [f"claude-{v}" for v in claude.TESTED_VERSIONS]
CAPTURES = {f"{p.parent.name}/{p.stem}": p for v in VERSIONS for p in (SCREENS / v).glob("*.txt")}
KEY = "sk-ant-test-abcdefghij0123456789ABCDEFGHIJ"
WORKER = Capabilities(worktree=True, takes_tasks=True, numbered=True, runs_gate=True)
FIRST_MESSAGES = {
    "polecat": "You are {agent}, a polecat. Run `swarm task current` to see your task.",
    "mayor": "You are {agent}, the mayor. Turn requests into tasks with `swarm task add`.",
}


def role(name: str = "polecat", **permissions: object) -> RoleSpec:
    return RoleSpec(
        name=name,
        description="",
        runtime="claude",
        prompt="You are **{agent}**; worktree `{worktree}`; repo `{repo}`; {unknown} stays.",
        permissions=PermissionsSpec(**permissions),  # type: ignore[arg-type]
        guard_deny=("git push*",),
        capabilities=WORKER if name == "polecat" else Capabilities(),
        first_message=FIRST_MESSAGES.get(name, ""),
    )


def launch(
    tmp_path: Path, agent: AgentSpec, gate: tuple[str, ...] = ()
) -> tuple[claude.ClaudeSetup, list[str]]:
    argv = claude.launch_argv(
        agent,
        binary="/opt/claude",
        state_dir=tmp_path / ".swarm",
        repo=tmp_path,
        worktree=tmp_path / ".swarm" / "worktrees" / agent.name
        if agent.role.name == "polecat"
        else None,
        gate=gate,
        python="/py/python",
    )
    assert argv[:5] == ("/py/python", "-m", "swarm", "claude-start", argv[4])
    assert argv[5] == "--"
    return claude.ClaudeSetup.from_json(argv[4]), list(argv[6:])


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_polecat_launch_line(tmp_path: Path) -> None:
    agent = AgentSpec(
        "polecat-2", role(allow=("Edit", "Write", "Bash(git add:*)"), deny=("Bash(git push:*)",))
    )
    setup, argv = launch(tmp_path, agent, gate=("pytest -q && ruff check .",))
    assert argv[0] == "/opt/claude"
    assert flag(argv, "--settings") == str(
        tmp_path / ".swarm" / "claude" / "polecat-2" / "swarm-settings.json"
    )
    system = flag(argv, "--append-system-prompt")
    assert "You are **polecat-2**" in system and "{unknown} stays" in system
    assert str(tmp_path / ".swarm" / "worktrees" / "polecat-2") in system
    assert flag(argv, "--permission-mode") == "acceptEdits"
    allowed = flag(argv, "--allowedTools").split(",")
    assert allowed == [
        "Edit",
        "Write",
        "Bash(git add:*)",
        "Bash(pytest -q:*)",
        "Bash(ruff check .:*)",
    ]
    assert flag(argv, "--disallowedTools") == "Bash(git push:*)"
    assert "--dangerously-skip-permissions" not in argv
    # the initial prompt comes last, after `--`: no variadic flag can swallow it
    assert argv[-2] == "--" and "You are polecat-2" in argv[-1] and "swarm task current" in argv[-1]
    assert setup.guard_root == str(tmp_path / ".swarm" / "worktrees" / "polecat-2")
    assert setup.guard_deny == ("git push*",)
    assert setup.repo == str(tmp_path)
    assert not setup.bypass


def test_mayor_asks_before_edits_and_gets_no_gate_commands(tmp_path: Path) -> None:
    _, argv = launch(
        tmp_path, AgentSpec("mayor", role("mayor", allow=("Bash(swarm:*)",))), gate=("pytest",)
    )
    assert flag(argv, "--permission-mode") == "default"
    assert flag(argv, "--allowedTools") == "Bash(swarm:*)"
    assert "mayor" in argv[-1] and "swarm task add" in argv[-1]


def test_bypass_only_when_the_role_asks(tmp_path: Path) -> None:
    setup, argv = launch(tmp_path, AgentSpec("polecat-1", role(skip_permissions=True)))
    assert "--dangerously-skip-permissions" in argv and "--permission-mode" not in argv
    assert setup.bypass


def test_bundled_team_layout_launches_claude_through_the_swarm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = write_fake_claude(tmp_path / "bin")
    monkeypatch.setenv("SWARM_CLAUDE_BIN", str(fake))
    repo = tmp_path / "proj"
    (repo / ".git").mkdir(parents=True)
    plan = load_plan("team", repo)
    pane = next(p for p in plan.pane_specs() if p.name == "polecat-1")
    assert pane.command[0] == "/bin/sh"  # the worktree prelude, then claude-start
    assert "claude-start" in pane.command and str(fake) in pane.command
    assert not (repo / ".swarm" / "claude").exists()  # planning writes nothing


def test_missing_claude_leaves_a_message_in_the_pane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_CLAUDE_BIN", str(tmp_path / "nowhere" / "claude"))
    ctx = LaunchContext(repo=tmp_path, state_dir=tmp_path / ".swarm", socket="s", session="s")
    argv = launch_command(AgentSpec("mayor", role("mayor")), ctx)
    assert argv[:2] == ("/bin/sh", "-c")
    out = subprocess.run(
        ["/bin/sh", "-c", argv[2].replace("exec sleep 2147483647", "true")],
        capture_output=True,
        text=True,
    )
    assert "runtime 'claude' not found" in out.stdout and "SWARM_CLAUDE_BIN" in out.stdout


def test_a_prompt_too_long_for_tmux_is_a_config_error(tmp_path: Path) -> None:
    long = dataclasses.replace(role(), prompt="x" * (claude.MAX_PROMPT_BYTES + 1))
    with pytest.raises(ConfigError, match="the prompt is 12001 bytes"):
        launch(tmp_path, AgentSpec("polecat-1", long))


def test_find_binary_order(tmp_path: Path) -> None:
    fake = write_fake_claude(tmp_path / "bin")
    assert claude.find_binary({"SWARM_CLAUDE_BIN": str(fake), "PATH": ""}) == str(fake)
    assert (
        claude.find_binary(
            {"SWARM_CLAUDE_BIN": str(tmp_path / "missing"), "PATH": str(fake.parent)}
        )
        is None
    )
    assert claude.find_binary({"PATH": str(fake.parent), "HOME": str(tmp_path)}) == str(fake)
    cached = write_fake_claude(tmp_path / ".cache" / "swarm-claude" / "node_modules" / ".bin")
    assert claude.find_binary({"PATH": "", "HOME": str(tmp_path)}) == str(cached)


def test_claude_json_answers_every_first_run_question() -> None:
    existing = {
        "userID": "keep-me",
        "projects": {"/a": {"allowedTools": ["X"]}},
        "customApiKeyResponses": {"rejected": ["0123456789ABCDEFGHIJ"]},
    }
    data = claude.claude_json(existing, version="9.9.9", trust=["/a", "/b"], api_key=KEY)
    assert data["userID"] == "keep-me"
    assert data["hasCompletedOnboarding"] is True and data["lastOnboardingVersion"] == "9.9.9"
    assert data["projects"]["/a"] == {
        "allowedTools": ["X"],
        "hasTrustDialogAccepted": True,
        "hasCompletedProjectOnboarding": True,
    }
    assert data["projects"]["/b"]["hasTrustDialogAccepted"] is True
    assert data["customApiKeyResponses"] == {"approved": ["0123456789ABCDEFGHIJ"], "rejected": []}
    again = claude.claude_json(data, version="9.9.9", trust=["/a"], api_key="other-key-" + "x" * 20)
    assert again["customApiKeyResponses"]["approved"] == ["0123456789ABCDEFGHIJ", "x" * 20]
    assert "customApiKeyResponses" not in claude.claude_json(
        {}, version="1", trust=[], api_key=None
    )


def test_hook_settings_report_state_and_guard_every_tool(tmp_path: Path) -> None:
    settings = claude.hook_settings("/py/python", tmp_path / "guard.json")["hooks"]
    assert set(settings) == {
        "SessionStart",
        "UserPromptSubmit",
        "PermissionRequest",
        "PostToolUse",
        "Notification",
        "Stop",
        "SessionEnd",
        "PreToolUse",
    }
    command = settings["Stop"][0]["hooks"][0]["command"]
    assert command == "/py/python -m swarm report Stop"
    assert settings["Notification"][0]["matcher"] == "idle_prompt"
    guard = settings["PreToolUse"][0]
    assert guard["matcher"] == "*"
    assert (
        guard["hooks"][0]["command"]
        == f"/py/python -m swarm guard --policy {tmp_path / 'guard.json'}"
    )


def test_prepare_writes_the_config_folder(tmp_path: Path) -> None:
    agent = AgentSpec("polecat-1", role(skip_permissions=True))
    setup, _ = launch(tmp_path, agent)
    setup = dataclasses.replace(setup, python=sys.executable)
    cwd = tmp_path / ".swarm" / "worktrees" / "polecat-1"
    cwd.mkdir(parents=True)
    fake = write_fake_claude(tmp_path / "bin")
    env = {"ANTHROPIC_API_KEY": KEY, "PATH": "/usr/bin", "HOME": str(tmp_path / "home")}
    changes = claude.prepare(setup, cwd, env, str(fake))
    folder = Path(setup.config_dir)
    assert changes["CLAUDE_CONFIG_DIR"] == str(folder)
    assert changes["PATH"] == f"{setup.bin_dir}:/usr/bin"
    assert changes["DISABLE_AUTOUPDATER"] == "1"
    assert ("IS_SANDBOX" in changes) == (os.geteuid() == 0)
    state = json.loads((folder / ".claude.json").read_text())
    assert state["projects"][str(cwd)]["hasTrustDialogAccepted"] is True
    assert state["projects"][str(tmp_path)]["hasTrustDialogAccepted"] is True
    assert state["lastOnboardingVersion"] == "2.1.197"  # read from the fake's --version
    assert json.loads((folder / "settings.json").read_text()) == {
        "skipDangerousModePermissionPrompt": True
    }
    policy = json.loads((folder / "guard.json").read_text())
    assert policy == {"root": str(cwd), "deny": ["git push*"], "protected": [str(tmp_path)]}
    assert oct((folder / ".claude.json").stat().st_mode & 0o777) == "0o600"
    shim = Path(setup.bin_dir) / "swarm"
    out = subprocess.run(
        [str(shim), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("swarm ")
    # a second start keeps what Claude Code wrote meanwhile
    state["numStartups"] = 7
    (folder / ".claude.json").write_text(json.dumps(state))
    claude.prepare(setup, cwd, env, str(fake))
    assert json.loads((folder / ".claude.json").read_text())["numStartups"] == 7


def test_a_saved_login_is_linked_when_there_is_no_key(tmp_path: Path) -> None:
    setup, _ = launch(tmp_path, AgentSpec("mayor", role("mayor")))
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / ".credentials.json").write_text("{}")
    fake = write_fake_claude(tmp_path / "bin")
    claude.prepare(setup, tmp_path, {"HOME": str(home), "PATH": ""}, str(fake))
    link = Path(setup.config_dir) / ".credentials.json"
    assert (
        link.is_symlink() and link.resolve() == (home / ".claude" / ".credentials.json").resolve()
    )


def test_claude_start_prepares_then_becomes_claude(tmp_path: Path) -> None:
    """`swarm claude-start` in a real process: the fake claude records what it was given."""
    fake = write_fake_claude(tmp_path / "bin")
    agent = AgentSpec("mayor", role("mayor", allow=("Bash(swarm:*)",)))
    argv = claude.launch_argv(
        agent, binary=str(fake), state_dir=tmp_path / ".swarm", repo=tmp_path, worktree=None
    )
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "HOME": str(tmp_path)}
    env.pop("CLAUDE_CONFIG_DIR", None)
    subprocess.run(list(argv), cwd=tmp_path, env=env, check=True, timeout=30)
    seen = json.loads((fake.parent / "seen.json").read_text())
    assert seen["argv"][0] == "--settings" and seen["argv"][-1].startswith("You are mayor")
    assert seen["env"]["CLAUDE_CONFIG_DIR"] == str(tmp_path / ".swarm" / "claude" / "mayor")
    assert seen["env"]["PATH"].split(os.pathsep)[0] == str(tmp_path / ".swarm" / "bin")
    assert (tmp_path / ".swarm" / "claude" / "mayor" / "swarm-settings.json").is_file()


def test_claude_start_that_cannot_exec_says_why(tmp_path: Path) -> None:
    """The pane keeps the message (it then sleeps; here a stand-in for that sleep exits 3)."""
    setup = claude.ClaudeSetup(
        str(tmp_path / "cfg"),
        (),
        sys.executable,
        str(tmp_path),
        (),
        str(tmp_path),
        False,
        str(tmp_path / "bin"),
    )
    code = (
        "import os, sys\n"
        "from swarm.runtimes import claude\n"
        "real = os.execvp\n"
        "os.execvp = lambda f, a: sys.exit(3) if f == 'sleep' else real(f, a)\n"
        f"claude.start({setup.to_json()!r}, ['/nonexistent/claude'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3
    assert "cannot start Claude Code (/nonexistent/claude)" in proc.stdout
    assert "swarm doctor" in proc.stdout


# ------------------------------------------------------------------- real screens


def screen(name: str, version: str) -> str:
    return CAPTURES[f"{version}/{name}"].read_text()


@pytest.mark.parametrize("version", VERSIONS)
def test_golden_captures_of_every_tested_version_are_there(version: str) -> None:
    names = {key.split("/")[1] for key in CAPTURES if key.startswith(version + "/")}
    assert {"claude-ready-started", "claude-busy-tool", "claude-waiting-permission"} <= names
    gates = SCREENS / version / "gates"
    assert {p.stem for p in gates.glob("*.txt")} == {g.name for g in claude.GATES}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("claude-ready-started", ""),
        ("claude-ready-after-tool", ""),
        ("claude-ready-input-pending", "please wait"),
        ("claude-busy-thinking", ""),
        ("claude-busy-tool", ""),
        ("claude-waiting-permission", None),
    ],
)
def test_input_line_of_real_screens(name: str, text: str | None, version: str) -> None:
    assert claude.input_line(screen(name, version)) == text
    assert CLAUDE.input_pending(screen(name, version)) == bool(text)


@pytest.mark.parametrize("version", VERSIONS)
def test_permission_menu_is_not_pending_input(version: str) -> None:
    """Else a delivery would press Enter again, and Enter approves the menu."""
    shown = screen("claude-waiting-permission", version)
    assert "❯ 1. Yes" in shown
    assert not CLAUDE.input_pending(shown)
    assert CLAUDE.approve_keys == ("Enter",)
    assert CLAUDE.refuse_keys == ("Escape",)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("gate", claude.GATES, ids=lambda g: g.name)
def test_each_gate_is_recognised_from_its_capture(gate: claude.Gate, version: str) -> None:
    found = claude.detect_gate((SCREENS / version / "gates" / f"{gate.name}.txt").read_text())
    assert found is not None and found.name == gate.name


@pytest.mark.parametrize("key", sorted(CAPTURES))
def test_working_screens_are_no_gate(key: str) -> None:
    assert claude.detect_gate(CAPTURES[key].read_text()) is None


def write_fake_claude(folder: Path) -> Path:
    """A stand-in `claude`: prints a version, or records argv and env next to itself."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "claude"
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "if sys.argv[1:] == ['--version']:\n"
        "    print('2.1.197 (Claude Code)'); sys.exit(0)\n"
        "seen = {'argv': sys.argv[1:], 'env': dict(os.environ)}\n"
        "open(os.path.join(os.path.dirname(__file__), 'seen.json'), 'w').write(json.dumps(seen))\n"
    )
    path.chmod(0o755)
    return path


# ------------------------------------------------------------ text that arrives as text


@pytest.mark.parametrize(
    ("typed", "shaped"),
    [
        ("/status and more", "\\/status and more"),
        ("  /compact", "\\/compact"),
        ("!rm -rf /", "\\!rm -rf /"),
        ("# heading", "\\# heading"),
        ("ends with \\", "ends with \\ "),
        ("plain text", "plain text"),
        ("a/b in the middle", "a/b in the middle"),
    ],
)
def test_text_claude_would_take_as_a_command_is_shaped_as_text(typed: str, shaped: str) -> None:
    assert CLAUDE.as_text(typed) == shaped


def test_what_claude_does_to_typed_text() -> None:
    assert CLAUDE.received("a\r\nb\tc \x1b[31mred\x1b[0m\u200b ") == "a\nb    c red"


def test_a_long_paste_is_unwrapped_from_its_report() -> None:
    body = "x" * 3000
    reported = f'\n\n<pasted_content id="276f">\n{body}\n</pasted_content id="276f">\n'
    assert CLAUDE.prompt_of(reported) == body


def test_guard_blocks_on_failure_only_where_the_version_has_it(tmp_path: Path) -> None:
    old = claude.hook_settings("/py", tmp_path / "g.json", "2.1.197")["hooks"]["PreToolUse"]
    new = claude.hook_settings("/py", tmp_path / "g.json", "2.1.332")["hooks"]["PreToolUse"]
    assert "onFailure" not in old[0]["hooks"][0]
    assert new[0]["hooks"][0]["onFailure"] == "block"


def test_a_restart_resumes_the_recorded_conversation() -> None:
    from swarm.resume import SessionPlan

    argv = ["claude", "--settings", "s.json", "--", "You are polecat-1"]
    assert claude.with_session(argv, None) == argv
    plan = SessionPlan("abc", "continue task sw-1", "resuming session abc")
    assert claude.with_session(argv, plan) == [
        "claude",
        "--settings",
        "s.json",
        "--resume",
        "abc",
        "--",
        "continue task sw-1",
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_queued_message_is_seen_queued_not_pending(version: str) -> None:
    key = f"{version}/claude-busy-queued"
    if key not in CAPTURES:
        pytest.skip(f"{version} drew no queued-messages line when captured")
    shown = CAPTURES[key].read_text()
    assert CLAUDE.queued(shown) and not CLAUDE.input_pending(shown)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_prompt_command_is_read_off_every_version(version: str) -> None:
    """Auto-approve matches this: a tip line taken for the command would break it."""
    verdict = CLAUDE.classify(screen("claude-waiting-permission", version))
    assert verdict.kind == "waiting" and verdict.command == "python3 -c 'print(6 * 7)'"
