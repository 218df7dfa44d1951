"""What tmux says about every pane, in one command per tick, and screens only on demand.

The witness asks tmux once per tick for all panes of the session (`list-panes -s`): which
agent each pane holds, whether it is dead and with what status, its pid and foreground
command, and the state and task its border shows now. Through the control-mode client
that question costs no process at all; without one (tmux older than 3.2, or the client
lost) it is one `tmux` process per tick.

Pane output is read from the same answer: a pane's cursor position, history size and
title change when it prints (a new line, a redrawn input box, Claude Code's animated
title), so a changed fingerprint between two ticks is output. The control client does
not stream `%output` (see `control` for the tmux crash that rules it out).

A pane's screen is captured only when the witness asks: a runtime without hooks whose
output settled, a permission prompt whose command it must read, a turn that ended with
no Stop hook. Several captures in one tick are one batch.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from swarm.errors import TmuxError
from swarm.tmux.client import Tmux, exact_session
from swarm.witness.control import ControlClient, ControlError

_SEP = "\x1f"
_FIELDS = (
    "pane_id",
    "@swarm_agent",
    "@swarm_role",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "pane_pid",
    "pane_current_command",
    "@swarm_state",
    "@swarm_task",
    "cursor_x",
    "cursor_y",
    "history_size",
    "pane_title",
)
PANE_FORMAT = _SEP.join("#{" + name + "}" for name in _FIELDS)
SCREEN_LINES = 60  # how far up a capture reaches: the visible screen of any sane pane


@dataclass(frozen=True)
class PaneSignal:
    """One pane at one tick, as tmux reports it."""

    pane_id: str
    agent: str
    role: str
    dead: bool
    dead_status: int | None
    dead_signal: int | None
    pid: int | None
    current_command: str
    border_state: str
    border_task: str
    fingerprint: str  # cursor, history size and title: changes when the pane prints

    @classmethod
    def parse(cls, line: str) -> PaneSignal | None:
        f = line.split(_SEP)
        if len(f) != len(_FIELDS):
            return None
        return cls(
            pane_id=f[0],
            agent=f[1],
            role=f[2],
            dead=f[3] == "1",
            dead_status=_int(f[4]),
            dead_signal=_int(f[5]),
            pid=_int(f[6]),
            current_command=f[7],
            border_state=f[8],
            border_task=f[9],
            fingerprint=_SEP.join(f[10:14]),
        )


def _tmux_env() -> dict[str, str]:
    """Reach the swarm's server even when the witness itself runs inside tmux."""
    env = dict(os.environ)
    env.pop("TMUX", None)
    env.pop("TMUX_PANE", None)
    return env


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class PaneScan:
    """All panes of the session and when each last printed (wall clock), at `taken_at`."""

    panes: tuple[PaneSignal, ...]
    output: dict[str, float]
    taken_at: float
    mode: str  # "control" or "poll"
    session_found: bool

    def by_agent(self) -> dict[str, PaneSignal]:
        return {p.agent: p for p in self.panes if p.agent}


class PaneMonitor:
    """The witness's eyes on tmux: `scan()` once a tick, `capture()` when asked."""

    def __init__(self, tmux: Tmux, session: str, *, control: bool = True) -> None:
        self.tmux = tmux
        self.session = session
        self.want_control = control
        self._client: ControlClient | None = None
        self._retry_at = 0.0
        self._fingerprints: dict[str, str] = {}
        self._output: dict[str, float] = {}
        self.commands_sent = 0  # tmux commands issued (for the benchmark and the tests)
        self.processes_spawned = 0  # tmux processes forked (0 per tick with control mode)

    @property
    def mode(self) -> str:
        return "control" if self._client is not None and self._client.alive else "poll"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def connect(self) -> str:
        """Open the control client now (it is otherwise opened by the first scan)."""
        self._control()
        return self.mode

    def _control(self) -> ControlClient | None:
        """The live control client, (re)connected at most every few seconds."""
        if not self.want_control:
            return None
        if self._client is not None and self._client.alive:
            return self._client
        if self._client is not None:
            self._client.close()
            self._client = None
        now = time.monotonic()
        if now < self._retry_at:
            return None
        self._retry_at = now + 3.0
        client = ControlClient(self.tmux.tmux_bin, self.tmux.socket, self.session)
        self.processes_spawned += 1
        if client.start():
            self._client = client
            return client
        client.close()
        return None

    def scan(self) -> PaneScan:
        now = time.time()
        panes, found, mode = self._list()
        return PaneScan(panes, self._note_output(panes, now), now, mode, found)

    def _list(self) -> tuple[tuple[PaneSignal, ...], bool, str]:
        command = ("list-panes", "-s", "-t", exact_session(self.session), "-F", PANE_FORMAT)
        self.commands_sent += 1
        client = self._control()
        if client is not None:
            try:
                (reply,) = client.run(command)
                if not reply.error:
                    return _parse(reply.lines), True, "control"
            except ControlError:
                self.close()
        self.processes_spawned += 1
        argv = [*self.tmux.base_argv(), *command]
        proc = subprocess.run(argv, capture_output=True, env=_tmux_env())
        if proc.returncode != 0:
            return (), False, "poll"
        return _parse(proc.stdout.decode(errors="replace").splitlines()), True, "poll"

    def _note_output(self, panes: Iterable[PaneSignal], now: float) -> dict[str, float]:
        """A pane whose fingerprint moved since the last tick has printed (now, roughly)."""
        live: set[str] = set()
        for pane in panes:
            live.add(pane.pane_id)
            before = self._fingerprints.get(pane.pane_id)
            if before is not None and before != pane.fingerprint:
                self._output[pane.pane_id] = now
            self._fingerprints[pane.pane_id] = pane.fingerprint
        for gone in set(self._fingerprints) - live:
            self._fingerprints.pop(gone, None)
            self._output.pop(gone, None)
        return dict(self._output)

    def capture(self, pane_ids: Sequence[str]) -> dict[str, str]:
        """The screens of these panes (the last SCREEN_LINES lines), in one batch."""
        if not pane_ids:
            return {}
        commands = [
            ("capture-pane", "-p", "-J", "-t", pane, "-S", f"-{SCREEN_LINES}") for pane in pane_ids
        ]
        self.commands_sent += len(commands)
        client = self._control()
        if client is not None:
            try:
                replies = client.run(*commands)
                return {p: r.text for p, r in zip(pane_ids, replies, strict=True) if not r.error}
            except ControlError:
                self.close()
        screens: dict[str, str] = {}
        for pane, command in zip(pane_ids, commands, strict=True):
            self.processes_spawned += 1
            try:
                screens[pane] = self.tmux.run(command)
            except TmuxError:
                continue
        return screens

    def query(self, *commands: Sequence[str]) -> str:
        """Run commands and return what they printed (through the control client if any)."""
        self.commands_sent += len(commands)
        client = self._control()
        if client is not None:
            try:
                replies = client.run(*commands)
                return "".join(r.text + "\n" for r in replies if not r.error and r.lines)
            except (ControlError, ValueError):
                self.close()
        self.processes_spawned += 1
        return self.tmux.run(*commands, check=False)

    def run(self, commands: Sequence[Sequence[str]]) -> None:
        """Fire-and-check a batch (border options): one control write, or one process."""
        if not commands:
            return
        self.commands_sent += len(commands)
        client = self._control()
        if client is not None:
            try:
                client.run(*commands)
                return
            except (ControlError, ValueError):
                self.close()
        self.processes_spawned += 1
        self.tmux.run(*commands, check=False)


def _parse(lines: Iterable[str]) -> tuple[PaneSignal, ...]:
    parsed = (PaneSignal.parse(line) for line in lines if line)
    return tuple(p for p in parsed if p is not None)
