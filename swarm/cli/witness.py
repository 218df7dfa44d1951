"""`swarm witness`: the health loop, printing each decision live (it runs in the witness pane)."""

from __future__ import annotations

import argparse
from pathlib import Path

from swarm.cli.plumbing import add_plumbing_parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    witness = add_plumbing_parser(
        sub, "witness", "watch every agent: state, stalls, deaths, prompts; recover (witness pane)"
    )
    witness.add_argument("--repo", type=Path, help="the swarm's repository (default: this one)")
    witness.add_argument(
        "--tick", type=float, default=0.5, help="seconds between looks (default 0.5)"
    )
    witness.add_argument(
        "--no-control",
        action="store_true",
        help="poll `tmux list-panes` instead of a control-mode client",
    )
    witness.set_defaults(func=cmd_witness)


def cmd_witness(args: argparse.Namespace) -> int:
    from swarm.errors import EXIT_USAGE, SwarmError
    from swarm.instance import locate
    from swarm.witness.loop import WitnessConfig, run_witness

    if not 0.05 <= args.tick <= 60:
        raise SwarmError("--tick must be between 0.05 and 60 seconds", exit_code=EXIT_USAGE)
    config = WitnessConfig(tick=args.tick, control=not args.no_control)
    return run_witness(locate(repo=args.repo), config)
