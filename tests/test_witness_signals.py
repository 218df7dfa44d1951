"""The witness's eyes on real tmux (private sockets) and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from swarm.tmux.client import Tmux
from swarm.witness.control import ControlClient, command_line, quote
from swarm.witness.proc import ProcessTracker, descendants, parent_map
from swarm.witness.signals import PaneMonitor

SESSION = "sig"


@pytest.fixture
def tmux(tmux_socket: str) -> Tmux:
    t = Tmux(tmux_socket)
    t.run(
        (
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "120",
            "-y",
            "40",
            "--",
            "sh",
            "-c",
            "sleep 600",
        ),
        ("set-option", "-g", "remain-on-exit", "on"),
        ("set-option", "-p", "-t", f"={SESSION}:", "@swarm_agent", "alpha"),
    )
    return t


def split(tmux: Tmux, agent: str, *argv: str) -> str:
    out = tmux.run(
        ("split-window", "-d", "-P", "-F", "#{pane_id}", "-t", f"={SESSION}:", "--", *argv)
    )
    pane = out.strip()
    tmux.run(
        ("set-option", "-p", "-t", pane, "@swarm_agent", agent),
        ("select-layout", "-t", f"={SESSION}:", "tiled"),
    )
    return pane


def wait_for(check: object, timeout: float = 5.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.05)


def test_quote_survives_tmux_parsing(tmux: Tmux) -> None:
    client = ControlClient(tmux.tmux_bin, tmux.socket, SESSION)
    assert client.start()
    try:
        tricky = 'it\'s "q" $HOME \\ ; #{pane_id} ~ é'
        (reply,) = client.run(("set-option", "-p", "-t", f"={SESSION}:", "@note", tricky))
        assert not reply.error
        (shown,) = client.run(("show-options", "-p", "-v", "-t", f"={SESSION}:", "@note"))
        assert shown.lines == [tricky]
        (bad,) = client.run(("set-option", "-p", "-t", "%999", "@note", "x"))
        assert bad.error
        # answers stay paired with questions after an error
        (ok,) = client.run(("display-message", "-p", "after"))
        assert ok.lines == ["after"]
    finally:
        client.close()
    with pytest.raises(ValueError):
        quote("two\nlines")
    assert command_line(("list-panes", "-F", "#{pane_id}")) == 'list-panes "-F" "#{pane_id}"'


def test_control_client_fails_cleanly_without_a_session(tmux_socket: str) -> None:
    client = ControlClient(Tmux(tmux_socket).tmux_bin, tmux_socket, "nope", timeout=2.0)
    assert not client.start()
    assert not client.alive


@pytest.mark.parametrize("control", [True, False], ids=["control", "poll"])
def test_snapshot_sees_every_pane_in_one_command(tmux: Tmux, control: bool) -> None:
    beta = split(tmux, "beta", "sh", "-c", "exit 7")
    monitor = PaneMonitor(tmux, SESSION, control=control)
    try:
        # tmux marks the pane dead when its terminal closes and learns the exit status a
        # moment later, when the process is reaped: wait for both.
        wait_for(lambda: monitor.scan().by_agent()["beta"].dead_status is not None)
        before = (monitor.commands_sent, monitor.processes_spawned)
        snap = monitor.scan()
        after = (monitor.commands_sent, monitor.processes_spawned)
        assert snap.mode == ("control" if control else "poll")
        assert after[0] - before[0] == 1  # one command for all panes
        assert after[1] - before[1] == (0 if control else 1)  # and no process with control mode
        panes = snap.by_agent()
        assert set(panes) == {"alpha", "beta"}
        assert panes["beta"].pane_id == beta and panes["beta"].dead_status == 7
        assert not panes["alpha"].dead and panes["alpha"].pid
    finally:
        monitor.close()


def test_output_is_seen_from_the_pane_fingerprint(tmux: Tmux, tmp_path: object) -> None:
    script = "read x; echo got $x; sleep 600"
    pane = split(tmux, "talker", "sh", "-c", script)
    monitor = PaneMonitor(tmux, SESSION)
    try:
        monitor.scan()
        time.sleep(0.3)
        quiet = monitor.scan()
        assert pane not in quiet.output or quiet.output[pane] < quiet.taken_at - 0.2
        tmux.run(("send-keys", "-t", pane, "hello", "Enter"))
        time.sleep(0.3)
        loud = monitor.scan()
        assert loud.output.get(pane) == loud.taken_at
    finally:
        monitor.close()


def test_captures_are_one_batch_and_only_when_asked(tmux: Tmux) -> None:
    panes = [split(tmux, f"p{i}", "sh", "-c", f"echo screen-{i}; sleep 600") for i in range(3)]
    monitor = PaneMonitor(tmux, SESSION)
    try:
        monitor.scan()
        spawned = monitor.processes_spawned
        time.sleep(0.3)
        screens = monitor.capture(panes)
        assert monitor.processes_spawned == spawned  # no tmux process for three captures
        for i, pane in enumerate(panes):
            assert f"screen-{i}" in screens[pane]
        assert monitor.capture([]) == {}
    finally:
        monitor.close()


def test_respawning_panes_under_the_control_client_never_kills_the_server(tmux: Tmux) -> None:
    """tmux crashes when a pane is respawned while a control client lags on its output
    (tmux issue #5499); the witness's client takes no output, so it cannot lag."""
    noisy = split(tmux, "noisy", "sh", "-c", "while :; do printf '%0300d\\n' 0; sleep 0.005; done")
    monitor = PaneMonitor(tmux, SESSION)
    try:
        monitor.scan()
        for _ in range(5):
            tmux.run(("respawn-pane", "-k", "-t", noisy))
            time.sleep(0.3)
            assert monitor.scan().session_found
        assert tmux.server_running()
    finally:
        monitor.close()


def test_border_options_go_in_one_batch(tmux: Tmux) -> None:
    monitor = PaneMonitor(tmux, SESSION)
    try:
        pane = monitor.scan().by_agent()["alpha"].pane_id
        monitor.run(
            [
                ("set-option", "-p", "-t", pane, "@swarm_state", "working"),
                ("set-option", "-p", "-t", pane, "@swarm_task", "sw-1"),
            ]
        )
        alpha = monitor.scan().by_agent()["alpha"]
        assert (alpha.border_state, alpha.border_task) == ("working", "sw-1")
    finally:
        monitor.close()


# -- psutil trees --------------------------------------------------------------------------


def test_parent_map_and_descendants() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        parents = parent_map()
        assert parents[child.pid] == os.getpid()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        assert child.pid in descendants(os.getpid(), children)
    finally:
        child.kill()
        child.wait()


def test_tree_cpu_counts_a_busy_grandchild() -> None:
    # a shell (idle itself) running a busy child: the tool run an agent is waiting on
    busy = "import time\nend = time.time() + 30\nwhile time.time() < end: pass\n"
    shell = subprocess.Popen(["sh", "-c", f"{sys.executable} -c '{busy}'; true"])
    tracker = ProcessTracker()
    try:
        first = tracker.sample({"agent": shell.pid})["agent"]
        assert first.alive and first.cpu_percent is None
        time.sleep(1.0)
        # a child born since the last scan is found when the witness asks for a rescan
        second = tracker.sample({"agent": shell.pid}, rescan=True)["agent"]
        assert second.processes == 2
        assert second.cpu_percent is not None and second.cpu_percent > 30
        assert second.rss_bytes > 0
    finally:
        shell.kill()
        subprocess.run(["pkill", "-P", str(shell.pid)], check=False)
        shell.wait()


def test_a_dead_root_is_not_alive() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    sample = ProcessTracker().sample({"agent": gone.pid})["agent"]
    assert not sample.alive and sample.processes == 0
