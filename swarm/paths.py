"""Where a swarm keeps things: the state folder, the tmux socket name, the bundled files."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from swarm import envnames

STATE_DIR_NAME = ".swarm"
DB_NAME = "swarm.db"
PLAN_NAME = "plan.json"  # the resolved plan `swarm up` built (see swarm.planfile)

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_dir(kind: str) -> Path:
    """The folder of bundled `layouts` or `roles`: inside the wheel, or the source checkout."""
    installed = _PACKAGE_DIR / "_bundled" / kind
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / kind


def demo_dir() -> Path:
    """The demo's project and task script (`examples/demo` in the source tree)."""
    installed = _PACKAGE_DIR / "_bundled" / "demo"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "examples" / "demo"


def state_dir(repo: Path) -> Path:
    return repo / STATE_DIR_NAME


def db_path(state: Path) -> Path:
    return state / DB_NAME


def plan_path(state: Path) -> Path:
    return state / PLAN_NAME


def worktrees_dir(state: Path) -> Path:
    return state / "worktrees"


def agent_worktree(state: Path, agent: str) -> Path:
    """The lasting worktree of an agent that works in its own (`.swarm/worktrees/<agent>`)."""
    return worktrees_dir(state) / agent


def socket_name(repo: Path, session: str) -> str:
    """A private tmux socket per swarm (tmux -L), stable for one repo and session.

    `SWARM_TMUX_SOCKET` overrides it: tests give every swarm its own socket this way.
    """
    override = os.environ.get(envnames.TMUX_SOCKET)
    if override:
        return override
    digest = hashlib.sha1(str(repo.resolve()).encode()).hexdigest()[:8]
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", session)
    return f"swarm-{safe}-{digest}"
