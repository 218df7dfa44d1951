"""`run_daemon`: the one way the controller, witness and refinery run (lock, stop, errors)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from swarm.errors import SwarmError
from swarm.singleton import run_daemon, take_lock


def test_a_stop_signal_leaves_through_finally_and_frees_the_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cleaned: list[str] = []

    def loop() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # interrupted by the signal
        finally:
            cleaned.append("gate killed")

    assert run_daemon(tmp_path, "refinery", loop) == 128 + signal.SIGTERM
    assert cleaned == ["gate killed"]
    assert "refinery stopped (SIGTERM)" in capsys.readouterr().out
    os.close(take_lock(tmp_path, "refinery"))  # free again
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back as it was


def test_a_second_daemon_refuses_and_an_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise SwarmError("plan.json: damaged plan; run `swarm up` again", 3)

    def nested() -> int:
        return run_daemon(tmp_path, "witness", lambda: 0)

    assert run_daemon(tmp_path, "witness", nested) == 1
    assert "swarm: another witness is running for this swarm" in capsys.readouterr().err
    assert run_daemon(tmp_path, "witness", broken) == 3
    assert "swarm: plan.json: damaged plan" in capsys.readouterr().err
