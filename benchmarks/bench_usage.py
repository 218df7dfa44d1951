"""Usage reading per witness tick, 30 agents: incremental reads vs reading whole transcripts.

Thirty Claude Code transcripts of realistic size (default 2 MB each, one JSON entry per
line as Claude Code writes them) sit in a temporary folder with a real SQLite store. Each
tick, a few agents append a turn (an assistant entry with `usage`, a tool result). Measured:

- the witness's real call, `UsageMeter.tick` as the witness runs it (a 0.5 s tick; one
  `stat` per transcript, only new bytes read, new usage saved in one transaction every 2 s),
  on ticks where nothing was appended and on ticks where `--busy` agents appended (mean:
  the save's cost is spread over the ticks between saves);
- the baseline: what a reader without offsets must do, re-read and re-parse every
  transcript whole each tick.

The goal is under 1 ms per tick for 30 agents.

    python benchmarks/bench_usage.py [--agents 30] [--mb 2] [--ticks 300] [--busy 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from swarm.store import Store
from swarm.usage.meter import SAVE_EVERY, UsageMeter

GOAL_MS = 1.0
TICK = 0.5  # the witness's tick, seconds
NOW = 1_800_000_000.0


def turn(n: int) -> str:
    """One assistant entry with usage and one tool result, as Claude Code writes them."""
    assistant = {
        "type": "assistant",
        "uuid": f"u{n}",
        "timestamp": "2027-01-15T08:00:00.000Z",
        "message": {
            "id": f"msg_{n:08d}",
            "model": "claude-sonnet-4-5-20250929",
            "role": "assistant",
            "content": [{"type": "tool_use", "name": "Bash", "input": {"command": "make test"}}],
            "usage": {
                "input_tokens": 12,
                "output_tokens": 340,
                "cache_creation_input_tokens": 900,
                "cache_read_input_tokens": 41000,
            },
        },
    }
    result = {
        "type": "user",
        "uuid": f"r{n}",
        "message": {"role": "user", "content": [{"type": "tool_result", "content": "x" * 600}]},
    }
    return json.dumps(assistant) + "\n" + json.dumps(result) + "\n"


def whole_file_usage(path: Path) -> int:
    """The baseline: read and parse the whole transcript, sum its usage."""
    total = 0
    with path.open("rb") as handle:
        for line in handle:
            entry = json.loads(line)
            message = entry.get("message") if isinstance(entry, dict) else None
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                total += sum(v for v in usage.values() if isinstance(v, int))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=30)
    parser.add_argument("--mb", type=float, default=2.0, help="transcript size per agent")
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--busy", type=int, default=3, help="agents appending a turn per tick")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-usage-"))
    try:
        store = Store.open(folder / ".swarm" / "swarm.db")
        per_turn = len(turn(0))
        turns = max(1, int(args.mb * 1_000_000 / per_turn))
        paths: list[Path] = []
        for i in range(args.agents):
            name = f"polecat-{i + 1}"
            path = folder / f"{name}.jsonl"
            path.write_text("".join(turn(n) for n in range(turns)))
            paths.append(path)
            store.upsert_agent(name, "polecat", "claude", f"%{i}", i)
            store.set_agent_session(name, f"s{i}", str(path))
        agents = store.list_agents()
        meter = UsageMeter(store, save_every=SAVE_EVERY)  # as the witness runs it
        started = time.perf_counter()
        backlog = args.agents * turns * (12 + 340 + 900 + 41000)
        looks = 0
        while store.usage_total().tokens < backlog and looks < 10_000:
            meter.tick(agents, NOW + TICK * looks)  # the backlog: a bounded slice per tick
            looks += 1
        first = time.perf_counter() - started

        quiet: list[float] = []
        busy: list[float] = []
        serial = turns
        for tick in range(args.ticks):
            appended = tick % 2 == 1
            if appended:
                for k in range(args.busy):
                    serial += 1
                    with paths[(tick * args.busy + k) % args.agents].open("a") as handle:
                        handle.write(turn(serial))
            started = time.perf_counter()
            meter.tick(agents, NOW + TICK * (looks + tick))
            (busy if appended else quiet).append(time.perf_counter() - started)

        meter.tick(agents, NOW + TICK * (looks + args.ticks) + SAVE_EVERY)  # the unsaved rest
        baseline: list[float] = []
        for _ in range(3):
            started = time.perf_counter()
            for path in paths:
                whole_file_usage(path)
            baseline.append(time.perf_counter() - started)
        expected = (args.agents * turns + serial - turns) * (12 + 340 + 900 + 41000)
        counted = store.usage_total().tokens
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    q_ms = statistics.median(quiet) * 1000
    b_ms = statistics.mean(busy) * 1000
    p95 = sorted(busy)[int(len(busy) * 0.95) - 1] * 1000
    worst = max(busy) * 1000
    base_ms = statistics.median(baseline) * 1000
    print(
        f"{args.agents} agents, {args.mb:g} MB transcript each ({turns} turns), {args.ticks} ticks"
    )
    print(f"catching up on the backlog: {looks} ticks, {first * 1000:.0f} ms in all")
    print(f"incremental tick, nothing appended:        {q_ms:9.3f} ms (median)")
    print(
        f"incremental tick, {args.busy} agents appended:       {b_ms:9.3f} ms (mean; a save "
        f"every {SAVE_EVERY:g} s), p95 {p95:.3f} ms, worst {worst:.3f} ms"
    )
    print(f"baseline, whole files re-read every tick:  {base_ms:9.1f} ms (median of 3)")
    print(f"ratio baseline / incremental (busy tick):  {base_ms / b_ms:9.0f}x")
    print(
        f"tokens counted {counted:,} = sent {expected:,}: {'yes' if counted == expected else 'NO'}"
    )
    ok = b_ms < GOAL_MS and q_ms < GOAL_MS and counted == expected
    print(
        f"goal: under {GOAL_MS:g} ms per tick for {args.agents} agents: {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
