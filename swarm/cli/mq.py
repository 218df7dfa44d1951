"""`swarm mq …`: the merge queue as a person sees and steers it (its process: cli/daemons.py)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from swarm.cli.inputs import record_number
from swarm.cli.output import ago, print_json, table
from swarm.errors import NotFoundError
from swarm.refinery import merge_reason
from swarm.text import shorten

if TYPE_CHECKING:
    from swarm.instance import SwarmInstance
    from swarm.store import MergeRequest, Store

HISTORY = 15  # finished requests `swarm mq --all` shows under the live queue


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mq = sub.add_parser("mq", help="the merge queue: position, task, branch, state, gate result")
    mq.add_argument("--all", action="store_true", help=f"also the last {HISTORY} finished requests")
    mq.add_argument("--json", action="store_true", help="a JSON list of requests")
    mq.set_defaults(func=cmd_list)
    mq_sub = mq.add_subparsers(dest="mq_command", metavar="ACTION")

    retry = mq_sub.add_parser(
        "retry", help="queue a bounced or rejected request's branch again, as it is now"
    )
    retry.add_argument("id", help="merge request number (12 or #12) or task id")
    retry.set_defaults(func=cmd_retry)

    reject = mq_sub.add_parser("reject", help="take a request out of the queue; its task fails")
    reject.add_argument("id", help="merge request number (12 or #12) or task id")
    reject.add_argument("--reason", default="", help="why (kept in the task's notes)")
    reject.set_defaults(func=cmd_reject)


def _open(args: argparse.Namespace) -> tuple[SwarmInstance, Store]:
    from swarm.instance import locate

    instance = locate(repo=args.repo)
    return instance, instance.open_store()


def resolve(store: Store, ident: str) -> MergeRequest:
    """A merge request by number (`12`, `#12`) or by task id (its latest request)."""
    text = ident.strip().lstrip("#")
    if text.isdigit():
        return store.get_merge_request(record_number(text))
    store.get_task(text)  # a clear "unknown task" first
    found = [mr for mr in store.list_merge_requests() if mr.task_id == text]
    if not found:
        raise NotFoundError(f"{text} has no merge request (it never ran `swarm done`)")
    return found[-1]


def try_numbers(requests: list[MergeRequest]) -> dict[int, int]:
    """Which try of its task each request is (1 for the first, 2 after one bounce, …)."""
    seen: dict[str, int] = {}
    out: dict[int, int] = {}
    for mr in sorted(requests, key=lambda m: m.id):
        seen[mr.task_id] = seen.get(mr.task_id, 0) + 1
        out[mr.id] = seen[mr.task_id]
    return out


def cmd_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from swarm.store.models import LIVE_MERGE_STATUSES

    _instance, store = _open(args)
    with store:
        live = store.list_merge_requests(LIVE_MERGE_STATUSES)
        done = store.list_merge_requests(["merged", "bounced", "rejected"]) if args.all else []
        tries = try_numbers(store.list_merge_requests()) if not args.json else {}
    # The history in the order the requests were made (their numbers), the newest last.
    done = sorted(done, key=lambda mr: mr.id)[-HISTORY:]
    if args.json:
        rows = [{**asdict(mr), "position": i} for i, mr in enumerate(live, start=1)]
        rows += [{**asdict(mr), "position": None} for mr in done]
        print_json(rows)
        return 0
    if not live and not done:
        print("the merge queue is empty")
        return 0
    headers = ("POS", "MR", "TASK", "BRANCH", "STATE", "TRIES", "AGE", "LAST RESULT")
    rows_out = [
        (
            str(pos) if pos else "-",
            f"#{mr.id}",
            mr.task_id,
            mr.branch,
            mr.status,
            str(tries.get(mr.id, 1)),
            ago(mr.created_at),
            shorten(merge_reason(mr.status, mr.result) or "-", 70),
        )
        for pos, mr in [*enumerate(live, start=1), *((0, mr) for mr in done)]
    ]
    print(table(rows_out, headers))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from swarm.actions import retry_merge

    instance, store = _open(args)
    with store:
        print(retry_merge(instance, store, resolve(store, args.id).id))
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from swarm.actions import reject_merge

    _instance, store = _open(args)
    with store:
        print(reject_merge(store, resolve(store, args.id).id, args.reason or ""))
    return 0
