"""A team's leases: one refinery at a time, machines that disappear are declared lost.

`-k team` runs these with the multi-machine tests; the `[postgres]` ones on the shared
server, as a team would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm.store import Store
from swarm.team import hosts
from swarm.team.election import TeamLease

REPO_ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def team_store(store_url: str, clock: Clock) -> Iterator[Store]:
    with Store.open(store_url, clock=clock) as store:
        yield store


def test_team_lease_has_one_holder_and_is_taken_over_after_it_runs_out(
    team_store: Store, clock: Clock
) -> None:
    store = team_store
    assert store.acquire_lease("refinery", "laptop-a/refinery", 10) is not None
    assert store.acquire_lease("refinery", "laptop-b/refinery", 10) is None
    clock.now += 8
    renewed = store.acquire_lease("refinery", "laptop-a/refinery", 10)  # renewal
    assert renewed is not None and renewed.expires == clock.now + 10
    clock.now += 9
    assert store.acquire_lease("refinery", "laptop-b/refinery", 10) is None  # still renewed
    clock.now += 2
    taken = store.acquire_lease("refinery", "laptop-b/refinery", 10)
    assert taken is not None and taken.holder == "laptop-b/refinery"
    assert [e.kind for e in store.events()] == ["lease.acquired", "lease.taken"]
    assert "took over refinery from laptop-a/refinery" in store.events()[-1].message
    assert not store.release_lease("refinery", "laptop-a/refinery")  # not the holder any more
    assert store.release_lease("refinery", "laptop-b/refinery")
    assert store.get_lease("refinery") is None


def test_team_lost_machine_gives_its_tasks_back(team_store: Store, clock: Clock) -> None:
    store = team_store
    for host in ("laptop-a", "laptop-b"):
        assert hosts.heartbeat(store, host, 15)
        for n in (1, 2):
            name = hosts.qualified(host, f"polecat-{n}")
            store.upsert_agent(name, "polecat", "sim")
            store.set_agent_state(name, "working", "")
    held = store.add_task("held by laptop-a")
    other = store.add_task("held by laptop-b")
    store.hook_task(held.id, "laptop-a/polecat-1")
    store.hook_task(other.id, "laptop-b/polecat-2")
    assert hosts.reap_lost_hosts(store, "laptop-b") == []  # nobody's lease ran out yet

    clock.now += 10
    assert hosts.heartbeat(store, "laptop-b", 15)  # laptop-a went silent
    clock.now += 6
    (reaped,) = hosts.reap_lost_hosts(store, "laptop-b")
    assert reaped.host == "laptop-a" and reaped.requeued == (held.id,)
    assert set(reaped.agents) == {"laptop-a/polecat-1", "laptop-a/polecat-2"}
    task = store.get_task(held.id)
    assert (task.status, task.assignee) == ("open", None)
    assert "laptop-a was lost" in task.notes
    assert task.branch is not None and task.branch in task.notes
    assert store.get_agent("laptop-a/polecat-1").state == "dead"
    assert "lost" in store.get_agent("laptop-a/polecat-1").detail
    assert store.get_task(other.id).status == "hooked"  # laptop-b's work untouched
    assert store.get_lease("host:laptop-a") is None
    assert hosts.reap_lost_hosts(store, "laptop-b") == []  # exactly once
    assert [e.kind for e in store.events()].count("team.host_lost") == 1


def test_team_host_names_are_safe_everywhere() -> None:
    assert hosts.sanitize("Laptop A.local") == "Laptop-A.local"
    assert hosts.sanitize("../x") == "x"
    assert hosts.qualified("laptop-a", "polecat-3") == "laptop-a/polecat-3"
    assert hosts.host_of("laptop-a/polecat-3") == "laptop-a"
    assert hosts.host_of("polecat-3") is None
    assert hosts.local_name("laptop-a/polecat-3") == "polecat-3"


ELECT = r"""
import json, sys, time
from pathlib import Path
from swarm.store import Store
url, me, barrier = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = Store.open(url)
(barrier / f"ready-{me}").touch()
while not (barrier / "go").exists():
    time.sleep(0.002)
print(json.dumps({"me": me, "won": store.acquire_lease("refinery", me, 60) is not None}))
"""


@pytest.mark.slow
def test_team_election_among_ten_machines_postgres(pg_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ELECT, pg_url, f"host-{i}", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(10)
    ]
    import time

    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < len(procs):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (tmp_path / "go").touch()
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    winners = [r["me"] for r in results if r["won"]]
    assert len(winners) == 1
    with Store.open(pg_url) as store:
        lease = store.get_lease("refinery")
        assert lease is not None and lease.holder == winners[0]


@pytest.mark.slow
def test_team_lease_thread_holds_renews_and_hands_over_postgres(pg_url: str) -> None:
    first = TeamLease(pg_url, "laptop-a", ttl=1.5, host_ttl=1.5)
    second = TeamLease(pg_url, "laptop-b", ttl=1.5, host_ttl=1.5)
    first.start()
    first.wait_changed(10)
    assert first.held
    second.start()
    second.wait_changed(2.5)  # renewed by the first: never handed over while it lives
    assert first.held and not second.held
    first.stop(release=False)  # the machine dies: no release, the lease runs out
    second.wait_changed(10)
    assert second.held
    second.stop()
    with Store.open(pg_url) as store:
        assert store.get_lease("refinery") is None  # released on a clean stop
        kinds = [e.kind for e in store.events()]
        assert "lease.taken" in kinds and "team.host_lost" in kinds


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_team_publish_is_a_plain_push_refused_when_the_remote_moved(tmp_path: Path) -> None:
    from swarm.team.remote import ensure_mirror, publish, push_task_branch

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True, capture_output=True)
    for key, value in (("user.name", "t"), ("user.email", "t@x")):
        _git(clone, "config", key, value)
    _git(clone, "commit", "-q", "--allow-empty", "-m", "first")
    _git(clone, "push", "-q", "origin", "HEAD:main")
    _git(clone, "checkout", "-q", "-b", "swarm/sw-aaaaa")
    _git(clone, "commit", "-q", "--allow-empty", "-m", "task work")
    push_task_branch(clone, "origin", "swarm/sw-aaaaa")

    mirror = ensure_mirror(clone, tmp_path / "state", "origin")
    old = _git(mirror, "rev-parse", "main")
    new = _git(mirror, "rev-parse", "swarm/sw-aaaaa")  # a fast-forward of main
    # Someone else moves the remote's main first: the plain push must be refused.
    _git(clone, "checkout", "-q", "-b", "other", old)
    _git(clone, "commit", "-q", "--allow-empty", "-m", "someone else")
    _git(clone, "push", "-q", "origin", "other:main")
    _git(mirror, "update-ref", "refs/heads/main", new, old)  # what landing's fast-forward does
    pushed, why = publish(mirror, "main", old, new)
    assert not pushed and "refused" in why
    assert _git(mirror, "rev-parse", "main") == old  # the mirror does not claim the landing
    assert _git(remote, "log", "-1", "--format=%s", "main") == "someone else"  # never forced
