"""`swarm sidebar`: the live view and remote control, in its own pane.

Textual is imported only when the command runs, so every other command (and every agent
calling `swarm done`) starts without loading the UI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from swarm.cli.plumbing import add_plumbing_parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sidebar = add_plumbing_parser(
        sub, "sidebar", "the live sidebar: agents, queue, merges, events; keys drive the panes"
    )
    sidebar.add_argument("--repo", type=Path, help="the swarm's repository (default: $SWARM_HOME)")
    sidebar.set_defaults(func=cmd_sidebar)


def cmd_sidebar(args: argparse.Namespace) -> int:
    from swarm.instance import locate
    from swarm.ui.app import run_sidebar

    return run_sidebar(locate(repo=args.repo))
