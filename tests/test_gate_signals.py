"""A gate killed by a signal (the OOM killer, a person's kill -9) is run again and never
charged to the task: no bounce, no bounce count, and the request is merged once it passes.

Uses the refinery rig of test_refinery (real git, real store, the gate run for real).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from test_refinery import GATE, Rig

from swarm.refinery.gate import MARK_VAR, SIGNAL_RERUNS, killed_by, run_gate


@pytest.fixture
def rig(repo: Path) -> Iterator[Rig]:
    made = Rig(repo)
    yield made
    made.store.close()


def _killed_first(times: int, counter: Path, how: str) -> str:
    """A gate prefix that is killed by SIGKILL on its first `times` runs, then passes on."""
    kill = {
        "shell": "kill -9 $$",  # the gate's shell itself: Popen sees -9
        "child": f"{sys.executable} -c 'import os; os.kill(os.getpid(), 9)'",  # sh says 137
    }[how]
    return (
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}; "
        f"[ $n -ge {times} ] || {kill}"
    )


def test_killed_by_reads_popen_and_shell_codes() -> None:
    assert killed_by(-9) == signal.SIGKILL and killed_by(137) == signal.SIGKILL
    assert killed_by(143) == signal.SIGTERM and killed_by(-15) == signal.SIGTERM
    assert killed_by(1) == 0 and killed_by(0) == 0 and killed_by(139) == 0  # SIGSEGV: a bug


@pytest.mark.parametrize("how", ["shell", "child"])
def test_a_gate_killed_once_is_rerun_and_passes(tmp_path: Path, how: str) -> None:
    counter = tmp_path / "runs"
    result = run_gate([_killed_first(1, counter, how)], tmp_path, marker="t")
    assert result.passed and result.reruns == 1
    assert counter.read_text().strip() == "2"


def test_a_gate_killed_every_time_gives_up_uncharged(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    result = run_gate([_killed_first(99, counter, "shell")], tmp_path, marker="t")
    assert not result.passed and result.killed == signal.SIGKILL
    assert result.reruns == SIGNAL_RERUNS and counter.read_text().strip() == "3"
    assert "not charged" in result.summary() and "SIGKILL" in result.brief()


def test_a_real_failure_is_not_rerun(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    result = run_gate([f"echo x >> {counter}; exit 1"], tmp_path, marker="t")
    assert not result.passed and not result.killed and result.reruns == 0
    assert counter.read_text().count("x") == 1


def test_a_killed_gate_bounces_nobody_and_merges_once_it_passes(rig: Rig, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    good = rig.request({"ok.txt": "ok\n"})
    gate = (_killed_first(SIGNAL_RERUNS + 1, counter, "child"), *GATE)
    refinery = rig.refinery(gate=gate, batch_size=1)
    refinery.step()  # every run of the first gate is killed: given up on, not charged
    mr = rig.store.get_merge_request(good.id)
    assert mr.status == "queued" and "not charged" in mr.result
    assert rig.kinds()["merge.bounced"] == 0
    assert rig.store.get_task(good.task_id).notes == ""
    assert rig.kinds()["merge.gate_killed"] == 1
    wait = refinery.step()
    assert wait is not None and wait > 0  # the queue pauses instead of looping on a killed gate
    rig.clock.ahead += 60
    refinery.drain()  # the next gate is not killed
    assert rig.statuses() == {good.task_id: "merged"}
    assert rig.kinds()["merge.bounced"] == 0
    rig.check()


def test_gate_children_killed_from_outside_bounce_nobody(rig: Rig, tmp_path: Path) -> None:
    """Like the chaos run: something outside kills the gate's processes with -9 mid-run."""
    requests = [rig.request({f"f{i}.txt": f"{i}\n"}) for i in range(3)]
    started = tmp_path / "started"
    # The first two runs wait to be killed (however slow the machine), the third passes.
    gate = (
        f"echo x >> {started}; [ $(grep -c x {started}) -gt 2 ] || exec sleep 60",
        *GATE,
    )
    refinery = rig.refinery(gate=gate, batch_size=3)
    marker = refinery.settings.marker
    stop = threading.Event()
    killed: list[int] = []

    def killer() -> None:  # kill the first two gate runs' processes, as the OOM killer would
        while not stop.is_set() and len(killed) < 2:
            runs = started.read_text().count("x") if started.exists() else 0
            if runs > len(killed):
                for proc in psutil.process_iter(["pid", "name"]):
                    try:
                        if proc.info["name"] == "sleep" and proc.environ().get(MARK_VAR) == marker:
                            os.kill(proc.pid, signal.SIGKILL)
                            killed.append(proc.pid)
                            break
                    except (psutil.Error, OSError):
                        continue
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        refinery.drain()
    finally:
        stop.set()
        thread.join(5)
    assert len(killed) == 2
    assert set(rig.statuses().values()) == {"merged"}
    assert rig.kinds()["merge.bounced"] == 0
    assert all(rig.store.get_task(mr.task_id).attempts <= 1 for mr in requests)
    rig.check()


def test_a_shell_ended_by_sigterm_counts_as_a_signal() -> None:
    """A shell killed by SIGTERM mid-command (`timeout -s TERM`) counts as a signal too."""
    done = subprocess.run(["/bin/sh", "-c", "kill -TERM $$"], check=False)
    assert killed_by(done.returncode) == signal.SIGTERM
