"""The store's two backends side by side: SQLite (one machine) vs PostgreSQL (a team).

Three measurements, each on a fresh store (of each backend for the first two), in one run:

- claims per second: W worker processes (default 8) each register a polecat and loop
  claim -> finish until 1,000 open tasks are gone; total claims / wall time. Every claim is
  the real `claim_next_task` transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
  Then one writer alone: claim + finish in ms (wall, this process's CPU, and the PostgreSQL
  backend's CPU read from /proc when the server is local), which the machine's load
  disturbs far less than the 8-process race;
- the sidebar's refresh at 150 agents, 5,000 tasks and 50,000 events: the real
  `StoreSource.poll()` (no tmux) after another connection committed one change (an
  agent's state or an event), median and 95th percentile over R rounds.

- an idle team on PostgreSQL: M machines (default 5) with A idle polecats each, every
  machine a controller loop and a sidebar data source in threads of this process, no task
  open. The statements the server receives per second (counted at the client, on every
  psycopg connection, after a warm-up; and the server's own committed transactions per
  second from pg_stat_database), for the polling the loops did before (the controller read
  the store's change counter every 0.1 s, the sidebar every 0.25 s with a full read every
  2 s, every idle polecat's claim a transaction each second) against LISTEN (the real
  `wait_for_store`, `StoreSource.wait`/`poll`, `Store.claim_next_task`). Both run the real
  controller full pass (`supervised`, `Dispatcher.plan_handovers`, the pending pushes)
  every IDLE_TICK.

PostgreSQL is a throw-away server started like the tests do (tests/pgserver.py: a temporary
data directory, run as `postgres` when root), or the one at `--pg URL` (a database there is
created and dropped per measurement, so the user needs CREATEDB).

    python benchmarks/bench_store.py [--workers 8] [--tasks 1000] [--rounds 40] [--pg URL]
        [--machines 5] [--idle-agents 30] [--idle-seconds 6]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

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


def claim_cost(url: str, rounds: int = 300) -> tuple[float, float, float | None]:
    """One writer alone (no contention, so less at the mercy of the machine's load): claim +
    finish in ms of wall time and of this process's CPU, and of the PostgreSQL backend's CPU
    when the server runs on this machine (None otherwise, and for SQLite)."""
    import os

    from swarm.store import Store

    def backend_cpu(pid: int | None) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    with Store.open(url) as store:
        store.upsert_agent("polecat-1", "polecat", "sim")
        with store.transaction():
            for n in range(rounds + 20):
                store.add_task(f"task {n}")
        for _ in range(20):  # warm: psycopg prepares a statement on its fifth use
            store.claim_next_task("polecat-1")
            store.finish_task("polecat-1", "head", "base")
        raw = getattr(store._conn, "raw", None)
        pid = getattr(getattr(raw, "info", None), "backend_pid", None)
        server, began, cpu = backend_cpu(pid), time.perf_counter(), time.process_time()
        for _ in range(rounds):
            store.claim_next_task("polecat-1")
            store.finish_task("polecat-1", "head", "base")
        wall = (time.perf_counter() - began) * 1000 / rounds
        client = (time.process_time() - cpu) * 1000 / rounds
        after = backend_cpu(pid)
        spent = None if server is None or after is None else (after - server) * 1000 / rounds
    return wall, client, spent


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
    from swarm.store.backend import parse_url

    if parse_url(url).dialect == "postgresql":
        from swarm.store import changes

        changes.forget(url)  # the source's LISTEN connection: the database is dropped next
    times.sort()
    return first, statistics.median(times), times[int(len(times) * 0.95) - 1]


# -- an idle team: polling vs LISTEN ---------------------------------------------------------


class Statements:
    """Every statement sent by any psycopg connection of this process (pipelined included)."""

    def __init__(self) -> None:
        import psycopg

        self.count = 0
        self._lock = threading.Lock()
        original = psycopg.Connection.execute

        def counting(conn: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.count += 1
            return original(conn, query, *args, **kwargs)

        psycopg.Connection.execute = counting  # type: ignore[assignment]  # count every query


def _idle_panes(names: list[str]) -> dict[str, Any]:
    from swarm.tmux.client import PaneInfo

    return {
        name: PaneInfo(f"%{n}", "@1", "w", 0, n, name, "polecat", "w", False, None, 4242,
                       "python", 80, 20, 200, 50, False, True)
        for n, name in enumerate(names)
    }  # fmt: skip


def _machine(url: str, host: str, agents: int, mode: str, stop: threading.Event) -> None:
    """One idle machine: its controller loop and its sidebar's worker, as two threads."""
    import anyio

    from swarm.controller.dispatch import Dispatcher
    from swarm.controller.loop import IDLE_TICK, TICK, supervised, wait_for_store
    from swarm.plan import Capabilities, RoleSpec
    from swarm.store import Store
    from swarm.ui.app import AFTER_REDRAW
    from swarm.ui.data import FULL_EVERY, POLL_INTERVAL, StoreSource

    names = [f"{host}/polecat-{n}" for n in range(agents)]
    roles = {
        "polecat": RoleSpec("polecat", "", "sim", "", capabilities=Capabilities(takes_tasks=True))
    }

    def controller() -> None:
        with Store.open(url, scope=host) as store:
            with store.transaction():
                for name in names:
                    store.upsert_agent(name, "polecat", "sim")
                    store.set_agent_state(name, "idle")  # ready for a task: claimed for
            dispatcher = Dispatcher(cast(Any, None), store, roles=lambda: roles)
            panes = _idle_panes(names)

            def full_pass() -> None:
                supervised(store, panes)
                dispatcher.plan_handovers(panes)
                store.pending_pushes()  # a team controller's pushes (swarm.team.pushes)

            if mode == "polling":  # the loop before: the change counter read every TICK
                last_full = float("-inf")
                while not stop.is_set():
                    store.get_value("changes")  # what data_version cost: one read of `meta`
                    if time.monotonic() - last_full >= IDLE_TICK:
                        last_full = time.monotonic()
                        full_pass()
                    time.sleep(TICK)
                return

            async def loop() -> None:  # swarm.controller.loop.Controller.run's waiting
                last, last_full, last_pass = -1, float("-inf"), float("-inf")
                while not stop.is_set():
                    version = store.data_version()
                    now = time.monotonic()
                    full = now - last_full >= IDLE_TICK
                    if version != last or full:
                        last, last_pass = version, now
                        last_full = now if full else last_full
                        full_pass()
                    await wait_for_store(store, last, last_full + IDLE_TICK, last_pass)

            anyio.run(loop)

    def sidebar() -> None:
        source = StoreSource(db_path=url, host=host, panes=None)
        wake = threading.Event()
        try:
            if mode == "polling":  # the worker before: a look every 0.25 s, a full read every 2 s
                last_full = float("-inf")
                while not stop.is_set():
                    source.open()
                    assert source.store is not None
                    source.store.get_value("changes")
                    if time.monotonic() - last_full >= FULL_EVERY:
                        last_full = time.monotonic()
                        source.read(refresh_panes=False)
                    time.sleep(POLL_INTERVAL)
                return
            while not stop.is_set():  # the worker now (swarm.ui.app.SidebarApp.poll_source)
                if source.poll() is not None:
                    wake.wait(POLL_INTERVAL * AFTER_REDRAW)
                else:
                    source.wait(wake, POLL_INTERVAL)
        finally:
            source.close()

    threads = [threading.Thread(target=controller), threading.Thread(target=sidebar)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _server_transactions(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def idle_team(
    url: str, mode: str, machines: int, agents: int, seconds: float, counter: Statements
) -> tuple[float, float]:
    """(statements/s counted at the client after a warm-up, server transactions/s overall)."""
    import swarm.store.store as store_module

    # Before, every idle polecat's claim was a transaction each pass: no memo of "nothing open".
    saved = store_module.NOTHING_OPEN_FOR
    store_module.NOTHING_OPEN_FOR = 0.0 if mode == "polling" else saved
    stop = threading.Event()
    xacts_before = _server_transactions(url)
    began = time.monotonic()
    threads = [
        threading.Thread(target=_machine, args=(url, f"m{i}", agents, mode, stop))
        for i in range(machines)
    ]
    for thread in threads:
        thread.start()
    time.sleep(3.0)  # every machine registered, its first full read done
    counted, window = counter.count, time.monotonic()
    time.sleep(seconds)
    statements = (counter.count - counted) / (time.monotonic() - window)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    from swarm.store import changes

    changes.forget(url)  # this process's LISTEN connection: the database is dropped next
    time.sleep(1.0)  # closed connections have reported their counts
    xacts = (_server_transactions(url) - xacts_before - 1) / elapsed
    store_module.NOTHING_OPEN_FOR = saved
    return statements, xacts


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--pg", help="a PostgreSQL server URL (default: start a throw-away one)")
    parser.add_argument("--machines", type=int, default=5)
    parser.add_argument("--idle-agents", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=6.0)
    parser.add_argument("--only", choices=("claims", "sidebar", "idle"), action="append")
    args = parser.parse_args()
    only = set(args.only or ("claims", "sidebar", "idle"))

    with (
        tempfile.TemporaryDirectory(prefix="bench-store-") as tmp,
        postgres_server(args.pg) as fresh_pg,
    ):
        n = iter(range(100))

        def fresh_sqlite() -> str:
            return str(Path(tmp) / f"s{next(n)}.db")

        results: dict[str, dict[str, float]] = {}
        for name, fresh in (("sqlite", fresh_sqlite), ("postgres", fresh_pg)):
            results[name] = {}
            if "claims" in only:
                rate = claims_per_second(fresh(), args.workers, args.tasks)
                workers = f"{args.workers} processes, {args.tasks} tasks"
                print(f"{name:>8}: {rate:8.0f} claims/s ({workers})")
                results[name]["claims"] = rate
                wall, client, server = claim_cost(fresh())
                backend = "" if server is None else f", server backend CPU {server:.2f} ms"
                print(
                    f"{name:>8}: one writer, claim + finish {wall:.2f} ms "
                    f"(this process's CPU {client:.2f} ms{backend})"
                )
                results[name]["alone"] = wall
            if "sidebar" in only:
                first, median, p95 = sidebar_refresh(fresh(), args.rounds)
                print(
                    f"{name:>8}: sidebar at {AGENTS} agents / {EVENTS:,} events: first read "
                    f"{first:.0f} ms, refresh median {median:.1f} ms, p95 {p95:.1f} ms"
                )
                results[name].update(first=first, median=median, p95=p95)
        sq, pg = results["sqlite"], results["postgres"]
        if "claims" in only:
            print(
                f"ratio postgres/sqlite: claims/s x{pg['claims'] / sq['claims']:.2f}, "
                f"one writer's claim + finish time x{pg['alone'] / sq['alone']:.2f}"
            )
        if "sidebar" in only:
            print(
                f"ratio postgres/sqlite: sidebar refresh x{pg['median'] / sq['median']:.2f} "
                f"(median), first read x{pg['first'] / sq['first']:.2f}"
            )
        if "idle" in only:
            counter = Statements()
            idle: dict[str, tuple[float, float]] = {}
            for mode in ("polling", "listen"):
                idle[mode] = idle_team(
                    fresh_pg(), mode, args.machines, args.idle_agents, args.idle_seconds, counter
                )
                print(
                    f"idle team, {mode:>7}: {idle[mode][0]:7.1f} statements/s, "
                    f"{idle[mode][1]:7.1f} server transactions/s ({args.machines} machines x "
                    f"{args.idle_agents} idle polecats, controller + sidebar each)"
                )
            before, after = idle["polling"], idle["listen"]
            print(
                f"ratio listen/polling: statements/s x{after[0] / before[0]:.3f}, "
                f"server transactions/s x{after[1] / before[1]:.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
