"""`swarm up`, `down`, `attach`, `status` and `focus`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from swarm.cli import inputs
from swarm.cli.output import ago, print_json, progress, table
from swarm.errors import NotFoundError, SwarmError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = sub.add_parser("up", help="build the swarm from a layout (or reconcile it) and attach")
    up.add_argument(
        "layout", nargs="?", help="a bundled layout name or a YAML file (default: team)"
    )
    up.add_argument(
        "--repo", type=inputs.folder, help="the git repository (default: the current one)"
    )
    up.add_argument("-d", "--detach", action="store_true", help="do not attach")
    up.add_argument(
        "--trust",
        action="store_true",
        help="run a layout that came with the repository without asking (it runs commands)",
    )
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop every process of the swarm, keep its state")
    down.add_argument("--repo", type=inputs.folder)
    down.set_defaults(func=cmd_down)

    attach = sub.add_parser("attach", help="attach to the running swarm")
    attach.add_argument("--repo", type=inputs.folder)
    attach.set_defaults(func=cmd_attach)

    status = sub.add_parser("status", help="who runs where, one line per agent")
    status.add_argument("--repo", type=inputs.folder)
    status.add_argument("--json", action="store_true", help="a JSON list of agents")
    status.set_defaults(func=cmd_status)

    focus = sub.add_parser("focus", help="move the view to an agent's pane")
    focus.add_argument(
        "target", help="an agent name, or next / previous (among the agents that take tasks)"
    )
    focus.add_argument("--roles", help=argparse.SUPPRESS)
    focus.add_argument("--zoom", action="store_true")
    focus.add_argument("--socket", help=argparse.SUPPRESS)
    focus.add_argument("--session", help=argparse.SUPPRESS)
    focus.add_argument("--from", dest="from_pane", help=argparse.SUPPRESS)
    focus.add_argument("--repo", type=inputs.folder)
    focus.set_defaults(func=cmd_focus)


def cmd_up(args: argparse.Namespace) -> int:
    from swarm.lifecycle import bring_up

    ask = ask_trust if sys.stdin.isatty() and sys.stderr.isatty() else None
    result = bring_up(args.layout, args.repo, on_progress=progress, trust=args.trust, ask=ask)
    plan = result.plan
    print(f"swarm {plan.session} is up: {result.report.summary()}")
    print("  attach: swarm attach    status: swarm status    stop: swarm down")
    if args.detach or not sys.stdout.isatty() or not sys.stdin.isatty():
        return 0
    return attach_session(plan.socket, plan.session)


def ask_trust(lines: list[str]) -> bool:
    """Show what a repository's layout will run; y to trust it (remembered), else nothing runs."""
    print("This layout came with the repository and will run:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    try:
        answer = input("Trust it and run it? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_down(args: argparse.Namespace) -> int:
    from swarm.instance import locate
    from swarm.lifecycle import bring_down

    instance = locate(repo=args.repo)
    if bring_down(instance):
        print(f"swarm {instance.session} stopped (state kept in {instance.state_dir})")
    else:
        print(f"swarm {instance.session} was not running")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from swarm.instance import locate
    from swarm.tmux.client import Tmux

    instance = locate(repo=args.repo)
    if not Tmux(instance.socket).has_session(instance.session):
        raise NotFoundError(f"swarm {instance.session} is not running (run `swarm up`)")
    return attach_session(instance.socket, instance.session)


def attach_session(socket: str, session: str) -> int:
    tmux = shutil.which("tmux")
    if tmux is None:
        raise SwarmError("tmux is not installed")
    env = dict(os.environ)
    if env.pop("TMUX", None):
        print("swarm: attaching inside tmux (nested); detach with prefix d", file=sys.stderr)
    os.execvpe(tmux, [tmux, "-L", socket, "attach-session", "-t", f"={session}"], env)


def cmd_status(args: argparse.Namespace) -> int:
    from swarm.instance import locate
    from swarm.status import agent_statuses
    from swarm.store import Store

    instance = locate(repo=args.repo)
    with Store.open(instance.db_path) as store:
        rows = agent_statuses(instance, store)
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    if not rows:
        print(f"swarm {instance.session}: no agents")
        return 0
    print(
        table(
            [
                (
                    r.name,
                    r.role,
                    r.state,
                    ago(r.state_since),
                    r.task or "-",
                    r.pane or "-",
                    str(r.pid or "-"),
                    r.runtime,
                )
                for r in rows
            ],
            ("AGENT", "ROLE", "STATE", "FOR", "TASK", "PANE", "PID", "RUNTIME"),
        )
    )
    from swarm import sandbox

    if (why := sandbox.available()) is not None:
        print(f"agents are NOT confined: {why}")
    return 0


def _worker_roles(args: argparse.Namespace) -> set[str]:
    """The roles n/p cycle through: given by the key binding, else read from the plan."""
    if args.roles:
        return set(args.roles.split(","))
    from swarm import roster
    from swarm.instance import locate

    return {
        n for n, r in roster.roles(locate(repo=args.repo)).items() if r.capabilities.takes_tasks
    }


def cmd_focus(args: argparse.Namespace) -> int:
    from swarm.tmux.client import Tmux
    from swarm.tmux.focus import focus_commands, neighbour

    if args.socket and args.session:
        socket, session = args.socket, args.session
    else:
        from swarm.instance import locate

        instance = locate(repo=args.repo)
        socket, session = instance.socket, instance.session
    tmux = Tmux(socket)
    panes = tmux.list_panes(session)
    if args.target in ("next", "previous"):
        current = args.from_pane or os.environ.get("TMUX_PANE")
        found = neighbour(panes, current, args.target, _worker_roles(args))
        if found is None:
            raise NotFoundError("no agents that take tasks in this swarm")
    else:
        found = next((p for p in panes if p.agent == args.target), None)
        if found is None:
            names = ", ".join(sorted(p.agent for p in panes if p.agent))
            raise NotFoundError(f"unknown agent '{args.target}' (agents: {names})")
    tmux.run(*focus_commands(found.pane_id, zoom=args.zoom))
    return 0
