"""The witness's monitoring cost and detection latency at 30 live panes, against the peers' way.

A real swarm on a private tmux socket runs 30 small agents without hooks (the hardest case
for the witness: no hook tells it anything, it must see state changes in tmux). Each agent
shows an input prompt; told `w` it works for a while (a spinner line every 100 ms), told
`p` it asks for permission, told `1` it takes the answer. Each agent logs the exact time
of its own state changes.

Two monitors watch the same panes in turn, each in its own process, at the same tick, while
the same random stream of state changes is driven into the panes:

- naive: what the peers do (claude-squad, ntm): every tick, list the panes with libtmux and
  `capture_pane()` every one of them, then hash and pattern-match the screens;
- witness: `swarm.witness.loop.Witness.tick()`, the real thing (store included): one
  `list-panes` over a control-mode client, screens captured only when a signal asks.

Reported per monitor: CPU per tick (the monitor process and the tmux processes it forks;
the tmux server's CPU during the phase separately), and the latency from an agent's state
change to the monitor's detection (p50, p95). Goal: at least 10x less CPU per tick than the
naive loop, and state changes seen within 1 s p95.

    python benchmarks/bench_monitor.py [--panes 30] [--seconds 20] [--tick 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

GOAL_RATIO = 10.0
GOAL_P95 = 1.0

AGENT = r"""
import os, sys, time, select, termios, tty
name = os.environ.get("SWARM_AGENT", "agent")
log = open(os.path.join(os.environ["BENCH_LOG"], name + ".log"), "a")
def mark(state):
    log.write(f"{time.time():.6f} {state}\n"); log.flush()
def out(text):
    sys.stdout.write(text); sys.stdout.flush()
fd = sys.stdin.fileno()
tty.setraw(fd)
out(f"bench agent {name}\r\nbench❯ ")
mark("idle")
state = "idle"
while True:
    key = os.read(fd, 1)
    if not key:
        break
    if key == b"w" and state == "idle":
        state = "working"; mark("working")
        out("\r\n")
        end = time.time() + 1.5
        n = 0
        while time.time() < end:  # a spinner redrawn in place, as agents draw theirs
            n += 1
            out(f"\r\x1b[K✻ Working… ({n} · esc to interrupt)")
            time.sleep(0.1)
        out("\r\x1b[K⏺ done\r\nbench❯ ")
        state = "idle"; mark("idle")
    elif key == b"p" and state == "idle":
        state = "waiting"
        out("\r\n Bash command\r\n   git push\r\n Do you want to proceed?\r\n")
        out(" ❯ 1. Yes\r\n   3. No\r\n")
        mark("waiting")
    elif key == b"1" and state == "waiting":
        out("⏺ approved\r\n⏺ done\r\nbench❯ ")
        state = "idle"; mark("idle")
"""


# -- the two monitors (each runs in a child process: `--worker naive|witness`) --------------


def worker_naive(socket: str, session: str, seconds: float, tick: float) -> None:
    import hashlib

    import libtmux

    from swarm.runtimes.patterns import classify
    from swarm.runtimes.registry import get_runtime

    patterns = get_runtime("command").patterns
    server = libtmux.Server(socket_name=socket)
    hashes: dict[str, str] = {}
    states: dict[str, str] = {}
    ticks = 0
    end = time.monotonic() + seconds
    cpu = cpu_now()  # start-up (imports, connecting) is not part of any tick
    while time.monotonic() < end:
        started = time.monotonic()
        ticks += 1
        for pane in server.panes:
            name = pane.pane_title or ""  # the swarm titles each pane with its agent's name
            if not name.startswith("polecat-"):
                continue
            screen = "\n".join(pane.capture_pane())
            digest = hashlib.sha1(screen.encode()).hexdigest()
            changed = hashes.get(name) not in (None, digest)
            hashes[name] = digest
            kind = classify(patterns, screen).kind
            state = (
                "waiting"
                if kind == "waiting"
                else "working"
                if changed or kind == "busy"
                else "idle"
            )
            if states.get(name) != state:
                states[name] = state
                print(f"DETECT {name} {state} {time.time():.6f}", flush=True)
        time.sleep(max(0.0, tick - (time.monotonic() - started)))
    report(cpu_now() - cpu, ticks)


def worker_witness(repo: str, seconds: float, tick: float) -> None:
    from swarm.instance import locate
    from swarm.store import Store
    from swarm.witness.loop import Witness, WitnessConfig

    instance = locate(repo=Path(repo))
    with Store.open(instance.db_path) as store:
        witness = Witness(instance, store, log=lambda _m: None, config=WitnessConfig(tick=tick))
        witness.monitor.connect()
        ticks = 0
        end = time.monotonic() + seconds
        cpu = cpu_now()  # start-up (imports, the layout, connecting) is not part of any tick
        spawned_before = witness.monitor.processes_spawned
        while time.monotonic() < end:
            started = time.monotonic()
            ticks += 1
            result = witness.tick()
            stamp = time.time()
            for name, (_old, new) in result.changed.items():
                print(f"DETECT {name} {new} {stamp:.6f}", flush=True)
            time.sleep(max(0.0, tick - (time.monotonic() - started)))
        used = cpu_now() - cpu
        spawned = witness.monitor.processes_spawned - spawned_before
        witness.close()
    report(used, ticks, spawned)


def cpu_now() -> float:
    """This process's CPU, and that of the tmux processes it forked and waited for (in
    microseconds: `os.times` counts in 10 ms clock ticks, too coarse for a few ms per tick)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def report(cpu: float, ticks: int, spawned: int | None = None) -> None:
    print(f"CPU {cpu:.6f} {ticks} {spawned if spawned is not None else -1}", flush=True)


# -- the driver ---------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    ticks: int = 0
    cpu: float = 0.0
    server_cpu: float = 0.0
    spawned: int = -1
    detections: list[tuple[str, str, float]] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    missed: int = 0

    @property
    def per_tick_ms(self) -> float:
        return 1000 * self.cpu / max(1, self.ticks)

    @property
    def server_per_tick_ms(self) -> float:
        return 1000 * self.server_cpu / max(1, self.ticks)

    def all_latencies(self) -> list[float]:
        return [x for values in self.latencies.values() for x in values]


def make_swarm(root: Path, panes: int) -> tuple[Path, str, str]:
    repo = root / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args], check=True
        )
    agent = root / "agent.py"
    agent.write_text(AGENT)
    polecat = {
        "count": panes,
        "runtime": "command",
        "command": [sys.executable, str(agent)],
        "health": {"startup_grace": 1, "stall_after": 600, "nudge_after": 600},
    }
    layout = root / "bench.yaml"
    layout.write_text(
        json.dumps(
            {
                "session": "bench",
                "sidebar": {"enabled": False},
                "polecats_per_window": panes,
                "environment": {"BENCH_LOG": str(root / "logs")},
                "roles": {"mayor": {"count": 0}, "polecat": polecat},
                "windows": [{"name": "bots", "layout": "tiled", "panes": ["polecat"]}],
            }
        )
    )
    (root / "logs").mkdir()
    from swarm.lifecycle import bring_up

    result = bring_up(str(layout), repo)
    return repo, result.instance.socket, result.instance.session


def agent_changes(logs: Path, since: float, until: float) -> dict[str, list[tuple[float, str]]]:
    changes: dict[str, list[tuple[float, str]]] = {}
    for path in logs.glob("*.log"):
        for line in path.read_text().splitlines():
            stamp, state = line.split()
            if since <= float(stamp) <= until:
                changes.setdefault(path.stem, []).append((float(stamp), state))
    return changes


def match(phase: Phase, changes: dict[str, list[tuple[float, str]]]) -> None:
    """Each agent state change -> the first detection of that state after it (before the next)."""
    seen: dict[str, list[tuple[float, str]]] = {}
    for agent, state, stamp in phase.detections:
        seen.setdefault(agent, []).append((stamp, state))
    for agent, timeline in changes.items():
        for index, (stamp, state) in enumerate(timeline):
            nxt = timeline[index + 1][0] if index + 1 < len(timeline) else float("inf")
            hit = next(
                (t for t, s in seen.get(agent, []) if s == state and stamp <= t < nxt + 0.05), None
            )
            if hit is None:
                # a state shorter than a tick can be missed by any poller; count it
                phase.missed += 1
            else:
                phase.latencies.setdefault(state, []).append(hit - stamp)


def run_phase(
    name: str,
    argv: list[str] | None,
    socket: str,
    session: str,
    seconds: float,
    logs: Path,
    seed: int,
    tick: float,
) -> Phase:
    """Drive the same stream of state changes while one monitor (or none) watches."""
    import psutil

    from swarm.tmux.client import Tmux

    tmux = Tmux(socket)
    server_pid = int(tmux.run(("display-message", "-p", "#{pid}")).strip())
    server = psutil.Process(server_pid)
    panes = {p.agent: p.pane_id for p in tmux.list_panes(session) if p.agent.startswith("polecat-")}
    rng = random.Random(seed)
    worker = subprocess.Popen(argv or ["sleep", str(seconds)], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the worker's start-up is not part of any tick
    server_before = sum(server.cpu_times()[:2])
    began = time.time()
    waiting: dict[str, float] = {}
    busy_until: dict[str, float] = {}
    end = time.monotonic() + seconds - 2.0
    while time.monotonic() < end:
        now = time.time()
        keys = []
        for agent, since in list(waiting.items()):
            if now - since > 1.2:
                keys.append((agent, "1"))
                del waiting[agent]
                busy_until[agent] = now + 0.3
        idle = [a for a in panes if a not in waiting and busy_until.get(a, 0) < now]
        for agent in rng.sample(idle, k=min(2, len(idle))):
            key = "p" if rng.random() < 0.3 else "w"
            keys.append((agent, key))
            if key == "p":
                waiting[agent] = now
            else:
                busy_until[agent] = now + 2.0
        if keys:
            tmux.run(*[("send-keys", "-t", panes[a], k) for a, k in keys])
        time.sleep(0.4)
    for agent in list(waiting):
        tmux.run(("send-keys", "-t", panes[agent], "1"))
    out, _ = worker.communicate(timeout=seconds + 60)
    finished = time.time()
    phase = Phase(name)
    phase.server_cpu = sum(server.cpu_times()[:2]) - server_before
    if argv is None:  # the baseline: what the agents and the driver cost the server alone
        phase.ticks = int((finished - began) / tick)
        return phase
    for line in out.splitlines():
        parts = line.split()
        if parts[0] == "DETECT":
            phase.detections.append((parts[1], parts[2], float(parts[3])))
        elif parts[0] == "CPU":
            phase.cpu, phase.ticks, phase.spawned = float(parts[1]), int(parts[2]), int(parts[3])
    changes = agent_changes(logs, began, finished - 1.5)
    match(phase, changes)
    dump = os.environ.get("BENCH_MONITOR_DUMP")
    if dump:
        with open(f"{dump}.{name.split()[0]}.json", "w") as fh:
            json.dump({"changes": changes, "detections": phase.detections}, fh)
    return phase


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--panes", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=20.0, help="per monitor")
    parser.add_argument(
        "--tick", type=float, default=0.5, help="both monitors' tick (the witness default)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", choices=["naive", "witness"], help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--session", help=argparse.SUPPRESS)
    parser.add_argument("--repo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "naive":
        worker_naive(args.socket, args.session, args.seconds, args.tick)
        return 0
    if args.worker == "witness":
        worker_witness(args.repo, args.seconds, args.tick)
        return 0

    root = Path(tempfile.mkdtemp(prefix="swb-"))
    os.environ["TMUX_TMPDIR"] = str(root)
    os.environ["SWARM_TMUX_SOCKET"] = f"bench-monitor-{os.getpid()}"
    os.environ.pop("TMUX", None)
    socket = ""
    try:
        repo, socket, session = make_swarm(root, args.panes)
        time.sleep(3.0)  # every agent drew its prompt
        me = [sys.executable, str(Path(__file__).resolve())]
        common = ["--seconds", str(args.seconds), "--tick", str(args.tick)]
        logs = root / "logs"
        baseline = run_phase(
            "no monitor", None, socket, session, args.seconds, logs, args.seed, args.tick
        )
        phases = [
            run_phase(
                "naive (libtmux capture of every pane)",
                [*me, "--worker", "naive", "--socket", socket, "--session", session, *common],
                socket,
                session,
                args.seconds,
                logs,
                args.seed,
                args.tick,
            ),
            run_phase(
                "witness (swarm.witness)",
                [*me, "--worker", "witness", "--repo", str(repo), *common],
                socket,
                session,
                args.seconds,
                logs,
                args.seed,
                args.tick,
            ),
        ]
        for phase in phases:  # the tmux server's extra work because of the monitor
            phase.server_cpu = max(
                0.0, phase.server_cpu - baseline.server_cpu * phase.ticks / max(1, baseline.ticks)
            )
    finally:
        if socket:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

    naive, witness = phases
    setup = f"{args.panes} live panes, tick {args.tick:g}s, {args.seconds:g}s per monitor"
    print(f"\n{setup}, {tmux_version()}")
    print_table(phases, args.panes)
    ratio = naive.per_tick_ms / max(1e-9, witness.per_tick_ms)
    naive_total = naive.per_tick_ms + naive.server_per_tick_ms
    total_ratio = naive_total / max(1e-9, witness.per_tick_ms + witness.server_per_tick_ms)
    p95 = pct(witness.all_latencies(), 0.95)
    print(
        f"\nwitness CPU per tick: {witness.per_tick_ms:.2f} ms vs naive {naive.per_tick_ms:.2f} ms "
        f"-> {ratio:.1f}x less (goal >= {GOAL_RATIO:g}x)"
    )
    print(f"counting the tmux server's extra work too: {total_ratio:.1f}x less")
    print(f"witness detection latency p95: {p95:.2f} s (goal <= {GOAL_P95:g} s)")
    ok = ratio >= GOAL_RATIO and p95 <= GOAL_P95
    print("GOALS MET" if ok else "GOALS NOT MET")
    return 0 if ok else 1


def print_table(phases: list[Phase], panes: int) -> None:
    columns = (
        "monitor",
        "ticks",
        "CPU/tick",
        "+server",
        "forks/tick",
        "p50",
        "p95",
        "seen",
        "missed",
    )
    widths = (40, 5, 9, 8, 10, 6, 6, 5, 6)
    header = " ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(columns, widths, strict=True))
    )
    print(header)
    print("-" * len(header))
    for phase in phases:
        lat = phase.all_latencies()
        forks = (
            f"{phase.spawned / max(1, phase.ticks):.2f}" if phase.spawned >= 0 else f"~{panes + 1}"
        )
        cells = (
            phase.name,
            str(phase.ticks),
            f"{phase.per_tick_ms:.2f}ms",
            f"{phase.server_per_tick_ms:.2f}ms",
            forks,
            f"{pct(lat, 0.5):.2f}s",
            f"{pct(lat, 0.95):.2f}s",
            str(len(lat)),
            str(phase.missed),
        )
        row = (
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        print(" ".join(row))
    for phase in phases:
        parts = [
            f"{state} p50 {pct(v, 0.5):.2f}s p95 {pct(v, 0.95):.2f}s (n={len(v)})"
            for state, v in sorted(phase.latencies.items())
        ]
        print(f"  {phase.name.split()[0]:8} " + "; ".join(parts))


def tmux_version() -> str:
    return subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
