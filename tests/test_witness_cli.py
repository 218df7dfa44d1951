"""`swarm witness`: its arguments, and exactly one witness per swarm."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swarm.cli.main import main
from swarm.errors import EXIT_USAGE
from swarm.instance import SwarmInstance
from swarm.singleton import take_lock
from swarm.witness.loop import run_witness


def test_witness_is_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["witness", "--help"])
    assert "--tick" in capsys.readouterr().out


def test_a_silly_tick_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["witness", "--tick", "0"]) == EXIT_USAGE
    assert "--tick" in capsys.readouterr().err


def test_a_second_witness_refuses_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / ".swarm"
    state.mkdir()
    instance = SwarmInstance(tmp_path, state, "s", "sock", "demo", tmp_path / "demo.yaml")
    lock = take_lock(state, "witness")
    try:
        assert (state / "witness.pid").read_text().strip() == str(os.getpid())
        assert run_witness(instance) == 1
        assert "another witness" in capsys.readouterr().err
    finally:
        os.close(lock)
