"""What one `swarm report` costs: the process every agent hook starts, per event.

Claude Code runs a hook command for every prompt, every tool call and every turn's end, and
the sim does the same; at a burst (a hundred agents handed their tasks at once on two cores)
these processes are most of the CPU the swarm asks of the machine, and each hand-over's
acknowledgement waits for one. The benchmark runs, one after another, the reports an agent
sends while it takes a task (prompt, tool use, turn end) against a real SQLite store, and
measures the CPU (user + system) of each process:

- the floor: `python3 -c pass` (the interpreter's own start, this machine's site packages);
- `swarm report` of this checkout;
- with `--against DIR`, `swarm report` of another checkout (e.g. a worktree of an older
  commit) in the same run, alternating with this one: the ratio is the change.

    python benchmarks/bench_report.py [--reports 60] [--against /path/to/old/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from installed import compile_checkout

HERE = Path(__file__).resolve().parent.parent
EVENTS = ("UserPromptSubmit", "PostToolUse", "Stop")


def make_swarm(root: Path) -> tuple[Path, str]:
    """A swarm's state folder with one polecat holding one task: what a report acts on."""
    from swarm.instance import SwarmInstance
    from swarm.store import Store

    repo = root / "repo"
    state = repo / ".swarm"
    state.mkdir(parents=True)
    SwarmInstance(
        repo=repo,
        state_dir=state,
        session="bench",
        socket="bench-report",
        layout_name="bench",
        layout_path=repo / "swarm.yaml",
    ).save()
    with Store.open(state / "swarm.db") as store:
        store.upsert_agent("polecat-1", "polecat", "sim", "%1", None)
        store.set_agent_state("polecat-1", "idle", "ready")
        task = store.add_task("bench task")
        store.claim_next_task("polecat-1")
    return state, task.id


def cpu_of(argv: list[str], env: dict[str, str], payload: str, cwd: Path) -> float:
    """CPU seconds (user + system) of one child process and what it starts. (`cwd`: not a
    checkout, since `python -m` puts its folder first on the path.)"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, input=payload, env=env, capture_output=True, text=True, cwd=cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def report_env(state: Path, checkout: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "SWARM_HOME": str(state),
        "SWARM_AGENT": "polecat-1",
        "SWARM_ROLE": "polecat",
    }


def payloads(task_id: str) -> list[tuple[str, str]]:
    prompt = f"task {task_id} is on your hook: bench task"
    data = {
        "UserPromptSubmit": {"prompt": prompt},
        "PostToolUse": {"tool_name": "Bash"},
        "Stop": {"last_assistant_message": "done"},
    }
    return [(event, json.dumps({"hook_event_name": event, **data[event]})) for event in EVENTS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=60, help="reports per checkout")
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    checkouts = {"this": HERE}
    if args.against is not None:
        if not (args.against / "swarm" / "__init__.py").is_file():
            raise SystemExit(f"--against {args.against}: no swarm package there")
        checkouts["against"] = args.against.resolve()
    for checkout in checkouts.values():
        compile_checkout(checkout)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        state, task_id = make_swarm(Path(tmp))
        floor = [
            cpu_of([sys.executable, "-c", "pass"], dict(os.environ), "", state) for _ in range(20)
        ]
        spent: dict[str, list[float]] = {name: [] for name in checkouts}
        events = payloads(task_id)
        for n in range(args.reports):
            event, payload = events[n % len(events)]
            for name, checkout in checkouts.items():  # alternated: the machine's load shared
                argv = [sys.executable, "-m", "swarm", "report", event]
                spent[name].append(cpu_of(argv, report_env(state, checkout), payload, state))
    base = statistics.median(floor)
    print(f"CPU per process, median of {args.reports} reports ({', '.join(EVENTS)}):")
    print(f"  python3 -c pass (the floor)   {base * 1000:6.1f} ms")
    for name, values in spent.items():
        median = statistics.median(values)
        label = f"swarm report ({name})"
        print(
            f"  {label:29} {median * 1000:6.1f} ms  ({median / base:.2f}x the floor, "
            f"{(median - base) * 1000:.1f} ms of swarm)"
        )
    if "against" in spent:
        ratio = statistics.median(spent["against"]) / statistics.median(spent["this"])
        print(f"against / this: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
