"""Entry point: parse, dispatch, and turn every user-facing failure into one line."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import NoReturn

from swarm import __version__
from swarm.cli.plumbing import EPILOG
from swarm.errors import EXIT_FAILURE, EXIT_USAGE, SwarmError
from swarm.textsafe import one_line

# Each module of swarm.cli and the commands it adds (their handlers import what they need
# only when run; they are stored as `func`). A command line is parsed with its command's
# module alone: every agent runs `swarm report` per prompt and turn's end and `swarm guard`
# per tool call, a process each, and `swarm status` is run in a loop; building all 45
# parsers costs them more than their own work. (A test checks this table against what each
# module registers.)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "lifecycle": ("up", "down", "status", "attach", "focus", "init", "ls"),
    "tasks": ("task", "sling", "log"),
    "inbox": ("inbox",),
    "mq": ("mq",),
    "agents": (
        "nudge",
        "done",
        "report",
        "approve",
        "refuse",
        "restart",
        "agent",
        "worktree-setup",
    ),
    "daemons": ("controller", "witness", "refinery", "sidebar"),
    "runtime_cmds": ("guard", "doctor", "claude-start"),
    "layouts": ("layouts", "validate"),
    "demo": ("demo",),
    "store_cmds": ("store",),
    "usage": ("budget", "history"),
}
MODULE_OF = {command: module for module, names in COMMAND_MODULES.items() for command in names}

# Commands that find their swarm another way (the pane's SWARM_HOME, a folder argument)
# or that act on no one repository.
NO_REPO = frozenset(
    {"report", "agent", "guard", "claude-start", "worktree-setup", "demo", "ls", "layouts"}
)
REPO_HELP = "the swarm's git repository (default: the one the current folder is in)"


class OneLineParser(argparse.ArgumentParser):
    """A usage mistake is one line too (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {one_line(message)} (see {self.prog} --help)\n")


def build_parser(modules: Sequence[str] = tuple(COMMAND_MODULES)) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="swarm",
        description="A tmux swarm of coding agents: mayor, polecats, witness, refinery.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"swarm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in modules:
        import_module(f"swarm.cli.{name}").register(sub)
    for name, command in sub.choices.items():
        if name not in NO_REPO:
            add_repo_option(command)
    return parser


def add_repo_option(parser: argparse.ArgumentParser) -> None:
    """`--repo` on every command that acts on one swarm, and on each of its actions."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in nested:
        for child in action.choices.values():
            add_repo_option(child)
    if not any("--repo" in a.option_strings for a in parser._actions):
        parser.add_argument("--repo", type=repo_folder, help=REPO_HELP)


def repo_folder(text: str) -> Path:
    from swarm.cli import inputs

    return inputs.folder(text)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    bad = check_arguments(arguments)
    if bad:
        print(f"swarm: {bad}", file=sys.stderr)
        return EXIT_USAGE
    module = MODULE_OF.get(arguments[0]) if arguments else None
    parser = build_parser((module,) if module else tuple(COMMAND_MODULES))
    args = parser.parse_args(arguments)
    try:
        code = args.func(args)
    except SwarmError as exc:
        print(f"swarm: {one_line(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE
    except (sqlite3.Error, OSError) as exc:  # the disk, not the swarm: one line, no traceback
        from swarm.store.health import explain

        print(f"swarm: {one_line(explain(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    return int(code or 0)


def check_arguments(arguments: Sequence[str]) -> str | None:
    """Arguments must be UTF-8 text: undecodable bytes would reach the store as surrogates."""
    for i, argument in enumerate(arguments, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return f"argument {i} ({one_line(argument)[:40]}) is not valid UTF-8"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
