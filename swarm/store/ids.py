"""Task ids: `sw-` and five random lowercase base36 characters, e.g. `sw-7k2m9`.

Short enough to type and say aloud, random so that ids minted by many processes at once do
not need a central counter (the store retries the rare collision inside its transaction).
"""

from __future__ import annotations

import re
import secrets

TASK_ID_PREFIX = "sw-"
TASK_ID_LENGTH = 5
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
TASK_ID_RE = re.compile(rf"^{TASK_ID_PREFIX}[0-9a-z]{{{TASK_ID_LENGTH}}}$")


def new_task_id() -> str:
    """A fresh random id; uniqueness is checked by the caller against the store."""
    return TASK_ID_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(TASK_ID_LENGTH))


def is_task_id(text: str) -> bool:
    """Whether `text` has the shape of a task id (it may still not exist)."""
    return TASK_ID_RE.match(text) is not None


BRANCH_PREFIX = "swarm/"  # every task's branch, and only those, starts with it


def branch_for(task_id: str) -> str:
    """The git branch a task's work lives on."""
    return f"{BRANCH_PREFIX}{task_id}"
