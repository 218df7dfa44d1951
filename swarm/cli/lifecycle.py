"""`swarm up`, `down`, `attach`, `status`, `init`, `ls` and the plumbing `focus`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarm.cli.output import ago, print_json, progress, table
from swarm.cli.plumbing import add_plumbing_parser
from swarm.errors import EXIT_USAGE, NotFoundError, SwarmError

if TYPE_CHECKING:
    from swarm.instance import SwarmInstance


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = sub.add_parser("up", help="build the swarm from a layout (or reconcile it) and attach")
    up.add_argument(
        "layout", nargs="?", help="a bundled layout name or a YAML file (default: team)"
    )
    up.add_argument("-d", "--detach", action="store_true", help="do not attach")
    up.add_argument(
        "--trust",
        action="store_true",
        help="run a layout that came with the repository without asking (it runs commands)",
    )
    up.add_argument(
        "--runtime",
        metavar="NAME",
        help="run every agent role with this runtime instead (sim: no API key, no install)",
    )
    up.add_argument(
        "--store",
        metavar="URL",
        help="where the swarm keeps its state: sqlite:///path/swarm.db or "
        "postgresql://user@host/db (a team's shared store); default: the last one used here, "
        "else .swarm/swarm.db",
    )
    up.add_argument(
        "--remote",
        metavar="NAME",
        help="a team's git remote: polecats push task branches there and the team's one "
        "refinery fast-forwards its target branch there",
    )
    up.add_argument("--host", help="this machine's name in a team (default: the hostname)")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop every process of the swarm, keep its state")
    down.add_argument(
        "--clean",
        action="store_true",
        help="also remove the worktrees, merged tasks' branches and the state (asks first)",
    )
    down.add_argument("-y", "--yes", action="store_true", help="do not ask (with --clean)")
    down.set_defaults(func=cmd_down)

    attach = sub.add_parser("attach", help="attach to the running swarm")
    attach.set_defaults(func=cmd_attach)

    status = sub.add_parser("status", help="who runs where, one line per agent")
    status.add_argument("--json", action="store_true", help="a JSON list of agents")
    status.set_defaults(func=cmd_status)

    init = sub.add_parser("init", help="write a commented starter swarm.yaml for this repository")
    init.add_argument("--force", action="store_true", help="replace an existing swarm.yaml")
    init.set_defaults(func=cmd_init)

    ls = sub.add_parser("ls", help="the swarms running on this machine, across repositories")
    ls.add_argument("--json", action="store_true", help="a JSON list of swarms")
    ls.set_defaults(func=cmd_ls)

    focus = add_plumbing_parser(sub, "focus", "move the view to an agent's pane (the key table)")
    focus.add_argument(
        "target", help="an agent name, or next / previous (among the agents that take tasks)"
    )
    focus.add_argument("--roles", help=argparse.SUPPRESS)
    focus.add_argument("--zoom", action="store_true", help="zoom the pane too")
    focus.add_argument("--socket", help=argparse.SUPPRESS)
    focus.add_argument("--session", help=argparse.SUPPRESS)
    focus.add_argument("--from", dest="from_pane", help=argparse.SUPPRESS)
    focus.set_defaults(func=cmd_focus)


def cmd_up(args: argparse.Namespace) -> int:
    from swarm.lifecycle import bring_up

    overrides = None
    if args.runtime:
        overrides = runtime_overrides(args.layout, args.repo, args.runtime)
    ask = ask_trust if sys.stdin.isatty() and sys.stderr.isatty() else None
    result = bring_up(
        args.layout,
        args.repo,
        on_progress=progress,
        overrides=overrides,
        trust=args.trust,
        ask=ask,
        store_url=args.store,
        remote=args.remote,
        host=args.host,
    )
    plan = result.plan
    print(f"swarm {plan.session} is up: {result.report.summary()}")
    print("  attach: swarm attach    status: swarm status    stop: swarm down")
    hint = nesting_hint(plan.socket, plan.key_prefix)
    if hint:
        print(f"  {hint}")
    if args.detach or not sys.stdout.isatty() or not sys.stdin.isatty():
        return 0
    return attach_session(plan.socket, plan.session)


def ask_trust(lines: list[str]) -> bool:
    """Show what a repository's layout will run; y to trust it (remembered), else nothing runs."""
    print("This layout came with the repository and will run:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    try:
        answer = input("Trust it and run it? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def runtime_overrides(layout: str | None, repo_hint: Path | None, runtime: str) -> dict[str, Any]:
    """Layout keys that run every agent role with `runtime` (`swarm up --runtime sim`).

    The top-level `runtime` covers the roles that follow it; a role the layout pins to a
    runtime of its own is overridden too, except the deterministic `builtin` loops.
    """
    from swarm.config.layouts import find_layout, load_layout
    from swarm.config.schema import suggest
    from swarm.git.repo import find_repo
    from swarm.lifecycle import default_layout, previous_instance
    from swarm.runtimes.registry import runtimes

    # Runtimes that run an agent by themselves (not a swarm loop, not the role's own argv).
    choices = [
        name
        for name, found in runtimes().items()
        if not found.builtin_loop and not found.uses_role_command
    ]
    if runtime not in choices:
        close = suggest(runtime, choices)
        hint = f"did you mean '{close}'? " if close else ""
        raise SwarmError(
            f"--runtime {runtime}: unknown runtime ({hint}expected one of: {', '.join(choices)})",
            EXIT_USAGE,
        )
    repo = find_repo(repo_hint or Path.cwd())
    name = layout if layout is not None else default_layout(repo, previous_instance(repo))
    loaded = load_layout(find_layout(name, repo))
    roles = {
        role: {"runtime": runtime}
        for role, override in loaded.role_overrides().items()
        if "runtime" in override and not runtimes()[override["runtime"]].builtin_loop
    }
    overrides: dict[str, Any] = {"runtime": runtime}
    if roles:
        overrides["roles"] = roles
    stand_in = runtimes()[runtime].stand_in_environment  # e.g. a sim commits no notes
    if stand_in:
        overrides["environment"] = dict(stand_in)
    return overrides


def cmd_down(args: argparse.Namespace) -> int:
    from swarm.instance import locate
    from swarm.lifecycle import bring_down

    instance = locate(repo=args.repo)
    if args.clean:
        return clean_down(instance, args.yes)
    if bring_down(instance):
        print(f"swarm {instance.session} stopped (state kept in {instance.state_dir})")
    else:
        print(f"swarm {instance.session} was not running")
    return 0


def clean_down(instance: SwarmInstance, yes: bool) -> int:
    """Stop the swarm and remove what it made, after the person said yes."""
    from swarm.cleanup import clean_plan, remove

    plan = clean_plan(instance)
    print(f"swarm down --clean in {instance.repo} removes:")
    for line in plan.describe():
        print(f"  {line}")
    if not yes:
        if not sys.stdin.isatty():
            raise SwarmError("not removing anything: confirm with --yes", EXIT_USAGE)
        answer = input("remove all of this? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing removed")
            return 1
    for line in remove(instance, plan):
        print(line)
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from swarm.instance import locate
    from swarm.tmux.client import Tmux

    instance = locate(repo=args.repo)
    if not Tmux(instance.socket).has_session(instance.session):
        raise NotFoundError(f"swarm {instance.session} is not running (run `swarm up`)")
    return attach_session(instance.socket, instance.session)


def attach_session(socket: str, session: str) -> int:
    tmux = shutil.which("tmux")
    if tmux is None:
        raise SwarmError("tmux is not installed")
    env = dict(os.environ)
    hint = nesting_hint(socket)
    if hint:
        print(f"swarm: {hint}", file=sys.stderr)
    env.pop("TMUX", None)
    os.execvpe(tmux, [tmux, "-L", socket, "attach-session", "-t", f"={session}"], env)


def cmd_status(args: argparse.Namespace) -> int:
    import time

    from swarm.instance import locate
    from swarm.status import agent_statuses
    from swarm.usage.pauses import dispatch_allowed
    from swarm.usage.report import total_of
    from swarm.usage.tokens import money

    instance = locate(repo=args.repo)
    with instance.open_store() as store:
        rows = agent_statuses(instance, store)
        paused = dispatch_allowed(store, time.time())
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    if not rows:
        print(f"swarm {instance.session}: no agents")
        return 0
    print(
        table(
            [
                (
                    r.name,
                    r.role,
                    r.state,
                    ago(r.state_since),
                    r.task or "-",
                    r.pane or "-",
                    str(r.pid or "-"),
                    r.runtime,
                    money(r.usage.cost_usd if r.usage is not None else None),
                )
                for r in rows
            ],
            ("AGENT", "ROLE", "STATE", "FOR", "TASK", "PANE", "PID", "RUNTIME", "COST"),
        )
    )
    total = total_of(r.usage for r in rows)
    unknown = sum(1 for r in rows if r.usage is None)
    note = f" ({unknown} agent(s) unknown: their runtime reports no usage)" if unknown else ""
    print(f"total: {money(total.cost_usd if total else None)}{note}")
    if paused:
        print(f"dispatch paused: {paused} (`swarm budget` says where the money went)")
    from swarm.status import confinement

    if (why := confinement(instance.state_dir)) is not None:
        print(f"agents are NOT confined: {why}")
    return 0


def _worker_roles(args: argparse.Namespace) -> set[str]:
    """The roles n/p cycle through: given by the key binding, else read from the plan."""
    if args.roles:
        return set(args.roles.split(","))
    from swarm import roster
    from swarm.instance import locate

    return {
        n for n, r in roster.roles(locate(repo=args.repo)).items() if r.capabilities.takes_tasks
    }


def cmd_focus(args: argparse.Namespace) -> int:
    from swarm.tmux.client import Tmux
    from swarm.tmux.focus import focus_commands, neighbour

    if args.socket and args.session:
        socket, session = args.socket, args.session
    else:
        from swarm.instance import locate

        instance = locate(repo=args.repo)
        socket, session = instance.socket, instance.session
    tmux = Tmux(socket)
    panes = tmux.list_panes(session)
    if args.target in ("next", "previous"):
        current = args.from_pane or os.environ.get("TMUX_PANE")
        found = neighbour(panes, current, args.target, _worker_roles(args))
        if found is None:
            raise NotFoundError("no agents that take tasks in this swarm")
    else:
        found = next(  # in a team, `polecat-3` names this machine's `laptop-a/polecat-3`
            (p for p in panes if args.target in (p.agent, (p.agent or "").rpartition("/")[2])),
            None,
        )
        if found is None:
            names = ", ".join(sorted(p.agent for p in panes if p.agent))
            raise NotFoundError(f"unknown agent '{args.target}' (agents: {names})")
    tmux.run(*focus_commands(found.pane_id, zoom=args.zoom))
    return 0


def nesting_hint(socket: str, swarm_key: str = "g") -> str | None:
    """Inside tmux, which keys reach the swarm (None when not nested)."""
    from swarm.tmux.nesting import nested_hint

    return nested_hint(os.environ, socket, swarm_key)


def cmd_init(args: argparse.Namespace) -> int:
    from swarm.git.repo import find_repo
    from swarm.starter import write_starter

    repo = find_repo(args.repo or Path.cwd())
    written = write_starter(repo, force=args.force)
    print(f"wrote {written.path}: runtime {written.runtime}, gate {written.gate_text}")
    trusted = trust_own_file(written.path, repo)
    start = "swarm up" if trusted else "swarm up --trust (once you have read it)"
    print(f"  check it: swarm validate swarm.yaml    start it: {start}")
    return 0


def trust_own_file(layout: Path, repo: Path) -> bool:
    """A layout the person just had `swarm init` write is theirs: approve it as written (any
    later edit, by anyone, is asked about again at `swarm up`)."""
    from swarm.config import load_plan
    from swarm.trust import check

    try:
        check(load_plan(str(layout), repo), trust=True)
    except SwarmError:
        return False
    return True


def cmd_ls(args: argparse.Namespace) -> int:
    from swarm.running import running_swarms

    swarms = running_swarms()
    if args.json:
        print_json([s.to_json() for s in swarms])
        return 0
    if not swarms:
        print("no swarm is running on this machine")
        return 0
    rows = [(s.session, str(s.repo), str(s.agents), s.tasks_text(), s.socket) for s in swarms]
    print(table(rows, ("SESSION", "REPO", "AGENTS", "TASKS", "SOCKET")))
    return 0
