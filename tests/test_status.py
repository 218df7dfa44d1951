"""`swarm status` under load: the confinement probe (a bwrap process) runs once per boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm import sandbox, status


def test_the_confinement_probe_is_asked_again_only_when_its_inputs_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[str] = []
    answer: list[str | None] = ["bwrap not found: install bubblewrap"]
    key = ["boot-1"]

    def probe() -> str | None:
        probes.append("probed")
        return answer[0]

    monkeypatch.setattr(sandbox, "available", probe)
    monkeypatch.setattr(status, "probe_key", lambda: key[0])
    assert status.confinement(tmp_path) == answer[0]
    assert status.confinement(tmp_path) == answer[0]
    assert len(probes) == 1
    key[0], answer[0] = "boot-2, bwrap installed", None
    assert status.confinement(tmp_path) is None
    assert status.confinement(tmp_path) is None
    assert len(probes) == 2
    (tmp_path / status.PROBE_FILE).write_text("{not json")
    assert status.confinement(tmp_path) is None and len(probes) == 3


def test_the_probe_key_follows_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_SANDBOX", "off")
    off = status.probe_key()
    monkeypatch.delenv("SWARM_SANDBOX")
    assert status.probe_key() != off
