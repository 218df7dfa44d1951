"""The refinery: one merge at a time against batches, on the same 24 merge requests.

Each mode gets a fresh git repository with 24 finished task branches (one commit each),
3 of which break the gate, and one of two gates, both ending with a check that no `BAD*`
file exists:

- sleep: `sleep 1`, a gate that waits (a network, a slow service);
- pytest: a real pytest suite of 37 CPU-bound tests (about 2 s on one core), a gate that
  computes: parallel runs beyond the cores only slow each other down.

The refinery's queue is drained and timed (branch set-up excluded):

- one at a time: `batch_size 1`, every request gated alone (24 gate runs);
- swarm: `batch_size 8` and the default gate jobs: no more gates at once than the cores
  unless the gate proves light, stacks sized from the failure rate, a deep queue taken as
  a train (`swarm.refinery.batch`);
- with `--all`, also: one gate job (plain bisection), and 8 gates at once whatever the gate
  costs (as before the jobs followed the gate's cost).

Every mode must end with 21 merged, 3 bounced, and every commit on main passing the gate.
Modes run in turn, `--repeat` times (so a load that comes and goes hits each of them), and
the median counts. The load average is printed before and after: on a machine shared with
other work the ratio moves with it. Last, per gate, one line with the ratio, and the bound
the search itself sets: with J gates at once on J idle cores a round costs about one gate
run, so no batching does better than 24 runs / its rounds.

    python benchmarks/bench_refinery.py [--gate both|sleep|pytest] [--requests 24] [--bad 3]
        [--repeat 1] [--all]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm.git.repo import exclude_path
from swarm.plan import MergeSpec
from swarm.refinery.batch import failure_rate, find_culprits, stack_window, train_length
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
    jobs: int  # gates at once in the end (the gate's measured cost decides)


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
            jobs = refinery.slots.jobs(mode.jobs)
            return Outcome(mode, seconds, stats.gate_runs, stats.rounds, merged, bounced, jobs)


def search_rounds(requests: int, bad: set[int], batch: int, jobs: int) -> int:
    """Gate rounds the culprit search needs for this queue, gate runs taken as free."""
    window = stack_window(failure_rate(0, 0), batch)  # nothing judged yet: the prior

    def probe(accepted: Sequence[int], rest: Sequence[int], points: Sequence[int]) -> list[bool]:
        return [not bad & {*accepted, *rest[:p]} for p in points]

    items = list(range(requests))
    rounds = 0
    while items:  # one step per train, as the refinery takes them
        take = train_length(len(items), min(batch, len(items)), window)
        rounds += find_culprits(items[:take], probe, jobs, window=window).rounds
        items = items[take:]
    return rounds


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--bad", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds the gate sleeps")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--gate", choices=("both", "sleep", "pytest"), default="both")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each mode (median)")
    parser.add_argument("--all", action="store_true", help="also bisection and 8 jobs always")
    args = parser.parse_args()
    bad = bad_positions(args.requests, args.bad)
    jobs = default_gate_jobs(args.batch)
    swarm = Mode(f"swarm: batch {args.batch}, jobs {jobs}", args.batch, jobs)
    modes = [Mode("one at a time", 1, 1), swarm]
    if args.all:
        modes += [
            Mode(f"batched {args.batch}, bisection", args.batch, 1),
            Mode(f"batched {args.batch}, {args.batch} jobs always", args.batch, args.batch, True),
        ]
    print(
        f"{args.requests} merge requests, {len(bad)} failing the gate (positions "
        f"{', '.join(str(b + 1) for b in sorted(bad))}); {os.cpu_count()} cores"
    )
    print(f"before: {load()}")
    kinds = ("sleep", "pytest") if args.gate == "both" else (args.gate,)
    summaries = []
    for kind in kinds:
        gate = gate_commands(kind, args.sleep)
        what = f"sleep {args.sleep:g}" if kind == "sleep" else f"pytest, {SUITE_TESTS} tests"
        print(f"\ngate: {what} + a check")
        runs: dict[str, list[Outcome]] = {mode.name: [] for mode in modes}
        for _ in range(max(1, args.repeat)):
            for mode in modes:
                outcome = run_mode(mode, args.requests, bad, gate)
                runs[mode.name].append(outcome)
                print(
                    f"  {mode.name:<32} {outcome.gate_runs:>3} gate runs in {outcome.rounds:>3} "
                    f"rounds {outcome.seconds:6.1f}s  ({outcome.merged} merged, "
                    f"{outcome.bounced} bounced, main green)",
                    flush=True,
                )
        seconds = {name: statistics.median(o.seconds for o in done) for name, done in runs.items()}
        single = seconds[modes[0].name]
        ratio = single / seconds[swarm.name]
        verdict = "PASS" if ratio >= 3 else "BELOW GOAL"
        others = "".join(f", {m.name} {single / seconds[m.name]:.1f}x" for m in modes[2:])
        cores = runs[swarm.name][-1].jobs
        rounds = search_rounds(args.requests, bad, args.batch, cores)
        summaries.append(
            f"refinery, {kind} gate: serial {single:.1f}s, swarm {seconds[swarm.name]:.1f}s: "
            f"{ratio:.1f}x{others} (median of {max(1, args.repeat)}); goal >= 3x: {verdict}; "
            f"the search needs {rounds} rounds of {cores} gates for this queue: at most "
            f"{args.requests / rounds:.1f}x with {cores} gates at once and no load"
        )
    print(f"\nafter: {load()}\n")
    for line in summaries:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
