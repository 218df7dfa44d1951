"""A tmux control-mode client: many commands per tick, no process forked for any of them.

`tmux -C attach-session` keeps one client connected to the swarm's session. Commands are
written as lines and answered in `%begin … %end` (or `%error`) blocks, in order, at about
0.1 ms each instead of a 2-3 ms `tmux` process.

The client attaches with `no-output`: it never receives pane output. That is deliberate.
tmux (3.3a here, and up to 3.6a per tmux issue #5499) crashes the whole server when a pane is
respawned while a control client has not consumed all of that pane's output, and the swarm
respawns panes routinely. A client that takes no output can never lag behind a pane, so
the witness learns about output from cheap pane fields instead (see `signals`).

One command per line: a line of several `;`-separated commands is answered with one block
per command run, and a failing command drops the rest of its line, so several commands per
line would break the pairing of answers with questions.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from swarm.tmux.client import exact_session


class ControlError(Exception):
    """The control client is gone or did not answer."""


@dataclass
class Reply:
    """One command's answer: its output lines, and whether tmux called it an error."""

    lines: list[str] = field(default_factory=list)
    error: bool = False  # tmux refused the command
    lost: bool = False  # the client went away before the answer came
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def quote(arg: str) -> str:
    """One argument for tmux's command parser: double-quoted, `\\`, `"` and `$` escaped."""
    if "\n" in arg or "\r" in arg:
        raise ValueError("a control-mode command line cannot hold a newline")
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def command_line(command: Sequence[str]) -> str:
    return " ".join([command[0], *(quote(a) for a in command[1:])])


class ControlClient:
    """One control-mode connection to one session of a private tmux server."""

    def __init__(
        self,
        tmux_bin: str,
        socket: str,
        session: str,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.argv = [
            tmux_bin,
            "-L",
            socket,
            "-C",
            "attach-session",
            "-f",
            "ignore-size,no-output",
            "-t",
            exact_session(session),
        ]
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._write_lock = threading.Lock()  # one writer at a time: lines stay in order
        self._pending_lock = threading.Lock()  # the reader never waits for a blocked writer
        self._pending: deque[Reply] = deque()
        self._current: Reply | None = None
        self._attach = Reply()
        self._attached = threading.Event()
        self._closed = threading.Event()

    # -- life --------------------------------------------------------------------------

    def start(self) -> bool:
        """Connect; False when the session does not exist or tmux refuses."""
        env = dict(os.environ)
        env.pop("TMUX", None)
        env.pop("TMUX_PANE", None)
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, name="tmux-control", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._attached.wait(0.02):
                return True
            if self._closed.is_set():
                return False
        self.close()
        return False

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._attached.is_set() and not self._closed.is_set()

    def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()  # tmux detaches the client when its input ends
            except OSError:
                pass
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._closed.set()
        self._fail_pending()

    # -- commands ----------------------------------------------------------------------

    def send(self, *commands: Sequence[str]) -> list[Reply]:
        """Write every command at once (one line each); the replies arrive in order."""
        replies = [Reply() for _ in commands]
        data = "".join(command_line(c) + "\n" for c in commands).encode()
        self._write(data, replies)
        return replies

    def run(self, *commands: Sequence[str]) -> list[Reply]:
        """Send and wait for every reply; raises ControlError if the client is gone."""
        replies = self.send(*commands)
        deadline = time.monotonic() + self.timeout
        for reply in replies:
            if not reply.done.wait(max(0.0, deadline - time.monotonic())):
                self.close()
                raise ControlError("tmux control client did not answer")
            if reply.lost:
                raise ControlError("tmux control client closed")
        return replies

    def _write(self, data: bytes, replies: list[Reply]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or self._closed.is_set():
            raise ControlError("tmux control client is not connected")
        with self._write_lock:
            with self._pending_lock:
                self._pending.extend(replies)
            try:
                proc.stdin.write(data)
                proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._closed.set()
                self._fail_pending()
                raise ControlError("tmux control client closed") from None

    # -- the reader thread -------------------------------------------------------------

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            for raw in proc.stdout:
                self._line(raw.rstrip(b"\n"))
        finally:
            self._closed.set()
            self._fail_pending()

    def _line(self, raw: bytes) -> None:
        current = self._current
        if current is not None:
            if raw.startswith((b"%end ", b"%error ")):
                current.error = raw.startswith(b"%error ")
                self._current = None
                current.done.set()
                if current is self._attach:  # the attach itself: it worked or it did not
                    (self._closed if current.error else self._attached).set()
            else:
                current.lines.append(raw.decode(errors="replace"))
            return
        if raw.startswith(b"%begin "):
            parts = raw.split()
            ours = len(parts) >= 4 and parts[3] == b"1"
            if not ours:  # not a command of ours: the attach itself, read and dropped
                self._current = self._attach if not self._attach.done.is_set() else Reply()
                return
            with self._pending_lock:
                self._current = self._pending.popleft() if self._pending else Reply()
        elif raw.startswith(b"%exit"):
            self._closed.set()
        elif not self._attached.is_set() and raw.startswith(b"%session-changed"):
            self._attached.set()

    def _fail_pending(self) -> None:
        with self._pending_lock:
            pending = list(self._pending)
            self._pending.clear()
        current, self._current = self._current, None
        for reply in ([current] if current else []) + pending:
            if not reply.done.is_set():
                reply.lost = True
                reply.done.set()
