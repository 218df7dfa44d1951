"""`swarm layouts` and `swarm validate FILE`."""

from __future__ import annotations

import argparse
from pathlib import Path

from swarm.cli.output import table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    layouts = sub.add_parser("layouts", help="the bundled layouts (--reference: every key)")
    layouts.add_argument(
        "--reference",
        action="store_true",
        help="print the reference of layout and role keys (Markdown, as docs/layouts.md)",
    )
    layouts.add_argument(
        "--write", type=Path, metavar="FILE", help="with --reference: write it to FILE"
    )
    layouts.set_defaults(func=cmd_layouts)

    validate = sub.add_parser("validate", help="check a layout (and its roles)")
    validate.add_argument("file", help="a layout file, or a bundled layout's name")
    validate.set_defaults(func=cmd_validate)


def cmd_layouts(args: argparse.Namespace) -> int:
    from swarm.config import list_layouts

    if args.reference:
        from swarm.config.reference import reference_markdown

        text = reference_markdown()
        if args.write is None:
            print(text, end="")
        else:
            args.write.write_text(text)
            print(f"wrote {args.write}")
        return 0
    rows = [(name, str(agents), description) for name, description, agents in list_layouts()]
    print(table(rows, ("LAYOUT", "AGENTS", "DESCRIPTION")))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from swarm.config import validate_layout
    from swarm.config.layouts import find_layout

    given = Path(args.file)
    path = given if given.is_file() else find_layout(args.file, args.repo)
    summary = validate_layout(path, args.repo)
    print(f"{args.file}: ok ({summary})")
    return 0
