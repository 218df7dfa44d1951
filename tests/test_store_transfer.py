"""`swarm store migrate | export | import` and `swarm doctor`'s store and remote checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pgserver import free_port

from swarm.store import SCHEMA_VERSION, Store
from swarm.team.checks import check_remote, check_store


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def swarm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm", *args], capture_output=True, text=True, cwd=cwd
    )


def laptop_history(path: Path) -> dict[str, str]:
    """A single machine's swarm: one task merged, one done and queued, one held, one open."""
    with Store.open(path) as store:
        for name in ("polecat-1", "polecat-2"):
            store.upsert_agent(name, "polecat", "sim")
        merged, queued, held, waiting = (store.add_task(t) for t in ("a", "b", "c", "d"))
        store.hook_task(merged.id, "polecat-1")
        mr = store.finish_task("polecat-1", "h1", "b1")
        store.mark_request_merged(mr.id, "m1")
        store.hook_task(queued.id, "polecat-1")
        store.finish_task("polecat-1", "h2", "b2")
        store.hook_task(held.id, "polecat-2")
        return {"merged": merged.id, "queued": queued.id, "held": held.id, "open": waiting.id}


@pytest.mark.slow
def test_migrate_export_and_import_to_postgres(tmp_path: Path, pg_url: str) -> None:
    proc = swarm("store", "migrate", "--store", pg_url)
    assert proc.returncode == 0, proc.stderr
    assert f"0 -> {SCHEMA_VERSION}" in proc.stdout and "swarm-test" not in proc.stdout
    assert "already up to date" in swarm("store", "migrate", "--store", pg_url).stdout

    laptop = tmp_path / "laptop.db"
    ids = laptop_history(laptop)
    with Store.open(pg_url) as team:
        team.add_task("already in the team store")
    dump = tmp_path / "dump.jsonl"
    proc = swarm("store", "export", "--store", str(laptop), "-o", str(dump))
    assert proc.returncode == 0, proc.stderr
    proc = swarm("store", "import", str(dump), "--store", pg_url)
    assert proc.returncode == 0, proc.stderr
    assert "imported 4 task(s), 2 merge request(s)" in proc.stdout

    with Store.open(pg_url) as team, Store.open(laptop) as old:
        tasks = {task.id: task for task in team.list_tasks()}
        assert len(tasks) == 5
        assert tasks[ids["merged"]].status == "merged"
        assert tasks[ids["queued"]].status == "done"
        held = tasks[ids["held"]]
        assert (held.status, held.assignee) == ("open", None)
        assert "was held by polecat-2" in held.notes
        assert team.merge_request_for_task(ids["queued"]) is not None
        assert team.list_agents() == []
        moved = [e.message for e in team.events() if e.kind != "store.imported"]
        assert moved[1:] == [e.message for e in old.events()]  # [0]: the team's own task
        assert team.events()[-1].kind == "store.imported"

    before = len(Store.open(pg_url).events())
    proc = swarm("store", "import", str(dump), "--store", pg_url)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "already exists" in proc.stderr and "nothing was imported" in proc.stderr
    assert len(Store.open(pg_url).events()) == before


def test_import_refuses_a_damaged_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "swarm-store-export", "schema_version": 3}\n{oops\n')
    proc = swarm("store", "import", str(bad), "--store", str(tmp_path / "s.db"))
    assert proc.returncode == 2 and f"{bad}:2:" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_doctor_checks_a_postgres_store(pg_url: str) -> None:
    empty = check_store(pg_url)
    assert [c.name for c in empty] == ["store", "store schema", "store clock"]
    assert empty[0].ok and not empty[1].ok and not empty[1].required and empty[2].ok
    Store.open(pg_url).close()
    assert all(c.ok for c in check_store(pg_url))
    down = check_store(f"postgresql://swarm:pw@127.0.0.1:{free_port()}/x")
    assert len(down) == 1 and not down[0].ok and "cannot reach" in down[0].detail
    assert "pw@" not in down[0].detail


def test_doctor_checks_the_remote(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "-b", "main", str(clone)], check=True)
    git(
        clone,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@x",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "first",
    )
    git(clone, "remote", "add", "origin", str(bare))
    missing = check_remote(clone, "origin", "main")
    assert not missing.ok and "has no branch main" in missing.detail
    git(clone, "push", "-q", "origin", "main")
    assert check_remote(clone, "origin", "main").ok
    gone = check_remote(clone, "nowhere", "main")
    assert not gone.ok
