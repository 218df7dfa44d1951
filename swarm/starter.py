"""`swarm init`: a commented starter `swarm.yaml` for the repository at hand.

Two guesses save a new user the first edit: the gate (the project's own test command, read
from its files) and the runtime (the first agent CLI that is installed, else `sim`, which
needs nothing). Everything else is the `team` layout, written out with comments.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from swarm.errors import EXIT_USAGE, SwarmError
from swarm.lifecycle import REPO_LAYOUT
from swarm.preflight import find_runtime

# Agent CLIs in the order a starter prefers them.
PREFERRED_RUNTIMES = ("claude", "codex", "gemini", "aider")


def _has_make_target(makefile: Path, target: str) -> bool:
    try:
        text = makefile.read_text(errors="replace")
    except OSError:
        return False
    return any(line.startswith(f"{target}:") for line in text.splitlines())


def _npm_test(package: Path) -> bool:
    try:
        data = json.loads(package.read_text())
    except (OSError, ValueError):
        return False
    script = data.get("scripts", {}).get("test", "") if isinstance(data, dict) else ""
    return bool(script) and "no test specified" not in script


def _python_tests(repo: Path) -> bool:
    if any((repo / name).is_file() for name in ("pytest.ini", "conftest.py", "tox.ini")):
        return True
    pyproject = repo / "pyproject.toml"
    if pyproject.is_file() and "[tool.pytest" in pyproject.read_text(errors="replace"):
        return True
    for folder in (repo / "tests", repo / "test", repo):
        if folder.is_dir() and any(folder.glob("test_*.py")):
            return True
    return False


def guess_gate(repo: Path) -> list[str]:
    """The project's test command, from the files that name it; [] if nothing says."""
    if _has_make_target(repo / "Makefile", "test"):
        return ["make test"]
    if (repo / "package.json").is_file() and _npm_test(repo / "package.json"):
        return ["npm test"]
    if (repo / "Cargo.toml").is_file():
        return ["cargo test"]
    if (repo / "go.mod").is_file():
        return ["go test ./..."]
    if _python_tests(repo):
        return ["python3 -m pytest -q"]
    return []


def guess_runtime(env: dict[str, str] | None = None) -> str:
    """The first installed agent CLI, else `sim` (which needs nothing)."""
    env = dict(os.environ if env is None else env)
    for runtime in PREFERRED_RUNTIMES:
        if find_runtime(runtime, (), env).path is not None:
            return runtime
    return "sim"


def starter_text(repo: Path, runtime: str, gate: list[str]) -> str:
    gate_line = json.dumps(gate)
    gate_note = "guessed from the project's files" if gate else "nothing found: add your tests"
    runtime_note = (
        "simulated agents: no API key (nothing installed was found)"
        if runtime == "sim"
        else f"{runtime} was found on this machine"
    )
    sim_env = (
        'environment: {SWARM_SIM_NOTES: "0"}   # sim agents run only a task\'s ```sh block\n'
        if runtime == "sim"
        else ""
    )
    return f"""\
# The swarm of {repo.name}, written by `swarm init`. `swarm up` reads this file.
# Every key: docs/layouts.md (or `swarm layouts --reference`). Check: swarm validate swarm.yaml
description: A mayor, 3 polecats, a witness and a refinery for {repo.name}.
# The agents' runtime ({runtime_note}); also: claude, codex, gemini, aider, sim.
runtime: {runtime}
{sim_env}roles:
  mayor: {{count: 1}}       # the agent you talk to: it files tasks
  polecat: {{count: 3}}     # workers, each in its own worktree under .swarm/worktrees/
  witness: {{count: 1}}     # health: restarts and nudges stuck agents
  refinery: {{count: 1}}    # the merge queue: runs the gate, fast-forwards the target
windows:
  - name: control
    layout: main-vertical
    panes:
      - {{agent: mayor, size: "60%"}}
      - witness
      - refinery
  - name: polecats
    layout: tiled
    panes: [polecat]
# What every merge must pass ({gate_note}):
gate: {gate_line}
merge: {{strategy: rebase, batch_size: 4, max_bounces: 3}}
"""


@dataclass(frozen=True)
class Written:
    path: Path
    runtime: str
    gate: list[str]

    @property
    def gate_text(self) -> str:
        return " && ".join(self.gate) if self.gate else "(none found: edit `gate:`)"


def write_starter(repo: Path, *, force: bool = False, env: dict[str, str] | None = None) -> Written:
    path = repo / REPO_LAYOUT
    if path.exists() and not force:
        raise SwarmError(f"{path}: already exists (swarm init --force replaces it)", EXIT_USAGE)
    runtime = guess_runtime(env)
    gate = guess_gate(repo)
    path.write_text(starter_text(repo, runtime, gate))
    return Written(path, runtime, gate)
