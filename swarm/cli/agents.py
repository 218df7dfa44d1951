"""Commands agents and people use to talk to agents: nudge, done, report, and the runtimes."""

from __future__ import annotations

import argparse
import os
import sys

from swarm.cli.plumbing import add_plumbing_parser
from swarm.errors import EXIT_USAGE, SwarmError

AGENT_HELP = "an agent name, as `swarm status` lists it (mayor, polecat-2, …)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    nudge = sub.add_parser("nudge", help="type text into an agent's pane and submit it, reliably")
    nudge.add_argument("agent", help=AGENT_HELP)
    nudge.add_argument("text", help="the text ('-' reads it from stdin)")
    nudge.set_defaults(func=cmd_nudge)

    for name, func, text in (
        ("approve", cmd_approve, "approve the permission prompt an agent waits at"),
        ("refuse", cmd_refuse, "refuse the permission prompt an agent waits at"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("agent", help=AGENT_HELP)
        p.set_defaults(func=func)

    restart = sub.add_parser(
        "restart", help="restart an agent in its pane (same worktree, same hook)"
    )
    restart.add_argument("agent", help=AGENT_HELP)
    restart.add_argument(
        "--reason", default="asked by a person", help="kept in the event log (default: asked)"
    )
    restart.set_defaults(func=cmd_restart)

    done = sub.add_parser(
        "done", help="(run by a polecat) my work is finished: queue it for merging"
    )
    done.add_argument("--agent", help="default: $SWARM_AGENT")
    done.add_argument("--failed", metavar="REASON", help="give the task up as failed, with why")
    done.set_defaults(func=cmd_done)

    report = add_plumbing_parser(
        sub, "report", "report an agent event, JSON on stdin (run by a runtime's hooks)"
    )
    report.add_argument("event", help="SessionStart, UserPromptSubmit, Stop, …")
    report.add_argument("--agent", help="default: $SWARM_AGENT")
    report.set_defaults(func=cmd_report)

    agent = add_plumbing_parser(sub, "agent", "run a built-in agent runtime in this terminal")
    agent.add_argument("runtime", help="a runtime that ships its own agent program (sim)")
    agent.add_argument(
        "--files-tasks", action="store_true", help="turn each line it is told into a task"
    )
    agent.set_defaults(func=cmd_agent)

    prepare = add_plumbing_parser(
        sub, "worktree-setup", "prepare this worktree (the layout's worktree key), once"
    )
    prepare.set_defaults(func=cmd_worktree_setup)


def cmd_nudge(args: argparse.Namespace) -> int:
    from swarm.actions import nudge
    from swarm.instance import locate

    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise SwarmError(f"{args.agent}: nothing to type (the text is empty)", EXIT_USAGE)
    instance = locate(repo=args.repo)
    with instance.open_store() as store:
        result = nudge(instance, store, args.agent, text)
    print(f"{args.agent}: delivered ({result.size} bytes, {result.how})")
    return 0


def _answer(args: argparse.Namespace, approve: bool) -> int:
    from swarm.actions import answer_prompt
    from swarm.instance import locate

    instance = locate(repo=args.repo)
    with instance.open_store() as store:
        print(answer_prompt(instance, store, args.agent, approve))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    return _answer(args, True)


def cmd_refuse(args: argparse.Namespace) -> int:
    return _answer(args, False)


def cmd_restart(args: argparse.Namespace) -> int:
    from swarm.actions import restart_agent
    from swarm.instance import locate

    instance = locate(repo=args.repo)
    with instance.open_store() as store:
        print(restart_agent(instance, store, args.agent, args.reason))
    return 0


def cmd_done(args: argparse.Namespace) -> int:
    from swarm.instance import calling_agent, locate
    from swarm.store.models import MergeRequest
    from swarm.work import finish_work, give_up

    agent = calling_agent(args.agent)
    instance = locate(repo=args.repo)
    with instance.open_store() as store:
        if args.failed is not None:
            task = give_up(instance, store, agent, args.failed)
            print(f"{task.id} failed: {args.failed}")
            return 0
        request = finish_work(instance, store, agent)
    if isinstance(request, MergeRequest):
        print(f"{request.task_id} done: merge request #{request.id} queued ({request.branch})")
    else:
        print(f"{request.task_id} done: {request.branch} is pushed by this machine, then queued")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Never fails the runtime: a report that errors must not stop an agent's work."""
    from swarm.cli.inputs import read_hook_payload
    from swarm.instance import locate
    from swarm.reports import handle_report

    payload: dict[str, object] = {}
    if not sys.stdin.isatty():
        payload = read_hook_payload(sys.stdin.buffer)  # too big, too deep, not JSON: {}
    from swarm import envnames

    name = args.agent or os.environ.get(envnames.AGENT)
    if not name:
        return 0
    try:
        instance = locate()
        with instance.open_store() as store:
            outcome = handle_report(store, name, args.event, payload)
    except SwarmError as exc:
        print(f"swarm report {args.event}: {exc.message}", file=sys.stderr)
        return 0
    if outcome.output:
        print(outcome.output)
    return outcome.exit_code


def cmd_agent(args: argparse.Namespace) -> int:
    from swarm.runtimes.registry import get_runtime

    return get_runtime(args.runtime).run_agent()


def cmd_worktree_setup(args: argparse.Namespace) -> int:
    from swarm.git.setup import run_in_pane

    return run_in_pane()
