"""Entry point: parse, dispatch, and turn every user-facing failure into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from swarm import __version__
from swarm.cli import (
    agents,
    demo,
    inbox,
    layouts,
    lifecycle,
    mq,
    runtime_cmds,
    sidebar,
    tasks,
    witness,
)
from swarm.cli.plumbing import EPILOG
from swarm.errors import EXIT_FAILURE, SwarmError

# Each module adds its subcommands (their handlers import what they need only when run, so
# `swarm hook` in an agent's pane stays fast); handlers are stored as `func`.
COMMAND_MODULES = [
    lifecycle,
    tasks,
    inbox,
    mq,
    agents,
    witness,
    sidebar,
    runtime_cmds,
    layouts,
    demo,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarm",
        description="A tmux swarm of coding agents: mayor, polecats, witness, refinery.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"swarm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    for name, command in sub.choices.items():
        if name not in NO_REPO:
            add_repo_option(command)
    return parser


# Commands that find their swarm another way (the pane's SWARM_HOME, a folder argument)
# or that act on no one repository.
NO_REPO = frozenset(
    {"report", "agent", "guard", "claude-start", "worktree-setup", "demo", "ls", "layouts"}
)
REPO_HELP = "the swarm's git repository (default: the one the current folder is in)"


def add_repo_option(parser: argparse.ArgumentParser) -> None:
    """`--repo` on every command that acts on one swarm, and on each of its actions."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in nested:
        for child in action.choices.values():
            add_repo_option(child)
    if not any("--repo" in a.option_strings for a in parser._actions):
        parser.add_argument("--repo", type=Path, help=REPO_HELP)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except SwarmError as exc:
        print(f"swarm: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
