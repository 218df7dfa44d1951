"""The guard's cost: p95 time per hook call, and the time for a 1 MB command.

Claude Code runs `swarm guard` before every tool call and lets the call run if the hook
takes longer than its timeout (30 s), so the guard must be quick on ordinary calls and
linear on huge ones. Measured here:

- p95 of `swarm guard` as Claude Code runs it (a new process per call, the policy file
  read, the verdict printed) over a mix of ordinary calls, and of the verdict alone;
- a 1 MB command of three kinds (a script of short lines, one word, an operator soup),
  each against the guard's budget;
- the ratio to the guard before this rewrite (read from git, default: the newest commit
  on main whose guard.py does not use swarm.shellwords) on growing scripts, and on the
  1 MB script with a time limit (the old one was quadratic: 10,000 lines took 25-68 s).

    python benchmarks/bench_guard.py [--calls 60] [--baseline REF] [--old-limit 60]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
REPO = "/work/repo"
WORKTREE = f"{REPO}/.swarm/worktrees/polecat-1"
CALLS = [
    "git status",
    "python -m pytest -q tests/test_x.py 2>&1 | tail -20",
    "cat > notes.md <<'EOF'\n# notes\nsome text\nEOF",
    "cd src && grep -rn 'def main' . | head",
    f"cp -t {REPO} x",
    "git add -A && git commit -m 'work' && swarm done",
    "for f in *.py; do sed -i 's/a/b/' \"$f\"; done",
    f"bash -c 'echo hi > {REPO}/x'",
]


def script(size: int) -> str:
    lines, total, i = [], 0, 0
    while total < size:
        line = f"echo line {i} >> out-{i % 7}.txt && test -f out-{i % 7}.txt"
        lines.append(line)
        total += len(line) + 1
        i += 1
    return "\n".join(lines)[:size]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def baseline_ref(given: str | None) -> str | None:
    if given:
        return given
    commits = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--format=%H", "main", "--", "swarm/guard.py"],
        capture_output=True,
        text=True,
    ).stdout.split()
    for commit in commits:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{commit}:swarm/guard.py"],
            capture_output=True,
            text=True,
        ).stdout
        if text and "shellwords" not in text:
            return commit
    return None


def load_old(ref: str) -> ModuleType | None:
    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:swarm/guard.py"], capture_output=True, text=True
    ).stdout
    if not text:
        return None
    path = Path(tempfile.mkdtemp()) / "old_guard.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_guard", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_guard"] = module
    spec.loader.exec_module(module)
    return module


def timed(check: Callable[[str], object], command: str) -> float:
    start = time.perf_counter()
    check(command)
    return time.perf_counter() - start


def _old_worker(ref: str, command: str, out: multiprocessing.Queue[float]) -> None:
    old = load_old(ref)
    assert old is not None
    made = getattr(old, "GuardPolicy", None) or old.Policy  # renamed on main
    policy = made(root=WORKTREE, protected=(REPO,))
    out.put(timed(lambda c: old.check_command(c, policy, WORKTREE, {}), command))


def old_time(ref: str, command: str, limit: float) -> float | None:
    """The old guard's time on `command` in a child process; None past `limit` seconds."""
    queue: multiprocessing.Queue[float] = multiprocessing.Queue()
    child = multiprocessing.Process(target=_old_worker, args=(ref, command, queue))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return queue.get() if not queue.empty() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--baseline", help="git ref of the old guard (default: see above)")
    parser.add_argument("--old-limit", type=float, default=60.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from swarm.guard import BUDGET, GuardPolicy, check_command, hook

    policy = GuardPolicy(root=WORKTREE, protected=(REPO,), deny=("git push*", "git branch -D *"))
    with tempfile.TemporaryDirectory() as tmp:
        policy_file = Path(tmp) / "guard.json"
        policy_file.write_text(json.dumps({"root": WORKTREE, "protected": [REPO]}))
        per_process: list[float] = []
        in_process: list[float] = []
        for n in range(args.calls):
            command = CALLS[n % len(CALLS)]
            payload = json.dumps(
                {"tool_name": "Bash", "tool_input": {"command": command}, "cwd": WORKTREE}
            ).encode()
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "swarm", "guard", "--policy", str(policy_file)],
                input=payload,
                capture_output=True,
                cwd=ROOT,
            )
            per_process.append(time.perf_counter() - start)
            start = time.perf_counter()
            hook(io.BytesIO(payload), policy_file=policy_file, env={})
            in_process.append(time.perf_counter() - start)
    median = statistics.median(per_process) * 1000
    print(f"p95 per call, `swarm guard` process: {p95(per_process) * 1000:.0f} ms")
    print(f"  (median {median:.0f} ms over {args.calls} calls, Python's start included)")
    print(f"p95 per call, the verdict alone:     {p95(in_process) * 1000:.2f} ms")

    def new(command: str) -> object:
        return check_command(command, policy, WORKTREE, {})

    megabyte = 1_000_000
    kinds = {
        "script of short lines": script(megabyte),
        "one word": "a" * megabyte,
        "operator soup": (";&|<>()" * (megabyte // 7 + 1))[:megabyte],
    }
    for kind, command in kinds.items():
        took = timed(new, command)
        print(f"1 MB command ({kind}): {took:.2f} s (budget {BUDGET:g} s, hook timeout 30 s)")

    ref = baseline_ref(args.baseline)
    if ref is None:
        print("old guard: not found in git; no ratio")
        return 0
    print(f"old guard: {ref[:12]} (`git show {ref[:12]}:swarm/guard.py`)")
    for lines in (500, 1000, 2000):
        command = "\n".join(f"echo {i} > f{i}" for i in range(lines))
        before = old_time(ref, command, args.old_limit)
        after = timed(new, command)
        shown = f"{before:.2f} s" if before is not None else f"> {args.old_limit:g} s"
        ratio = f"{before / after:.0f}x" if before is not None else "n/a"
        print(f"{lines:>5} lines: old {shown}, new {after:.3f} s, ratio {ratio}")
    command = kinds["script of short lines"]
    before = old_time(ref, command, args.old_limit)
    after = timed(new, command)
    if before is None:
        limit = args.old_limit
        print(f"1 MB script: old > {limit:g} s (stopped), new {after:.2f} s, ")
        print(f"  ratio > {limit / after:.0f}x")
    else:
        print(f"1 MB script: old {before:.2f} s, new {after:.2f} s, ratio {before / after:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
