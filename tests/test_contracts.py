"""Runtimes and roles as contracts: a runtime from a package's entry point, a role that is a
file only, escalations to every mayor. Real tmux on a private socket, real git, the sim.

Nothing here changes code to add the `echo` runtime (tests/plugins/, a package with a
`.dist-info` declaring `swarm.runtimes`) or the `reviewer` role (a YAML file in the
repository's `.swarm/roles/`): the code decides by registered facts and capabilities.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from swarm.lifecycle import UpResult, bring_down, bring_up
from swarm.runtimes import registry
from swarm.store import Store

pytestmark = pytest.mark.slow

PLUGINS = Path(__file__).parent / "plugins"


def wait(what: str, check: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def swarm_cli(up: UpResult, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm", *args],
        cwd=up.instance.repo,
        capture_output=True,
        text=True,
    )


def state_of(up: UpResult, agent: str) -> str:
    with Store.open(up.instance.db_path) as store:
        return store.get_agent(agent).state


@pytest.fixture
def echo_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugin package installed: on this process's path and every pane's."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(PLUGINS), path) if p))
    registry.runtimes.cache_clear()
    yield
    registry.runtimes.cache_clear()


def test_a_runtime_from_a_plugin_entry_point_builds_drives_the_witness_and_is_approved(
    echo_plugin: None, repo: Path, tmux_socket: str
) -> None:
    echo = registry.get_runtime("echo")
    assert type(echo).__module__ == "swarm_echo_runtime"
    layout = repo.parent / "echo.yaml"
    layout.write_text(
        "description: a runtime from a package\n"
        "sidebar: {enabled: false}\n"
        "roles:\n"
        "  mayor: {count: 0}\n"
        "  polecat: {count: 1, runtime: echo, health: {startup_grace: 1}}\n"
        "  witness: {count: 1}\n"
        "  refinery: {count: 0}\n"
    )
    up = bring_up(str(layout), repo)
    try:
        # The witness knows echo's state from echo's own screen patterns.
        wait("the echo agent seen ready", lambda: state_of(up, "polecat-1") == "idle")
        assert swarm_cli(up, "nudge", "polecat-1", "ask").returncode == 0
        wait("echo's question seen", lambda: state_of(up, "polecat-1") == "waiting")
        approved = swarm_cli(up, "approve", "polecat-1")
        assert approved.returncode == 0, approved.stderr
        log = up.instance.state_dir / "worktrees" / "polecat-1" / "echo.log"
        wait("echo to hear the approval", lambda: log.exists() and "approved" in log.read_text())
        assert log.read_text().splitlines() == ["told: ask", "approved"]
    finally:
        bring_down(up.instance)


def test_a_reviewer_role_from_a_file_only_takes_tasks_in_its_own_worktree(
    repo: Path, tmux_socket: str
) -> None:
    roles = repo / ".swarm" / "roles"
    roles.mkdir(parents=True)
    (roles / "reviewer.yaml").write_text(
        "name: reviewer\n"
        "description: Reviews and fixes one task at a time.\n"
        "runtime: sim\n"
        "capabilities: {worktree: true, takes_tasks: true, numbered: true}\n"
    )
    layout = repo.parent / "review.yaml"
    layout.write_text(
        "description: reviewers only\n"
        "sidebar: {enabled: false}\n"
        "runtime: sim\n"
        "roles:\n"
        "  reviewer: {count: 2}\n"
        "  witness: {count: 1}\n"
        "  refinery: {count: 1}\n"
        "merge: {batch_wait: 0.2}\n"
    )
    up = bring_up(str(layout), repo, trust=True)  # its role file came with the repository
    try:
        names = [a.name for a in up.plan.agents]
        assert names[:2] == ["reviewer-1", "reviewer-2"]
        body = "```sh\necho reviewed > REVIEW.md\n```\n"
        task = subprocess.run(
            [sys.executable, "-m", "swarm", "task", "add", "Write the review", "--body", "-"],
            cwd=repo,
            input=body,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

        def merged() -> bool:
            with Store.open(up.instance.db_path) as store:
                return store.get_task(task).status == "merged"

        wait(f"{task} merged", merged, timeout=90)
        with Store.open(up.instance.db_path) as store:
            assignee = store.get_task(task).assignee
        assert assignee is not None and assignee.startswith("reviewer-")
        worktree = up.instance.state_dir / "worktrees" / assignee
        assert (worktree / ".git").is_file(), "the reviewer did not work in its own worktree"
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", "main:REVIEW.md"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout == "reviewed\n"
    finally:
        bring_down(up.instance)


def test_two_mayors_both_receive_the_witness_and_refinery_escalations(
    repo: Path, tmux_socket: str
) -> None:
    layout = repo.parent / "mayors.yaml"
    layout.write_text(
        "description: two mayors\n"
        "sidebar: {enabled: false}\n"
        "runtime: sim\n"
        "roles:\n"
        "  mayor: {count: 2}\n"
        "  polecat: {count: 1}\n"
        "  witness: {count: 1}\n"
        "  refinery: {count: 0}\n"
    )
    up = bring_up(str(layout), repo)
    try:
        from swarm.witness.effects import escalation_receivers

        wait("both mayors up", lambda: state_of(up, "mayor-2") == "idle")
        with Store.open(up.instance.db_path) as store:
            receivers = [a.name for a in escalation_receivers(up.instance, store)]
        assert receivers == ["mayor-1", "mayor-2"]
        # The refinery's escalation path tells each of them (typed into their panes).
        from swarm.refinery.loop import mayor_nudger

        told: list[str] = []
        with Store.open(up.instance.db_path) as store:
            mayor_nudger(up.instance, store, told.append)("sw-00000", "decide about sw-00000")
        assert told == ["  told mayor-1 about sw-00000", "  told mayor-2 about sw-00000"]
        inbox = up.instance.state_dir / "sim"
        for mayor in ("mayor-1", "mayor-2"):
            folder = inbox / mayor / "inbox"

            def arrived(f: Path = folder) -> bool:
                return any(f.glob("*.txt"))

            wait(f"{mayor} to receive it", arrived)
            texts = [p.read_text() for p in folder.glob("*.txt")]
            assert any("decide about sw-00000" in t for t in texts)
    finally:
        bring_down(up.instance)
