"""Attaching to a swarm from inside another tmux: which keys reach which server.

Both servers usually share the prefix (C-b), and the outer one sees it first, so the keys
the swarm documents (`prefix g …`) drive the outer tmux instead. The fix a person needs is
the key sequence that works: the prefix twice (tmux's default `send-prefix` binding), or
the swarm's own prefix when it differs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping


def _prefix(*server: str) -> str | None:
    try:
        proc = subprocess.run(
            ["tmux", *server, "show-options", "-gv", "prefix"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value else None


def outer_socket(env: Mapping[str, str]) -> str | None:
    """The socket path of the tmux this process runs in ($TMUX is `path,pid,session`)."""
    value = env.get("TMUX", "")
    return value.split(",")[0] or None if value else None


def keys_hint(outer: str | None, inner: str | None, swarm_key: str) -> str:
    """The sentence for a nested attach (pure: the two prefixes are given)."""
    if outer is None:
        return f"inside tmux (nested): swarm keys are the swarm's prefix, then {swarm_key}"
    if inner is None or inner == outer:
        twice = f"{outer} {outer}"
        return (
            f"inside tmux (nested): {outer} goes to your outer tmux; press it twice for the "
            f"swarm: {twice} {swarm_key} then m/n/p/1-9/?, and {twice} d to detach"
        )
    return (
        f"inside tmux (nested): the swarm's prefix is {inner} ({outer} is your outer tmux): "
        f"{inner} {swarm_key} then m/n/p/1-9/?, and {inner} d to detach"
    )


def nested_hint(env: Mapping[str, str], swarm_socket: str, swarm_key: str = "g") -> str | None:
    """What to tell a person attaching from inside tmux; None when not nested."""
    socket = outer_socket(env)
    if socket is None:
        return None
    return keys_hint(_prefix("-S", socket), _prefix("-L", swarm_socket), swarm_key)
