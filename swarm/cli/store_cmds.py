"""`swarm store migrate | export | import`: the store itself, whichever backend holds it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from swarm.cli import inputs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = sub.add_parser("store", help="the swarm's store: migrate, export, import")
    verbs = store.add_subparsers(dest="store_command", metavar="ACTION")
    verbs.required = True

    migrate = verbs.add_parser("migrate", help="bring the store's schema up to date")
    _store_option(migrate)
    migrate.set_defaults(func=cmd_migrate)

    export = verbs.add_parser("export", help="write tasks, merge requests and events as JSON lines")
    _store_option(export)
    export.add_argument("-o", "--output", type=Path, help="a file (default: standard output)")
    export.set_defaults(func=cmd_export)

    imp = verbs.add_parser(
        "import", help="append an export to this store (e.g. a laptop's history to the team's)"
    )
    _store_option(imp)
    imp.add_argument("file", type=Path, help="a file written by `swarm store export`")
    imp.set_defaults(func=cmd_import)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", metavar="URL", help="the store (default: the one of this repository's swarm)"
    )
    parser.add_argument(
        "--repo", type=inputs.folder, help="the swarm's repository (default: the current one)"
    )


def _url(args: argparse.Namespace) -> str:
    if args.store:
        return str(args.store)
    from swarm.instance import locate

    return locate(repo=args.repo).store_url


def cmd_migrate(args: argparse.Namespace) -> int:
    from swarm.store import SCHEMA_VERSION, db
    from swarm.store.backend import connect, parse_url

    url = _url(args)
    conn = connect(url)
    try:
        before = db.schema_version(conn)
        db.migrate(conn, parse_url(url).display)
    finally:
        conn.close()
    where = parse_url(url).display
    if before == SCHEMA_VERSION:
        print(f"{where}: schema version {SCHEMA_VERSION}, already up to date")
    else:
        print(f"{where}: schema version {before} -> {SCHEMA_VERSION}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from swarm.store import Store

    with Store.open(_url(args)) as store:
        lines = store.export_lines()
        if args.output is None:
            for line in lines:
                sys.stdout.write(line + "\n")
            return 0
        tmp = args.output.with_name(args.output.name + ".tmp")
        count = 0
        with tmp.open("w") as fh:
            for line in lines:
                fh.write(line + "\n")
                count += 1
        tmp.replace(args.output)
    print(f"exported {count - 1} row(s) to {args.output}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from swarm.errors import EXIT_USAGE, SwarmError
    from swarm.store import Store
    from swarm.store.transfer import read_lines

    try:
        text = args.file.read_text()
    except OSError as exc:
        raise SwarmError(f"{args.file}: {exc.strerror}", EXIT_USAGE) from None
    rows = read_lines(text.splitlines(), str(args.file))
    with Store.open(_url(args)) as store:
        counts = store.import_rows(rows, str(args.file))
    print(
        f"imported {counts['tasks']} task(s), {counts['merge_requests']} merge request(s) "
        f"and {counts['events']} event(s)"
    )
    return 0
