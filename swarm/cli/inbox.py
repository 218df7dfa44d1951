"""`swarm inbox`: what needs a person (escalations, agents waiting for an answer)."""

from __future__ import annotations

import argparse

from swarm.cli.output import ago, print_json, table
from swarm.text import shorten


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inbox = sub.add_parser("inbox", help="what needs you: escalations, agents waiting at a prompt")
    inbox.add_argument("--json", action="store_true", help="a JSON list of items")
    inbox.set_defaults(func=cmd_inbox)
    actions = inbox.add_subparsers(dest="inbox_command", metavar="ACTION")
    done = actions.add_parser("done", help="mark an escalation dealt with (it leaves the inbox)")
    done.add_argument("key", help="the escalation's number, as `swarm inbox` shows it")
    done.set_defaults(func=cmd_done)


def cmd_inbox(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from swarm.inbox import inbox
    from swarm.instance import locate
    from swarm.store import Store

    with Store.open(locate(repo=args.repo).db_path) as store:
        items = inbox(store)
    if args.json:
        print_json([asdict(i) for i in items])
        return 0
    if not items:
        print("nothing needs you")
        return 0
    rows = [(f"#{i.key}" if i.kind == "escalation" else i.key, ago(i.ts), i.text) for i in items]
    print(table(rows, ("ITEM", "AGE", "WHAT")))
    print("done with an escalation: swarm inbox done N")
    return 0


def cmd_done(args: argparse.Namespace) -> int:
    from swarm.inbox import mark_done
    from swarm.instance import locate
    from swarm.store import Store

    with Store.open(locate(repo=args.repo).db_path) as store:
        item = mark_done(store, args.key)
    print(f"#{item.key} dealt with: {shorten(item.text, 80)}")
    return 0
