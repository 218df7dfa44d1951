"""The witness's hands: telling the person, and clearing what a killed git leaves behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from swarm.tmux.client import Tmux
from swarm.witness.control import ControlClient
from swarm.witness.effects import clear_stale_index_lock, index_lock
from swarm.witness.notify import Notifier, tmux_text


def worktree(repo: Path, name: str) -> Path:
    path = repo.parent / name
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", "-q", str(path)], check=True
    )
    return path


def test_a_stale_index_lock_is_removed_a_fresh_one_is_kept(repo: Path) -> None:
    path = worktree(repo, "wt")
    lock = index_lock(path)
    assert lock is not None and lock.parent.is_dir()
    assert clear_stale_index_lock(path) is None  # no lock: nothing to do
    lock.write_text("")
    assert clear_stale_index_lock(path) is None  # fresh: a git may be working
    old = time.time() - 60
    os.utime(lock, (old, old))
    assert clear_stale_index_lock(path) == str(lock)
    assert not lock.exists()
    # and git works again in the worktree
    subprocess.run(["git", "-C", str(path), "status"], check=True, capture_output=True)


def test_notify_command_gets_the_message(tmux_socket: str, tmp_path: Path) -> None:
    out = tmp_path / "told.txt"
    command = f'printf "%s|%s|%s\\n" "$SWARM_NOTIFY_AGENT" "$SWARM_NOTIFY_MESSAGE" "$1" >> {out}'
    notifier = Notifier(Tmux(tmux_socket), "nosession", command=command)
    where = notifier.tell("title", "polecat-1 asks `git push` #1", "polecat-1")
    assert where == ["SWARM_NOTIFY_COMMAND"]
    deadline = time.monotonic() + 5
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = "polecat-1 asks `git push` #1"
    assert out.read_text() == f"polecat-1|{text}|{text}\n"


def test_no_notify_command_no_client_is_fine(tmux_socket: str) -> None:
    assert Notifier(Tmux(tmux_socket), "nosession", command="").tell("t", "m") == []


def test_the_witness_control_client_is_not_a_person(tmux_socket: str) -> None:
    tmux = Tmux(tmux_socket)
    tmux.run(("new-session", "-d", "-s", "s", "--", "sleep", "600"))
    client = ControlClient(tmux.tmux_bin, tmux_socket, "s")
    assert client.start()
    try:
        assert Notifier(tmux, "s", command="").human_clients() == []
    finally:
        client.close()


def test_tmux_text_is_one_literal_line() -> None:
    assert tmux_text("a #{pane_id}\nb") == "a ##{pane_id} b"


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
def test_a_person_attached_sees_the_message(tmux_socket: str, tmp_path: Path) -> None:
    tmux = Tmux(tmux_socket)
    tmux.run(("new-session", "-d", "-s", "s", "-x", "100", "-y", "30", "--", "sleep", "600"))
    screen = tmp_path / "client.out"
    attach = f"tmux -L {tmux_socket} attach -t =s"
    person = subprocess.Popen(
        ["script", "-qfc", attach, str(screen)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        notifier = Notifier(tmux, "s", command="")
        deadline = time.monotonic() + 5
        while not notifier.human_clients() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert notifier.tell("t", "polecat-1 is waiting for you #1", "polecat-1") == [
            "1 tmux client(s)"
        ]
        while "polecat-1 is waiting for you #1" not in screen.read_text(errors="replace"):
            assert time.monotonic() < deadline + 5, "the message never reached the person's screen"
            time.sleep(0.05)
    finally:
        person.kill()
        person.wait()
