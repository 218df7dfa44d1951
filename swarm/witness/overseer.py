"""Who watches the controller: the witness does.

The controller keeps the witness, refinery and sidebar panes alive, and its own pane runs
a shell loop that restarts it within a second. What that loop cannot survive is its own
pane dying (someone killed the shell) or vanishing, or a controller that never comes back
(the loop itself wedged). The witness checks both each tick, from the pane list it already
has and the pid the controller writes to `.swarm/controller.pid`, and respawns the pane.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from swarm.witness.recovery import Action, Note, Reconcile, RespawnPane
from swarm.witness.signals import PaneSignal

CONTROLLER = "controller"
CONTROLLER_GRACE = 10.0  # seconds without a controller process before its pane is respawned
RESPAWN_EVERY = 5.0  # never respawn the controller pane more often than this


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] != b"Z"
    except OSError:
        return True


@dataclass
class ControllerWatch:
    """Decides, each tick, whether the controller's pane needs a hand."""

    pid_file: Path
    down_since: float | None = None
    respawned_at: float = float("-inf")
    noted_pid: int | None = None

    def check(
        self, now: float, pane: PaneSignal | None, pid: int | None, alive: bool
    ) -> list[Action]:
        if pane is None:
            return [Reconcile("the controller's pane is gone")]
        if pane.dead:
            if now - self.respawned_at < RESPAWN_EVERY:
                return []
            self.respawned_at = now
            self.down_since = None
            return [
                RespawnPane(
                    pane.pane_id, CONTROLLER, f"controller pane died (status {pane.dead_status})"
                )
            ]
        if alive:
            self.down_since = None
            return []
        actions: list[Action] = []
        if self.down_since is None:
            self.down_since = now
            if pid != self.noted_pid:
                self.noted_pid = pid
                actions.append(
                    Note(
                        CONTROLLER,
                        "witness.controller",
                        f"controller (pid {pid}) is not running; its pane's loop restarts it",
                    )
                )
            return actions
        if now - self.down_since >= CONTROLLER_GRACE and now - self.respawned_at >= RESPAWN_EVERY:
            self.respawned_at = now
            self.down_since = None
            return [
                RespawnPane(
                    pane.pane_id,
                    CONTROLLER,
                    f"no controller process for {CONTROLLER_GRACE:g}s although its pane lives",
                    kill=True,
                )
            ]
        return actions

    def observe(self, now: float, pane: PaneSignal | None) -> list[Action]:
        pid = read_pid(self.pid_file)
        return self.check(now, pane, pid, pid is not None and pid_alive(pid))
