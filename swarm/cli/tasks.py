"""`swarm task …`, `swarm sling` and `swarm log`: the work queue from the command line."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from swarm.cli import inputs
from swarm.cli.output import ago, print_json, table
from swarm.errors import NotFoundError, SwarmError
from swarm.text import shorten
from swarm.textsafe import one_line, visible

if TYPE_CHECKING:
    from swarm.store import Store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    task = sub.add_parser("task", help="the work queue: add, list, show, cancel, retry")
    task_sub = task.add_subparsers(dest="task_command", metavar="ACTION")
    task_sub.required = True

    add = task_sub.add_parser("add", help="add a task; prints its id")
    add.add_argument("title", help="one line: what to do")
    add.add_argument("--body", type=Path, help="a file with the task's description ('-' for stdin)")
    add.add_argument("--priority", type=int, default=2, help="0 (highest) to 4 (default 2)")
    add.set_defaults(func=cmd_add)

    lst = task_sub.add_parser("list", help="tasks by priority, then age")
    lst.add_argument("--status", action="append", help="only these statuses (repeatable)")
    lst.add_argument("--json", action="store_true", help="a JSON list")
    lst.set_defaults(func=cmd_list)

    show = task_sub.add_parser("show", help="one task, whole")
    show.add_argument("id", help="the task id (sw-…)")
    show.add_argument("--json", action="store_true", help="the task as JSON")
    show.set_defaults(func=cmd_show)

    current = task_sub.add_parser("current", help="the task on this agent's hook")
    current.add_argument("--agent", help="default: $SWARM_AGENT")
    current.add_argument("--json", action="store_true", help="the task as JSON (null if none)")
    current.set_defaults(func=cmd_current)

    for name, func, text in (
        ("cancel", cmd_cancel, "cancel an open or running task"),
        ("retry", cmd_retry, "put a failed or cancelled task back in the queue"),
    ):
        p = task_sub.add_parser(name, help=text)
        p.add_argument("id", help="the task id (sw-…)")
        p.set_defaults(func=func)

    sling = sub.add_parser("sling", help="hand a task to a polecat now")
    sling.add_argument("id", help="the task id (sw-…)")
    sling.add_argument("agent", nargs="?", help="a polecat (default: an idle one)")
    sling.set_defaults(func=cmd_sling)

    log = sub.add_parser("log", help="the event history")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    log.add_argument("--agent", help="only this agent's events")
    log.add_argument("--task", help="only this task's events")
    log.add_argument(
        "-n", type=inputs.count, default=40, help="how many recent events (default 40)"
    )
    log.add_argument("--json", action="store_true", help="a JSON list of events")
    log.set_defaults(func=cmd_log)


def _store(args: argparse.Namespace) -> Store:
    from swarm.instance import locate

    return locate(repo=args.repo).open_store()


def _task_json(task: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(task)  # type: ignore[call-overload, no-any-return]


def cmd_add(args: argparse.Namespace) -> int:
    title = inputs.check_title(args.title)
    body = inputs.read_body(args.body) if args.body is not None else ""
    with _store(args) as store:
        task = store.add_task(title, body, args.priority)
    print(task.id)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        tasks = store.list_tasks(args.status)
    if args.json:
        print_json([_task_json(t) for t in tasks])
        return 0
    rows = [
        (t.id, str(t.priority), t.status, t.assignee or "-", ago(t.created_at), title)
        for t in tasks
        for title in [shorten(t.title, 60)]
    ]
    print(table(rows, ("ID", "P", "STATUS", "ASSIGNEE", "AGE", "TITLE")) if rows else "no tasks")
    return 0


def _print_task(task: object, as_json: bool) -> None:
    data = _task_json(task)
    if as_json:
        print_json(data)
        return
    for key in ("id", "title", "status", "priority", "assignee", "attempts", "branch", "merge_sha"):
        print(f"{key + ':':10} {one_line(str(data[key])) if data[key] is not None else '-'}")
    if data["body"]:
        print(f"\n{visible(str(data['body']))}")
    if data["notes"]:
        print(f"\nnotes:\n{visible(str(data['notes']))}")


def cmd_show(args: argparse.Namespace) -> int:
    with _store(args) as store:
        task = store.get_task(args.id)
    _print_task(task, args.json)
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from swarm.instance import calling_agent

    agent = calling_agent(args.agent)
    with _store(args) as store:
        record = store.get_agent(agent)
        task = store.get_task(record.hook) if record.hook else None
    if task is None:
        print("null" if args.json else f"{agent}: nothing on the hook")
        return 0
    _print_task(task, args.json)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with _store(args) as store:
        task = store.cancel_task(args.id)
    print(f"{task.id} cancelled")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with _store(args) as store:
        task = store.retry_task(args.id)
    print(f"{task.id} is open again")
    return 0


def cmd_sling(args: argparse.Namespace) -> int:
    from swarm import roster
    from swarm.instance import locate

    with _store(args) as store:
        agent = args.agent
        if agent is None:
            takers = roster.that(locate(repo=args.repo), store.idle_agents(None), "takes_tasks")
            if not takers:
                raise SwarmError(
                    f"no idle agent that takes tasks for {args.id}; name one: "
                    f"swarm sling {args.id} AGENT"
                )
            agent = takers[0].name
        task = store.hook_task(args.id, agent)
    print(f"{task.id} is on {agent}'s hook; the controller hands it over now")
    return 0


def _format_event(event: object) -> str:
    from swarm.store.models import Event

    assert isinstance(event, Event)
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    who = event.agent or "-"
    return one_line(f"{stamp}  {event.kind:<20} {who:<12} {event.message}")


def cmd_log(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    with _store(args) as store:
        if (
            args.agent
            and store.find_agent(args.agent) is None
            and not store.events(agent=args.agent, limit=1)
        ):
            names = ", ".join(a.name for a in store.list_agents()) or "none"
            raise NotFoundError(f"unknown agent '{args.agent}' (agents: {names})")
        if args.task:
            store.get_task(args.task)  # an unknown id is one clear line, not an empty log
        events = store.events(agent=args.agent, task=args.task)[-args.n :] if args.n else []
        if args.json:
            print_json([asdict(e) for e in events])
        else:
            for event in events:
                print(_format_event(event), flush=True)
        if not args.follow:
            return 0
        latest = store.latest_events(1)
        after = latest[-1].id if latest else 0
        while True:
            for event in store.events(after_id=after, agent=args.agent, task=args.task):
                after = event.id
                print(_format_event(event), flush=True)
            time.sleep(0.5)
