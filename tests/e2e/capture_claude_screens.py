"""Capture golden screens of the real Claude Code CLI into tests/fixtures/screens/.

    python tests/e2e/capture_claude_screens.py [--claude BIN] [--out DIR]

Run it for each tested version whenever `.ci/install-claude` changes them: the screen-pattern
tests check the patterns against what every tested version really draws. Everything runs on a
private tmux socket against the scripted model server (fake_anthropic.py) on 127.0.0.1;
nothing reaches the network.

Names follow `<runtime>-<state>-<what>.txt` (state: ready, busy, waiting), which the
screen-pattern tests read as the expected verdict. They go to `screens/claude-<version>/`,
and the start-up gates to `screens/claude-<version>/gates/`, named after the gate
(`swarm.runtimes.claude.GATES`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from fake_anthropic import FakeAnthropic, Rule, Script, Text, run, say  # noqa: E402

from swarm.config.roles import find_role, resolve_role  # noqa: E402
from swarm.config.yamlpos import load_document  # noqa: E402
from swarm.plan import AgentSpec  # noqa: E402
from swarm.runtimes import claude  # noqa: E402

WIDTH, HEIGHT = 100, 32
KEY = "sk-ant-swarm-test-0123456789abcdefghij"


class Pane:
    """One tmux pane on a private socket, running one command."""

    def __init__(
        self, socket: str, name: str, argv: list[str], cwd: Path, env: dict[str, str]
    ) -> None:
        self.socket, self.target = socket, f"={name}:"
        flags = [f"-e{k}={v}" for k, v in env.items()]
        size = ("-x", str(WIDTH), "-y", str(HEIGHT))
        # remain-on-exit first, so a command that exits at once leaves its message on screen
        self.tmux(
            "new-session", "-d", "-s", name, *size, "-c", str(cwd), *flags, "--", "sleep", "30"
        )
        self.tmux("set-option", "-w", "-t", self.target, "remain-on-exit", "on")
        self.tmux("respawn-pane", "-k", "-t", self.target, "-c", str(cwd), *flags, "--", *argv)

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.target, *keys)

    def wait(self, check: Callable[[str], bool], timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if check(text):
                time.sleep(0.3)  # let the frame settle
                return self.screen()
            if time.monotonic() > deadline:
                raise TimeoutError(f"screen never matched:\n{text}")
            time.sleep(0.1)


def polecat(state_dir: Path, repo: Path) -> AgentSpec:
    path = find_role("polecat", [HERE.parents[1] / "roles"])
    assert path is not None
    doc = load_document(path, what="role file")
    role = resolve_role(
        "polecat", {}, layout_doc=doc, folders=[path.parent], layout_runtime="claude"
    )
    return AgentSpec("polecat-1", role.spec)


def capture(out: Path, binary: str) -> list[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="cc-capture-"))
    socket = f"cc-capture-{uuid.uuid4().hex[:8]}"
    os.environ["TMUX_TMPDIR"] = str(tmp)
    repo = tmp / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    home = tmp / "home"
    home.mkdir()
    script = Script()
    written: list[Path] = []
    with FakeAnthropic(script) as api:
        env = {
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": api.url,
            "ANTHROPIC_API_KEY": KEY,
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "PATH": os.environ["PATH"],
        }

        def save(name: str, text: str, folder: Path = out) -> None:
            """Trailing blanks dropped (a non-breaking space is kept: Claude draws one after
            its `❯`), the temp folder named the same in every run, tmux's own line left out."""
            lines = [
                line.rstrip(" ") for line in text.replace(str(tmp), "/tmp/capture").splitlines()
            ]
            lines = [line for line in lines if not line.startswith("Pane is dead")]
            while lines and not lines[-1].strip():
                lines.pop()
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{name}.txt"
            path.write_text("\n".join(lines) + "\n")
            written.append(path)

        try:
            # The swarm's own launch line: config prepared, so no gate; then each state.
            state = repo / ".swarm"
            argv = claude.launch_argv(
                polecat(state, repo), binary=binary, state_dir=state, repo=repo, worktree=None
            )
            pane = Pane(socket, "agent", list(argv), repo, env)
            save(
                "claude-ready-started",
                pane.wait(lambda s: "● OK." in s and "esc to interrupt" not in s),
            )
            pane.keys("-l", "please wait")
            save("claude-ready-input-pending", pane.wait(lambda s: "please wait" in s))
            pane.keys("C-u")
            script.add(Rule("think slowly", (Text("Thought about it."),), delay=4.0))
            pane.keys("-l", "think slowly")
            pane.keys("Enter")
            save(
                "claude-busy-thinking",
                pane.wait(lambda s: "esc to interrupt" in s and "think slowly" in s),
            )
            # Typed while the turn runs: queued, not a turn of its own.
            pane.keys("-l", "a queued note")
            pane.keys("Enter")
            try:
                save("claude-busy-queued", pane.wait(lambda s: "queued messages" in s, 20))
            except TimeoutError:
                print("(this version shows no queued-messages line)", file=sys.stderr)
            pane.wait(lambda s: "Thought about it." in s, timeout=15)
            pane.wait(lambda s: "esc to interrupt" not in s, timeout=15)
            script.add(run("run a tool", "git status --short && sleep 4"))
            pane.keys("-l", "run a tool")
            pane.keys("Enter")

            # "⎿  Running…" on 2.1.197; 2.1.3xx folds the command into a summary line
            def tool_runs(s: str) -> bool:
                after = s.split("run a tool")[-1]
                shown = "Running" in after or "shell command" in after or "git status" in after
                return shown and "esc to interrupt" in after

            screen = pane.wait(lambda s: tool_runs(s) or "Do you want to proceed?" in s)
            if "Do you want to proceed?" in screen:
                pane.keys("Enter")
                screen = pane.wait(tool_runs)
            save("claude-busy-tool", screen)
            pane.wait(lambda s: "● OK." in s.split("run a tool")[-1], timeout=20)
            script.add(run("ask first", "python3 -c 'print(6 * 7)'"), say("42", "Forty-two."))
            pane.keys("-l", "ask first")
            pane.keys("Enter")
            save("claude-waiting-permission", pane.wait(lambda s: "Do you want to proceed?" in s))
            pane.keys("Enter")
            save(
                "claude-ready-after-tool",
                pane.wait(lambda s: "Forty-two." in s and "esc to interrupt" not in s),
            )

            # The gates a bare config shows, in the order Claude Code shows them.
            gates = out / "gates"
            bare = tmp / "bare"
            onboarding = Pane(
                socket, "onboarding", [binary], repo, {**env, "CLAUDE_CONFIG_DIR": str(bare / "a")}
            )
            save(
                "onboarding",
                onboarding.wait(lambda s: "Unable to connect" in s or "text style" in s),
                gates,
            )
            (bare / "b").mkdir(parents=True)
            (bare / "b" / ".claude.json").write_text(
                json.dumps(
                    {
                        "hasCompletedOnboarding": True,
                        "lastOnboardingVersion": "2.1.197",
                        "theme": "dark",
                    }
                )
            )
            gated = Pane(
                socket, "gated", [binary], repo, {**env, "CLAUDE_CONFIG_DIR": str(bare / "b")}
            )
            trust = gated.wait(lambda s: "trust this folder" in s)
            save("trust", trust, gates)
            if "❯ No, exit" in trust:  # 2.1.3xx puts "No, exit" first
                gated.keys("Down")
            gated.keys("Enter")
            save("api-key", gated.wait(lambda s: "Do you want to use this API key?" in s), gates)
            prepared = claude.claude_json({}, version="2.1.197", trust=[str(repo)], api_key=KEY)
            (bare / "c").mkdir()
            (bare / "c" / ".claude.json").write_text(json.dumps(prepared))
            bypass_env = {**env, "CLAUDE_CONFIG_DIR": str(bare / "c"), "IS_SANDBOX": "1"}
            bypass = Pane(
                socket, "bypass", [binary, "--dangerously-skip-permissions"], repo, bypass_env
            )
            save("bypass-warning", bypass.wait(lambda s: "Yes, I accept" in s), gates)
            if os.geteuid() == 0:
                # (through sh: Claude's refusal would vanish with its pane otherwise)
                refusal = f"env -u IS_SANDBOX {binary} --dangerously-skip-permissions; sleep 30"
                no_sandbox = ["sh", "-c", refusal]
                root = Pane(
                    socket, "root", no_sandbox, repo, {**env, "CLAUDE_CONFIG_DIR": str(bare / "c")}
                )
                save("root-refused", root.wait(lambda s: "root/sudo" in s), gates)
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claude", help="the claude binary (default: the one swarm finds)")
    parser.add_argument("--out", type=Path, help="default: fixtures/screens/claude-<version>")
    args = parser.parse_args()
    binary = args.claude or claude.find_binary()
    if binary is None:
        print("claude not found: run .ci/install-claude or set SWARM_CLAUDE_BIN", file=sys.stderr)
        return 1
    version = claude.installed_version(binary) or "unknown"
    out = args.out or HERE.parent / "fixtures" / "screens" / f"claude-{version}"
    for path in capture(out, binary):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
