"""`swarm doctor`: is this machine ready to run a swarm, and if not, what to do about it.

Agents that cannot start fail far from where the cause is (a pane that only says "command
not found", an agent at a login screen), so the checks run before `swarm up` can: tmux
new enough for the control-mode client, git, each runtime the layout uses with its
version, and the API key each runtime needs. Every failed check says how to fix it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swarm.plan import SwarmPlan

from swarm.runtimes.registry import DEFAULT_RUNTIME

MIN_TMUX = (3, 2)  # control-mode subscriptions (refresh-client -B)
VERSION_TIMEOUT = 15.0


@dataclass(frozen=True)
class Check:
    """One thing looked at: found or not, what was seen, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def label(self) -> str:
        if self.ok:
            return "ok"
        return "MISSING" if self.required else "warning"


def version_of(argv: Sequence[str]) -> str | None:
    """The first version number a `--version` style command prints, if it runs."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=VERSION_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\d+(\.\d+)+[a-z]?", proc.stdout + proc.stderr)
    return match.group(0) if match else None


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def check_tmux() -> Check:
    if shutil.which("tmux") is None:
        return Check(
            "tmux", False, "not found", "install tmux >= 3.2 (apt install tmux, brew install tmux)"
        )
    version = version_of(["tmux", "-V"])
    if version is None:
        return Check(
            "tmux", False, "found, but `tmux -V` printed no version", "reinstall tmux >= 3.2"
        )
    if parse_version(version)[:2] < MIN_TMUX:
        need = ".".join(map(str, MIN_TMUX))
        return Check(
            "tmux",
            False,
            f"{version} is too old (>= {need} needed)",
            f"upgrade tmux to {need} or newer",
        )
    return Check("tmux", True, version)


def check_git() -> Check:
    if shutil.which("git") is None:
        return Check("git", False, "not found", "install git (apt install git, brew install git)")
    return Check("git", True, version_of(["git", "--version"]) or "found")


def check_sandbox() -> Check:
    """Polecats run confined by the OS where bubblewrap works; elsewhere only the guard
    stands between an agent and the person's checkout (a warning, not a failure)."""
    from swarm import sandbox

    why = sandbox.available()
    if why is None:
        version = version_of([sandbox.BWRAP, "--version"]) or "found"
        return Check("sandbox", True, f"polecats run confined (bubblewrap {version})")
    return Check(
        "sandbox",
        False,
        f"agents are NOT confined: {why}",
        f"{sandbox.INSTALL_HINT}; without it only the guard checks their commands",
        required=False,
    )


def check_runtime(runtime: str, env: Mapping[str, str], users: Sequence[str] = ()) -> Check:
    """Whether the runtime's program is found, its version, and whether that version is in
    the range the end-to-end suite runs."""
    from swarm.runtimes.registry import get_runtime

    who = f" (for {', '.join(users)})" if users else ""
    info = get_runtime(runtime)
    label = info.program or runtime
    binary = info.find(env)
    if binary is None:
        return Check(label, False, info.missing(env) + who, info.install_hint or f"install {label}")
    version = info.version(binary)
    outside = info.outside_tested(version)
    detail = f"{version or 'unknown version'} at {binary}{who}"
    if outside is not None:
        return Check(label, False, f"{detail}: {outside}", info.install_hint, required=False)
    return Check(label, True, detail)


def check_command(argv: Sequence[str], env: Mapping[str, str], users: Sequence[str] = ()) -> Check:
    """A `command` runtime: its program must be found."""
    who = f" (for {', '.join(users)})" if users else ""
    program = argv[0] if argv else ""
    found = shutil.which(program, path=env.get("PATH")) or (
        program if os.path.isabs(program) and os.access(program, os.X_OK) else None
    )
    if not found:
        return Check(
            f"command {program}",
            False,
            "not found" + who,
            f"install {program} or fix the role's `command`",
        )
    return Check(f"command {program}", True, f"{found}{who}")


def check_key(runtime: str, env: Mapping[str, str], home: Path) -> Check | None:
    """The API key a runtime needs: a variable, or a saved login."""
    from swarm.runtimes.registry import get_runtime

    info = get_runtime(runtime)
    names = info.key_variables
    if not names:
        return None
    present = [n for n in names if env.get(n)]
    if present:
        return Check(f"{runtime} key", True, f"{present[0]} is set")
    login = info.login_file
    if login and (home / login).is_file():
        return Check(f"{runtime} key", True, f"no key variable, but a saved login (~/{login})")
    fix = f"export {names[0]}=… in the shell that runs `swarm up` (or the layout's `environment`)"
    if login:
        fix += f", or run `{info.program or runtime}` once and log in"
    return Check(
        f"{runtime} key",
        False,
        f"none of {', '.join(names)} is set and no saved login was found",
        fix,
        required=info.key_required,
    )


@dataclass(frozen=True)
class Needs:
    """What a layout needs: runtimes (with the agents that use them) and commands."""

    runtimes: dict[str, list[str]]
    commands: dict[tuple[str, ...], list[str]]
    environment: dict[str, str]


def layout_needs(layout: str | None, repo: Path | None) -> tuple[Needs | None, Check | None]:
    """Read the layout that `swarm up` would use here; a broken one is a failed check."""
    from swarm.errors import SwarmError

    if repo is None:
        return None, None
    try:
        plan = _plan_to_check(layout, repo)
    except SwarmError as exc:
        return None, Check("layout", False, exc.message, "fix the layout (`swarm validate FILE`)")
    runtimes: dict[str, list[str]] = {}
    commands: dict[tuple[str, ...], list[str]] = {}
    from swarm.runtimes.registry import get_runtime

    for agent in plan.agents:
        runtime = get_runtime(agent.runtime)
        if runtime.uses_role_command:
            commands.setdefault(agent.role.command, []).append(agent.name)
        elif runtime.program is not None:
            runtimes.setdefault(agent.runtime, []).append(agent.name)
    return Needs(runtimes, commands, dict(plan.environment)), Check(
        "layout", True, f"{plan.layout_name} ({len(plan.agents)} agents)"
    )


def _plan_to_check(layout: str | None, repo: Path) -> SwarmPlan:
    """The plan of the swarm that runs here (its plan file), else the layout `swarm up`
    would read; `--layout` always means that layout file."""
    from swarm import paths
    from swarm.config import load_plan
    from swarm.lifecycle import default_layout, previous_instance
    from swarm.planfile import read_plan

    if layout is None and paths.plan_path(paths.state_dir(repo)).exists():
        return read_plan(paths.state_dir(repo))
    return load_plan(layout or default_layout(repo, previous_instance(repo)), repo)


def _short(names: Sequence[str]) -> list[str]:
    return list(names) if len(names) <= 3 else [*names[:2], f"{len(names) - 2} more"]


def run_checks(
    layout: str | None = None,
    repo: Path | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> list[Check]:
    """Every check, in the order a person would fix them."""
    env = dict(os.environ if env is None else env)
    home = home or Path(env.get("HOME") or Path.home())
    checks = [check_tmux(), check_git(), check_sandbox()]
    needs, layout_check = layout_needs(layout, repo)
    if layout_check is not None:
        checks.append(layout_check)
    if needs is None:
        runtimes: dict[str, list[str]] = {DEFAULT_RUNTIME: []}
        commands: dict[tuple[str, ...], list[str]] = {}
    else:
        runtimes, commands = needs.runtimes, needs.commands
        env = {**env, **needs.environment}
    for runtime, users in runtimes.items():
        checks.append(check_runtime(runtime, env, _short(users)))
        key = check_key(runtime, env, home)
        if key is not None:
            checks.append(key)
    for argv, users in commands.items():
        checks.append(check_command(argv, env, _short(users)))
    return checks


def report(checks: Iterable[Check]) -> tuple[str, int]:
    """The text `swarm doctor` prints and its exit code (1 if anything required is missing)."""
    lines: list[str] = []
    failed = False
    for check in checks:
        lines.append(f"{check.label:<8} {check.name}: {check.detail}")
        if not check.ok:
            lines.append(f"{'':<8} fix: {check.fix}")
            failed = failed or check.required
    lines.append("some required things are missing (see 'fix:' above)" if failed else "all good")
    return "\n".join(lines), 1 if failed else 0
