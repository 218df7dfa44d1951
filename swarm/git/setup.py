"""Preparing a new polecat worktree before its first task (the layout's `worktree` key).

A fresh worktree has the tracked files only: no `.env`, no `node_modules`, no virtualenv.
The layout names files to copy and to link from the main checkout, and commands that make
the worktree ready (`uv sync`, `npm ci`). They run once per worktree, in the polecat's own
pane before its agent starts (so the person sees them run), and are remembered by a mark in
the worktree's private git folder, so a restarted agent does not run them again.

The pane learns what to do from `SWARM_WORKTREE_SETUP` (JSON, set from the layout by
`swarm up`), so nothing reads the layout again. A failure is one line: the agent is shown
failed with the reason, and a task it held goes back to the queue.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from swarm import paths
from swarm.errors import SwarmError
from swarm.git.repo import git

SETUP_ENV = "SWARM_WORKTREE_SETUP"
PYTHON_ENV = "SWARM_SETUP_PYTHON"  # which python runs `swarm worktree-setup` in the pane
MARK = "swarm-setup-done"
TAIL = 3  # output lines of a failed command kept in the reason


class SetupFailed(SwarmError):
    """A set-up step failed; the message is the reason shown for the agent."""


@dataclass(frozen=True)
class WorktreeSetup:
    copy: tuple[str, ...] = ()
    link: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.copy or self.link or self.commands)

    def to_json(self) -> str:
        return json.dumps(
            {"copy": self.copy, "link": self.link, "commands": self.commands}, sort_keys=True
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorktreeSetup:
        raw = env.get(SETUP_ENV, "")
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(
                tuple(map(str, data.get("copy", ()))),
                tuple(map(str, data.get("link", ()))),
                tuple(map(str, data.get("commands", ()))),
            )
        except (ValueError, AttributeError, TypeError):
            raise SetupFailed(f"{SETUP_ENV} is not the JSON `swarm up` writes") from None


def setup_environment(spec: WorktreeSetup) -> dict[str, str]:
    """What `swarm up` puts in every pane's environment (nothing when there is no set-up)."""
    if not spec:
        return {}
    return {SETUP_ENV: spec.to_json(), PYTHON_ENV: sys.executable}


def _mark(worktree: Path) -> Path:
    return Path(git(worktree, "rev-parse", "--path-format=absolute", "--git-dir")) / MARK


def is_done(worktree: Path) -> bool:
    return _mark(worktree).exists()


def _inside(base: Path, name: str) -> Path:
    """`name` under `base`, refusing absolute paths and `..` (the worktree stays confined)."""
    path = (base / name).resolve()
    if Path(name).is_absolute() or not path.is_relative_to(base.resolve()):
        raise SetupFailed(f"worktree set-up: '{name}' is outside the repository")
    return path


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target)


def _link(source: Path, target: Path) -> None:
    target.symlink_to(source, target_is_directory=source.is_dir())


def _copy_and_link(repo: Path, worktree: Path, spec: WorktreeSetup, out: IO[str]) -> None:
    steps = [(n, "copy", "copied", _copy) for n in spec.copy]
    steps += [(n, "link", "linked", _link) for n in spec.link]
    for name, verb, done, action in steps:
        source, target = _inside(repo, name), _inside(worktree, name)
        if not source.exists():
            out.write(f"swarm: set-up: {name} not in {repo}, nothing to {verb}\n")
            continue
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        action(source, target)
        out.write(f"swarm: set-up: {done} {name}\n")


def _run(command: str, worktree: Path, out: IO[str]) -> None:
    out.write(f"swarm: set-up: $ {command}\n")
    out.flush()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=worktree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        out.write(line)
        out.flush()
        tail = [*tail[-(TAIL - 1) :], line.rstrip()] if line.strip() else tail
    code = proc.wait()
    if code != 0:
        last = f": {tail[-1]}" if tail else ""
        raise SetupFailed(f"worktree set-up failed: `{command}` exited {code}{last}")


def prepare(repo: Path, worktree: Path, spec: WorktreeSetup, out: IO[str] | None = None) -> bool:
    """Copy, link and run the set-up once; True if it ran now, False if done before."""
    if not spec or is_done(worktree):
        return False
    stream = out or sys.stdout
    _copy_and_link(repo, worktree, spec, stream)
    for command in spec.commands:
        _run(command, worktree, stream)
    _mark(worktree).write_text("done\n")
    stream.write("swarm: set-up done\n")
    stream.flush()
    return True


def record_failure(store_path: Path, agent: str, reason: str) -> None:
    """The agent is shown failed with the reason; a task it held goes back to the queue."""
    from swarm.store import Store

    with Store.open(store_path) as store:
        record = store.find_agent(agent)
        if record is None:
            return
        if record.hook:
            store.release_task(record.hook, f"{agent}: {reason}")
        store.set_agent_state(agent, "dead", reason)
        store.add_event("agent.setup_failed", f"{agent}: {reason}", agent=agent)


def run_in_pane(env: Mapping[str, str] | None = None, out: IO[str] | None = None) -> int:
    """`swarm worktree-setup`, run by a polecat's pane before its agent starts."""
    env = os.environ if env is None else env
    worktree = Path.cwd()
    stream = out or sys.stdout
    try:
        spec = WorktreeSetup.from_env(env)
        repo = Path(env.get("SWARM_REPO") or worktree)
        prepare(repo, worktree, spec, stream)
    except SwarmError as exc:
        stream.write(f"swarm: {exc.message}\n")
        stream.flush()
        agent, home = env.get("SWARM_AGENT"), env.get("SWARM_HOME")
        if agent and home:
            record_failure(paths.db_path(Path(home)), agent, exc.message)
        return 3
    return 0
