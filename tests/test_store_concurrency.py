"""Thirty processes on one store at once, as in a 30-polecat swarm: on a `.swarm/swarm.db`
file (`[sqlite]`) and on a PostgreSQL database (`[postgres]`).

Each process is a real `python -c` interpreter with its own connection, started together
behind a file barrier so their transactions truly overlap. The store must serialise them:
counts add up exactly, nothing is claimed, queued or merged twice, and no process ever
sees "database is locked".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from swarm.store import SCHEMA_VERSION, Store

REPO_ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 30


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend; thirty interpreters on PostgreSQL take long enough to count as slow."""
    if request.param == "sqlite":
        return str(tmp_path / "repo" / ".swarm" / "swarm.db")
    url: str = request.getfixturevalue("pg_url")
    return url


# One program, several roles; prints one JSON line with what it did.
WORKER = r"""
import json, os, sys, time
from pathlib import Path
from swarm.errors import SwarmError
from swarm.store import Store

role, db, index, count, total, barrier = sys.argv[1:7]
index, count, total, barrier = int(index), int(count), int(total), Path(barrier)
(barrier / f"ready-{role}-{index}").touch()
while not (barrier / "go").exists():
    time.sleep(0.002)
deadline = time.monotonic() + 90
out = {"role": role, "index": index}
store = Store.open(db)

if role == "producer":
    out["added"] = [
        store.add_task(f"task {index}-{i}", priority=(index + i) % 5).id for i in range(count)
    ]

elif role == "worker":
    agent = f"polecat-{index}"
    out["claimed"], out["merge_requests"], out["double_finish_refused"] = [], [], 0
    while time.monotonic() < deadline:
        task = store.claim_next_task(agent)
        if task is None:
            counts = store.task_counts()
            if sum(counts.values()) >= total and counts["open"] == 0:
                break
            time.sleep(0.005)
            continue
        out["claimed"].append(task.id)
        store.start_task(agent)
        out["merge_requests"].append(store.finish_task(agent, "head-" + task.id, "base").id)
        try:
            store.finish_task(agent, "head-" + task.id, "base")
        except SwarmError as exc:
            assert str(exc) == f"{agent} holds no task", exc
            out["double_finish_refused"] += 1

elif role == "refinery":
    out["merged"], out["lost_race"] = [], 0
    while time.monotonic() < deadline and store.task_counts()["merged"] < total:
        for mr in store.list_merge_requests(["queued"]):
            try:
                store.mark_request_merged(mr.id, "merge-" + mr.task_id)
                out["merged"].append(mr.id)
            except SwarmError as exc:
                assert "already merged" in str(exc), exc
                out["lost_race"] += 1
        time.sleep(0.005)

elif role == "fresh":
    # Opened a brand-new file together with 29 others: migrate, register, add, claim, finish.
    agent = f"agent-{index}"
    store.upsert_agent(agent, "polecat", "sim", f"%{index}", os.getpid())
    out["added"] = [store.add_task(f"fresh {index}-{i}").id for i in range(count)]
    task = store.claim_next_task(agent)
    assert task is not None
    out["claimed"] = [task.id]
    out["merge_requests"] = [store.finish_task(agent, "head", "base").id]

elif role == "sling":
    # Everyone slings the same task to their own agent: exactly one may win.
    agent = f"polecat-{index}"
    try:
        out["won"] = store.hook_task(sys.argv[7], agent).assignee == agent
    except SwarmError as exc:
        assert "cannot hook" in str(exc) and "is hooked" in str(exc), exc
        out["won"] = False

store.close()
print(json.dumps(out))
"""


def run_together(
    tmp_path: Path, db: str, jobs: list[tuple[str, int, int, int]], *extra: str
) -> list[dict[str, Any]]:
    """Start every job as its own interpreter, release them at once, collect their JSON."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                role,
                str(db),
                *map(str, (i, n, total, barrier)),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        for role, i, n, total in jobs
    ]
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < len(jobs):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), "a worker died before the barrier"
        time.sleep(0.01)
    (barrier / "go").touch()
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert "locked" not in stderr and "busy" not in stderr.lower(), stderr
        if proc.returncode != 0:
            failures.append(stderr)
            continue
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert not failures, "\n\n".join(failures)
    return results


def ids(results: list[dict[str, Any]], key: str) -> list[Any]:
    found: list[Any] = []
    for result in results:
        value = result.get(key, [])
        assert isinstance(value, list)
        found.extend(value)
    return found


def test_thirty_processes_add_claim_finish_and_merge(tmp_path: Path, store_url: str) -> None:
    db = store_url
    producers, workers, refineries, per_producer = 10, 18, 2, 20
    assert producers + workers + refineries == PROCESSES
    total = producers * per_producer
    with Store.open(db) as store:
        for i in range(workers):
            store.upsert_agent(f"polecat-{i}", "polecat", "sim", f"%{i}", None)

    jobs = (
        [("producer", i, per_producer, total) for i in range(producers)]
        + [("worker", i, 0, total) for i in range(workers)]
        + [("refinery", i, 0, total) for i in range(refineries)]
    )
    results = run_together(tmp_path, db, jobs)

    added = ids(results, "added")
    claimed = ids(results, "claimed")
    merge_requests = ids(results, "merge_requests")
    merged = ids(results, "merged")
    assert len(added) == len(set(added)) == total
    assert sorted(claimed) == sorted(added)  # every task claimed, none twice
    assert len(merge_requests) == len(set(merge_requests)) == total
    assert len(merged) == len(set(merged)) == total  # each merged by exactly one refinery
    assert sum(r.get("double_finish_refused", 0) for r in results) == total

    with Store.open(db) as store:
        assert store.task_counts() == {
            "open": 0,
            "hooked": 0,
            "working": 0,
            "done": 0,
            "merged": total,
            "failed": 0,
            "cancelled": 0,
        }
        mrs = store.list_merge_requests()
        assert len(mrs) == total
        assert len({mr.task_id for mr in mrs}) == total
        assert {mr.status for mr in mrs} == {"merged"}
        assert all(task.attempts == 1 for task in store.list_tasks())
        assert all(agent.hook is None for agent in store.list_agents())
        kinds = Counter(event.kind for event in store.events())
        for kind in ("task.added", "task.hooked", "task.done", "merge.queued", "task.merged"):
            assert kinds[kind] == total, kind


def test_thirty_processes_open_a_new_store_at_once(tmp_path: Path, store_url: str) -> None:
    db = store_url
    per_process = 2
    results = run_together(tmp_path, db, [("fresh", i, per_process, 0) for i in range(PROCESSES)])
    added = ids(results, "added")
    claimed = ids(results, "claimed")
    assert len(set(added)) == PROCESSES * per_process
    assert len(claimed) == len(set(claimed)) == PROCESSES
    with Store.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        counts = store.task_counts()
        assert (counts["open"], counts["done"]) == (PROCESSES * (per_process - 1), PROCESSES)
        assert len({mr.task_id for mr in store.list_merge_requests()}) == PROCESSES
        assert len(store.list_agents()) == PROCESSES


def test_thirty_processes_sling_one_task(tmp_path: Path, store_url: str) -> None:
    db = store_url
    with Store.open(db) as store:
        for i in range(PROCESSES):
            store.upsert_agent(f"polecat-{i}", "polecat", "sim")
        task = store.add_task("wanted by everyone")
    results = run_together(tmp_path, db, [("sling", i, 0, 0) for i in range(PROCESSES)], task.id)
    winners = [r["index"] for r in results if r["won"]]
    assert len(winners) == 1
    with Store.open(db) as store:
        held = [agent.name for agent in store.list_agents() if agent.hook == task.id]
        assert held == [f"polecat-{winners[0]}"]
        assert store.get_task(task.id).attempts == 1
