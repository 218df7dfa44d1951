"""`swarm ls`: the swarms running on this machine, across repositories.

No registry to go stale: each swarm is its own tmux server on a private socket named
`swarm-…` (or `$SWARM_TMUX_SOCKET`), and every session carries `SWARM_HOME` in its
environment. So the socket folder is listed and each swarm server asked once. Other tmux
servers (the person's own) are never contacted.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from swarm.instance import SwarmInstance
from swarm.store import Store

SOCKET_PREFIX = "swarm-"


def socket_folder(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ if env is None else env)
    base = env.get("TMUX_TMPDIR") or "/tmp"
    return Path(base) / f"tmux-{os.getuid()}"


def swarm_sockets(env: dict[str, str] | None = None) -> list[str]:
    env = dict(os.environ if env is None else env)
    folder = socket_folder(env)
    names: list[str] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        try:
            is_socket = stat.S_ISSOCK(entry.stat().st_mode)
        except OSError:
            continue
        if is_socket and entry.name.startswith(SOCKET_PREFIX):
            names.append(entry.name)
    own = env.get("SWARM_TMUX_SOCKET")
    if own and own not in names and (folder / own).exists():
        names.append(own)
    return names


def _tmux(socket: str, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


@dataclass(frozen=True)
class RunningSwarm:
    session: str
    socket: str
    repo: Path
    state_dir: Path
    agents: int = 0
    tasks: dict[str, int] = field(default_factory=dict)

    def tasks_text(self) -> str:
        shown = [f"{n} {status}" for status, n in self.tasks.items() if n]
        return ", ".join(shown) or "none"

    def to_json(self) -> dict[str, object]:
        return {
            "session": self.session,
            "socket": self.socket,
            "repo": str(self.repo),
            "state_dir": str(self.state_dir),
            "agents": self.agents,
            "tasks": self.tasks,
        }


def _describe(socket: str, session: str, home: Path) -> RunningSwarm:
    try:
        instance = SwarmInstance.load(home)
        repo = instance.repo
    except Exception:  # a record unreadable now: still list the swarm
        repo = home.parent
    agents, tasks = 0, {}
    db = home / "swarm.db"
    if db.exists():
        try:
            with Store.open(db) as store:
                agents = len(store.list_agents())
                tasks = {str(k): v for k, v in store.task_counts().items() if v}
        except Exception:  # a busy or newer store: the listing still helps
            pass
    return RunningSwarm(session, socket, repo, home, agents, tasks)


def running_swarms(env: dict[str, str] | None = None) -> list[RunningSwarm]:
    found: list[RunningSwarm] = []
    for socket in swarm_sockets(env):
        sessions = _tmux(socket, "list-sessions", "-F", "#{session_name}")
        for session in (sessions or "").split():
            line = _tmux(socket, "show-environment", "-t", f"={session}", "SWARM_HOME") or ""
            if not line.startswith("SWARM_HOME="):
                continue
            home = Path(line.strip().removeprefix("SWARM_HOME="))
            found.append(_describe(socket, session, home))
    return found
