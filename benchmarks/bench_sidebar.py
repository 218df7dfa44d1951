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

Then the cost of rendering under load: a second store with 100 agents, another process
changing 10 agents' state, detail, CPU and memory every 0.25 s (some start waiting, which
moves them to the top), and the sidebar's CPU seconds per second of wall time (its poll
thread included) and per snapshot drawn, measured with getrusage in the sidebar's own
process. The same measurement runs on the sidebar as it was before the rendering work
(`--before`, a commit: its `swarm/` is extracted with `git archive`) and on this tree,
alternating, and the ratio before/after is printed. Under a loaded machine the numbers move;
the alternation keeps both sides under the same load.

    python benchmarks/bench_sidebar.py [--rounds 40] [--width 30] [--only cpu|refresh]
        [--cpu-seconds 10] [--cpu-rounds 2] [--before REV]
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
CPU_AGENTS, CPU_TASKS, CPU_EVENTS = 100, 2000, 3000
CHANGE_EVERY = 0.25  # seconds between two batches of agent changes
CHANGED = 10  # agents changed per batch
# The sidebar before the rendering work of issue 16 (DataTable rebuilt on every reorder,
# a layout pass for every changed text).
BEFORE = "c23471fe8ad3cd6e293d6ae2bd57219836fe6aba"


# -- parent: build the swarm's store and tmux panes ----------------------------------------


def build(
    state: Path,
    socket: str,
    session: str,
    env: dict[str, str],
    sizes: tuple[int, int, int] = (AGENTS, TASKS, EVENTS),
) -> None:
    from swarm.store import Store
    from swarm.ui.sample import populate_store, sample_agents

    agents, tasks, events_wanted = sizes
    with Store.open(state / "swarm.db") as store:
        populate_store(store, agents, tasks, events_wanted)
        counts = store.task_counts()
        events = len(store.events())
        requests = len(store.list_merge_requests())
    print(f"store: {agents} agents, {sum(counts.values())} tasks {dict(counts)}")
    print(f"       {requests} merge requests, {events} events")
    names = [a.name for a in sample_agents(agents) if a.state != "dead"]
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


# Runs in its own process, so its CPU is not the sidebar's.
WRITER = """
import sys, time
from swarm.store import Store
db, seconds, every, changed = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
store = Store.open(db)
names = [a.name for a in store.list_agents("polecat")]
states = ("working", "idle", "working", "waiting", "idle")
n = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    with store.transaction():
        for k in range(changed):
            name = names[(n * changed + k) % len(names)]
            store.set_agent_state(name, states[(n + k) % len(states)], f"step {n}")
            store.set_agent_resources(name, float((n * 7 + k) % 90), (100 + n % 50) << 20)
    n += 1
    time.sleep(every)
"""


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


async def measure_cpu(
    db: Path, socket: str, session: str, seconds: float, width: int
) -> dict[str, float]:
    """The sidebar's CPU while another process changes agents every `CHANGE_EVERY` s."""
    from swarm.tmux.client import Tmux
    from swarm.ui.app import SidebarApp
    from swarm.ui.data import StoreSource

    tmux = Tmux(socket)
    source = StoreSource(db_path=db, session=session, panes=lambda: tmux.list_panes(session))
    app = SidebarApp(source, None)
    async with app.run_test(size=(width, 50)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.01)
        warmup = 2.0
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(db),
                str(seconds + warmup + 1),
                str(CHANGE_EVERY),
                str(CHANGED),
            ]
        )
        try:
            await pilot.pause(warmup)
            cpu, wall, drawn = own_cpu(), time.monotonic(), len(app.apply_times)
            await pilot.pause(seconds)
            cpu, wall = own_cpu() - cpu, time.monotonic() - wall
            drawn = len(app.apply_times) - drawn
        finally:
            writer.kill()
            writer.wait()
        cost = {
            "cpu_percent": 100 * cpu / wall,
            "snapshots": drawn,
            "ms_per_snapshot": 1000 * cpu / max(1, drawn),
        }
        # Printed now: an older sidebar may trip over its own teardown after this.
        print(json.dumps(cost), flush=True)
    return cost


def extract(rev: str, into: Path) -> bool:
    """`rev`'s `swarm/` package under `into`, for the before side; False if git cannot."""
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", rev, "swarm"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        print(f"before: cannot read {rev[:12]} ({archive.stderr.decode().strip()})")
        return False
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return True


def cpu_compare(args: argparse.Namespace, env: dict[str, str]) -> bool:
    """Before vs after at `CPU_AGENTS` agents; prints the table and the ratio."""
    work = Path(tempfile.mkdtemp(prefix="bench-sidebar-cpu-"))
    socket, session = "bench-sidebar-cpu", "bench"
    here = str(Path(__file__).resolve().parent.parent)
    sides: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    try:
        state = work / ".swarm"
        state.mkdir(parents=True)
        print(f"\nrendering cost at {CPU_AGENTS} agents ({CHANGED} change every {CHANGE_EVERY} s):")
        build(state, socket, session, env, (CPU_AGENTS, CPU_TASKS, CPU_EVENTS))
        before = work / "before"
        before.mkdir()
        paths = {"after": here}
        if extract(args.before, before):
            paths["before"] = str(before)
        for _ in range(args.cpu_rounds):
            for side, path in sorted(paths.items(), reverse=True):  # before first
                child = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--cpu-child",
                        str(state / "swarm.db"),
                        socket,
                        session,
                        "--cpu-seconds",
                        str(args.cpu_seconds),
                        "--width",
                        str(args.width),
                    ],
                    env={**env, "PYTHONPATH": path},
                    capture_output=True,
                    text=True,
                    check=False,
                )
                lines = [x for x in child.stdout.splitlines() if x.startswith("{")]
                if not lines:
                    print(child.stderr, file=sys.stderr)
                    return False
                result = json.loads(lines[-1])
                sides[side].append(result)
                print(
                    f"  {side:<6} {result['cpu_percent']:5.1f}% of a core, "
                    f"{result['snapshots']:3.0f} snapshots drawn, "
                    f"{result['ms_per_snapshot']:5.1f} ms CPU per snapshot",
                    flush=True,
                )
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    after = statistics.median(r["cpu_percent"] for r in sides["after"])
    per_after = statistics.median(r["ms_per_snapshot"] for r in sides["after"])
    if not sides["before"]:
        print(
            f"\nSUMMARY sidebar CPU at {CPU_AGENTS} agents: {after:.1f}% of a core, load {load:.1f}"
        )
        return True
    cpu_before = statistics.median(r["cpu_percent"] for r in sides["before"])
    per_before = statistics.median(r["ms_per_snapshot"] for r in sides["before"])
    print(
        f"\nSUMMARY sidebar CPU at {CPU_AGENTS} agents, rows changing every {CHANGE_EVERY} s: "
        f"{cpu_before:.1f}% of a core before, {after:.1f}% after "
        f"({cpu_before / max(after, 0.01):.1f}x less); per snapshot {per_before:.1f} ms before, "
        f"{per_after:.1f} ms after ({per_before / max(per_after, 0.01):.1f}x); "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    return True


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
    parser.add_argument("--only", choices=("cpu", "refresh"), help="one part only")
    parser.add_argument("--cpu-seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--cpu-rounds", type=int, default=2, help="before/after pairs")
    parser.add_argument("--before", default=BEFORE, help="commit of the before side")
    parser.add_argument(
        "--child", nargs=3, metavar=("DB", "SOCKET", "SESSION"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--cpu-child", nargs=3, metavar=("DB", "SOCKET", "SESSION"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        db, socket, session = args.child
        results = asyncio.run(measure(Path(db), socket, session, args.rounds, args.width))
        print(json.dumps(results))
        return 0
    if args.cpu_child:
        db, socket, session = args.cpu_child
        asyncio.run(measure_cpu(Path(db), socket, session, args.cpu_seconds, args.width))
        return 0

    tmux_dir = Path(tempfile.mkdtemp(prefix="bst-"))
    env = {**os.environ, "TMUX_TMPDIR": str(tmux_dir)}
    env.pop("TMUX", None)
    try:
        ok = True
        if args.only != "cpu":
            ok = refresh_and_memory(args, env)
        if args.only != "refresh":
            ok = cpu_compare(args, env) and ok
    finally:
        shutil.rmtree(tmux_dir, ignore_errors=True)
    return 0 if ok else 1


def refresh_and_memory(args: argparse.Namespace, env: dict[str, str]) -> bool:
    """The 30-agent part: refresh latency per kind of change, first paint, memory."""
    work = Path(tempfile.mkdtemp(prefix="bench-sidebar-"))
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
            return False
        results = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return report(results, args.width)


if __name__ == "__main__":
    raise SystemExit(main())
