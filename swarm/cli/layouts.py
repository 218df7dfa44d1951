"""`swarm layouts` and `swarm validate FILE`."""

from __future__ import annotations

import argparse
from pathlib import Path

from swarm.cli.output import table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    layouts = sub.add_parser("layouts", help="the bundled layouts")
    layouts.set_defaults(func=cmd_layouts)

    validate = sub.add_parser("validate", help="check a layout file (and its roles)")
    validate.add_argument("file", type=Path)
    validate.set_defaults(func=cmd_validate)


def cmd_layouts(args: argparse.Namespace) -> int:
    from swarm.config import list_layouts

    rows = [(name, str(agents), description) for name, description, agents in list_layouts()]
    print(table(rows, ("LAYOUT", "AGENTS", "DESCRIPTION")))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from swarm.config import validate_layout

    summary = validate_layout(args.file)
    print(f"{args.file}: ok ({summary})")
    return 0
