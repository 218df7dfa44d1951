"""Fixtures for driving the real Claude Code CLI in a swarm, against a scripted model
(conftest.py hands them to pytest; tests import `ClaudeSwarm` from here).

`claude_swarm(roles=…)` writes a layout into the test repository (`runtime: claude`, the
scripted server's address and a key in `environment`), brings the swarm up on the test's
private tmux socket and returns a `ClaudeSwarm` to drive and watch it.

Every test runs once per tested Claude Code version (`ClaudeRuntime.tested_versions`: the
oldest supported and the newest), each from its own npm install that `.ci/install-claude`
makes under `~/.cache/swarm-claude-<version>`. A missing version fails the run in CI
(CI=true) and is skipped, saying why, elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from swarm.lifecycle import UpResult, bring_up
from swarm.runtimes.claude import TESTED_VERSIONS, installed_version
from swarm.store import Store
from swarm.store.models import Agent
from swarm.tmux.client import PaneInfo, Tmux

sys.path.insert(0, str(Path(__file__).parent))

from fake_anthropic import FakeAnthropic, Script

T = TypeVar("T")
API_KEY = "sk-ant-swarm-e2e-0123456789abcdefghij"


def versioned_binary(version: str) -> Path:
    return Path.home() / f".cache/swarm-claude-{version}/node_modules/.bin/claude"


@pytest.fixture(scope="session", params=TESTED_VERSIONS, ids=lambda v: f"claude-{v}")
def claude_bin(request: pytest.FixtureRequest) -> str:
    version = str(request.param)
    binary = versioned_binary(version)
    if binary.is_file() and installed_version(str(binary)) == version:
        return str(binary)
    why = (
        f"Claude Code {version} is not installed at {binary}: run .ci/install-claude "
        "(npm install of @anthropic-ai/claude-code at each tested version)"
    )
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture
def fake_api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(Script(), keep_requests=True) as api:
        yield api


@dataclass
class ClaudeSwarm:
    """A running swarm of Claude Code agents and the scripted model they talk to."""

    up: UpResult
    api: FakeAnthropic
    log: list[str] = field(default_factory=list)

    @property
    def script(self) -> Script:
        return self.api.script

    @property
    def repo(self) -> Path:
        return self.up.instance.repo

    def store(self) -> Store:
        return Store.open(self.up.instance.db_path)

    def agent(self, name: str) -> Agent:
        with self.store() as store:
            return store.get_agent(name)

    def pane(self, name: str) -> PaneInfo:
        panes = Tmux(self.up.instance.socket).list_panes(self.up.instance.session)
        found = next((p for p in panes if p.agent == name), None)
        assert found is not None, f"no pane for {name}"
        return found

    def screen(self, name: str) -> str:
        return Tmux(self.up.instance.socket).run(
            ("capture-pane", "-p", "-t", self.pane(name).pane_id)
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "swarm", *args], cwd=self.repo, capture_output=True, text=True
        )
        if check:
            assert proc.returncode == 0, f"swarm {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc

    def wait(
        self, what: str, check: Callable[[], T | None], timeout: float = 30.0, every: float = 0.1
    ) -> T:
        """Poll `check` until it returns something truthy; fail with the screens if not."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{self.report()}")
            time.sleep(every)

    def wait_ready(self, *names: str, timeout: float = 60.0) -> None:
        """Every named agent is ready for a task: its start-up turn ended (its runtime's
        Stop report after SessionStart), so it is `idle` and nothing was typed yet."""

        def ready() -> bool:
            with self.store() as store:
                events = store.events()
            ended = {
                e.agent for e in events if e.kind == "agent.state" and e.data.get("to") == "idle"
            }
            return all(n in ended for n in names)

        self.wait(f"{', '.join(names)} to start", ready, timeout)

    def report(self) -> str:
        """What to look at when a test fails: states, events, the model's log, the screens."""
        lines: list[str] = []
        try:
            with self.store() as store:
                lines += [f"{a.name}: {a.state} ({a.detail})" for a in store.list_agents()]
                lines += [
                    f"{e.kind:<18} {e.agent or '-':<10} {e.message}" for e in store.events()[-40:]
                ]
                lines += [f"task {t.id} {t.status} {t.title}" for t in store.list_tasks()]
        except Exception as exc:  # a report must never hide the failure it explains
            lines.append(f"(store unreadable: {exc})")
        lines += [
            f"model: main={e.main_turn} rule={e.rule!r} last={e.last_text[-160:]!r}"
            for e in self.script.log
        ]
        for pane in Tmux(self.up.instance.socket).list_panes(self.up.instance.session):
            if pane.agent and pane.agent not in ("sidebar", "controller"):
                screen = Tmux(self.up.instance.socket).run(
                    ("capture-pane", "-p", "-t", pane.pane_id), check=False
                )
                lines += [
                    f"---- {pane.agent} ({pane.current_command}, dead={pane.dead})",
                    screen.rstrip(),
                ]
        return "\n".join(lines)


def write_layout(
    repo: Path,
    api_url: str,
    home: Path,
    roles: dict[str, Any],
    env: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """A layout of Claude Code agents talking to the scripted server.

    HOME is a fresh folder so the person's shell start-up files and git config stay out of
    the agents' shells (Claude Code runs `bash -l` to snapshot the environment).
    """
    layout = {
        "description": "Claude Code agents against a scripted model on 127.0.0.1",
        "runtime": "claude",
        "environment": {
            "ANTHROPIC_BASE_URL": api_url,
            "ANTHROPIC_API_KEY": API_KEY,
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "HOME": str(home),
            **(env or {}),
        },
        "sidebar": {"enabled": False},
        "roles": roles,
        "gate": [],
        **(extra or {}),
    }
    path = repo.parent / "claude-e2e.yaml"
    path.write_text(yaml.safe_dump(layout, sort_keys=False))
    return path


@pytest.fixture
def claude_swarm(
    claude_bin: str,
    repo: Path,
    tmux_socket: str,
    fake_api: FakeAnthropic,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., ClaudeSwarm]:
    monkeypatch.setenv("SWARM_CLAUDE_BIN", claude_bin)

    def start(
        env: dict[str, str] | None = None, extra: dict[str, Any] | None = None, **roles: Any
    ) -> ClaudeSwarm:
        """`env`: more environment for every pane; `extra`: more top-level layout keys."""
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        layout = write_layout(repo, fake_api.url, home, roles, env, extra)
        return ClaudeSwarm(bring_up(str(layout), repo), fake_api)

    return start
