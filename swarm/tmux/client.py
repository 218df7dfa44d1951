"""Talk to the swarm's private tmux server, many commands per process.

libtmux forks one tmux process per command; building 34 panes that way costs seconds.
Here a whole batch of commands goes to tmux in one invocation, separated by `;`, and
listing every pane of the session is one command: the monitor and the builder never
spend one process per pane.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from swarm.errors import TmuxError

Command = Sequence[str]

# Fields of `list-panes`, in order; one line per pane, fields split by a unit separator
# that never appears in ids, names or numbers.
_SEP = "\x1f"
_PANE_FIELDS = (
    "pane_id",
    "window_id",
    "window_name",
    "window_index",
    "pane_index",
    "@swarm_agent",
    "@swarm_role",
    "@swarm_window",
    "pane_dead",
    "pane_dead_status",
    "pane_pid",
    "pane_current_command",
    "pane_width",
    "pane_height",
    "window_width",
    "window_height",
    "pane_active",
    "window_active",
)
PANE_FORMAT = _SEP.join("#{" + name + "}" for name in _PANE_FIELDS)


@dataclass(frozen=True)
class PaneInfo:
    """One pane as tmux reports it; `agent` is the swarm name stored on the pane."""

    pane_id: str
    window_id: str
    window_name: str
    window_index: int
    pane_index: int
    agent: str
    role: str
    swarm_window: str
    dead: bool
    dead_status: int | None
    pid: int | None
    current_command: str
    width: int
    height: int
    window_width: int
    window_height: int
    active: bool
    window_active: bool

    @classmethod
    def parse(cls, line: str) -> PaneInfo:
        f = line.split(_SEP)
        return cls(
            pane_id=f[0],
            window_id=f[1],
            window_name=f[2],
            window_index=_int(f[3]) or 0,
            pane_index=_int(f[4]) or 0,
            agent=f[5],
            role=f[6],
            swarm_window=f[7] or f[2],
            dead=f[8] == "1",
            dead_status=_int(f[9]),
            pid=_int(f[10]),
            current_command=f[11],
            width=_int(f[12]) or 0,
            height=_int(f[13]) or 0,
            window_width=_int(f[14]) or 0,
            window_height=_int(f[15]) or 0,
            active=f[16] == "1",
            window_active=f[17] == "1",
        )


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def escape_arg(arg: str) -> str:
    """Keep tmux from reading an argument that ends in `;` as a command separator."""
    if arg.endswith(";"):
        return arg[:-1] + "\\;"
    return arg


# tmux refuses a client message over 16 KiB ("command too long"); stay well below.
MAX_BATCH_BYTES = 12_000


def chunk_commands(
    commands: Sequence[Command], limit: int = MAX_BATCH_BYTES
) -> list[list[Command]]:
    """Group commands into batches small enough for one tmux client message each."""
    chunks: list[list[Command]] = [[]]
    size = 0
    for command in commands:
        cost = sum(len(a.encode()) + 2 for a in command) + 2
        if chunks[-1] and size + cost > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(command)
        size += cost
    return chunks


def join_commands(commands: Iterable[Command]) -> list[str]:
    """Flatten commands into one argv with `;` between them."""
    argv: list[str] = []
    for command in commands:
        if argv:
            argv.append(";")
        argv.extend(escape_arg(a) for a in command)
    return argv


class Tmux:
    """One private tmux server, addressed by its socket name (`tmux -L`)."""

    def __init__(self, socket: str, *, tmux_bin: str | None = None) -> None:
        self.socket = socket
        found = tmux_bin or shutil.which("tmux")
        if found is None:
            raise TmuxError(
                "tmux is not installed (install it: apt-get install tmux, brew install tmux)"
            )
        self.tmux_bin = found

    def base_argv(self) -> list[str]:
        return [self.tmux_bin, "-L", self.socket]

    def _env(self) -> dict[str, str]:
        # A swarm command run from inside another tmux must still reach this server.
        env = dict(os.environ)
        env.pop("TMUX", None)
        env.pop("TMUX_PANE", None)
        return env

    def run(self, *commands: Command, check: bool = True, input_bytes: bytes | None = None) -> str:
        """Run commands in as few tmux processes as the message size allows (usually one).

        Commands keep their order; state such as the current window carries over between
        batches because it lives in the server.
        """
        output = []
        for chunk in chunk_commands(commands):
            argv = self.base_argv() + join_commands(chunk)
            proc = subprocess.run(argv, capture_output=True, env=self._env(), input=input_bytes)
            if check and proc.returncode != 0:
                err = proc.stderr.decode(errors="replace").strip().splitlines()
                first = err[0] if err else f"exit status {proc.returncode}"
                raise TmuxError(f"tmux ({self.socket}): {first}")
            output.append(proc.stdout.decode(errors="replace"))
        return "".join(output)

    def server_running(self) -> bool:
        argv = [*self.base_argv(), "list-sessions", "-F", "#{session_name}"]
        proc = subprocess.run(argv, capture_output=True, env=self._env())
        return proc.returncode == 0

    def has_session(self, session: str) -> bool:
        argv = [*self.base_argv(), "has-session", "-t", exact_session(session)]
        proc = subprocess.run(argv, capture_output=True, env=self._env())
        return proc.returncode == 0

    def list_panes(self, session: str) -> list[PaneInfo]:
        """Every pane of the session in one tmux call; [] when there is no such session."""
        argv = [
            *self.base_argv(),
            "list-panes",
            "-s",
            "-t",
            exact_session(session),
            "-F",
            PANE_FORMAT,
        ]
        proc = subprocess.run(argv, capture_output=True, env=self._env())
        if proc.returncode != 0:
            return []
        lines = proc.stdout.decode(errors="replace").splitlines()
        return [PaneInfo.parse(line) for line in lines if line]

    def kill_server(self) -> bool:
        """Stop this swarm's own server (never any other) and whatever its panes started;
        True if one was running."""
        listed = [*self.base_argv(), "list-panes", "-a", "-F", "#{pane_pid}"]
        panes = subprocess.run(listed, capture_output=True, env=self._env()).stdout.split()
        argv = [*self.base_argv(), "kill-server"]
        proc = subprocess.run(argv, capture_output=True, env=self._env())
        # kill-server returns before the server has exited; a new server started on the
        # same socket meanwhile would be torn down with it ("server exited unexpectedly").
        deadline = time.monotonic() + 5.0
        while proc.returncode == 0 and self.server_running() and time.monotonic() < deadline:
            time.sleep(0.01)
        end_orphans(int(pid) for pid in panes if pid.isdigit())
        return proc.returncode == 0


ORPHAN_GRACE = 2.0  # seconds a pane's processes get to leave on their own hang-up


def end_orphans(pane_pids: Iterable[int], grace: float = ORPHAN_GRACE) -> list[int]:
    """Kill what is left in the process groups of panes that are gone; returns those groups.

    A pane's first process leads its process group, and everything it starts stays in it
    unless it leaves on purpose. The tty's hang-up ends them; what ignores it survives its
    pane: a command run with `nohup`, or a sandbox's inner process orphaned when its pane
    was killed the instant it started (bubblewrap sets its parent-death signal a moment
    after it forks). A stopped swarm leaves nothing running: after `grace` seconds, those
    groups are killed."""
    groups = sorted(set(pane_pids))
    deadline = time.monotonic() + grace
    alive = [g for g in groups if _group_alive(g)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [g for g in alive if _group_alive(g)]
    for group in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    return alive


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def exact_session(session: str) -> str:
    """`=name` so that `-t foo` never prefix-matches a session called `foo_bar`."""
    return f"={session}"
