"""What Swarm knows about an agent CLI, as one object: the `Runtime` contract.

Everything the rest of the swarm needs from "the program in the pane" is asked of its
runtime object, never decided by testing a runtime's name: how to launch it, whether it
reports its state through `swarm report` (Claude Code's hooks, the sim), whether it runs a
turn of its own at start, whether a new session is handed its task at start, its screen
patterns, the keys that answer a permission prompt, how to read its input line, how text
must be shaped so that it arrives as text, its install hint and the versions it is tested
on. Built-in runtimes live in this package; others come from packages through the
`swarm.runtimes` entry-point group (see `swarm.runtimes.registry` and docs/runtimes.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from swarm.errors import ConfigError, SwarmError
from swarm.runtimes.patterns import GENERIC, ScreenPatterns, ScreenVerdict, classify

if TYPE_CHECKING:
    from swarm.plan import AgentSpec


@dataclass(frozen=True)
class LaunchContext:
    """Where an agent runs: what every runtime's launch line may need."""

    repo: Path
    state_dir: Path
    socket: str
    session: str
    base_ref: str = "HEAD"  # what a new worktree starts from (the merge target)
    gate: tuple[str, ...] = ()  # the layout's gate commands (agents may run them unasked)
    worktree: Path | None = None  # the agent's own worktree, when its role has one


def swarm_argv(*args: str) -> tuple[str, ...]:
    """Run this same swarm installation, whatever PATH says inside the pane."""
    return (sys.executable, "-m", "swarm", *args)


def version_of(argv: list[str]) -> str | None:
    """The first version-looking word a program prints for `--version` (slow: a process)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\d+(\.\d+)+", out.stdout + out.stderr)
    return match.group(0) if match else None


def version_key(version: str) -> tuple[int, ...]:
    """`2.1.197` as a tuple that sorts the way versions do."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


_ESCAPE_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def strip_escape_sequences(text: str) -> str:
    return _ESCAPE_SEQUENCE.sub("", text)


class Runtime:
    """One agent CLI. Subclasses set the class attributes and implement `argv`."""

    name: ClassVar[str] = "generic"
    description: ClassVar[str] = "a program the swarm knows nothing about"
    program: ClassVar[str | None] = None  # the executable looked up on PATH (None: none needed)
    install_hint: ClassVar[str] = ""
    # Variables that hold its API key (any one is enough), and a login file it saves itself
    # (relative to HOME); `swarm doctor` checks one or the other.
    key_variables: ClassVar[tuple[str, ...]] = ()
    login_file: ClassVar[str | None] = None
    key_required: ClassVar[bool] = True
    # The oldest and newest versions the end-to-end suite runs (empty: not tested that way).
    tested_versions: ClassVar[tuple[str, ...]] = ()

    reports: ClassVar[bool] = False  # reports its state through `swarm report` (exact state)
    startup_turn: ClassVar[bool] = False  # runs a turn of its own at start: ready after its Stop
    restores_task: ClassVar[bool] = False  # a new session is given its held task at start
    builtin_loop: ClassVar[bool] = False  # a swarm loop kept alive by the controller, no agent
    uses_role_command: ClassVar[bool] = False  # runs the role's `command` list
    # Variables a layout gets when `swarm up --runtime NAME` swaps this runtime in for the
    # real agents (the sim then commits no notes nobody asked for).
    stand_in_environment: ClassVar[dict[str, str]] = {}

    approve_keys: ClassVar[tuple[str, ...]] = ("Enter",)
    refuse_keys: ClassVar[tuple[str, ...]] = ("Escape",)
    refusal_ends_turn: ClassVar[bool] = False  # refusing a prompt stops its turn, it then waits
    patterns: ClassVar[ScreenPatterns] = GENERIC
    # What it does to typed text, for docs and `swarm doctor` (the code is `received`).
    normalisations: ClassVar[str] = "none known"

    # -- finding and starting it -----------------------------------------------------

    def find(self, env: Mapping[str, str] | None = None) -> str | None:
        """The executable to run, or None when it is not installed."""
        if self.program is None:
            return sys.executable
        return shutil.which(self.program, path=env.get("PATH") if env else None)

    def version(self, binary: str) -> str | None:
        return version_of([binary, "--version"])

    def missing(self, env: Mapping[str, str]) -> str:
        """Why `find` found nothing, in a few words."""
        return "not found on PATH"

    def outside_tested(self, version: str | None) -> str | None:
        """Why `version` is outside the tested range, or None when it is inside (or untested)."""
        if not self.tested_versions or version is None:
            return None
        oldest, newest = self.tested_versions[0], self.tested_versions[-1]
        if version_key(version) < version_key(oldest):
            return f"{version} is older than the oldest tested ({oldest}); please upgrade"
        if version_key(version) > version_key(newest):
            return f"{version} is newer than the newest tested ({newest}); report any trouble"
        return None

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        """The pane's command for `agent` (the worktree prelude is added by the caller)."""
        raise ConfigError(f"runtime {self.name} does not say how to launch it")

    def run_agent(self) -> int:
        """`swarm agent NAME`: run the agent program this runtime ships, in this terminal."""
        raise SwarmError(f"runtime {self.name} ships no agent program of its own")

    # -- its screen --------------------------------------------------------------------

    def classify(self, screen: str) -> ScreenVerdict:
        """Waiting, busy, ready or unknown, from a capture of its pane."""
        return classify(self.patterns, screen)

    reads_input_line: ClassVar[bool] = False  # `input_pending` can read its screen

    def input_pending(self, screen: str) -> bool:
        """Does typed text still wait in its input line (when `reads_input_line`)?"""
        return False

    def queued(self, screen: str) -> bool:
        """Did it queue the text (typed while a turn runs) instead of starting a turn?"""
        return False

    # -- text it is given --------------------------------------------------------------

    def as_text(self, text: str) -> str:
        """`text` shaped so the runtime reads it as a message, never as a command of its own."""
        return text

    def received(self, text: str) -> str:
        """What its prompt report carries when `text` was typed: its normalisations applied.
        Compared (after `strip`) with the prompt a `UserPromptSubmit` report carries."""
        return text.replace("\r\n", "\n").strip()

    def prompt_of(self, reported: str) -> str:
        """The typed text inside a prompt report (a runtime may wrap pasted text)."""
        return reported.strip()


def same_text(runtime: Runtime, sent: str, reported: str) -> bool:
    """Did the runtime's prompt report carry exactly the text that was typed?"""
    return runtime.prompt_of(reported) == runtime.received(runtime.as_text(sent)).strip()
