"""`swarm sidebar`: the live view and remote control, in its own pane.

Textual is imported only when the command runs, so every other command (and every agent
calling `swarm done`) starts without loading the UI.
"""

from __future__ import annotations

import argparse

from swarm.cli import inputs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sidebar = sub.add_parser(
        "sidebar", help="the live sidebar: agents, queue, merges, events; keys drive the panes"
    )
    sidebar.add_argument(
        "--repo", type=inputs.folder, help="the swarm's repository (default: $SWARM_HOME)"
    )
    sidebar.set_defaults(func=cmd_sidebar)


def cmd_sidebar(args: argparse.Namespace) -> int:
    from swarm.instance import locate
    from swarm.ui.app import run_sidebar

    return run_sidebar(locate(repo=args.repo))
