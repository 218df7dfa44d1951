"""The refinery: one merge at a time against batches, on the same 24 merge requests.

Each mode gets a fresh git repository with 24 finished task branches (one commit each),
3 of which break the gate, and one of two gates, both ending with a check that no `BAD*`
file exists:

- sleep: `sleep 1`, a gate that waits (a network, a slow service);
- pytest: a real pytest suite of 37 CPU-bound tests (about 2 s on one core), a gate that
  computes: parallel runs beyond the cores only slow each other down.

The refinery's queue is drained and timed (branch set-up excluded):

- one at a time: `batch_size 1`, every request gated alone (24 gate runs);
- batched, bisection: `batch_size 8`, one gate job: the stack is gated once, a failing stack
  is bisected one gate run after the other;
- batched, default jobs: `batch_size 8`, the default gate jobs, which run no more gates at
  once than the cores unless the gate proves light (the sleep gate does, the suite does not);
- batched, 8 jobs on any machine: 8 gates at once whatever the gate costs (as before the
  jobs followed the gate's cost), for comparison.

Every mode must end with 21 merged, 3 bounced, and every commit on main passing the gate.
Prints gate runs, rounds and wall time per mode, then per gate one summary line with the
ratio. Goal: batched at least 3 times faster than one at a time, with either gate.

    python benchmarks/bench_refinery.py [--gate both|sleep|pytest] [--requests 24] [--bad 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm.git.repo import exclude_path
from swarm.plan import MergeSpec
from swarm.refinery.candidate import CandidateWorktree
from swarm.refinery.gate import run_gate
from swarm.refinery.queue import Refinery
from swarm.refinery.settings import Settings, default_gate_jobs
from swarm.store import Store

CHECK = 'for f in BAD*; do if [ -e "$f" ]; then echo "broken by $f"; exit 1; fi; done'
SUITE_TESTS = 37
# One test of the suite: pure computation, about 25 ms on one core.
SUITE = """
import pytest

def collatz(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps

@pytest.mark.parametrize("seed", range({tests}))
def test_longest_chain(seed):
    best = max(range(seed * 1000 + 1, seed * 1000 + 1800), key=collatz)
    assert collatz(best) > 0
"""


@dataclass(frozen=True)
class Mode:
    name: str
    batch_size: int
    jobs: int
    any_cost: bool = False  # run `jobs` gates at once whatever the gate costs


@dataclass(frozen=True)
class Outcome:
    mode: Mode
    seconds: float
    gate_runs: int
    rounds: int
    merged: int
    bounced: int


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@swarm.local")
    git(repo, "config", "user.name", "Swarm Bench")
    (repo / "README.md").write_text("# bench\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_suite.py").write_text(SUITE.format(tests=SUITE_TESTS))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial commit")
    exclude_path(repo, "/.swarm/")
    return repo


def bad_positions(requests: int, bad: int) -> set[int]:
    """Spread evenly: one culprit in each third of the queue for 24 and 3."""
    return {int((i + 0.5) * requests / bad) for i in range(bad)}


def queue_requests(repo: Path, store: Store, requests: int, bad: set[int]) -> None:
    store.upsert_agent("polecat-1", "polecat", "sim")
    store.set_agent_state("polecat-1", "idle", "bench")
    scratch = repo / ".swarm" / "scratch"
    git(repo, "worktree", "add", "-q", "--detach", str(scratch), "main")
    base = git(repo, "rev-parse", "main")
    for i in range(requests):
        task = store.add_task(f"feature {i}")
        store.hook_task(task.id, "polecat-1")
        git(scratch, "checkout", "-q", "-b", f"swarm/{task.id}", "main")
        (scratch / f"feature-{i}.txt").write_text(f"feature {i}\n")
        if i in bad:
            (scratch / f"BAD-{i}").write_text("this breaks the gate\n")
        git(scratch, "add", "-A")
        git(scratch, "commit", "-q", "-m", f"feature {i} ({task.id})")
        store.finish_task("polecat-1", git(scratch, "rev-parse", "HEAD"), base)
        git(scratch, "checkout", "-q", "--detach")
        # every polecat is busy elsewhere: bounces go back to the queue, as in a busy swarm
        store.set_agent_state("polecat-1", "idle", "bench")


def check_main(repo: Path) -> None:
    verify = repo / ".swarm" / "verify"
    checker = CandidateWorktree(repo, verify)
    for sha in git(repo, "rev-list", "--first-parent", "main").split():
        checker.reset_to(sha)
        if not run_gate((CHECK,), verify, marker="bench-verify").passed:
            raise SystemExit(f"main commit {sha[:10]} fails the gate")


def gate_commands(kind: str, sleep: float) -> tuple[str, ...]:
    if kind == "sleep":
        return (f"sleep {sleep}", CHECK)
    suite = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
    return (suite, CHECK)


def run_mode(mode: Mode, requests: int, bad: set[int], gate: tuple[str, ...]) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="swarm-bench-refinery-") as tmp:
        repo = make_repo(Path(tmp))
        state = repo / ".swarm"
        with Store.open(state / "swarm.db") as store:
            queue_requests(repo, store, requests, bad)
            settings = Settings(
                repo=repo,
                state_dir=state,
                target="main",
                gate=gate,
                merge=MergeSpec(batch_size=mode.batch_size, batch_wait=0.0, max_bounces=3),
                gate_jobs=mode.jobs,
            )
            refinery = Refinery(settings, store)
            if mode.any_cost:
                refinery.slots.cores = mode.jobs  # as if there were a core per gate job
            refinery.recover()
            started = time.perf_counter()
            refinery.drain()
            seconds = time.perf_counter() - started
            statuses = [mr.status for mr in store.list_merge_requests()]
            merged, bounced = statuses.count("merged"), statuses.count("bounced")
            if merged != requests - len(bad) or bounced != len(bad):
                raise SystemExit(f"{mode.name}: {merged} merged, {bounced} bounced")
            check_main(repo)
            stats = refinery.stats
            return Outcome(mode, seconds, stats.gate_runs, stats.rounds, merged, bounced)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--bad", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds the gate sleeps")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--gate", choices=("both", "sleep", "pytest"), default="both")
    args = parser.parse_args()
    bad = bad_positions(args.requests, args.bad)
    jobs = default_gate_jobs(args.batch)
    modes = [
        Mode("one at a time", 1, 1),
        Mode(f"batched {args.batch}, bisection", args.batch, 1),
        Mode(f"batched {args.batch}, default jobs ({jobs})", args.batch, jobs),
        Mode(f"batched {args.batch}, {args.batch} jobs always", args.batch, args.batch, True),
    ]
    print(
        f"{args.requests} merge requests, {len(bad)} failing the gate (positions "
        f"{', '.join(str(b + 1) for b in sorted(bad))}); {os.cpu_count()} cores"
    )
    kinds = ("sleep", "pytest") if args.gate == "both" else (args.gate,)
    summaries = []
    for kind in kinds:
        gate = gate_commands(kind, args.sleep)
        what = f"sleep {args.sleep:g}" if kind == "sleep" else f"pytest, {SUITE_TESTS} tests"
        print(f"\ngate: {what} + a check")
        results = []
        for mode in modes:
            outcome = run_mode(mode, args.requests, bad, gate)
            results.append(outcome)
            print(
                f"  {mode.name:<32} {outcome.gate_runs:>3} gate runs in {outcome.rounds:>3} "
                f"rounds {outcome.seconds:6.1f}s  ({outcome.merged} merged, "
                f"{outcome.bounced} bounced, main green)",
                flush=True,
            )
        single, *batched = results
        best = min(batched, key=lambda o: o.seconds)
        ratio = single.seconds / best.seconds
        verdict = "PASS" if ratio >= 3 else "BELOW GOAL"
        summaries.append(
            f"refinery, {kind} gate: {best.mode.name} is {ratio:.1f}x faster than one at a "
            f"time ({best.seconds:.1f}s vs {single.seconds:.1f}s; "
            + ", ".join(f"{o.mode.name} {single.seconds / o.seconds:.1f}x" for o in batched)
            + f"); goal >= 3x: {verdict}"
        )
    print()
    for line in summaries:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
