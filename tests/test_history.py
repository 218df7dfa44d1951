"""History files: one per ended task, YAML front matter + Markdown, found by `swarm history`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from transcript_lines import append, assistant

from swarm.cli.main import main
from swarm.errors import SwarmError
from swarm.history import NO_TRANSCRIPT, parse, parse_since, search, sync
from swarm.store import Store
from swarm.usage.meter import UsageMeter

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "repo" / ".swarm"


@pytest.fixture
def store(state_dir: Path) -> Iterator[Store]:
    with Store.open(state_dir / "swarm.db", clock=Clock()) as opened:
        opened.upsert_agent("polecat-1", "polecat", "claude", "%1", 1)
        opened.upsert_agent("polecat-2", "polecat", "sim", "%2", 2)
        yield opened


def ended_three(store: Store, transcript: Path) -> tuple[str, str, str]:
    """A merged task (after one bounce), a failed one and a cancelled one."""
    store.set_agent_session("polecat-1", "s1", str(transcript))
    merged = store.add_task("Add a frobnicator flag", "Make `--frob` work.")
    store.hook_task(merged.id, "polecat-1")
    append(
        transcript,
        assistant("m1", input_tokens=1000, output_tokens=200, text="Done: --frob added."),
    )
    UsageMeter(store).tick(store.list_agents(), T0)
    mr = store.finish_task("polecat-1", "a" * 40, "b" * 40)
    store.bounce_task_to(merged.id, "polecat-1", "gate failed\nFAILED test_frob.py::test_flag")
    store.finish_task("polecat-1", "c" * 40, "b" * 40)
    live = store.merge_request_for_task(merged.id)
    assert live is not None and live.id != mr.id
    store.mark_request_merged(live.id, "d" * 40)

    failed = store.add_task("Port the parser to Rust")
    store.hook_task(failed.id, "polecat-2")
    store.fail_task(failed.id, "too big for one task")
    cancelled = store.add_task("Rename the widget module")
    store.cancel_task(cancelled.id)
    return merged.id, failed.id, cancelled.id


def test_every_ended_task_leaves_a_parsable_history_file(
    store: Store, state_dir: Path, tmp_path: Path
) -> None:
    merged, failed, cancelled = ended_three(store, tmp_path / "p1.jsonl")
    written = sync(store, state_dir)
    assert sorted(p.name for p in written) == sorted(f"{t}.md" for t in (merged, failed, cancelled))
    assert sync(store, state_dir) == []  # nothing new: nothing rewritten

    meta, body = parse((state_dir / "history" / f"{merged}.md").read_text())
    assert meta["task"] == merged and meta["outcome"] == "merged"
    assert meta["merged_commit"] == "d" * 40
    assert meta["agents"] == ["polecat-1"] and meta["runtime"] == "claude"
    assert meta["attempts"] == 2
    assert [b["reason"] for b in meta["bounces"]] == ["FAILED test_frob.py::test_flag"]
    assert meta["tokens"] == 1200 and meta["cost_usd"] > 0
    assert meta["duration_s"] > 0
    assert body.startswith("# Add a frobnicator flag")
    assert "## Final message\n\nDone: --frob added." in body

    meta, body = parse((state_dir / "history" / f"{failed}.md").read_text())
    assert meta["outcome"] == "failed" and meta["reason"] == "too big for one task"
    assert meta["tokens"] == "unknown" and meta["cost_usd"] == "unknown"  # the sim reports none
    assert NO_TRANSCRIPT in body
    meta, _ = parse((state_dir / "history" / f"{cancelled}.md").read_text())
    assert meta["outcome"] == "cancelled" and meta["agents"] == []

    text = (state_dir / "history" / f"{merged}.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["title"] == "Add a frobnicator flag"


def test_search_finds_a_task_by_a_word_of_its_title_or_its_file(
    store: Store, state_dir: Path, tmp_path: Path
) -> None:
    merged, failed, _cancelled = ended_three(store, tmp_path / "p1.jsonl")
    assert [f.entry.task for f in search(store, state_dir, "frobnicator")] == [merged]
    assert [f.entry.task for f in search(store, state_dir, "RUST")] == [failed]
    by_body = search(store, state_dir, "test_flag")
    assert [f.entry.task for f in by_body] == [merged] and "test_flag" in by_body[0].line
    assert len(search(store, state_dir)) == 3
    assert search(store, state_dir, since=T0 + 10_000) == []


def test_since_accepts_ages_and_dates() -> None:
    assert parse_since("3d", now=T0) == T0 - 3 * 86400
    assert parse_since("2026-11-30") == time.mktime((2026, 11, 30, 0, 0, 0, 0, 0, -1))
    with pytest.raises(SwarmError, match="expected an age like 3d"):
        parse_since("yesterday")


def test_swarm_history_command(
    store: Store,
    state_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merged, _failed, _cancelled = ended_three(store, tmp_path / "p1.jsonl")
    monkeypatch.setattr("swarm.cli.usage._locate", lambda _args: (store.path, state_dir))
    assert main(["history", "frobnicator"]) == 0
    out = capsys.readouterr().out
    assert merged in out and "merged" in out and "Add a frobnicator flag" in out
    assert main(["history", "--json", "parser"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["outcome"] for r in rows] == ["failed"]
    assert main(["history", "--since", "soon"]) == 2
    assert "expected an age" in capsys.readouterr().err


def test_the_witness_meter_writes_the_file_when_a_task_ends(store: Store, state_dir: Path) -> None:
    meter = UsageMeter(store, state_dir=state_dir)
    meter.tick(store.list_agents(), T0)
    task = store.add_task("Short lived")
    meter.tick(store.list_agents(), T0 + 1)
    assert not (state_dir / "history" / f"{task.id}.md").exists()
    store.cancel_task(task.id)
    meter.tick(store.list_agents(), T0 + 2)
    meta, _body = parse((state_dir / "history" / f"{task.id}.md").read_text())
    assert meta["outcome"] == "cancelled"
    assert [e.task for e in store.history()] == [task.id]
