"""The control plane at 10, 30, 60 and 100 sim polecats: CPU, memory, dispatch, merges.

For each size a real swarm runs (sim polecats in windows of 10, witness, refinery, sidebar,
controller; private tmux socket; SQLite) and the benchmark measures, from outside:

- `swarm up` (the whole CLI command) against `tmuxp load -d` of as many `sleep` panes: with
  the sim agents (each a Python process starting while tmux builds), and with trivial
  agents (`sleep`, as tmuxp's panes run), the like-for-like ratio;
- the time until every polecat is idle, and whether any agent ever has two panes;
- idle: CPU (share of one core, the processes each one starts included) and RSS of the
  controller, witness, refinery, sidebar and the tmux server over `--idle` seconds;
- busy: `--tasks` tasks added at once (one transaction, like a mayor's burst); the same
  CPU figures (and the control plane's CPU seconds per merged task: a faster run spends
  the same work in fewer seconds) until every task is merged (or, `--until started`,
  acknowledged), and tasks merged per minute. Dispatch latency of the first wave (the
  tasks that found an idle polecat waiting), p50/p95, in three steps: claimed (the store's
  `task.hooked`), delivered (the text submitted in the sim's pane: the sim saves each
  message the moment Enter submits it, its inbox file) and acknowledged (`task.started`,
  written with the runtime's prompt report that carried the task: the agent's own
  `swarm report` process, which runs at the agent's priority among a hundred busy agents).
  Delivered is the swarm's part; acknowledged adds the agent's. p95 of all tasks'
  acknowledgement (queueing included);
- the polecats' own CPU while busy (the sims, their reports, git and `swarm done`): with
  100 sims on 2 cores they take most of the machine, and every latency above waits for
  it. `--think S` makes each sim wait S seconds before it works (a real agent waits on its
  model), so a burst's hand-overs compete with each other, not with the work;
- `swarm status` (the whole CLI command, wall time) run once a second while the burst
  runs: p50 and max;
- hand-overs typed twice: `task.delivered` events of a second attempt at one task.

Goals at 100 polecats: idle control plane < 10 % of a core, busy < 25 %, delivered p95
< 5 s (1 s the stretch), `swarm status` < 300 ms, nothing typed twice. The machine's other
load (its 1-minute load average is printed) shows in every figure: compare sizes within one
run.

    python benchmarks/bench_scale.py [--sizes 10,30,60,100] [--tasks 300] [--idle 20]
                                     [--until merged|started] [--think SECONDS]
                                     [--nice N] [--no-tmuxp]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from installed import compile_checkout

CONTROL = ("controller", "witness", "refinery", "sidebar", "tmux")
GOAL_IDLE, GOAL_BUSY, GOAL_P95, STRETCH_P95, GOAL_STATUS = 0.10, 0.25, 5.0, 1.0, 0.3


def make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(
            ["git", "-C", str(path), "-c", "user.name=b", "-c", "user.email=b@b", *args], check=True
        )
    for key, value in (("user.email", "b@b"), ("user.name", "b")):
        subprocess.run(["git", "-C", str(path), "config", key, value], check=True)


def layout(polecats: int, trivial: bool = False, nice: int | None = None) -> dict[str, object]:
    agent: dict[str, object] = (
        {"runtime": "command", "command": ["sleep", "600"]} if trivial else {}
    )
    priority = {} if nice is None else {"nice": nice}
    return {
        "description": f"{polecats} sim polecats (bench_scale)",
        "runtime": "command" if trivial else "sim",
        "polecats_per_window": 10,
        "roles": {
            "mayor": {"count": 0, **agent},
            "polecat": {"count": polecats, **agent, **priority},
            "witness": {"count": 1, **agent},
            "refinery": {"count": 1, **agent},
        },
        "windows": [
            {"name": "control", "layout": "tiled", "panes": ["witness", "refinery"]},
            {"name": "polecats", "layout": "tiled", "panes": ["polecat"]},
        ],
        "merge": {"batch_size": 8, "batch_wait": 1.0},
    }


def tmuxp_workspace(session: str, start: Path, panes: int) -> dict[str, object]:
    windows = []
    for n in range(0, panes, 10):
        count = min(10, panes - n)
        windows.append({"window_name": f"w{n}", "layout": "tiled", "panes": ["sleep 600"] * count})
    return {"session_name": session, "start_directory": str(start), "windows": windows}


@dataclass
class Usage:
    """CPU (share of one core) and RSS (MB) of each control process over a window."""

    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.cpu.values())


def control_pids(state: Path, socket: str, env: dict[str, str]) -> dict[str, int]:
    pids: dict[str, int] = {}
    for name in ("controller", "witness", "refinery"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pids[name] = int((state / f"{name}.pid").read_text().split()[0])
    out = subprocess.run(
        ["tmux", "-L", socket, "display-message", "-p", "#{pid}"],
        capture_output=True, text=True, env=env,
    ).stdout.strip()  # fmt: skip
    if out.isdigit():
        pids["tmux"] = int(out)
    panes = subprocess.run(
        ["tmux", "-L", socket, "list-panes", "-a", "-F", "#{@swarm_agent} #{pane_pid}"],
        capture_output=True, text=True, env=env,
    ).stdout.split("\n")  # fmt: skip
    for line in panes:
        agent, _, pid = line.partition(" ")
        if agent == "sidebar" and pid.isdigit():
            pids["sidebar"] = int(pid)
    return pids


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each process and of the processes it starts (the controller's `tmux`
    and `git` calls, the witness's control-mode client, the refinery's git), finished or not."""
    spent: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            times = proc.cpu_times()
            if name == "tmux":  # its children are the agents: the server's own time only
                spent[name] = times.user + times.system
                continue
            total = times.user + times.system + times.children_user + times.children_system
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    # A living process's finished children are counted in its own
                    # children_* (a finished one's, in its parent's): each once.
                    own = child.cpu_times()
                    total += own.user + own.system + own.children_user + own.children_system
            spent[name] = total
        except psutil.Error:
            pass
    return spent


def agent_pids(socket: str, env: dict[str, str]) -> dict[str, int]:
    """The polecats' pane processes (the sim agents, their hooks and git as they finish)."""
    panes = subprocess.run(
        ["tmux", "-L", socket, "list-panes", "-a", "-F", "#{@swarm_agent} #{pane_pid}"],
        capture_output=True, text=True, env=env,
    ).stdout.split("\n")  # fmt: skip
    pids: dict[str, int] = {}
    for line in panes:
        agent, _, pid = line.partition(" ")
        if agent.startswith("polecat") and pid.isdigit():
            pids[agent] = int(pid)
    return pids


def measure(pids: dict[str, int], before: dict[str, float], elapsed: float) -> Usage:
    after = cpu_seconds(pids)
    usage = Usage()
    for name, pid in pids.items():
        if name in before and name in after:
            usage.cpu[name] = (after[name] - before[name]) / elapsed
        with contextlib.suppress(psutil.Error):
            usage.rss[name] = psutil.Process(pid).memory_info().rss / 2**20
    return usage


def duplicated(socket: str, env: dict[str, str]) -> int:
    """Agents with more than one pane right now."""
    out = subprocess.run(
        ["tmux", "-L", socket, "list-panes", "-a", "-F", "#{@swarm_agent}"],
        capture_output=True, text=True, env=env,
    ).stdout.split()  # fmt: skip
    return sum(1 for count in Counter(out).values() if count > 1)


@dataclass
class Result:
    size: int
    up: float
    up_trivial: float
    tmuxp: float
    idle_after: float
    idle: Usage
    busy: Usage
    p50: float
    p95: float
    all_p95: float
    per_minute: float
    merged: int
    duplicates: int
    status_p50: float
    status_max: float
    twice: int
    load: float
    agents_busy: float  # CPU of the polecats (agents, hooks, their git), in cores
    claim_p95: float  # first wave: added -> hooked to a polecat
    typed_p50: float  # first wave: added -> its text submitted in the polecat's pane
    typed_p95: float
    busy_seconds: float  # how long the busy phase ran

    @property
    def cpu_per_task(self) -> float:
        """The control plane's CPU seconds per merged task while busy."""
        return self.busy.total * self.busy_seconds / self.merged if self.merged else float("nan")


def timed_status(swarm: list[str], repo: Path, env: dict[str, str]) -> float:
    """Wall time of one `swarm status` (the CLI as a person runs it)."""
    started = time.perf_counter()
    subprocess.run([*swarm, "status"], cwd=repo, env=env, capture_output=True)
    return time.perf_counter() - started


@dataclass
class Timeline:
    """When each task was added, and how long after that it was hooked to a polecat (the
    claim) and acknowledged (the agent has it); hand-overs typed a second time."""

    added: dict[str, float] = field(default_factory=dict)
    hooked: dict[str, float] = field(default_factory=dict)
    acked: dict[str, float] = field(default_factory=dict)
    twice: int = 0


def received(state: Path, added: dict[str, float]) -> dict[str, float]:
    """How long after it was added each task's text reached a sim polecat: the sim saves
    every message it is given the moment Enter submits it (its inbox), before it reports
    the prompt. The rest of the way to "acknowledged" is the report's own process."""
    seen: dict[str, float] = {}
    for message in state.glob("sim/*/inbox/*.txt"):
        try:
            text, at = message.read_text(errors="replace"), message.stat().st_mtime
        except OSError:
            continue
        for task_id in added:
            if f"task {task_id} " in text:
                seen[task_id] = min(seen.get(task_id, at), at)
    return {task_id: at - added[task_id] for task_id, at in seen.items()}


def timeline(store: object, wanted: set[str]) -> Timeline:
    from swarm.store import Store

    assert isinstance(store, Store)
    line = Timeline(added={t.id: t.created_at for t in store.list_tasks() if t.id in wanted})
    for event in store.events(limit=None):
        if event.task not in line.added:
            continue
        since = event.ts - line.added[event.task]
        if event.kind == "task.hooked":
            line.hooked.setdefault(event.task, since)
        elif event.kind == "task.started":
            line.acked.setdefault(event.task, since)
        elif event.kind == "task.delivered" and int(event.data.get("attempt", 1)) > 1:
            line.twice += 1
    return line


def run_size(size: int, args: argparse.Namespace, work: Path, env: dict[str, str]) -> Result:
    from swarm.store import Store

    repo = work / f"repo-{size}"
    make_repo(repo)
    path = repo.parent / f"scale-{size}.yaml"
    path.write_text(json.dumps(layout(size, nice=args.nice)))
    socket = f"bench-scale-{size}"
    run_env = {**env, "SWARM_TMUX_SOCKET": socket}
    swarm = [sys.executable, "-m", "swarm"]
    started = time.perf_counter()
    built = subprocess.run([*swarm, "up", str(path), "--detach"], cwd=repo, env=run_env,
                           capture_output=True, text=True)  # fmt: skip
    if built.returncode != 0:
        raise SystemExit(f"swarm up of {size} polecats failed: {built.stderr.strip()}")
    up = time.perf_counter() - started
    state = repo / ".swarm"
    duplicates = 0
    try:
        with Store.open(state / "swarm.db") as store:
            while len(store.idle_agents("polecat")) < size:
                duplicates = max(duplicates, duplicated(socket, env))
                if time.perf_counter() - started > args.ready_timeout:
                    ready = len(store.idle_agents("polecat"))
                    print(f"  {size}: only {ready} polecats idle after {args.ready_timeout}s")
                    break
                time.sleep(0.5)
            idle_after = time.perf_counter() - started
            time.sleep(3.0)  # let start-up work settle
            pids = control_pids(state, socket, env)
            before, at = cpu_seconds(pids), time.perf_counter()
            while time.perf_counter() - at < args.idle:
                duplicates = max(duplicates, duplicated(socket, env))
                time.sleep(1.0)
            idle = measure(pids, before, time.perf_counter() - at)

            pids = control_pids(state, socket, env)
            load = os.getloadavg()[0]
            polecats = agent_pids(socket, env)
            agents_before = cpu_seconds(polecats)
            before, at = cpu_seconds(pids), time.perf_counter()
            with store.transaction():
                body = f"sim: slow {args.think:g}" if args.think > 0 else ""
                ids = [store.add_task(f"scale task {n:03d}", body).id for n in range(args.tasks)]
            wanted = set(ids)
            deadline = at + args.busy_timeout
            status_times: list[float] = []
            done_states = ["merged"] if args.until == "merged" else None
            while time.perf_counter() < deadline:
                if done_states is not None:
                    count = sum(1 for t in store.list_tasks(done_states) if t.id in wanted)
                else:
                    count = len(timeline(store, wanted).acked)
                if count >= len(ids):
                    break
                duplicates = max(duplicates, duplicated(socket, env))
                status_times.append(timed_status(swarm, repo, run_env))
                time.sleep(max(0.0, 1.0 - status_times[-1]))
            elapsed = time.perf_counter() - at
            busy = measure(pids, before, elapsed)
            agents_busy = sum(cpu_seconds(polecats).values()) - sum(agents_before.values())
            agents_busy /= elapsed
            done = [t for t in store.list_tasks(["merged"]) if t.id in wanted]
            merged = sorted(t.updated_at for t in done)
            line = timeline(store, wanted)
            added, acked = line.added, line.acked
            first_wave = sorted(added, key=added.__getitem__)[:size]
            waves = sorted(acked[t] for t in first_wave if t in acked) or [float("nan")]
            claims = sorted(line.hooked[t] for t in first_wave if t in line.hooked)
            typed = received(state, added)
            typed_wave = sorted(typed[t] for t in first_wave if t in typed)
            everyone = sorted(acked.values()) or [float("nan")]
            span = (merged[-1] - min(added.values())) if merged else float("nan")
            status_times = sorted(status_times) or [float("nan")]
    finally:
        subprocess.run([*swarm, "down"], cwd=repo, env=run_env, capture_output=True)

    if args.no_tmuxp:
        tmuxp = up_trivial = float("nan")
    else:
        tmuxp = time_tmuxp(size, repo, work, env)
        up_trivial = time_trivial_up(size, work, env)
    return Result(
        size=size,
        up=up,
        up_trivial=up_trivial,
        tmuxp=tmuxp,
        idle_after=idle_after,
        idle=idle,
        busy=busy,
        p50=statistics.median(waves),
        p95=percentile(waves, 0.95),
        all_p95=percentile(everyone, 0.95),
        per_minute=len(merged) / span * 60 if merged and span > 0 else 0.0,
        merged=len(merged),
        duplicates=duplicates,
        status_p50=statistics.median(status_times),
        status_max=status_times[-1],
        twice=line.twice,
        load=load,
        claim_p95=percentile(claims or [float("nan")], 0.95),
        typed_p50=statistics.median(typed_wave or [float("nan")]),
        typed_p95=percentile(typed_wave or [float("nan")], 0.95),
        busy_seconds=elapsed,
        agents_busy=agents_busy,
    )


def time_tmuxp(size: int, repo: Path, work: Path, env: dict[str, str]) -> float:
    """`tmuxp load -d` of as many `sleep` panes as the swarm has."""
    workspace = work / f"tmuxp-{size}.yaml"
    workspace.write_text(json.dumps(tmuxp_workspace(f"tmuxp-{size}", repo, size + 4)))
    t_socket = f"bench-tmuxp-{size}"
    started = time.perf_counter()
    subprocess.run(["tmuxp", "load", "-d", "-L", t_socket, str(workspace)], env=env,
                   capture_output=True, check=True)  # fmt: skip
    tmuxp = time.perf_counter() - started
    subprocess.run(["tmux", "-L", t_socket, "kill-server"], env=env, capture_output=True)
    return tmuxp


def time_trivial_up(size: int, work: Path, env: dict[str, str]) -> float:
    """`swarm up` of the same layout with `sleep` agents, like tmuxp's panes."""
    repo = work / f"trivial-{size}"
    make_repo(repo)
    path = repo.parent / f"trivial-{size}.yaml"
    path.write_text(json.dumps(layout(size, trivial=True)))
    run_env = {**env, "SWARM_TMUX_SOCKET": f"bench-trivial-{size}"}
    swarm = [sys.executable, "-m", "swarm"]
    started = time.perf_counter()
    built = subprocess.run([*swarm, "up", str(path), "--detach"], cwd=repo, env=run_env,
                           capture_output=True, text=True)  # fmt: skip
    if built.returncode != 0:
        raise SystemExit(f"swarm up of {size} polecats failed: {built.stderr.strip()}")
    elapsed = time.perf_counter() - started
    subprocess.run([*swarm, "down"], cwd=repo, env=run_env, capture_output=True)
    return elapsed


def percentile(values: list[float], q: float) -> float:
    return values[max(0, round(q * len(values)) - 1)]


def print_table(results: list[Result], tasks: int) -> None:
    def pct(value: float | None) -> str:
        return "   -" if value is None else f"{value * 100:4.1f}"

    print("\nCPU in % of one core (idle / busy), RSS in MB")
    head = f"{'polecats':>8} " + " ".join(f"{n[:10]:>11}" for n in CONTROL)
    print(head + f" {'total':>11} {'RSS':>6}")
    for r in results:
        cells = [f"{pct(r.idle.cpu.get(n))}/{pct(r.busy.cpu.get(n))}" for n in CONTROL]
        rss = sum(r.busy.rss.values())
        print(f"{r.size:>8} " + " ".join(f"{c:>11}" for c in cells)
              + f" {pct(r.idle.total)}/{pct(r.busy.total):>5} {rss:6.0f}")  # fmt: skip
    print("\nfirst wave (one task per idle polecat), seconds after the task was added, p50/p95:")
    print("delivered: its text submitted in the polecat's pane; acked: the agent's report of it")
    print("all p95: every task acknowledged, queueing included; status: `swarm status` wall time")
    print("while the burst runs; CPU-s/task: the control plane's, per merged task; twice:")
    print("hand-overs typed a second time; load: 1-min average before the burst")
    print("up: with sim agents; trivial: with `sleep` agents, like tmuxp's panes")
    print(f"{'polecats':>8} {'up s':>6} {'tmuxp s':>7} {'up/tmuxp':>8} {'trivial':>7} "
          f"{'/tmuxp':>6} {'idle at s':>9} {'delivered':>11} {'acked':>11} {'all p95':>7} "
          f"{'merged':>7} {'/min':>6} {'CPU-s/task':>10} {'2 panes':>7} {'status':>6} "
          f"{'max':>6} {'twice':>5} {'load':>5}")  # fmt: skip
    for r in results:
        print(f"{r.size:>8} {r.up:6.2f} {r.tmuxp:7.2f} {r.up / r.tmuxp:8.2f} "
              f"{r.up_trivial:7.2f} {r.up_trivial / r.tmuxp:6.2f} {r.idle_after:9.1f} "
              f"{r.typed_p50:5.2f}/{r.typed_p95:5.2f} {r.p50:5.2f}/{r.p95:5.2f} "
              f"{r.all_p95:7.2f} {r.merged:>3}/{tasks:<3} {r.per_minute:6.1f} "
              f"{r.cpu_per_task:10.3f} {r.duplicates:>7} {r.status_p50:6.2f} "
              f"{r.status_max:6.2f} {r.twice:>5} {r.load:5.1f}")  # fmt: skip
    top = max(results, key=lambda r: r.size)
    print(
        f"\nat {top.size}: idle {top.idle.total * 100:.1f} % (goal < {GOAL_IDLE * 100:.0f}) "
        f"{'OK' if top.idle.total < GOAL_IDLE else 'MISSED'}; "
        f"busy {top.busy.total * 100:.1f} % (goal < {GOAL_BUSY * 100:.0f}) "
        f"{'OK' if top.busy.total < GOAL_BUSY else 'MISSED'}; "
        f"delivered p95 {top.typed_p95:.2f} s (goal < {GOAL_P95:.0f}, stretch < "
        f"{STRETCH_P95:.0f}) {'OK' if top.typed_p95 < GOAL_P95 else 'MISSED'}"
        f"{', stretch OK' if top.typed_p95 < STRETCH_P95 else ''}; "
        f"acknowledged p95 {top.p95:.2f} s (the agents' own reports); "
        f"status p50 {top.status_p50 * 1000:.0f} ms, max {top.status_max * 1000:.0f} ms "
        f"(goal < {GOAL_STATUS * 1000:.0f}) {'OK' if top.status_max < GOAL_STATUS else 'MISSED'}; "
        f"typed twice: {top.twice}; agents with two panes: {top.duplicates}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,30,60,100", help="polecat counts, comma separated")
    parser.add_argument("--tasks", type=int, default=300, help="tasks added at once per size")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    parser.add_argument("--busy-timeout", type=float, default=600.0)
    parser.add_argument(
        "--until",
        choices=("merged", "started"),
        default="merged",
        help="end the busy phase when every task is merged, or when every one is acknowledged",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds each sim agent waits after taking a task before it works (as a real "
        "agent waits on its model): the hand-overs then compete with each other, not with "
        "the agents' own git and `swarm done`",
    )
    parser.add_argument(
        "--nice",
        type=int,
        help="the polecats' `nice` (default: the bundled role's); 0 runs them at the swarm's "
        "own priority, as before roles had one",
    )
    parser.add_argument(
        "--no-tmuxp", action="store_true", help="skip the `swarm up` vs `tmuxp load` timings"
    )
    args = parser.parse_args()
    if shutil.which("tmuxp") is None and not args.no_tmuxp:
        sys.exit("needs `tmuxp` on PATH: pip install -e '.[dev]'")
    sizes = [int(s) for s in args.sizes.split(",")]
    import swarm

    compile_checkout(Path(swarm.__file__).parent.parent)

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    tmux_dir = Path(tempfile.mkdtemp(prefix="bs-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env["TMUX_TMPDIR"] = str(tmux_dir)
    os.environ["TMUX_TMPDIR"] = str(tmux_dir)
    results: list[Result] = []
    try:
        for size in sizes:
            print(f"{size} polecats…", flush=True)
            results.append(run_size(size, args, work, env))
            r = results[-1]
            print(
                f"  up {r.up:.2f}s, idle {r.idle.total * 100:.1f} %, busy "
                f"{r.busy.total * 100:.1f} % ({r.cpu_per_task:.3f} CPU-s per task), "
                f"{r.merged} merged, "
                f"status max {r.status_max:.2f}s, twice {r.twice}, load {r.load:.1f}, "
                f"polecats used {r.agents_busy:.2f} cores; first wave p95: claimed "
                f"{r.claim_p95:.2f}s, delivered {r.typed_p95:.2f}s, acknowledged {r.p95:.2f}s",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(tmux_dir, ignore_errors=True)
    print_table(results, args.tasks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
