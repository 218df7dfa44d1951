"""The landing journal: what the refinery is about to fast-forward, written before it does.

Moving the target (git) and marking the requests merged (the store) are two systems, so no
single transaction covers both. The journal closes that gap: it is written (atomically,
by rename) before the fast-forward and removed after the store has recorded the merge. A
refinery killed in between finds it on its next start: if the target contains the journal's
commit, the fast-forward happened and the requests are marked merged now, exactly once; if
not, it never happened and the journal is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from swarm.atomic import write_atomic


@dataclass(frozen=True)
class Landing:
    target: str
    old: str
    new: str
    requests: tuple[tuple[int, str], ...]  # (merge request id, sha after its own commits)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, landing: Landing) -> None:
        data = {
            "target": landing.target,
            "old": landing.old,
            "new": landing.new,
            "requests": [list(pair) for pair in landing.requests],
        }
        write_atomic(self.path, json.dumps(data, indent=2) + "\n")

    def read(self) -> Landing | None:
        """The landing in flight, or None (also for a file too damaged to trust)."""
        try:
            data = json.loads(self.path.read_text())
            return Landing(
                target=str(data["target"]),
                old=str(data["old"]),
                new=str(data["new"]),
                requests=tuple((int(i), str(sha)) for i, sha in data["requests"]),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
