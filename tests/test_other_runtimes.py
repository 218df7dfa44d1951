"""codex, gemini, aider: launch lines from the role, and their screen-pattern data."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm.plan import AgentSpec, PermissionsSpec, RoleSpec
from swarm.runtimes.launch import LaunchContext, launch_command
from swarm.runtimes.registry import get_runtime


def agent(runtime: str, **permissions: object) -> AgentSpec:
    role = RoleSpec(
        name="polecat",
        description="",
        runtime=runtime,
        prompt="You are {agent}.",
        permissions=PermissionsSpec(**permissions),  # type: ignore[arg-type]
    )
    return AgentSpec("polecat-1", role)


def argv(runtime: str, **permissions: object) -> tuple[str, ...]:
    ctx = LaunchContext(
        repo=Path("/r"), state_dir=Path("/r/.swarm"), socket="s", session="s", worktree=Path("/r/w")
    )
    return get_runtime(runtime).argv(agent(runtime, **permissions), ctx, f"/bin/{runtime}")


def test_codex() -> None:
    assert argv("codex", allow=("Edit",))[:5] == (
        "/bin/codex",
        "--sandbox",
        "workspace-write",
        "--ask-for-approval",
        "on-request",
    )
    assert argv("codex")[2] == "read-only"
    assert argv("codex", skip_permissions=True)[1] == "--dangerously-bypass-approvals-and-sandbox"
    message = argv("codex")[-1]
    assert message.startswith("You are polecat-1.") and "swarm task current" in message


def test_gemini() -> None:
    line = argv("gemini", allow=("Write",))
    assert line[1:3] == ("--approval-mode", "auto_edit") and line[3] == "--prompt-interactive"
    assert argv("gemini", skip_permissions=True)[2] == "yolo"
    assert argv("gemini")[2] == "default"


def test_aider() -> None:
    assert "--yes-always" not in argv("aider")
    assert "--yes-always" in argv("aider", skip_permissions=True)
    assert "--no-gitignore" in argv("aider")


def test_launch_command_names_a_missing_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    ctx = LaunchContext(repo=tmp_path, state_dir=tmp_path / ".swarm", socket="s", session="s")
    line = launch_command(agent("gemini"), ctx)
    message = line[-1]
    assert "gemini" in message and "not found on PATH" in message
    assert "@google/gemini-cli" in message


def test_answer_keys() -> None:
    assert get_runtime("codex").approve_keys == ("y",)
    assert get_runtime("aider").refuse_keys == ("n", "Enter")
    assert get_runtime("gemini").approve_keys == ("Enter",)


SCREENS = {
    "codex": {
        "waiting": (
            "  Would you like to run the following command?\n\n  $ npm test\n\n"
            "› 1. Yes, proceed\n  2. No\n"
        ),
        "busy": "• Working (12s • esc to interrupt)\n\n▌ \n ⏎ send   ⌃J newline\n",
        "ready": "> codex\n\n▌ Ask Codex to do anything\n ⏎ send   ⌃J newline   ⌃T transcript\n",
    },
    "gemini": {
        "waiting": (
            " Shell npm test\n Allow execution of: 'npm'?\n"
            " ● 1. Yes, allow once\n   2. Yes, allow always\n   3. No (esc)\n"
        ),
        "busy": "⠼ Reading the files (esc to cancel, 3s)\n\n> Type your message or @path/to/file\n",
        "ready": (
            "✦ Done.\n\n╭──────────────────────────╮\n"
            "│ >   Type your message or @path/to/file │\n╰──────────────────────────╯\n"
        ),
    },
    "aider": {
        "waiting": "Run shell command? npm test (Y)es/(N)o [Yes]: ",
        "busy": "Waiting for claude-sonnet-4\n",
        "ready": "Tokens: 2.1k sent, 120 received.\n> ",
    },
}


@pytest.mark.parametrize(
    ("runtime", "kind"), [(r, k) for r, screens in SCREENS.items() for k in screens]
)
def test_screen_patterns_through_the_witness_classifier(runtime: str, kind: str) -> None:
    verdict = get_runtime(runtime).classify(SCREENS[runtime][kind])
    assert verdict.kind == kind, verdict.reason


def test_every_pattern_compiles() -> None:
    for name in ("codex", "gemini", "aider"):
        data = get_runtime(name).patterns
        for pattern in (*data.waiting, *data.busy, *data.ready):
            assert pattern.compiled.pattern == pattern.regex
