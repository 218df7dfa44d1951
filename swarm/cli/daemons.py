"""The swarm's long-running processes, one per pane: `swarm controller`, `swarm witness`,
`swarm refinery` and `swarm sidebar`.

`swarm up` starts them in their panes (the controller keeps the others alive); a person
runs them by hand only to debug. Each but the sidebar runs through `singleton.run_daemon`:
one per swarm, stopped cleanly by SIGTERM. Their modules are imported only when run.
"""

from __future__ import annotations

import argparse

from swarm.cli import inputs
from swarm.cli.plumbing import add_plumbing_parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    controller = add_plumbing_parser(
        sub, "controller", "run the swarm's controller (in its own window)"
    )
    controller.set_defaults(func=cmd_controller)

    witness = add_plumbing_parser(
        sub, "witness", "watch every agent: state, stalls, deaths, prompts; recover (witness pane)"
    )
    witness.add_argument(
        "--repo", type=inputs.folder, help="the swarm's repository (default: this one)"
    )
    witness.add_argument(
        "--tick", type=float, default=0.5, help="seconds between looks (default 0.5)"
    )
    witness.add_argument(
        "--no-control",
        action="store_true",
        help="poll `tmux list-panes` instead of a control-mode client",
    )
    witness.set_defaults(func=cmd_witness)

    refinery = add_plumbing_parser(sub, "refinery", "run the merge queue (in the refinery pane)")
    refinery.add_argument("--once", action="store_true", help="merge what is ready, then exit")
    refinery.add_argument("--jobs", type=int, help="gate runs at once (default: CPUs, ≤ batch)")
    refinery.set_defaults(func=cmd_refinery)

    sidebar = add_plumbing_parser(
        sub, "sidebar", "the live sidebar: agents, queue, merges, events; keys drive the panes"
    )
    sidebar.add_argument(
        "--repo", type=inputs.folder, help="the swarm's repository (default: $SWARM_HOME)"
    )
    sidebar.set_defaults(func=cmd_sidebar)


def cmd_controller(args: argparse.Namespace) -> int:
    from swarm.controller.loop import run_controller
    from swarm.instance import locate

    return run_controller(locate(repo=args.repo))


def cmd_witness(args: argparse.Namespace) -> int:
    from swarm.errors import EXIT_USAGE, SwarmError
    from swarm.instance import locate
    from swarm.witness.loop import WitnessConfig, run_witness

    if not 0.05 <= args.tick <= 60:
        raise SwarmError("--tick must be between 0.05 and 60 seconds", exit_code=EXIT_USAGE)
    config = WitnessConfig(tick=args.tick, control=not args.no_control)
    return run_witness(locate(repo=args.repo), config)


def cmd_refinery(args: argparse.Namespace) -> int:
    from swarm.errors import EXIT_USAGE, SwarmError
    from swarm.instance import locate
    from swarm.refinery.loop import run_refinery

    if args.jobs is not None and args.jobs < 1:
        raise SwarmError("--jobs must be at least 1", EXIT_USAGE)
    return run_refinery(locate(repo=args.repo), once=args.once, gate_jobs=args.jobs)


def cmd_sidebar(args: argparse.Namespace) -> int:
    """Textual is imported only here, so every other command starts without the UI."""
    from swarm.instance import locate
    from swarm.ui.app import run_sidebar

    return run_sidebar(locate(repo=args.repo))
