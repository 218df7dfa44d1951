"""Delivery: hostile texts arrive byte for byte in a real sim agent, and Enter is never lost."""

from __future__ import annotations

import random
import string
import time
from pathlib import Path
from typing import Any

import pytest

from swarm.delivery import Deliverer, paste_gap
from swarm.lifecycle import bring_up
from swarm.tmux.client import Command, Tmux

HOSTILE = {
    "quotes": "He said \"hello\" and 'goodbye' and `whoami`",
    "semicolons": "echo one; echo two ;; tmux kill-server ;",
    "command substitution": "$(touch /tmp/swarm-pwned) and $HOME and ${PATH}",
    "tmux formats": "#{pane_id} #{session_name} #S #(echo pwned) ##",
    "newlines": "first line\nsecond line\n\nfourth after a blank\n",
    "crlf": "windows\r\nline endings\r\n",
    "escape bytes": "\x1b[31mred\x1b[0m \x1b]0;title\x07 bell\x07 \x1b[2J",
    "tabs": "a\tb\t\tc\t",
    "unicode": "héllo wörld — 日本語 🐝 ∑ ǅ \u00a0nbsp",
    "slash and at": "/help @README.md /clear",
    "leading dash": "-t =other:0 -- send-keys C-c",
    "backslashes": "C:\\path\\to\\file \\; \\n \\\\",
    "trailing semicolon": "ends with a semicolon;",
    "control characters": "ctrl-c \x03 ctrl-d \x04 ctrl-z \x1a del \x7f",
}


def big_text(size: int = 100_000) -> str:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " ;$(){}#'\"\\`|&<>" + "é日🐝"
    lines = []
    total = 0
    while total < size:
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        lines.append(line)
        total += len(line.encode()) + 1
    return "\n".join(lines)


@pytest.fixture
def sim_pane(repo: Path, tmux_socket: str) -> tuple[Deliverer, str, Path]:
    result = bring_up("demo", repo, overrides={"roles": {"polecat": {"count": 1}}})
    pane = result.report.panes["polecat-1"].pane_id
    inbox = repo / ".swarm" / "sim" / "polecat-1" / "inbox"
    deadline = time.monotonic() + 20
    while not inbox.is_dir():  # the sim makes its inbox when it starts
        assert time.monotonic() < deadline, "the sim agent never started"
        time.sleep(0.05)
    return Deliverer(Tmux(tmux_socket), repo / ".swarm" / "locks"), pane, inbox


def wait_for_message(inbox: Path, number: int, timeout: float = 20.0) -> bytes:
    path = inbox / f"{number:05d}.txt"
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"message {number} never arrived"
        time.sleep(0.05)
    return path.read_bytes()


def test_hostile_texts_arrive_verbatim(sim_pane: tuple[Deliverer, str, Path]) -> None:
    deliverer, pane, inbox = sim_pane
    from swarm.runtimes.sim import is_input_pending

    corpus = [*HOSTILE.items(), ("100 KB", big_text())]
    for number, (name, text) in enumerate(corpus, start=1):
        result = deliverer.deliver(pane, text, pending=is_input_pending)
        assert result.confirmed, f"{name}: the Enter was not taken"
        received = wait_for_message(inbox, number)
        assert received == text.encode(), f"{name}: arrived changed"
    assert not Path("/tmp/swarm-pwned").exists()


def test_concurrent_senders_do_not_interleave(sim_pane: tuple[Deliverer, str, Path]) -> None:
    import threading

    deliverer, pane, inbox = sim_pane
    texts = [f"sender {n}: " + "x" * 3000 + f" end {n}" for n in range(4)]
    threads = [threading.Thread(target=deliverer.deliver, args=(pane, t)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    received = {wait_for_message(inbox, n).decode() for n in range(1, 5)}
    assert received == set(texts)


class RecordingTmux:
    """A fake tmux that records each call and when it came (the agetor lesson)."""

    def __init__(self, pending_screens: int = 0) -> None:
        self.calls: list[tuple[float, list[Command], bytes | None]] = []
        self.pending_screens = pending_screens

    def run(self, *commands: Command, check: bool = True, input_bytes: bytes | None = None) -> str:
        self.calls.append((time.monotonic(), list(commands), input_bytes))
        if commands[0][0] == "capture-pane":
            if self.pending_screens > 0:
                self.pending_screens -= 1
                return "sim❯ ⟨pasted 5 bytes⟩"
            return "sim❯ "
        return ""


def kinds(tmux: RecordingTmux) -> list[str]:
    return [" ".join(c[0] for c in cmds) for _t, cmds, _i in tmux.calls]


def test_paste_then_gap_then_enter(tmp_path: Path) -> None:
    fake: Any = RecordingTmux()
    deliverer = Deliverer(fake, tmp_path)
    deliverer.deliver("%3", "hello")
    assert kinds(fake) == ["load-buffer paste-buffer", "send-keys"]
    (t_paste, paste, data), (t_enter, enter, _none) = fake.calls
    assert data == b"hello"
    assert ("paste-buffer", "-d", "-p", "-r", "-b", paste[0][2], "-t", "%3") == paste[1]
    assert enter[0] == ("send-keys", "-t", "%3", "Enter")
    assert t_enter - t_paste >= paste_gap(5) * 0.9


def test_enter_is_sent_again_when_the_text_still_waits(tmp_path: Path) -> None:
    from swarm.runtimes.sim import is_input_pending

    fake: Any = RecordingTmux(pending_screens=100)
    deliverer = Deliverer(fake, tmp_path, confirm_timeout=0.3)
    result = deliverer.deliver("%3", "hello", pending=is_input_pending)
    assert result.enters == 2 and not result.confirmed
    fake = RecordingTmux(pending_screens=1)
    result = Deliverer(fake, tmp_path, confirm_timeout=0.3).deliver(
        "%3", "hi", pending=is_input_pending
    )
    assert result.confirmed and result.enters == 1


def test_text_is_never_an_argument(tmp_path: Path) -> None:
    fake: Any = RecordingTmux()
    Deliverer(fake, tmp_path).deliver("%1", "$(rm -rf /); #{pane_id}")
    for _t, commands, _data in fake.calls:
        for command in commands:
            assert not any("rm -rf" in arg or "#{pane_id}" in arg for arg in command)


def test_a_slow_report_costs_one_look_at_the_screen(tmp_path: Path) -> None:
    """The controller does not wait out a slow prompt report (`ack_timeout=0`: the report
    acknowledges the hand-over whenever it comes); the screen it read to see whether the
    text still waits is the one it decides by: paste, Enter, one capture."""
    from swarm.runtimes.sim import is_input_pending

    fake: Any = RecordingTmux()
    deliverer = Deliverer(fake, tmp_path, confirm_timeout=0.2, ack_timeout=0)
    result = deliverer.deliver("%3", "hello", confirm=lambda: False, pending=is_input_pending)
    assert not result.confirmed and result.enters == 1
    assert kinds(fake) == ["load-buffer paste-buffer", "send-keys", "capture-pane"]
