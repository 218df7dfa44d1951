"""Telling the person: a tmux message on their screen, and their own notifier if they set one.

An agent waiting at a permission prompt is the peers' most silent failure. The sidebar
shows the state; on top of that the witness flashes a message on every client attached to
the swarm (not on its own control client) and, when `SWARM_NOTIFY_COMMAND` is set (the
layout's `environment`, or the shell that ran `swarm up`), runs it with `sh -c` and the
message in `$SWARM_NOTIFY_MESSAGE` (and as `$1`), e.g. `notify-send "$SWARM_NOTIFY_TITLE"
"$SWARM_NOTIFY_MESSAGE"`. Nothing here is required: no command set, nobody attached, no
harm done.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence

from swarm.errors import TmuxError
from swarm.textsafe import tmux_format
from swarm.tmux.client import Tmux, exact_session

Runner = Callable[..., str]  # runs tmux commands, returns what they printed

NOTIFY_ENV = "SWARM_NOTIFY_COMMAND"
MESSAGE_MS = 8000


def tmux_text(text: str) -> str:
    """`display-message` expands formats: keep `#` literal, and stay on one line."""
    return tmux_format(" ".join(text.split()))


class Notifier:
    """`runner` runs tmux commands: the witness passes its control client's (no fork)."""

    def __init__(
        self, tmux: Tmux, session: str, command: str | None = None, runner: Runner | None = None
    ) -> None:
        self.tmux = tmux
        self.session = session
        self.runner: Runner = runner or self._run
        self.command = command if command is not None else os.environ.get(NOTIFY_ENV, "")
        self._children: list[subprocess.Popen[bytes]] = []

    def human_clients(self) -> list[str]:
        try:
            out = self.runner(
                (
                    "list-clients",
                    "-t",
                    exact_session(self.session),
                    "-F",
                    "#{client_name}\x1f#{client_control_mode}",
                )
            )
        except TmuxError:
            return []
        clients = []
        for line in out.splitlines():
            name, _, control = line.partition("\x1f")
            if name and control != "1":
                clients.append(name)
        return clients

    def tell(self, title: str, message: str, agent: str | None = None) -> list[str]:
        """Show the message; returns where it went (for the witness's log)."""
        where: list[str] = []
        clients = self.human_clients()
        if clients:
            text = tmux_text(f"swarm: {message}")
            commands = [("display-message", "-c", c, "-d", str(MESSAGE_MS), text) for c in clients]
            self.runner(*commands)
            where.append(f"{len(clients)} tmux client(s)")
        if self.command.strip():
            self._run_command(title, message, agent)
            where.append(NOTIFY_ENV)
        self.reap()
        return where

    def _run(self, *commands: Sequence[str]) -> str:
        return self.tmux.run(*commands, check=False)

    def _run_command(self, title: str, message: str, agent: str | None) -> None:
        env = dict(os.environ)
        env.update(
            {
                "SWARM_NOTIFY_TITLE": title,
                "SWARM_NOTIFY_MESSAGE": message,
                "SWARM_NOTIFY_AGENT": agent or "",
            }
        )
        try:
            child = subprocess.Popen(
                ["/bin/sh", "-c", self.command, "swarm-notify", message],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return
        self._children.append(child)

    def reap(self) -> None:
        """Collect finished notifier processes (no zombies in a long-lived witness)."""
        self._children = [c for c in self._children if c.poll() is None]
