"""The demo swarm end to end: the witness writes a history file for every merged task, and
`swarm status` says "unknown" for runtimes that report no usage (the sim)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarm.history import parse


@pytest.mark.slow
def test_a_swarm_leaves_history_and_shows_unknown_cost(tmp_path: Path, tmux_socket: str) -> None:
    target = tmp_path / "swarm-demo"
    env = {**os.environ, "SWARM_TMUX_SOCKET": tmux_socket}

    def swarm(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "swarm", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=target if target.exists() else tmp_path,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    try:
        swarm("demo", str(target), "--detach", "--timeout", "240")
        history = target / ".swarm" / "history"
        merged = json.loads(swarm("history", "--json"))
        assert len(merged) == 6 and {row["outcome"] for row in merged} == {"merged"}
        for row in merged:
            meta, body = parse((history / f"{row['task']}.md").read_text())
            assert meta["outcome"] == "merged" and len(meta["merged_commit"]) == 40
            assert meta["tokens"] == "unknown" and "## Final message" in body
        greeting = [r for r in merged if "farewell" in r["title"].lower()]
        assert json.loads(swarm("history", "--json", "farewell")) == greeting
        status = json.loads(swarm("status", "--json"))
        assert status and all(row["cost_usd"] is None for row in status)
        assert "total: unknown" in swarm("status")
    finally:
        if target.exists():
            subprocess.run(
                [sys.executable, "-m", "swarm", "down"], env=env, cwd=target, capture_output=True
            )
