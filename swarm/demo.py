"""`swarm demo`: a small project, a demo swarm of sim agents, and a script of tasks.

Everything a new user needs to see the swarm work, with no API key: a git repository made
from `examples/demo/repo`, the tasks of `examples/demo/tasks.yaml`, and the swarm of the
repository's own `swarm.yaml` (sim agents and a real unittest gate).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from swarm import paths
from swarm.errors import SwarmError
from swarm.git.repo import git
from swarm.lifecycle import UpResult, bring_up
from swarm.store import Store
from swarm.store.models import Task

LAYOUT_FILE = "swarm.yaml"


@dataclass(frozen=True)
class DemoTask:
    title: str
    body: str
    priority: int


def demo_tasks() -> list[DemoTask]:
    raw = yaml.safe_load((paths.demo_dir() / "tasks.yaml").read_text())
    return [DemoTask(t["title"], t.get("body", ""), int(t.get("priority", 2))) for t in raw]


def make_demo_repo(target: Path) -> bool:
    """Create the demo repository at `target`; False if one is already there."""
    if (target / ".git").exists():
        return False
    if target.exists() and any(target.iterdir()):
        raise SwarmError(f"{target}: exists and is not empty; pick another folder for the demo")
    shutil.copytree(paths.demo_dir() / "repo", target, dirs_exist_ok=True)
    git(target, "init", "-q", "-b", "main")
    identity = ["-c", "user.name=Swarm Demo", "-c", "user.email=demo@swarm.local"]
    git(target, "add", "-A")
    git(target, *identity, "commit", "-q", "-m", "The demo project")
    if not git(target, "config", "user.email", check=False):
        # The sim agents and the refinery commit here; give the demo repo an identity.
        git(target, "config", "user.name", "Swarm Demo")
        git(target, "config", "user.email", "demo@swarm.local")
    return True


FINAL = ("merged", "failed", "cancelled")


def finished_demo(target: Path) -> int | None:
    """How many tasks a demo already run in `target` merged; None if none ran to the end there."""
    db = paths.db_path(paths.state_dir(target))
    if not (target / ".git").exists() or not db.exists():
        return None
    with Store.open(db) as store:
        counts = {k: v for k, v in store.task_counts().items() if v}
    if not counts or any(status not in FINAL for status in counts):
        return None
    return counts.get("merged", 0)


def fresh_folder(target: Path) -> Path:
    """`target`, or `target-2`, `-3`… when a demo already finished there (a re-run shows the
    whole demo again instead of a swarm with nothing to do)."""
    candidate, n = target, 1
    while finished_demo(candidate) is not None:
        n += 1
        candidate = target.with_name(f"{target.name}-{n}")
    return candidate


def start_demo(target: Path, on_progress: Callable[[str], None]) -> tuple[UpResult, list[Task]]:
    created = make_demo_repo(target)
    on_progress(f"demo repository {'created' if created else 'reused'} at {target}")
    # The demo wrote this layout itself (a copy of the bundled one): trusted.
    result = bring_up(str(target / LAYOUT_FILE), target, on_progress=on_progress, trust=True)
    added: list[Task] = []
    with result.instance.open_store() as store:
        if not store.list_tasks():
            with store.transaction():
                added = [store.add_task(t.title, t.body, t.priority) for t in demo_tasks()]
            on_progress(f"{len(added)} demo tasks added")
    return result, added
