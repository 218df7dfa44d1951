"""The landing journal: what the refinery is about to fast-forward, written before it does.

Moving the target (git) and marking the requests merged (the store) are two systems, so no
single transaction covers both. The journal closes that gap: it is written (atomically,
by rename) before the fast-forward and removed after the store has recorded the merge. A
refinery killed in between finds it on its next start: if the target contains the journal's
commit, the fast-forward happened and the requests are marked merged now, exactly once; if
not, it never happened and the journal is dropped. A team's refinery keeps its journal in
the shared store instead, so the machine that takes over finishes what the lost one began.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from swarm.atomic import write_atomic


@dataclass(frozen=True)
class Landing:
    target: str
    old: str
    new: str
    requests: tuple[tuple[int, str], ...]  # (merge request id, sha after its own commits)


class LandingJournal(Protocol):
    def write(self, landing: Landing) -> None: ...

    def read(self) -> Landing | None: ...

    def clear(self) -> None: ...


def to_json(landing: Landing) -> str:
    data = {
        "target": landing.target,
        "old": landing.old,
        "new": landing.new,
        "requests": [list(pair) for pair in landing.requests],
    }
    return json.dumps(data, indent=2) + "\n"


def from_json(text: str) -> Landing | None:
    """The landing, or None for a text too damaged to trust."""
    try:
        data: Any = json.loads(text)
        return Landing(
            target=str(data["target"]),
            old=str(data["old"]),
            new=str(data["new"]),
            requests=tuple((int(i), str(sha)) for i, sha in data["requests"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


class Journal:
    """A single machine's journal: a file in the state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, landing: Landing) -> None:
        write_atomic(self.path, to_json(landing))

    def read(self) -> Landing | None:
        """The landing in flight, or None (also for a file too damaged to trust)."""
        try:
            return from_json(self.path.read_text())
        except FileNotFoundError:
            return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class StoreValues(Protocol):
    def get_value(self, key: str) -> str | None: ...

    def set_value(self, key: str, value: str | None) -> None: ...


class StoreJournal:
    """A team refinery's journal, in the shared store (any machine's refinery reads it)."""

    KEY = "refinery.landing"

    def __init__(self, store: StoreValues) -> None:
        self.store = store

    def write(self, landing: Landing) -> None:
        self.store.set_value(self.KEY, to_json(landing))

    def read(self) -> Landing | None:
        text = self.store.get_value(self.KEY)
        return None if text is None else from_json(text)

    def clear(self) -> None:
        self.store.set_value(self.KEY, None)
