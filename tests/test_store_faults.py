"""The store under faults: a read-only folder, a full disk, a truncated or corrupt file, a
deleted WAL, a database deleted under a running swarm. Each gives one line (or a loud
refusal), never a traceback, and no acknowledged task is lost without a message saying so.

The read-only and full-disk cases mount a small tmpfs on `.swarm/` inside a private mount
namespace (`unshare -rm`: no root needed, nothing visible outside, gone when it exits).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from swarm import paths
from swarm.controller.loop import Controller
from swarm.instance import SwarmInstance
from swarm.store import Store
from swarm.store.health import StoreLost, StoreWatch

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SWARM_AGENT", None)
    env.pop("SWARM_HOME", None)
    return env


def _swarm(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm", *args],
        cwd=repo,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# A script run in a private mount namespace: a tmpfs on .swarm, then the scenario; it prints
# one JSON object per swarm command: {"args", "code", "out", "err"}.
NAMESPACE_SCRIPT = r"""
import json, os, subprocess, sys
from pathlib import Path
repo, size, scenario = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
state = repo / ".swarm"
state.mkdir()
subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(state)],
               check=True)
from swarm.instance import SwarmInstance
from swarm.store import Store
SwarmInstance(repo=repo, state_dir=state, session="faults", socket="swt-none",
              layout_name="demo", layout_path=Path(sys.argv[4])).save()
with Store.open(state / "swarm.db") as store:
    for i in range(5):
        store.add_task(f"kept {i}")

def swarm(*args):
    done = subprocess.run([sys.executable, "-m", "swarm", *args], cwd=repo,
                          capture_output=True, text=True)
    print(json.dumps({"args": args, "code": done.returncode, "out": done.stdout,
                      "err": done.stderr}), flush=True)

if scenario == "read-only":
    subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
    swarm("task", "add", "lost?")
    swarm("task", "list", "--json")
elif scenario == "full":
    fd = os.open(state / "filler", os.O_WRONLY | os.O_CREAT)  # fill it to the last block
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    os.close(fd)
    swarm("task", "add", "lost?")
    swarm("task", "list", "--json")
    os.unlink(state / "filler")
    swarm("task", "add", "after")
    swarm("task", "list", "--json")
"""


def _in_namespace(repo: Path, scenario: str, size: str = "2m") -> list[dict[str, object]]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user and mount namespaces are not available here")
    layout = str(paths.bundled_dir("layouts") / "demo.yaml")
    done = subprocess.run(
        [
            "unshare",
            "-rm",
            sys.executable,
            "-c",
            NAMESPACE_SCRIPT,
            str(repo),
            size,
            scenario,
            layout,
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _titles(result: dict[str, object]) -> list[str]:
    return [t["title"] for t in json.loads(str(result["out"]))]


def test_read_only_folder(repo: Path) -> None:
    add, listing = _in_namespace(repo, "read-only")
    assert add["code"] != 0
    line = _one_line(str(add["err"]))
    assert "read-only" in line.lower() or "read-only file system" in line.lower(), line
    if listing["code"] == 0:  # reading may still work; then every task is there
        assert _titles(listing) == [f"kept {i}" for i in range(5)]
    else:
        assert "read-only" in _one_line(str(listing["err"])).lower()


def test_full_disk(repo: Path) -> None:
    add, listing, add_after, listing_after = _in_namespace(repo, "full", size="1m")
    assert add["code"] != 0
    line = _one_line(str(add["err"]))
    assert "full" in line and "nothing was written" in line, line
    if listing["code"] == 0:
        assert _titles(listing) == [f"kept {i}" for i in range(5)]
    else:
        assert "full" in _one_line(str(listing["err"]))
    assert add_after["code"] == 0, add_after["err"]
    assert _titles(listing_after) == [*(f"kept {i}" for i in range(5)), "after"]


@pytest.fixture
def stored(recorded_swarm: SwarmInstance) -> SwarmInstance:
    instance = recorded_swarm
    with Store.open(instance.db_path) as store:
        for i in range(300):
            store.add_task(f"task {i}", "body " * 200)
    return instance


def test_truncated_database(stored: SwarmInstance, repo: Path) -> None:
    db = stored.db_path
    with db.open("r+b") as handle:
        handle.truncate(db.stat().st_size // 2)
    listing = _swarm(repo, "task", "list")
    assert listing.returncode != 0
    assert "is damaged" in _one_line(listing.stderr)
    up = _swarm(repo, "up", "demo", "--detach")
    assert up.returncode != 0
    assert "is damaged" in _one_line(up.stderr)
    running = subprocess.run(["tmux", "-L", stored.socket, "ls"], capture_output=True)
    assert running.returncode != 0  # nothing was built on it


def test_corrupt_header(stored: SwarmInstance, repo: Path) -> None:
    with stored.db_path.open("r+b") as handle:
        handle.write(b"this is no database at all")
    for args in (["task", "list"], ["task", "add", "x"], ["log"], ["mq"]):
        done = _swarm(repo, *args)
        assert done.returncode != 0
        assert "is damaged" in _one_line(done.stderr)


def test_deleted_wal_loses_no_acknowledged_task(repo: Path, recorded_swarm: SwarmInstance) -> None:
    """A long-lived process holds the store (as the controller does); 20 tasks are added
    by separate commands; the WAL is deleted: every task is still there, and the holder
    says loudly what happened."""
    instance = recorded_swarm
    held = Store.open(instance.db_path)
    try:
        watch = StoreWatch(instance.db_path)
        held.list_tasks()
        ids = [_swarm(repo, "task", "add", f"acknowledged {i}").stdout.strip() for i in range(20)]
        assert all(ids)
        wal = instance.db_path.with_name("swarm.db-wal")
        assert wal.exists()
        wal.unlink()
        problem = watch.problem()
        assert problem is not None and "write-ahead log" in problem
        listing = _swarm(repo, "task", "list", "--json")
        assert listing.returncode == 0, listing.stderr
        assert sorted(t["id"] for t in json.loads(listing.stdout)) == sorted(ids)
    finally:
        held.close()


def test_database_deleted_while_running_stops_dispatch_loudly(
    repo: Path, recorded_swarm: SwarmInstance
) -> None:
    instance = recorded_swarm
    with Store.open(instance.db_path) as store:
        store.add_task("before the loss")
    lines: list[str] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            anyio.run(Controller(instance, log=lines.append).run)
        except BaseException as exc:  # the test inspects it
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not any("controller for swarm" in line for line in lines):
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)
    instance.db_path.unlink()
    thread.join(20)
    assert not thread.is_alive()
    assert failure and isinstance(failure[0], StoreLost)
    assert any(line.startswith("STOPPED: ") and "was deleted" in line for line in lines)
    # Nobody starts an empty store in its place: every command refuses, in one line.
    for args in (["task", "add", "into the void"], ["task", "list"], ["controller"]):
        done = _swarm(repo, *args)
        assert done.returncode != 0
        assert "is missing (deleted while the swarm ran?)" in _one_line(done.stderr)
    assert not instance.db_path.exists()
    # `swarm down` acknowledges it; the next store is a new, empty one.
    down = _swarm(repo, "down")
    assert down.returncode == 0, down.stderr
    listing = _swarm(repo, "task", "list")
    assert listing.returncode == 0 and "no tasks" in listing.stdout


def test_state_folder_0700_and_files_0600(repo: Path, recorded_swarm: SwarmInstance) -> None:
    state = paths.state_dir(repo)
    os.chmod(state, 0o755)
    instance = recorded_swarm
    with Store.open(instance.db_path) as store:
        store.add_task("private")
        for name in ("swarm.db", "swarm.db-wal", "swarm.db-shm"):
            path = state / name
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
