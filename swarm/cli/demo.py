"""`swarm demo`: the whole swarm on a small project, simulated agents, no API key."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from swarm.cli.output import progress


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run the demo swarm (sim agents) on a small project")
    demo.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("swarm-demo"),
        help="where to make the demo repository (default ./swarm-demo)",
    )
    demo.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="do not attach; follow the tasks until they are merged",
    )
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds to follow (detached)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from swarm.cli.lifecycle import attach_session
    from swarm.demo import FINAL, fresh_folder, start_demo

    given = args.dir.resolve()
    target = fresh_folder(given)
    if target != given:
        progress(f"the demo in {given} already ran to the end; a fresh one in {target}")
    result, _added = start_demo(target, progress)
    instance = result.instance
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive and not args.detach:
        print(f"swarm demo in {target}: watch the polecats work; prefix g then ? for keys")
        return attach_session(instance.socket, instance.session)

    print(f"swarm demo in {target}: following the tasks (attach: cd {target} && swarm attach)")
    deadline = time.monotonic() + args.timeout
    last = ""
    with instance.open_store() as store:
        while True:
            counts = {k: v for k, v in store.task_counts().items() if v}
            line = "  " + "  ".join(f"{k} {v}" for k, v in counts.items())
            if line != last:
                print(time.strftime("%H:%M:%S") + line, flush=True)
                last = line
            if all(status in FINAL for status in counts):
                break
            if time.monotonic() > deadline:
                print(f"swarm demo: not finished after {args.timeout:.0f}s; see `swarm status`")
                return 1
            time.sleep(1.0)
        merged = counts.get("merged", 0)
    print(f"swarm demo: {merged} tasks merged into main. Look: git -C {target} log --oneline")
    print(f"  the swarm keeps running: cd {target} && swarm attach | swarm down")
    return 0 if merged and set(counts) == {"merged"} else 1
