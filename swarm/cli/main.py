"""Entry point: parse, dispatch, and turn every user-facing failure into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from swarm import __version__
from swarm.cli import (
    agents,
    demo,
    layouts,
    lifecycle,
    mq,
    runtime_cmds,
    sidebar,
    tasks,
    usage,
    witness,
)
from swarm.errors import EXIT_FAILURE, SwarmError

# Each module adds its subcommands (their handlers import what they need only when run, so
# `swarm hook` in an agent's pane stays fast); handlers are stored as `func`.
COMMAND_MODULES = [
    lifecycle,
    tasks,
    mq,
    agents,
    witness,
    sidebar,
    runtime_cmds,
    layouts,
    demo,
    usage,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarm",
        description="A tmux swarm of coding agents: mayor, polecats, witness, refinery.",
    )
    parser.add_argument("--version", action="version", version=f"swarm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


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
