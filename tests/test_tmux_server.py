"""A swarm's tmux server, stopped: nothing its panes started is left running."""

from __future__ import annotations

import subprocess
import time

import psutil

from swarm.tmux.client import Tmux


def test_stopping_the_server_ends_what_its_panes_left_behind(tmux_socket: str) -> None:
    """A process that ignores the hang-up (`nohup`, or a sandbox's inner process orphaned
    by a pane killed as it started) would outlive its pane: its process group is killed."""
    script = "trap '' HUP; sleep 3091 & exec sleep 3092"
    subprocess.run(["tmux", "-L", tmux_socket, "new-session", "-d", "-s", "t", script], check=True)
    tmux = Tmux(tmux_socket)
    pane_pid = int(tmux.run(("display-message", "-p", "-t", "=t:", "#{pane_pid}")).strip())
    deadline = time.monotonic() + 10
    while not psutil.Process(pane_pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)  # the background sleep started
    started = [p for p in psutil.process_iter(["pid", "cmdline"]) if _ours(p)]
    assert {" ".join(p.info["cmdline"]) for p in started} == {"sleep 3091", "sleep 3092"}

    assert tmux.kill_server()
    _gone, alive = psutil.wait_procs(started, timeout=10)
    assert not alive, [p.info["cmdline"] for p in alive]


def _ours(proc: psutil.Process) -> bool:
    return proc.info["cmdline"] in (["sleep", "3091"], ["sleep", "3092"])
