"""Checks `swarm up` makes before tmux or `.swarm/` is touched.

A swarm whose agents cannot start is worse than no swarm: the person is told "up", the
panes sit at `starting`, and the reason is hidden in each pane. So every runtime the plan
needs is looked up first, and a repository without a commit is refused, each with one
line that says what to do.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from swarm.errors import EXIT_USAGE, SwarmError
from swarm.git.repo import git
from swarm.plan import SwarmPlan
from swarm.runtimes.base import version_key


@dataclass(frozen=True)
class RuntimeFound:
    """What one runtime's program looks like on this machine."""

    program: str  # the name a person knows it by (`claude`, `codex`, the command's argv[0])
    path: str | None  # None: not installed
    install: str  # how to install it
    why_missing: str = "not installed"
    too_old: str | None = None  # why the installed version is not supported (None: it is)


def find_runtime(runtime: str, command: tuple[str, ...], env: Mapping[str, str]) -> RuntimeFound:
    """The one place that asks the runtime registry whether a runtime's program is here."""
    from swarm.runtimes.registry import get_runtime

    info = get_runtime(runtime)
    if info.uses_role_command:
        program = command[0] if command else ""
        return RuntimeFound(program, shutil.which(program, path=env.get("PATH")), "")
    if info.program is None:
        return RuntimeFound(info.name, info.find(env), "")  # this installation: always here
    binary = info.find(env)
    if binary is None:
        return RuntimeFound(info.program, None, info.install_hint, info.missing(env))
    too_old = None
    if info.tested_versions:
        version = info.version(binary)
        oldest = info.tested_versions[0]
        if version is not None and version_key(version) < version_key(oldest):
            too_old = f"{version} at {binary} is older than {oldest}, the oldest supported"
    return RuntimeFound(info.program, binary, info.install_hint, too_old=too_old)


def _agents_phrase(names: list[str]) -> str:
    if len(names) <= 3:
        return ", ".join(names)
    return f"{', '.join(names[:2])} and {len(names) - 2} more"


def missing_runtimes(plan: SwarmPlan, env: Mapping[str, str] | None = None) -> list[str]:
    """One line per runtime the plan needs that is missing or too old (empty: all good)."""
    env = dict(os.environ if env is None else env)
    env.update(dict(plan.environment))
    needs: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for agent in plan.agents:
        needs.setdefault((agent.runtime, agent.role.command), []).append(agent.name)
    problems: list[str] = []
    for (runtime, command), names in needs.items():
        found = find_runtime(runtime, command, env)
        who = _agents_phrase(names)
        verb = "needs" if len(names) == 1 else "need"
        if found.path is None:
            fix = f"install it ({found.install})" if found.install else "install it"
            problems.append(
                f"{who} {verb} `{found.program}` ({found.why_missing}): {fix}, "
                "or try the swarm without it: swarm up --runtime sim"
            )
        elif found.too_old is not None:
            problems.append(f"{who} {verb} `{found.program}`: {found.too_old}; update it")
    return problems


def check_runtimes(plan: SwarmPlan, env: Mapping[str, str] | None = None) -> None:
    problems = missing_runtimes(plan, env)
    if problems:
        raise SwarmError("; ".join(problems), EXIT_USAGE)


def check_has_commit(repo: Path) -> None:
    """Worktrees and the merge target need a first commit; say so instead of git's error."""
    if not git(repo, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False):
        raise SwarmError(
            f"{repo}: the repository has no commit yet; make a first commit "
            "(git add -A && git commit -m 'first commit'), then run swarm up again",
            EXIT_USAGE,
        )


def check_before_up(plan: SwarmPlan, repo: Path) -> None:
    """Everything that must hold before `swarm up` changes anything."""
    check_has_commit(repo)
    check_runtimes(plan)
