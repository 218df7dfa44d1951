"""The refinery: one merge at a time against batches, on the same 24 merge requests.

Each mode gets a fresh git repository with 24 finished task branches (one commit each),
3 of which break the gate, and a gate that takes about a second (`sleep 1` and a check that
no `BAD*` file exists). The refinery's queue is drained and timed (branch set-up excluded):

- one at a time: `batch_size 1`, every request gated alone (24 gate runs);
- batched, bisection: `batch_size 8`, one gate job: the stack is gated once, a failing stack
  is bisected one gate run after the other;
- batched, parallel: `batch_size 8`, 8 gate jobs: the first round gates every prefix of the
  stack at once (a merge train), so a culprit is known after one round.

Every mode must end with 21 merged, 3 bounced, and every commit on main passing the gate.
Prints gate runs, rounds and wall time per mode, then one summary line with the ratio.
Goal: batched at least 3 times faster than one at a time.

    python benchmarks/bench_refinery.py [--requests 24] [--bad 3] [--sleep 1.0]
"""

from __future__ import annotations

import argparse
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
from swarm.refinery.settings import Settings
from swarm.store import Store

CHECK = 'for f in BAD*; do if [ -e "$f" ]; then echo "broken by $f"; exit 1; fi; done'


@dataclass(frozen=True)
class Mode:
    name: str
    batch_size: int
    jobs: int


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


def run_mode(mode: Mode, requests: int, bad: set[int], sleep: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="swarm-bench-refinery-") as tmp:
        repo = make_repo(Path(tmp))
        state = repo / ".swarm"
        with Store.open(state / "swarm.db") as store:
            queue_requests(repo, store, requests, bad)
            settings = Settings(
                repo=repo,
                state_dir=state,
                target="main",
                gate=(f"sleep {sleep}", CHECK),
                merge=MergeSpec(batch_size=mode.batch_size, batch_wait=0.0, max_bounces=3),
                gate_jobs=mode.jobs,
            )
            refinery = Refinery(settings, store)
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
    args = parser.parse_args()
    bad = bad_positions(args.requests, args.bad)
    modes = [
        Mode("one at a time", 1, 1),
        Mode(f"batched {args.batch}, bisection", args.batch, 1),
        Mode(f"batched {args.batch}, {args.batch} gate jobs", args.batch, args.batch),
    ]
    print(
        f"{args.requests} merge requests, {len(bad)} failing the gate (positions "
        f"{', '.join(str(b + 1) for b in sorted(bad))}), gate = sleep {args.sleep:g} + a check"
    )
    results = []
    for mode in modes:
        outcome = run_mode(mode, args.requests, bad, args.sleep)
        results.append(outcome)
        print(
            f"  {mode.name:<28} {outcome.gate_runs:>3} gate runs in {outcome.rounds:>3} rounds"
            f"  {outcome.seconds:6.1f}s  ({outcome.merged} merged, {outcome.bounced} bounced,"
            " main green)",
            flush=True,
        )
    single, bisect, parallel = results
    best = min((bisect, parallel), key=lambda o: o.seconds)
    ratio = single.seconds / best.seconds
    verdict = "PASS" if ratio >= 3 else "BELOW GOAL"
    print(
        f"refinery: {best.mode.name} is {ratio:.1f}x faster than one at a time "
        f"({best.seconds:.1f}s vs {single.seconds:.1f}s; bisection alone "
        f"{single.seconds / bisect.seconds:.1f}x); goal >= 3x: {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
