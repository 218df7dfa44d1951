"""`swarm up factory` against `tmuxp load -d` of the same 34 panes, in one run.

Both build 4 windows: a control window (sidebar, mayor, witness, refinery) and three windows
of 10 polecats, every agent a trivial command (`sleep`). Both are timed as the whole
command a person types, Python start-up and agents started included, on private tmux
sockets. Swarm is timed twice: the first `up` in a repository also makes 30 git worktrees
(one per polecat, in the polecats' panes, in parallel); an `up` after `swarm down` finds
them made. Prints the medians and the ratios; the goal is swarm <= 1/10 of tmuxp's time.

    python benchmarks/bench_up.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

AGENT = ["sleep", "3600"]
POLECATS = 30
PER_WINDOW = 10


def swarm_layout() -> dict[str, object]:
    """The bundled factory layout with trivial agents everywhere (sidebar included)."""
    trivial = {"runtime": "command", "command": AGENT}
    return {
        "description": "factory with trivial agents (benchmark)",
        "polecats_per_window": PER_WINDOW,
        "runtime": "command",
        "roles": {
            "mayor": {"count": 1, **trivial},
            "polecat": {"count": POLECATS, **trivial},
            "witness": {"count": 1, **trivial},
            "refinery": {"count": 1, **trivial},
        },
        "windows": [
            {
                "name": "control",
                "layout": "main-vertical",
                "panes": [{"agent": "mayor", "size": "60%"}, "witness", "refinery"],
            },
            {"name": "polecats", "layout": "tiled", "panes": ["polecat"]},
        ],
    }


def tmuxp_workspace(session: str, start: Path) -> dict[str, object]:
    command = " ".join(AGENT)
    windows = [
        {
            "window_name": "control",
            "layout": "main-vertical",
            "panes": [command] * 4,
        },  # sidebar, mayor, witness, refinery
    ]
    for n in range(POLECATS // PER_WINDOW):
        windows.append(
            {"window_name": f"polecats-{n + 1}", "layout": "tiled", "panes": [command] * PER_WINDOW}
        )
    return {"session_name": session, "start_directory": str(start), "windows": windows}


def make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(
            ["git", "-C", str(path), "-c", "user.name=b", "-c", "user.email=b@b", *args], check=True
        )


def count_panes(socket: str, env: dict[str, str]) -> int:
    out = subprocess.run(
        ["tmux", "-L", socket, "list-panes", "-a"], capture_output=True, text=True, env=env
    )
    return len(out.stdout.splitlines())


def wait_for_worktrees(repo: Path, count: int, started: float, timeout: float = 30.0) -> float:
    """Polecat panes make their worktrees themselves, in parallel, after `up` returned."""
    folder = repo / ".swarm" / "worktrees"
    while time.perf_counter() - started < timeout:
        if folder.is_dir() and sum(1 for p in folder.iterdir() if (p / ".git").exists()) >= count:
            return time.perf_counter() - started
        time.sleep(0.01)
    found = sum(1 for p in folder.iterdir() if (p / ".git").exists()) if folder.is_dir() else 0
    print(f"  only {found} of {count} worktrees after {timeout:.0f}s", file=sys.stderr)
    return float("nan")


def time_command(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # The scripts next to this interpreter, not a version manager's shims (pyenv's add ~0.1 s).
    scripts = Path(sys.executable).parent
    tmuxp = shutil.which("tmuxp", path=str(scripts)) or shutil.which("tmuxp")
    swarm = shutil.which("swarm", path=str(scripts)) or shutil.which("swarm")
    if tmuxp is None or swarm is None:
        sys.exit("needs `tmuxp` and `swarm` on PATH: pip install -e '.[dev]'")

    # pip byte-compiles an installed package (tmuxp's is); an editable checkout is compiled on
    # first import, unless PYTHONDONTWRITEBYTECODE forbids it: compile ours like an install.
    import compileall

    import swarm as package

    compileall.compile_dir(Path(package.__file__).parent, quiet=1)

    work = Path(tempfile.mkdtemp(prefix="bench-up-"))
    tmux_dir = Path(tempfile.mkdtemp(prefix="bu-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env["TMUX_TMPDIR"] = str(tmux_dir)
    swarm_times: list[float] = []
    tmuxp_times: list[float] = []
    ready_times: list[float] = []
    again_times: list[float] = []
    try:
        for run in range(args.runs):
            repo = work / f"repo-{run}"
            make_repo(repo)
            layout = repo / "factory-bench.yaml"
            layout.write_text(yaml.safe_dump(swarm_layout()))
            socket = f"bench-swarm-{run}"
            run_env = {**env, "SWARM_TMUX_SOCKET": socket}
            # The layout is written inside the repository: approve it (swarm.trust).
            up_argv = [swarm, "up", str(layout), "--detach", "--trust"]
            started = time.perf_counter()
            swarm_times.append(time_command(up_argv, run_env, repo))
            ready_times.append(wait_for_worktrees(repo, POLECATS, started))
            swarm_panes = count_panes(socket, env)
            time_command([swarm, "down"], run_env, repo)
            # Again, as after any `swarm down`: the polecats' worktrees exist already.
            again_times.append(time_command(up_argv, run_env, repo))
            time_command([swarm, "down"], run_env, repo)

            workspace = work / f"tmuxp-{run}.yaml"
            workspace.write_text(yaml.safe_dump(tmuxp_workspace(f"bench-{run}", repo)))
            socket = f"bench-tmuxp-{run}"
            tmuxp_times.append(
                time_command([tmuxp, "load", "-d", "-L", socket, str(workspace)], env, repo)
            )
            tmuxp_panes = count_panes(socket, env)
            subprocess.run(["tmux", "-L", socket, "kill-server"], env=env, capture_output=True)
            print(
                f"run {run + 1}: swarm {swarm_times[-1]:.3f}s "
                f"({swarm_panes} panes incl. controller; "
                f"30 worktrees ready at {ready_times[-1]:.3f}s)  "
                f"tmuxp {tmuxp_times[-1]:.3f}s ({tmuxp_panes} panes)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(tmux_dir, ignore_errors=True)

    first, t = statistics.median(swarm_times), statistics.median(tmuxp_times)
    again = statistics.median(again_times)
    ready = statistics.median(ready_times)
    print(f"\ntmuxp load -d, 34 panes:                         {t:.3f}s median")
    print(
        f"swarm up factory, first time (30 worktrees made): {first:.3f}s median, "
        f"every agent started at {ready:.3f}s -> ratio {ready / t:.3f}"
    )
    print(
        f"swarm up factory, again (worktrees exist):        {again:.3f}s median "
        f"-> ratio {again / t:.3f}"
    )
    verdict = "OK" if again / t <= 0.1 else "MISSED"
    print(f"goal swarm/tmuxp <= 0.100: again {again / t:.3f} {verdict}; first time {ready / t:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
