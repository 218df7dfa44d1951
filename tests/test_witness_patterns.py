"""Screen patterns against golden captures (`tests/fixtures/screens/<runtime>-<state>[-…].txt`).

Every capture in the folder is checked, so a capture added later (Claude Code's real
screens come with their own issue) is tested without touching this file. The Claude Code
samples below are written from docs/claude-code.md until those captures land.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm.runtimes.patterns import prompt_command
from swarm.runtimes.registry import runtime_for, runtimes

SCREENS = Path(__file__).parent / "fixtures" / "screens"
CAPTURES = sorted([*SCREENS.glob("*.txt"), *SCREENS.glob("claude-*/*.txt")])
STATE_OF = {"ready": "ready", "busy": "busy", "waiting": "waiting"}


def expected(path: Path) -> tuple[str, str]:
    runtime, state = path.stem.split("-")[:2]
    return runtime, STATE_OF[state]


def test_there_are_golden_captures_of_each_sim_state() -> None:
    states = {expected(p)[1] for p in CAPTURES if expected(p)[0] == "sim"}
    assert states == {"ready", "busy", "waiting"}


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_capture(capture: Path) -> None:
    runtime, state = expected(capture)
    verdict = runtime_for(runtime).classify(capture.read_text())
    assert verdict.kind == state, verdict.reason


def test_the_sim_prompt_names_its_command() -> None:
    screen = (SCREENS / "sim-waiting.txt").read_text()
    assert runtime_for("sim").classify(screen).command == "git push origin main"


def test_an_answered_prompt_further_up_is_not_waiting() -> None:
    # sim-ready-after-done shows an approved prompt above the finished task
    screen = (SCREENS / "sim-ready-after-done.txt").read_text()
    assert "Do you want to proceed?" in screen
    assert runtime_for("sim").classify(screen).kind == "ready"


CLAUDE_READY = """\
╭───────────────────────────────────────────╮
│ ✻ Welcome to Claude Code v2.1.197         │
╰───────────────────────────────────────────╯

────────────────────────────────────────────────
❯\u00a0
────────────────────────────────────────────────
  ? for shortcuts
"""

CLAUDE_BUSY = """\
> fix the tests

● Bash(pytest -q)
  ⎿  Running…

✻ Cogitating… (12s · ↑ 1.2k tokens · esc to interrupt)

────────────────────────────────────────────────
❯\u00a0
────────────────────────────────────────────────
"""

CLAUDE_PERMISSION = """\
● Bash(git push origin main)
  ⎿  Waiting…

 Bash command
   git push origin main
   Push the branch
 This command requires approval
 Do you want to proceed?
 ❯ 1. Yes
   2. Yes, and don't ask again for git push commands in /repo
   3. No
 Esc to cancel · Tab to amend · ctrl+e to explain
"""

CLAUDE_API_KEY_GATE = """\
 Detected a custom API key in your environment

 ANTHROPIC_API_KEY: sk-ant-...xyz

 Do you want to use this API key?

 ❯ 1. Yes
   2. No (recommended)
"""


@pytest.mark.parametrize(
    ("screen", "kind"),
    [
        (CLAUDE_READY, "ready"),
        (CLAUDE_BUSY, "busy"),
        (CLAUDE_PERMISSION, "waiting"),
        (CLAUDE_API_KEY_GATE, "waiting"),
    ],
    ids=["ready", "busy", "permission", "api-key-gate"],
)
def test_claude_screens_from_the_docs(screen: str, kind: str) -> None:
    assert runtime_for("claude").classify(screen).kind == kind


def test_claude_permission_prompt_command() -> None:
    patterns = runtime_for("claude").patterns
    assert prompt_command(patterns, CLAUDE_PERMISSION) == "git push origin main"
    assert runtime_for("claude").classify(CLAUDE_PERMISSION).command == "git push origin main"


def test_unknown_runtimes_use_generic_patterns() -> None:
    from swarm.runtimes.patterns import GENERIC

    assert runtime_for("some-command").patterns is GENERIC
    assert runtime_for("aider").patterns is not GENERIC  # the other CLIs bring their own
    assert runtime_for("aider").classify("Run shell command? (Y)es/(N)o [Yes]: ").kind == "waiting"
    assert runtime_for("some-command").classify("Apply these edits? (y/n)").kind == "waiting"
    assert runtime_for("aider").classify("> ").kind == "ready"
    assert runtime_for("aider").classify("").kind == "unknown"


def test_patterns_are_data_every_regex_compiles() -> None:
    for runtime, info in runtimes().items():
        patterns = info.patterns
        for group in (patterns.waiting, patterns.busy, patterns.ready):
            for pattern in group:
                assert pattern.compiled.pattern, runtime
                assert pattern.within >= 1
