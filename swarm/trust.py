"""Trust before running a repository's commands.

A layout can run code: the refinery runs its `gate` commands, a tmux option such as
`status-right: "#(…)"` runs a command whenever a client draws the status line, a role with
runtime `command` runs its argv, `environment` can set `LD_PRELOAD` or `PATH`, and a role can
let its agents run anything unasked. Cloning someone's repository and typing `swarm up` must
not run their commands unasked, so the files a clone brings (a layout or role file inside the
repository: `swarm.yaml`, `.swarm/layouts/`, `.swarm/roles/`, `role_paths` in the tree) are
trusted explicitly: the first `swarm up`, and the first after any change to them, shows what
they will run and asks (or needs `--trust` when there is no terminal to ask on).

What is remembered is a digest of those files' bytes (and the repository's path), in a file
outside every repository (`$XDG_STATE_HOME/swarm/trusted`), so a repository cannot ship its
own approval. Bundled layouts and roles, and files outside the repository (the person's own),
need no approval. Processes that reload the layout later (refinery, witness) refuse a layout
whose files changed since they were trusted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from swarm import paths
from swarm.errors import EXIT_USAGE, SwarmError
from swarm.plan import SwarmPlan
from swarm.textsafe import one_line

Ask = Callable[[list[str]], bool]  # shown the lines of what will run; True to trust
MAX_SHOWN = 12  # environment variables listed one by one before "and N more"


class NotTrusted(SwarmError):
    """A repository's layout was not approved: nothing of it ran."""

    exit_code = EXIT_USAGE


def trust_file() -> Path:
    """Where approvals are kept: outside every repository, so a clone cannot bring its own."""
    override = os.environ.get("SWARM_TRUST_FILE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "swarm" / "trusted"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def repo_sources(plan: SwarmPlan) -> list[Path]:
    """The layout and role files of `plan` that came with the repository (need approval).

    Once anything came with the repository, every role file it uses that is not bundled
    counts too (a repository's layout can point `role_paths` outside itself).
    """
    bundled = (paths.bundled_dir("layouts"), paths.bundled_dir("roles"))
    candidates = [plan.layout_path, *(a.role.source for a in plan.agents if a.role.source)]
    own = [p.resolve() for p in candidates if not any(_inside(p, b) for b in bundled)]
    if not any(_inside(path, plan.repo) for path in own):
        return []
    return sorted(set(own))


def digest(plan: SwarmPlan, sources: list[Path]) -> str:
    """The files' bytes (and where the repository is): any change asks again."""
    h = hashlib.sha256(str(plan.repo.resolve()).encode() + b"\0")
    for path in sources:
        h.update(str(path).encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError as exc:
            raise NotTrusted(f"{path}: cannot read it to check trust ({exc.strerror})") from None
        h.update(b"\0")
    return h.hexdigest()


def what_it_runs(plan: SwarmPlan, sources: list[Path]) -> list[str]:
    """What the person approves, one line each (control characters made visible)."""
    lines = [f"files from the repository: {', '.join(str(p) for p in sources)}"]
    lines += [f"gate command (run by the refinery): {c}" for c in plan.gate]
    for key, value in plan.options:
        if "#(" in value:
            lines.append(f"tmux option {key} runs a command: {value}")
    seen: set[str] = set()
    for agent in plan.agents:
        role = agent.role
        if role.name in seen:
            continue
        seen.add(role.name)
        if role.command:
            lines.append(f"role {role.name} runs: {' '.join(role.command)}")
        if role.permissions.skip_permissions:
            lines.append(f"role {role.name}: agents run any command without asking")
        if role.permissions.auto_approve:
            shown = ", ".join(role.permissions.auto_approve)
            lines.append(f"role {role.name}: prompts approved automatically: {shown}")
        if role.permissions.allow:
            allowed = ", ".join(role.permissions.allow)
            lines.append(f"role {role.name}: allowed without asking: {allowed}")
    env = list(plan.environment)
    for key, value in env[:MAX_SHOWN]:
        lines.append(f"environment: {key}={value}")
    if len(env) > MAX_SHOWN:
        lines.append(f"environment: and {len(env) - MAX_SHOWN} more variables")
    return [one_line(line) for line in lines]


def is_trusted(value: str) -> bool:
    try:
        text = trust_file().read_text()
    except OSError:
        return False
    return any(line.split(" ", 1)[0] == value for line in text.splitlines())


def remember(value: str, plan: SwarmPlan) -> None:
    """Append the approval (0600, in a 0700 folder)."""
    file = trust_file()
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as out:
            out.write(f"{value} {plan.repo} {plan.layout_path}\n")
    except OSError as exc:
        raise SwarmError(f"{file}: cannot record the approval ({exc.strerror})") from None


def check(plan: SwarmPlan, *, trust: bool = False, ask: Ask | None = None) -> None:
    """Return if the plan may run; raise `NotTrusted` (nothing ran) if not.

    `trust` approves without asking (`swarm up --trust`); `ask` shows what will run and
    returns the person's answer; with neither, an unapproved repository layout is refused.
    """
    sources = repo_sources(plan)
    if not sources:
        return
    value = digest(plan, sources)
    if is_trusted(value):
        return
    if not trust:
        if ask is None:
            raise NotTrusted(
                f"{plan.layout_path} comes with the repository and can run commands; it is "
                "not trusted yet: review it, then run `swarm up --trust` (or answer at a terminal)"
            )
        if not ask(what_it_runs(plan, sources)):
            raise NotTrusted(f"not trusted: nothing of {plan.layout_path} was run")
    remember(value, plan)


def require(plan: SwarmPlan) -> SwarmPlan:
    """For processes that reload the layout: refuse files changed since they were trusted."""
    sources = repo_sources(plan)
    if sources and not is_trusted(digest(plan, sources)):
        raise NotTrusted(
            f"{plan.layout_path} changed since it was trusted: run `swarm up` to review it"
        )
    return plan


def load_trusted(layout: Path, repo: Path) -> SwarmPlan:
    """`load_plan`, then `require`: what the refinery, witness and restarts use."""
    from swarm.config import load_plan

    return require(load_plan(str(layout), repo))
