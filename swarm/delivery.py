"""Typing text into an agent's pane so that it arrives verbatim and is submitted.

The peers' most hated bug is a prompt typed but never submitted: `send-keys -l` followed at
once by Enter lets the agent read the end of the paste and the Enter as one event, and
characters like `/` or `@` typed one by one open pickers that swallow it. So:

1. the text goes into a tmux buffer through stdin (`load-buffer -`): no shell and no tmux
   format ever sees it, so `$(…)`, `;` and `#{…}` stay text;
2. `paste-buffer -p -r` pastes it bracketed (the agent knows it is one paste) and unchanged
   (`-r` keeps line feeds as they are);
3. a short gap, then Enter on its own;
4. the delivery is confirmed: for a runtime that reports its prompts, by that report (it
   must carry the text: an input line that merely emptied may have swallowed it as a command
   of its own); for one that does not, by its input line emptying. Enter is sent once more
   only while the text still sits in the input line. A text typed while the agent works is
   confirmed when the runtime shows it queued. Anything else is reported as not delivered.

One sender per pane at a time: a lock file per pane serialises senders across processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from swarm.errors import SwarmError
from swarm.flocks import wait_for_flock
from swarm.tmux.client import Tmux

# The end-of-paste marker inside a text would end the paste early and let the rest be read
# as typed keys; it is the one sequence that cannot travel verbatim in a bracketed paste.
PASTE_END = "\x1b[201~"

Confirm = Callable[[], bool]
# How long a runtime's prompt report may take to say it took the text: it is its own
# process, which on a loaded machine (thirty agents building at once) starts slowly. It ends
# as soon as the report comes; only a text that never arrives waits it out.
ACK_TIMEOUT = 12.0
PendingInput = Callable[[str], bool]


@dataclass(frozen=True)
class DeliveryResult:
    pane_id: str
    size: int
    enters: int  # how many times Enter was sent (2 means the retry was needed)
    confirmed: bool
    how: str = ""  # what confirmed it: "acknowledged", "queued", "input emptied", "assumed"


class DeliveryError(SwarmError):
    """The pane is gone, or another sender held it too long."""


@contextmanager
def pane_lock(lock_dir: Path, pane_id: str, timeout: float = 30.0) -> Iterator[None]:
    """Hold the pane's send lock; other processes delivering to it wait their turn."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"deliver-{pane_id.lstrip('%')}.lock"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        if not wait_for_flock(fd, timeout, interval=0.02):
            raise DeliveryError(f"pane {pane_id}: another sender held it for {timeout:.0f}s")
        yield
    finally:
        os.close(fd)  # closing releases the lock


def paste_gap(size: int) -> float:
    """The pause between paste and Enter: ~100 ms, longer for big texts the agent must take in."""
    return 0.1 + min(size / 200_000, 1.5)


def _wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Deliverer:
    """Delivers texts into panes of one tmux server."""

    def __init__(
        self,
        tmux: Tmux,
        lock_dir: Path,
        *,
        confirm_timeout: float = 2.0,
        ack_timeout: float = ACK_TIMEOUT,
    ) -> None:
        self.tmux = tmux
        self.lock_dir = lock_dir
        self.confirm_timeout = confirm_timeout
        self.ack_timeout = ack_timeout

    def screen(self, pane_id: str, lines: int = 15) -> str:
        """The bottom of a pane's screen, for input-line checks (only asked when needed)."""
        return self.tmux.run(
            ("capture-pane", "-p", "-J", "-t", pane_id, "-S", f"-{lines}"), check=False
        )

    def deliver(
        self,
        pane_id: str,
        text: str,
        *,
        submit: bool = True,
        confirm: Confirm | None = None,
        pending: PendingInput | None = None,
        queued: PendingInput | None = None,
    ) -> DeliveryResult:
        """Paste `text` into the pane and submit it.

        `confirm` says the runtime acknowledged the text (its prompt report carried it);
        `pending` says, from the screen, that the text still waits in the input line;
        `queued`, that the runtime queued it behind a running turn. With neither `confirm`
        nor `pending`, the delivery is taken as done once Enter is sent.
        """
        data = text.replace(PASTE_END, "").encode()
        # Unique across this process's threads: one sender per pane holds the pane's lock.
        buffer = f"swarm-{os.getpid()}-{pane_id.lstrip('%')}"
        with pane_lock(self.lock_dir, pane_id):
            try:
                self.tmux.run(
                    ("load-buffer", "-b", buffer, "-"),
                    ("paste-buffer", "-d", "-p", "-r", "-b", buffer, "-t", pane_id),
                    input_bytes=data,
                )
            except SwarmError as exc:
                raise DeliveryError(f"pane {pane_id}: {exc.message}") from None
            if not submit:
                return DeliveryResult(pane_id, len(data), 0, True, "assumed")
            time.sleep(paste_gap(len(data)))
            timeout = self.confirm_timeout + len(data) / 50_000
            enters = 0
            for _attempt in range(2):
                self.tmux.run(("send-keys", "-t", pane_id, "Enter"), check=False)
                enters += 1
                how, screen = self._confirmed(pane_id, confirm, pending, queued, timeout)
                if how:
                    return DeliveryResult(pane_id, len(data), enters, True, how)
                # Enter again only for text still in the input line: on an empty line it
                # would submit nothing, or answer a menu that replaced the line. (The screen
                # just read is read once: each look is a process, a hundred at a burst.)
                if pending is None or not pending(screen or self.screen(pane_id)):
                    break
        if confirm is not None and self.ack_timeout > 0:
            # Submitted, but its report is slow to come (its own process, on a loaded
            # machine): wait for it, pressing nothing more and holding the pane for no one.
            how, _screen = self._confirmed(pane_id, confirm, None, queued, self.ack_timeout)
            if how:
                return DeliveryResult(pane_id, len(data), enters, True, how)
        return DeliveryResult(pane_id, len(data), enters, False)

    def _confirmed(
        self,
        pane_id: str,
        confirm: Confirm | None,
        pending: PendingInput | None,
        queued: PendingInput | None,
        timeout: float,
    ) -> tuple[str, str | None]:
        """How the text was confirmed ("" if not), and the screen read to tell (if one
        was: the caller's next question about the input line reuses it)."""
        if confirm is None and pending is None:
            return "assumed", None
        if confirm is not None:
            if _wait_for(confirm, timeout, interval=0.05):
                return "acknowledged", None
            screen = self.screen(pane_id)
            waiting = pending is not None and pending(screen)
            queued_now = queued is not None and not waiting and queued(screen)
            return ("queued" if queued_now else ""), screen
        assert pending is not None
        emptied = _wait_for(lambda: not pending(self.screen(pane_id)), timeout, interval=0.15)
        return ("input emptied" if emptied else ""), None
