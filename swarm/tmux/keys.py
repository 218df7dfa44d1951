"""Key bindings of the swarm's own key table.

`prefix g` (the layout's `keys.prefix`) enters the `swarm` table; one more key then jumps:
m mayor, w witness, r refinery, s sidebar, c controller, n/p next/previous polecat,
1-9 polecat-1..9, z zoom, ? help. The person's own bindings are left alone: the only
binding outside our table is the one entry key, and the server is the swarm's own.
"""

from __future__ import annotations

import shlex

from swarm.plan import SwarmPlan
from swarm.runtimes.launch import swarm_argv
from swarm.tmux.client import Command

TABLE = "swarm"

JUMPS = {"m": "mayor", "w": "witness", "r": "refinery", "s": "sidebar", "c": "controller"}

HELP = (
    "swarm keys: m mayor · n/p next/prev polecat · 1-9 polecat-N · w witness · "
    "r refinery · s sidebar · c controller · z zoom"
)


def _focus(pane_id: str) -> str:
    return f"select-window -t {pane_id} ; select-pane -t {pane_id}"


def key_binding_commands(plan: SwarmPlan, pane_ids: dict[str, str]) -> list[Command]:
    """Bindings for the live pane ids; re-issued on every `up` since ids change."""
    # In a team agents are `laptop-a/polecat-3`; the keys use the local part.
    pane_ids = {name.rpartition("/")[2]: pane for name, pane in pane_ids.items()}
    commands: list[Command] = [
        ("bind-key", "-T", "prefix", plan.key_prefix, "switch-client", "-T", TABLE),
        ("bind-key", "-T", TABLE, "z", "resize-pane", "-Z"),
        ("bind-key", "-T", TABLE, "?", "display-message", HELP),
    ]
    for key, name in JUMPS.items():
        if name in pane_ids:
            commands.append(("bind-key", "-T", TABLE, key, _focus(pane_ids[name])))
    for number in range(1, 10):
        name = f"polecat-{number}"
        if name in pane_ids:
            commands.append(("bind-key", "-T", TABLE, str(number), _focus(pane_ids[name])))
    for key, direction in (("n", "next"), ("p", "previous")):
        argv = [*swarm_argv("focus", direction), "--socket", plan.socket, "--session", plan.session]
        line = shlex.join(argv) + " --from '#{pane_id}'"
        commands.append(("bind-key", "-T", TABLE, key, "run-shell", "-b", line))
    return commands
