"""The store's two backends side by side: SQLite (one machine) vs PostgreSQL (a team).

Two measurements, each on a fresh store of each backend, in one run:

- claims per second: W worker processes (default 8) each register a polecat and loop
  claim -> finish until 1,000 open tasks are gone; total claims / wall time. Every claim is
  the real `claim_next_task` transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL);
- the sidebar's refresh at 150 agents, 5,000 tasks and 50,000 events: the real
  `StoreSource.poll()` (no tmux) after another connection committed one change (an
  agent's state or an event), median and 95th percentile over R rounds.

PostgreSQL is a throw-away server started like the tests do (tests/pgserver.py: a temporary
data directory, run as `postgres` when root), or the one at `--pg URL` (a database there is
created and dropped per measurement, so the user needs CREATEDB).

    python benchmarks/bench_store.py [--workers 8] [--tasks 1000] [--rounds 40] [--pg URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

AGENTS, TASKS, EVENTS = 150, 5000, 50_000


# -- stores ----------------------------------------------------------------------------------


@contextmanager
def postgres_server(url: str | None) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases on a server."""
    import psycopg

    made: list[str] = []
    if url is None:
        from pgserver import start_server

        server = start_server()
        base = server.url()
    else:
        server, base = None, url

    def fresh() -> str:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        made.append(name)
        head, _, _ = base.rpartition("/")
        return f"{head}/{name}"

    try:
        yield fresh
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            for name in made:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if server is not None:
            server.stop()


# -- claims per second -----------------------------------------------------------------------


def _claimer(url: str, agent: str, start: float, out: multiprocessing.Queue[int]) -> None:
    from swarm.store import Store

    with Store.open(url) as store:
        while time.time() < start:
            time.sleep(0.001)
        claims = 0
        while (task := store.claim_next_task(agent)) is not None:
            claims += 1
            store.finish_task(agent, f"head-{task.id}", "base")
    out.put(claims)


def claims_per_second(url: str, workers: int, tasks: int) -> float:
    from swarm.store import Store

    with Store.open(url) as store, store.transaction():
        for i in range(workers):
            store.upsert_agent(f"polecat-{i}", "polecat", "sim")
        for n in range(tasks):
            store.add_task(f"task {n}", priority=n % 5)
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[int] = ctx.Queue()
    start = time.time() + 3.0  # every worker connected and waiting
    procs = [
        ctx.Process(target=_claimer, args=(url, f"polecat-{i}", start, out)) for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    total = sum(out.get(timeout=600) for _ in procs)
    elapsed = time.time() - start
    for proc in procs:
        proc.join()
    assert total == tasks, f"{total} claims for {tasks} tasks"
    return total / elapsed


# -- the sidebar's refresh -------------------------------------------------------------------


def sidebar_refresh(url: str, rounds: int) -> tuple[float, float, float]:
    """(full first read, median refresh, p95 refresh) in milliseconds."""
    from swarm.store import Store
    from swarm.ui.data import StoreSource
    from swarm.ui.sample import populate_store

    with Store.open(url) as store:
        populate_store(store, AGENTS, TASKS, EVENTS)
    source = StoreSource(db_path=url, panes=None, full_every=3600.0)
    began = time.perf_counter()
    assert source.poll(force=True) is not None
    first = (time.perf_counter() - began) * 1000
    times: list[float] = []
    with Store.open(url) as writer:
        agents = [a.name for a in writer.list_agents(role="polecat")]
        for n in range(rounds):
            if n % 2:
                writer.add_event("bench.tick", f"round {n}", agent=agents[n % len(agents)])
            else:
                state = "working" if n % 4 else "idle"
                writer.set_agent_state(agents[n % len(agents)], state, f"round {n}")
            began = time.perf_counter()
            snapshot = source.poll()
            times.append((time.perf_counter() - began) * 1000)
            assert snapshot is not None, "the change was not seen"
    source.close()
    times.sort()
    return first, statistics.median(times), times[int(len(times) * 0.95) - 1]


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--pg", help="a PostgreSQL server URL (default: start a throw-away one)")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="bench-store-") as tmp,
        postgres_server(args.pg) as fresh_pg,
    ):
        n = iter(range(100))

        def fresh_sqlite() -> str:
            return str(Path(tmp) / f"s{next(n)}.db")

        results: dict[str, dict[str, float]] = {}
        for name, fresh in (("sqlite", fresh_sqlite), ("postgres", fresh_pg)):
            rate = claims_per_second(fresh(), args.workers, args.tasks)
            print(f"{name:>8}: {rate:8.0f} claims/s ({args.workers} processes, {args.tasks} tasks)")
            first, median, p95 = sidebar_refresh(fresh(), args.rounds)
            print(
                f"{name:>8}: sidebar at {AGENTS} agents / {EVENTS:,} events: first read "
                f"{first:.0f} ms, refresh median {median:.1f} ms, p95 {p95:.1f} ms"
            )
            results[name] = {"claims": rate, "first": first, "median": median, "p95": p95}
    sq, pg = results["sqlite"], results["postgres"]
    print(
        f"ratio postgres/sqlite: claims/s x{pg['claims'] / sq['claims']:.2f}, "
        f"sidebar refresh x{pg['median'] / sq['median']:.2f} (median), "
        f"first read x{pg['first'] / sq['first']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
