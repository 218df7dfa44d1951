"""Key bindings of the swarm's own key table.

`prefix g` (the layout's `keys.prefix`) enters the `swarm` table; one more key then jumps:
each role's own `key` (bundled: m mayor, w witness, r refinery), s sidebar, c controller,
n/p next/previous agent that takes tasks, 1-9 the first nine of them, z zoom, ? help.
The person's own bindings are left alone: the only binding outside our table is the one
entry key, and the server is the swarm's own.
"""

from __future__ import annotations

import shlex

from swarm.plan import SwarmPlan
from swarm.runtimes.launch import swarm_argv
from swarm.tmux.client import Command

TABLE = "swarm"
PANE_KEYS = {"s": "sidebar", "c": "controller"}  # the swarm's own panes


def _focus(pane_id: str) -> str:
    return f"select-window -t {pane_id} ; select-pane -t {pane_id}"


def jumps(plan: SwarmPlan) -> dict[str, str]:
    """Key -> agent: each role's `key` jumps to its first agent; s and c to the swarm's panes."""
    found: dict[str, str] = {}
    for agent in plan.agents:
        key = agent.role.key
        if key and key not in found:
            found[key] = agent.name
    return {**found, **PANE_KEYS}


def workers(plan: SwarmPlan) -> list[str]:
    """The agents that take tasks, in plan order: 1-9 and n/p move among them."""
    return [a.name for a in plan.agents if a.role.capabilities.takes_tasks]


def help_text(plan: SwarmPlan) -> str:
    parts = [f"{key} {name}" for key, name in jumps(plan).items()]
    names = workers(plan)
    if names:
        parts[1:1] = [f"n/p next/prev of {len(names)} workers", f"1-9 {names[0]}…"]
    return "swarm keys: " + " · ".join([*parts, "z zoom"])


def key_binding_commands(plan: SwarmPlan, pane_ids: dict[str, str]) -> list[Command]:
    """Bindings for the live pane ids; re-issued on every `up` since ids change."""
    # In a team agents are `laptop-a/polecat-3`; the keys use the local part.
    pane_ids = {name.rpartition("/")[2]: pane for name, pane in pane_ids.items()}
    commands: list[Command] = [
        ("bind-key", "-T", "prefix", plan.key_prefix, "switch-client", "-T", TABLE),
        ("bind-key", "-T", TABLE, "z", "resize-pane", "-Z"),
        # -d 0: the help stays until a key is pressed (tmux's default hides it after 750 ms)
        ("bind-key", "-T", TABLE, "?", "display-message", "-d", "0", help_text(plan)),
    ]
    for key, name in jumps(plan).items():
        if name in pane_ids:
            commands.append(("bind-key", "-T", TABLE, key, _focus(pane_ids[name])))
    names = workers(plan)
    for number, name in enumerate(names[:9], start=1):
        if name in pane_ids:
            commands.append(("bind-key", "-T", TABLE, str(number), _focus(pane_ids[name])))
    roles = ",".join(dict.fromkeys(a.role.name for a in plan.agents if a.name in names))
    for key, direction in (("n", "next"), ("p", "previous")):
        argv = [
            *swarm_argv("focus", direction),
            "--socket",
            plan.socket,
            "--session",
            plan.session,
            "--roles",
            roles,
        ]
        line = shlex.join(argv) + " --from '#{pane_id}'"
        commands.append(("bind-key", "-T", TABLE, key, "run-shell", "-b", line))
    return commands
