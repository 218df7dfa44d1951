"""`swarm guard`, `swarm doctor` and the hidden `swarm claude-start`: the runtimes' commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from swarm.cli.plumbing import add_plumbing_parser

EXIT_BLOCK = 2  # Claude Code's hook contract: exit 2 blocks the call, stderr is the reason


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    guard = add_plumbing_parser(
        sub,
        "guard",
        "(run by the PreToolUse hook) refuse a tool call that leaves the agent's folder",
    )
    guard.add_argument(
        "--policy", type=Path, help="a JSON file {root, deny} (written by the claude runtime)"
    )
    guard.add_argument("--root", help="the folder the agent must stay in (default: its worktree)")
    guard.add_argument(
        "--deny", action="append", default=[], help="a command pattern to refuse (repeatable)"
    )
    guard.set_defaults(func=cmd_guard)

    doctor = sub.add_parser("doctor", help="check this machine: tmux, git, runtimes, API keys")
    doctor.add_argument(
        "--layout", help="the layout to check for (default: the one `swarm up` would use)"
    )
    doctor.add_argument(
        "--store", metavar="URL", help="also check this store (default: the swarm's)"
    )
    doctor.add_argument("--remote", help="also check this git remote (default: the swarm's)")
    doctor.set_defaults(func=cmd_doctor)

    start = add_plumbing_parser(
        sub, "claude-start", "the claude runtime's pane command: prepare, then become Claude"
    )
    start.add_argument("setup", help="the agent's setup, as JSON")
    start.add_argument("argv", nargs=argparse.REMAINDER, help="Claude Code's arguments")
    start.set_defaults(func=cmd_claude_start)


def cmd_guard(args: argparse.Namespace) -> int:
    """Exit 0 lets the call run; exit 2 refuses it with the reason on stderr.

    The guard fails closed (swarm.guard.hook): a call it cannot read, an error, or more
    time than its budget is a refusal, since a guard that lets everything through is worse
    than none.
    """
    from swarm.guard import RECORD_BUDGET, bounded, hook, say

    if sys.stdin.isatty():
        say("swarm guard: expected PreToolUse JSON on stdin")
        return EXIT_BLOCK
    result = hook(sys.stdin.buffer, policy_file=args.policy, root=args.root, deny=args.deny)
    if result.code != 0:
        say(result.reason)
    payload = result.payload
    if payload is not None:  # bookkeeping, bounded: the ruling is already decided
        bounded(lambda: _record(payload, result.code == 0, result.reason), RECORD_BUDGET)
    return EXIT_BLOCK if result.code != 0 else 0


def _record(payload: dict[str, Any], allowed: bool, reason: str) -> None:
    """Best effort: a refusal is an event; an allowed call tells the store the agent works."""
    from swarm import envnames

    agent = os.environ.get(envnames.AGENT)
    if not agent or not os.environ.get(envnames.HOME):
        return
    try:
        from swarm.instance import locate
        from swarm.reports import handle_report

        with locate().open_store() as store:
            if store.find_agent(agent) is None:
                return
            if allowed:
                handle_report(store, agent, "PreToolUse", payload)
            else:
                store.add_event("agent.guarded", reason.removeprefix("swarm guard: "), agent=agent)
    except Exception:  # never let bookkeeping change the ruling
        return


def cmd_doctor(args: argparse.Namespace) -> int:
    from swarm.doctor import report, run_checks
    from swarm.errors import SwarmError
    from swarm.git.repo import find_repo

    try:
        repo: Path | None = find_repo(args.repo or Path.cwd())
    except SwarmError:
        repo = None
    from swarm.team.checks import shared_checks

    checks = run_checks(layout=args.layout, repo=repo)
    checks += shared_checks(repo, args.store, args.remote)
    text, code = report(checks)
    print(text)
    return code


def cmd_claude_start(args: argparse.Namespace) -> int:
    from swarm.runtimes.claude import main_start

    main_start([args.setup, *args.argv])
