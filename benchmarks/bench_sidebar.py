"""The sidebar on a big swarm: 30 agents, 5,000 tasks, 10,000 events.

A store is filled (agents in mixed states, tasks across the whole lifecycle with 1,000 merge
requests, 10,000 events in all) and a private tmux server gets one pane per agent, so the
liveness check is the real `list-panes` call. Then, in a fresh interpreter (so the numbers
are the sidebar's own), the real `SidebarApp` runs headless against them and measures:

- first paint: interpreter start -> first snapshot on screen (imports included), and
  app start -> first snapshot on screen;
- refresh: for each kind of change another connection commits (an agent's state, a new
  task, a merge result, a burst of events) the read in the worker plus the widget update
  in the UI, and the latency from commit to screen (which includes the 0.25 s poll wait);
- the timed full read (every 2 s, tmux call included) when nothing changed;
- memory: resident set size at the end, and the peak.

Goals: refresh under 50 ms, memory under 120 MB.

    python benchmarks/bench_sidebar.py [--rounds 40] [--width 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

AGENTS, TASKS, EVENTS = 30, 5000, 10000
GOAL_REFRESH_MS = 50.0
GOAL_RSS_MB = 120.0


# -- parent: build the swarm's store and tmux panes ----------------------------------------


def build(state: Path, socket: str, session: str, env: dict[str, str]) -> None:
    from swarm.store import Store
    from swarm.ui.sample import populate_store, sample_agents

    with Store.open(state / "swarm.db") as store:
        populate_store(store, AGENTS, TASKS, EVENTS)
        counts = store.task_counts()
        events = len(store.events())
        requests = len(store.list_merge_requests())
    print(f"store: {AGENTS} agents, {sum(counts.values())} tasks {dict(counts)}")
    print(f"       {requests} merge requests, {events} events")
    names = [a.name for a in sample_agents(AGENTS) if a.state != "dead"]
    tmux = ["tmux", "-L", socket]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-n", names[0], "sleep", "3600"],
        env=env,
        check=True,
    )
    batch: list[str] = []
    for name in names[1:]:
        batch += ["new-window", "-d", "-t", f"={session}:", "-n", name, "sleep", "3600", ";"]
    subprocess.run([*tmux, *batch[:-1]], env=env, check=True)
    listing = subprocess.run(
        [*tmux, "list-panes", "-s", "-t", f"={session}", "-F", "#{pane_id} #{window_name}"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    batch = []
    for line in filter(None, listing):
        pane_id, name = line.split(" ", 1)
        batch += ["set-option", "-p", "-t", pane_id, "@swarm_agent", name, ";"]
    subprocess.run([*tmux, *batch[:-1]], env=env, check=True)
    print(f"tmux: {len(names)} live panes on a private socket (the dead agents have none)")


# -- child: run the sidebar and measure ------------------------------------------------------


@dataclass
class TimedSource:
    """The real `StoreSource`, with each read that produced a snapshot timed."""

    inner: object
    reads: list[float] = field(default_factory=list)

    def open(self) -> None:
        self.inner.open()  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]

    def poll(self, force: bool = False) -> object:
        began = time.perf_counter()
        snapshot = self.inner.poll(force)  # type: ignore[attr-defined]
        if snapshot is not None:
            self.reads.append(time.perf_counter() - began)
        return snapshot


async def measure(
    db: Path, socket: str, session: str, rounds: int, width: int
) -> dict[str, object]:
    import psutil

    from swarm.store import Store
    from swarm.tmux.client import Tmux
    from swarm.ui.app import SidebarApp
    from swarm.ui.data import StoreSource

    tmux = Tmux(socket)
    source = TimedSource(
        StoreSource(db_path=db, session=session, panes=lambda: tmux.list_panes(session))
    )
    app = SidebarApp(source, None)  # type: ignore[arg-type]
    began = time.perf_counter()
    results: dict[str, object] = {}
    async with app.run_test(size=(width, 50)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.001)
        await pilot.pause()  # one frame: the first paint itself
        results["first_paint_app_ms"] = (time.perf_counter() - began) * 1000
        results["first_paint_process_ms"] = (time.time() - psutil.Process().create_time()) * 1000
        results["first_read_ms"] = source.reads[0] * 1000
        results["first_apply_ms"] = app.apply_times[0] * 1000
        writer = Store.open(db)
        polecats = [a.name for a in writer.list_agents("polecat")]
        live = [m.id for m in writer.list_merge_requests(("queued",))]

        async def one(change: Callable[[int], None], n: int) -> tuple[float, float, float]:
            reads, applies = len(source.reads), len(app.apply_times)
            committed = time.perf_counter()
            change(n)
            while len(app.apply_times) == applies:
                await pilot.pause(0.001)
            latency = time.perf_counter() - committed
            read = source.reads[reads] if len(source.reads) > reads else 0.0
            return read * 1000, app.apply_times[applies] * 1000, latency * 1000

        def agent_state(n: int) -> None:
            states = ("working", "idle", "waiting", "working", "stalled")
            writer.set_agent_state(polecats[n % len(polecats)], states[n % len(states)], f"n {n}")

        def new_task(n: int) -> None:
            writer.add_task(f"bench task {n}", priority=n % 5)

        def merge_result(n: int) -> None:
            if n < len(live):
                writer.set_merge_status(live[n], "bounced", f"conflict in file_{n}.py")
            else:
                writer.add_event("merge.status", f"nothing left to bounce ({n})")

        def event_burst(n: int) -> None:
            with writer.transaction():
                for k in range(20):
                    writer.add_event("bench.burst", f"burst {n}.{k}", agent=polecats[0])

        kinds = {
            "agent state": agent_state,
            "new task": new_task,
            "merge result": merge_result,
            "20 events": event_burst,
        }
        per_kind: dict[str, dict[str, float]] = {}
        everything: list[float] = []
        for name, change in kinds.items():
            rows = [await one(change, n) for n in range(rounds)]
            totals = [r + a for r, a, _lat in rows]
            everything += totals
            per_kind[name] = summary(totals) | {
                "read_p50": statistics.median(r for r, _a, _l in rows),
                "read_max": max(r for r, _a, _l in rows),
                "apply_p50": statistics.median(a for _r, a, _l in rows),
                "apply_max": max(a for _r, a, _l in rows),
                "latency_p50": statistics.median(lat for _r, _a, lat in rows),
                "latency_max": max(lat for _r, _a, lat in rows),
            }
        results["refresh"] = per_kind
        results["refresh_all"] = summary(everything)
        # Nothing changes: the 2 s timed full read (tmux list-panes included).
        quiet_reads = len(source.reads)
        await pilot.pause(4.5)
        timed = [r * 1000 for r in source.reads[quiet_reads:]]
        results["timed_full_read"] = summary(timed) if timed else {}
        results["quiet_snapshots"] = len(timed)
        writer.close()
        rss = psutil.Process().memory_info().rss
        results["rss_mb"] = rss / 1024 / 1024
        results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results["agents_shown"] = len(app.snapshot.agents) if app.snapshot else 0
    return results


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1], "n": len(ordered)}


# -- report --------------------------------------------------------------------------------


def report(results: dict[str, object], width: int) -> bool:
    refresh = results["refresh"]
    assert isinstance(refresh, dict)
    print(f"\nsidebar at {width} columns, headless:")
    print(
        f"  first paint: {results['first_paint_process_ms']:.0f} ms from interpreter start "
        f"(imports included), {results['first_paint_app_ms']:.0f} ms from app start "
        f"(first read {results['first_read_ms']:.1f} ms, first widget build "
        f"{results['first_apply_ms']:.1f} ms)"
    )
    print("  refresh = read in the worker + widget update, per kind of change (ms):")
    for kind, s in refresh.items():
        print(
            f"    {kind:<13} p50 {s['p50']:6.2f}  p95 {s['p95']:6.2f}  max {s['max']:6.2f}"
            f"   (read {s['read_p50']:.2f} (max {s['read_max']:.0f})"
            f" + update {s['apply_p50']:.2f} (max {s['apply_max']:.0f});"
            f" commit->screen p50 {s['latency_p50']:.0f}, max {s['latency_max']:.0f})"
        )
    timed = results["timed_full_read"]
    assert isinstance(timed, dict)
    if timed:
        print(
            f"    timed read    p50 {timed['p50']:6.2f}  max {timed['max']:6.2f}"
            f"   (every 2 s with no change, one tmux list-panes included;"
            f" {results['quiet_snapshots']} in 4.5 s)"
        )
    print(
        f"  memory: {results['rss_mb']:.1f} MB RSS at the end, peak {results['peak_rss_mb']:.1f} MB"
    )
    overall = results["refresh_all"]
    assert isinstance(overall, dict)
    worst = max(overall["p95"], timed.get("p95", 0.0) if timed else 0.0)
    rss = float(results["peak_rss_mb"])  # type: ignore[arg-type]
    ok = worst < GOAL_REFRESH_MS and rss < GOAL_RSS_MB
    print(
        f"\nSUMMARY sidebar ({AGENTS} agents, {TASKS} tasks, {EVENTS} events): "
        f"refresh p50 {overall['p50']:.1f} ms, p95 {worst:.1f} ms (goal < {GOAL_REFRESH_MS:.0f}) | "
        f"first paint {results['first_paint_process_ms']:.0f} ms cold, "
        f"{results['first_paint_app_ms']:.0f} ms app | "
        f"memory peak {rss:.0f} MB (goal < {GOAL_RSS_MB:.0f}) -> {'OK' if ok else 'MISSED'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="changes per kind (default 40)")
    parser.add_argument("--width", type=int, default=30, help="sidebar width (default 30)")
    parser.add_argument(
        "--child", nargs=3, metavar=("DB", "SOCKET", "SESSION"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        db, socket, session = args.child
        results = asyncio.run(measure(Path(db), socket, session, args.rounds, args.width))
        print(json.dumps(results))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-sidebar-"))
    tmux_dir = Path(tempfile.mkdtemp(prefix="bst-"))
    env = {**os.environ, "TMUX_TMPDIR": str(tmux_dir)}
    env.pop("TMUX", None)
    socket, session = "bench-sidebar", "bench"
    try:
        state = work / ".swarm"
        state.mkdir(parents=True)
        build(state, socket, session, env)
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(state / "swarm.db"),
                socket,
                session,
                "--rounds",
                str(args.rounds),
                "--width",
                str(args.width),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        results = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(tmux_dir, ignore_errors=True)
    return 0 if report(results, args.width) else 1


if __name__ == "__main__":
    raise SystemExit(main())
