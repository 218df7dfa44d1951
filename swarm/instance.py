"""The identity of one swarm, recorded in `.swarm/swarm.json` by `swarm up`.

Every other command (`status`, `attach`, `down`, and the commands agents run from their
worktrees) finds its swarm from here without reading the layout again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from swarm import envnames, paths
from swarm.atomic import write_atomic
from swarm.errors import EXIT_USAGE, NotFoundError, SwarmError
from swarm.git.repo import find_repo
from swarm.store.backend import sqlite_url

if TYPE_CHECKING:
    from swarm.store import Store

RECORD_NAME = "swarm.json"


@dataclass(frozen=True)
class SwarmInstance:
    repo: Path
    state_dir: Path
    session: str
    socket: str
    layout_name: str
    layout_path: Path
    target_branch: str = "main"  # where finished work is merged; polecat branches start here
    store: str = ""  # `swarm up --store URL`; empty: the SQLite file in the state folder
    remote: str = ""  # `swarm up --remote NAME`: a team's git remote; empty: this repo only
    host: str = ""  # this machine's name in a team (agents are shown as host/name)

    @property
    def db_path(self) -> Path:
        return paths.db_path(self.state_dir)

    @property
    def store_url(self) -> str:
        """Where every process of this swarm (agents included) opens its store."""
        return self.store or sqlite_url(self.db_path)

    def open_store(self, clock: Callable[[], float] = time.time) -> Store:
        """The swarm's store, scoped in a team to this machine's agents (`Store.scope`)."""
        from swarm.store import Store

        return Store.open(self.store_url, clock=clock, scope=self.host or None)

    def save(self) -> None:
        data = {k: str(v) for k, v in asdict(self).items()}
        write_atomic(self.state_dir / RECORD_NAME, json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> SwarmInstance:
        record = state_dir / RECORD_NAME
        try:
            data = json.loads(record.read_text())
        except FileNotFoundError:
            raise NotFoundError(
                f"{state_dir.parent}: no swarm here yet (run `swarm up` first)"
            ) from None
        except json.JSONDecodeError as exc:
            raise NotFoundError(
                f"{record}:{exc.lineno}:{exc.colno}: unreadable swarm record"
            ) from None
        return cls(
            repo=Path(data["repo"]),
            state_dir=Path(data["state_dir"]),
            session=data["session"],
            socket=data["socket"],
            layout_name=data["layout_name"],
            layout_path=Path(data["layout_path"]),
            target_branch=data.get("target_branch", "main"),
            store=data.get("store", ""),
            remote=data.get("remote", ""),
            host=data.get("host", ""),
        )


def calling_agent(given: str | None = None) -> str:
    """Which agent a command speaks for: `--agent`, else the pane's `SWARM_AGENT`."""
    name = given or os.environ.get(envnames.AGENT)
    if not name:
        raise SwarmError("no agent: pass --agent or run this inside an agent's pane", EXIT_USAGE)
    return name


def state_dir_for(cwd: Path | None = None, repo: Path | None = None) -> Path:
    """The state folder a command acts on: `SWARM_HOME` (set in agent panes) wins."""
    home = os.environ.get(envnames.HOME)
    if home and repo is None:
        return Path(home)
    return paths.state_dir(repo if repo is not None else find_repo(cwd or Path.cwd()))


def locate(cwd: Path | None = None, repo: Path | None = None) -> SwarmInstance:
    return SwarmInstance.load(state_dir_for(cwd, repo))
