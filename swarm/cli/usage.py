"""`swarm budget` (where the money went) and `swarm history` (what ended, and how)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from swarm.cli.output import print_json, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    budget = sub.add_parser(
        "budget", help="where the money went: per task, agent, role and day; the limits"
    )
    budget.add_argument("--day", help="only this day (YYYY-MM-DD or 'today')")
    budget.add_argument("--top", type=int, default=10, help="rows per table (default 10)")
    budget.add_argument("--json", action="store_true", help="the same report as JSON")
    budget.set_defaults(func=cmd_budget)

    history = sub.add_parser(
        "history", help="ended tasks (.swarm/history/*.md): list, or search by words"
    )
    history.add_argument("query", nargs="*", help="words every listed task's title or file has")
    history.add_argument("--since", help="only tasks ended since: 3d, 12h, 30m or 2026-11-30")
    history.add_argument("--json", action="store_true", help="the tasks found as JSON")
    history.set_defaults(func=cmd_history)


def _locate(args: argparse.Namespace) -> tuple[str, Path]:
    """The store's path and the state folder of the swarm (`--repo`, else the one here)."""
    from swarm.instance import locate

    instance = locate(repo=getattr(args, "repo", None))
    return instance.store_url, instance.state_dir


def _budget_limits(args: argparse.Namespace) -> object | None:
    """The swarm's `budget:` (from its resolved plan), if it can be read."""
    from swarm.errors import SwarmError

    try:
        from swarm.instance import locate
        from swarm.roster import plan_of

        return getattr(plan_of(locate(repo=getattr(args, "repo", None))), "budget", None)
    except SwarmError:
        return None


def cmd_budget(args: argparse.Namespace) -> int:
    from swarm.budget import Budget, day_of
    from swarm.store import Store
    from swarm.usage.pauses import dispatch_allowed
    from swarm.usage.report import where_it_went
    from swarm.usage.tokens import count, money

    now = time.time()
    day = day_of(now) if args.day == "today" else args.day
    db_path, _state_dir = _locate(args)
    with Store.open(db_path) as store:
        report = where_it_went(store, now, day)
        today = store.usage_total(day=day_of(now))
        paused = dispatch_allowed(store, now)
    limits = _budget_limits(args)
    budget = limits if isinstance(limits, Budget) else Budget()
    report["limits"] = {"task_usd": budget.task_usd, "day_usd": budget.day_usd}
    report["today"] = today.to_json()
    if args.json:
        print_json(report)
        return 0
    total = report["total"]
    of_day = f" of {money(budget.day_usd)}" if budget.day_usd else ""
    per_task = f"; per task at most {money(budget.task_usd)}" if budget.task_usd else ""
    scope = f"on {day}" if day else "in total"
    print(
        f"spent {money(total['cost_usd'])} ({count(total['tokens'])} tokens) {scope}; "
        f"today {money(today.cost_usd)}{of_day}{per_task}"
    )
    print(f"dispatch: {'paused: ' + paused if paused else 'running'}")
    for pause in report["pauses"]:
        if pause["scope"] != "budget":
            who = ", ".join(pause["agents"])
            print(f"limited: {pause['reason']} ({who})")
    for title, key, extra in (
        ("by task", "by_task", "title"),
        ("by agent", "by_agent", None),
        ("by role", "by_role", None),
        ("by day", "by_day", None),
    ):
        rows = report[key][: max(1, args.top)]
        if not rows:
            continue
        name = key.removeprefix("by_")
        print(f"\n{title}")
        cells = [
            (
                str(row[name] or "(no task)"),
                money(row["cost_usd"]),
                count(row["tokens"]),
                *([str(row.get(extra) or "")[:50]] if extra else []),
            )
            for row in rows
        ]
        headers = (name.upper(), "COST", "TOKENS", *([extra.upper()] if extra else []))
        print(table(cells, headers))
    if not report["by_agent"]:
        print("\nno usage recorded yet (runtimes without transcripts report none)")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from swarm.history import parse_since, search
    from swarm.store import Store
    from swarm.usage.tokens import money

    since = parse_since(args.since) if args.since else None
    db_path, state_dir = _locate(args)
    with Store.open(db_path) as store:
        found = search(store, state_dir, " ".join(args.query), since)
    if args.json:
        print_json(
            [
                {
                    "task": f.entry.task,
                    "title": f.entry.title,
                    "outcome": f.entry.outcome,
                    "ended_at": f.entry.ended_at,
                    "tokens": f.entry.tokens,
                    "cost_usd": f.entry.cost_usd,
                    "path": f.entry.path,
                    "match": f.line or None,
                }
                for f in found
            ]
        )
        return 0
    if not found:
        print("no ended tasks match" if args.query or since else "no task has ended yet")
        return 0
    rows = [
        (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(f.entry.ended_at)),
            f.entry.task,
            f.entry.outcome,
            money(f.entry.cost_usd),
            (f.entry.title if not f.line else f"{f.entry.title} | {f.line}")[:70],
        )
        for f in found
    ]
    print(table(rows, ("ENDED", "TASK", "OUTCOME", "COST", "TITLE")))
    print(f"\nfiles: {state_dir / 'history'}/<task>.md")
    return 0
