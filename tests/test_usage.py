"""Usage from transcripts: incremental reading, per-task sums, cost = counts x prices."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from transcript_lines import MODEL, api_error, append, assistant, user

from swarm.store import Store
from swarm.store.usage import Cursor
from swarm.usage.meter import UsageMeter
from swarm.usage.prices import DEFAULT_PRICES, Price, PriceTable
from swarm.usage.report import agent_usage, task_usage, total_of
from swarm.usage.tokens import Usage, money
from swarm.usage.transcript import last_assistant_text, read_new

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / ".swarm" / "swarm.db") as opened:
        yield opened


def polecat(store: Store, name: str, transcript: Path | None) -> None:
    store.upsert_agent(name, "polecat", "claude" if transcript else "sim", "%1", 1)
    store.set_agent_state(name, "idle")
    if transcript is not None:
        transcript.touch()
        store.set_agent_session(name, f"session-{name}", str(transcript))


def sonnet_cost(i: int, o: int, w: int, r: int) -> float:
    price = DEFAULT_PRICES["claude-sonnet-4"]
    assert price.cache_write is not None and price.cache_read is not None
    return (i * price.input + o * price.output + w * price.cache_write + r * price.cache_read) / 1e6


# -- the reader --------------------------------------------------------------------------


def test_reader_reads_only_what_was_appended(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append(path, user("hello"), assistant("m1", input_tokens=10, output_tokens=5))
    first = read_new(Cursor("a", str(path)))
    assert first is not None
    assert [s.usage for s in first.spent] == [Usage(10, 5)]
    assert read_new(first.cursor) is None  # nothing new: no read at all
    append(path, assistant("m2", input_tokens=7, output_tokens=3, cache_read=100))
    second = read_new(first.cursor)
    assert second is not None
    assert [s.usage for s in second.spent] == [Usage(7, 3, 0, 100)]
    assert second.cursor.offset == path.stat().st_size


def test_reader_leaves_a_partial_last_line_for_later(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    line = json.dumps(assistant("m1", input_tokens=10, output_tokens=5))
    path.write_text(line[:40])
    assert read_new(Cursor("a", str(path))) is None
    with path.open("a") as handle:
        handle.write(line[40:] + "\n" + line[:10])
    result = read_new(Cursor("a", str(path)))
    assert result is not None
    assert [s.usage for s in result.spent] == [Usage(10, 5)]
    assert result.cursor.offset == len(line) + 1


def test_reader_counts_a_message_written_in_pieces_once(tmp_path: Path) -> None:
    """One response, one entry per content block, repeating (and growing) its usage."""
    path = tmp_path / "t.jsonl"
    append(
        path,
        assistant("m1", input_tokens=100, output_tokens=1, cache_write=20, text="a"),
        assistant("m1", input_tokens=100, output_tokens=40, cache_write=20, text="b"),
    )
    result = read_new(Cursor("a", str(path)))
    assert result is not None
    append(path, assistant("m1", input_tokens=100, output_tokens=40, cache_write=20, text="c"))
    again = read_new(result.cursor)
    total = total_of(
        [s.usage for s in result.spent] + [s.usage for s in (again.spent if again else [])]
    )
    assert total == Usage(100, 40, 20, 0)


def test_reader_starts_over_on_a_replaced_or_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append(path, assistant("m1", input_tokens=10, output_tokens=5), user("x" * 200))
    first = read_new(Cursor("a", str(path)))
    assert first is not None
    replacement = tmp_path / "new.jsonl"
    append(replacement, assistant("m9", input_tokens=1, output_tokens=2))
    os.replace(replacement, path)  # another inode, and shorter
    second = read_new(first.cursor)
    assert second is not None
    assert [s.usage for s in second.spent] == [Usage(1, 2)]
    path.write_text("")  # truncated in place
    third = read_new(second.cursor)
    assert third is not None and third.spent == [] and third.cursor.offset == 0


def test_reader_returns_api_errors_and_skips_synthetic_usage(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append(path, api_error("API Error: 429 rate_limit_error retry-after: 30"))
    result = read_new(Cursor("a", str(path)))
    assert result is not None
    assert result.spent == []
    assert "429" in result.errors[0][0]


def test_last_assistant_text_is_the_final_message(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append(
        path,
        assistant("m1", text="first", at=NOW),
        assistant("m2", text="All done: tests pass.", at=NOW + 10),
        assistant("m3", text="later chatter", at=NOW + 100),
    )
    assert last_assistant_text(str(path)) == "later chatter"
    assert last_assistant_text(str(path), before=NOW + 50) == "All done: tests pass."
    assert last_assistant_text(str(tmp_path / "missing.jsonl")) == ""


# -- prices ------------------------------------------------------------------------------


def test_prices_longest_key_wins_and_a_layout_overrides() -> None:
    table = PriceTable()
    assert table.price_for("claude-opus-4-5-20251101") == DEFAULT_PRICES["claude-opus-4-5"]
    assert table.price_for("claude-opus-4-1-20250805") == DEFAULT_PRICES["claude-opus-4"]
    assert table.price_for("gpt-5") is None
    assert table.price_for("claude-opus-7") is None  # a model we have no price for: no guess
    # The same counts Claude Code 2.1.332 itself priced at $0.0145378 (its `cost-state`).
    opus5 = table.cost("claude-opus-5-5", Usage(1611, 282, 33, 11444))
    assert opus5.cost_usd == pytest.approx(0.0145378)
    custom = PriceTable({"claude-sonnet-4-5": Price(1.0, 2.0, 3.0, 4.0)})
    priced = custom.cost(MODEL, Usage(1_000_000, 1_000_000, 1_000_000, 1_000_000))
    assert priced.cost_usd == pytest.approx(10.0)
    assert PriceTable().cost("gpt-5", Usage(5, 5)).cost_usd == 0.0
    assert money(None) == "unknown" and money(1.5) == "$1.50" and money(0.0042) == "$0.004"


# -- the meter: per task, per agent, per day ---------------------------------------------


def test_tokens_are_summed_per_task_and_cost_is_counts_times_prices(
    store: Store, tmp_path: Path
) -> None:
    transcript = tmp_path / "p1.jsonl"
    polecat(store, "polecat-1", transcript)
    first = store.add_task("First task")
    second = store.add_task("Second task")
    meter = UsageMeter(store)

    store.hook_task(first.id, "polecat-1")
    append(
        transcript,
        user("do the first task"),
        assistant("m1", input_tokens=1200, output_tokens=1, cache_write=300, text="a"),
        assistant("m1", input_tokens=1200, output_tokens=250, cache_write=300, text="b"),
        assistant("m2", input_tokens=40, output_tokens=60, cache_read=1500),
    )
    meter.tick(store.list_agents(), NOW)
    store.fail_task(first.id, "gave up")

    store.hook_task(second.id, "polecat-1")
    append(transcript, assistant("m3", input_tokens=10, output_tokens=20, cache_read=5000))
    meter.tick(store.list_agents(), NOW + 1)
    meter.tick(store.list_agents(), NOW + 2)  # nothing new: nothing counted twice

    by_task = store.usage_by("task")
    counts = by_task[first.id]
    assert (counts.input_tokens, counts.output_tokens) == (1240, 310)
    assert (counts.cache_write_tokens, counts.cache_read_tokens) == (300, 1500)
    assert counts.cost_usd == pytest.approx(sonnet_cost(1240, 310, 300, 1500))
    assert by_task[second.id].tokens == 10 + 20 + 5000
    assert by_task[second.id].cost_usd == pytest.approx(sonnet_cost(10, 20, 0, 5000))
    assert store.usage_by("role")["polecat"].tokens == 1240 + 310 + 300 + 1500 + 5030
    assert task_usage(store, store.get_task(first.id)) == by_task[first.id]


def test_a_restarted_witness_counts_nothing_twice(store: Store, tmp_path: Path) -> None:
    transcript = tmp_path / "p1.jsonl"
    polecat(store, "polecat-1", transcript)
    append(transcript, assistant("m1", input_tokens=100, output_tokens=10))
    UsageMeter(store).tick(store.list_agents(), NOW)
    append(transcript, assistant("m2", input_tokens=1, output_tokens=1))
    UsageMeter(store).tick(store.list_agents(), NOW + 1)  # a new witness: cursor from the store
    total = store.usage_total()
    assert (total.input_tokens, total.output_tokens, total.tokens) == (101, 11, 112)
    assert total.cost_usd == pytest.approx(sonnet_cost(101, 11, 0, 0))


def test_a_runtime_without_transcripts_is_unknown_never_zero(store: Store, tmp_path: Path) -> None:
    polecat(store, "polecat-1", tmp_path / "p1.jsonl")
    polecat(store, "polecat-2", None)
    task = store.add_task("Sim work")
    store.hook_task(task.id, "polecat-2")
    usage = agent_usage(store, store.list_agents())
    assert usage == {"polecat-1": Usage(), "polecat-2": None}
    assert task_usage(store, store.get_task(task.id)) is None
    assert total_of(usage.values()) == Usage()
    assert total_of([None]) is None


def test_usage_is_attributed_to_the_day_it_was_spent(store: Store, tmp_path: Path) -> None:
    transcript = tmp_path / "p1.jsonl"
    polecat(store, "polecat-1", transcript)
    append(
        transcript,
        assistant("m1", input_tokens=5, at=NOW),
        assistant("m2", input_tokens=7, at=NOW + 86400),
    )
    UsageMeter(store).tick(store.list_agents(), NOW + 86400)
    by_day = store.usage_by("day")
    assert sorted(u.input_tokens for u in by_day.values()) == [5, 7]


# -- where people see it -----------------------------------------------------------------


def test_task_show_and_budget_give_the_numbers(
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from swarm.cli.main import main

    transcript = tmp_path / "p1.jsonl"
    polecat(store, "polecat-1", transcript)
    polecat(store, "polecat-2", None)
    task = store.add_task("Count the tokens")
    sim_task = store.add_task("Simulated work")
    store.hook_task(task.id, "polecat-1")
    store.hook_task(sim_task.id, "polecat-2")
    append(transcript, assistant("m1", input_tokens=2000, output_tokens=300, cache_read=4000))
    UsageMeter(store).tick(store.list_agents(), NOW)
    path = store.path
    assert path is not None  # the fixture's store is a SQLite file
    monkeypatch.setattr("swarm.cli.tasks._store", lambda _args: Store.open(path))
    monkeypatch.setattr("swarm.cli.usage._locate", lambda _args: (path, tmp_path))
    monkeypatch.setattr("swarm.cli.usage._budget_limits", lambda _args: None)

    assert main(["task", "show", task.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["usage"]["input_tokens"] == 2000 and shown["usage"]["output_tokens"] == 300
    assert shown["usage"]["cache_read_tokens"] == 4000 and shown["usage"]["tokens"] == 6300
    assert shown["cost_usd"] == pytest.approx(sonnet_cost(2000, 300, 0, 4000), abs=1e-6)
    assert main(["task", "show", sim_task.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["usage"] is None
    assert main(["task", "show", sim_task.id]) == 0
    assert "cost:      unknown" in capsys.readouterr().out
    assert main(["task", "list", "--json"]) == 0
    listed = {t["id"]: t["usage"] for t in json.loads(capsys.readouterr().out)}
    assert listed[task.id]["tokens"] == 6300 and listed[sim_task.id] is None

    assert main(["budget", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["by_task"][0]["task"] == task.id
    assert report["by_role"][0] == {**report["by_role"][0], "role": "polecat", "tokens": 6300}
    assert main(["budget"]) == 0
    out = capsys.readouterr().out
    assert "by task" in out and task.id in out and "dispatch: running" in out


def test_the_sidebar_shows_a_cost_column_only_when_a_runtime_reports_usage() -> None:
    from swarm.ui.data import AgentRow
    from swarm.ui.widgets.agents import agent_cells, columns_for, detail_lines

    assert "cost" not in dict(columns_for(80))
    columns = columns_for(80, cost=True)
    row = AgentRow(
        "polecat-1", "polecat", "claude", "working", NOW, None, "", "", None, None, 0, "%1", 1.5
    )
    cells = agent_cells(row, columns, NOW)
    assert cells[[k for k, _ in columns].index("cost")].plain.strip() == "$1.50"
    assert "$1.50" in detail_lines(row, 60, NOW).plain


def test_usage_goes_to_the_task_held_when_it_was_spent_not_when_read(tmp_path: Path) -> None:
    from transcript_lines import Clock

    clock = Clock(NOW)
    with Store.open(tmp_path / "s" / "swarm.db", clock=clock) as store:
        transcript = tmp_path / "p1.jsonl"
        polecat(store, "polecat-1", transcript)
        meter = UsageMeter(store)
        first = store.add_task("First")
        store.hook_task(first.id, "polecat-1")
        clock.now = NOW + 50
        store.finish_task("polecat-1", "a" * 40, "b" * 40)  # `swarm done` at +50
        clock.now = NOW + 60
        second = store.add_task("Second")
        store.hook_task(second.id, "polecat-1")  # the next task at +60
        append(
            transcript,
            assistant("m1", input_tokens=100, at=NOW + 40),  # worked on the first
            assistant("m2", input_tokens=10, at=NOW + 55),  # its closing words, after done
            assistant("m3", input_tokens=1, at=NOW + 70),  # the second task
        )
        meter.tick(store.list_agents(), NOW + 80)  # read after all of it happened
        by_task = store.usage_by("task")
        assert by_task[first.id].input_tokens == 110
        assert by_task[second.id].input_tokens == 1

        clock.now = NOW + 100
        store.fail_task(second.id, "stop")
        append(transcript, assistant("m4", input_tokens=7, at=NOW + 1000))  # long after
        meter.tick(store.list_agents(), NOW + 1001)
        assert store.usage_by("task")[""].input_tokens == 7


def test_the_start_up_turn_read_after_a_task_was_hooked_is_not_the_task_s(
    tmp_path: Path,
) -> None:
    """An agent is handed its first task the moment its start-up turn ends; the witness may
    read that turn's usage only after the hand-over. It was spent before: no task's."""
    from transcript_lines import Clock

    clock = Clock(NOW)
    with Store.open(tmp_path / "s" / "swarm.db", clock=clock) as store:
        transcript = tmp_path / "p1.jsonl"
        polecat(store, "polecat-1", transcript)
        meter = UsageMeter(store)
        clock.now = NOW + 10
        task = store.add_task("First")
        store.hook_task(task.id, "polecat-1")  # hooked at +10
        append(
            transcript,
            assistant("m0", input_tokens=10, at=NOW + 5),  # the start-up turn, before
            assistant("m1", input_tokens=100, at=NOW + 20),  # the task's
        )
        meter.tick(store.list_agents(), NOW + 25)
        by_task = store.usage_by("task")
        assert by_task[task.id].input_tokens == 100
        assert by_task[""].input_tokens == 10


FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"


def test_a_real_claude_code_transcript_sums_to_what_the_server_sent() -> None:
    """Recorded from Claude Code 2.1.332 against the scripted server: two responses reporting
    (1111 in, 222 out, 33 cache write, 4444 cache read) and (500, 60, 0, 7000); the first is
    written as two entries (a text block and a tool call) repeating the same usage."""
    result = read_new(Cursor("a", str(FIXTURES / "claude-2.1.332.jsonl")))
    assert result is not None
    assert total_of([s.usage for s in result.spent]) == Usage(1611, 282, 33, 11444)
    assert {s.model for s in result.spent} == {"claude-opus-5-5"}
    assert result.errors == []
    assert last_assistant_text(str(FIXTURES / "claude-2.1.332.jsonl")) == "All done: said hi."


def test_usage_pauses_and_history_index_on_both_stores(store_url: str, tmp_path: Path) -> None:
    """The usage tables work the same on SQLite and on a team's PostgreSQL."""
    from swarm.store.usage import HistoryEntry

    with Store.open(store_url) as shared:
        transcript = tmp_path / "p1.jsonl"
        polecat(shared, "polecat-1", transcript)
        task = shared.add_task("Shared work")
        shared.hook_task(task.id, "polecat-1")
        append(transcript, assistant("m1", input_tokens=10, output_tokens=20, cache_read=30))
        meter = UsageMeter(shared)
        meter.tick(shared.list_agents(), NOW)
        append(transcript, assistant("m2", input_tokens=1))
        meter.tick(shared.list_agents(), NOW + 1)
        assert shared.usage_by("task")[task.id].tokens == 61
        assert UsageMeter(shared).cursors[str(transcript)].offset == transcript.stat().st_size
        shared.set_pause(
            "budget", "spent", NOW + 60, ["polecat-1"], kind="budget.paused", message="x"
        )
        shared.mark_pause_notified("budget")
        pause = shared.pauses()["budget"]
        assert (
            pause.active(NOW) and pause.notified_at is not None and pause.agents == ("polecat-1",)
        )
        shared.end_pause("budget", kind="budget.resumed", message="y")
        assert not shared.pauses()["budget"].active(NOW)
        shared.index_history(
            HistoryEntry(task.id, "Shared work", "merged", NOW, "/h.md", 61, 0.1), 7
        )
        assert [h.task for h in shared.history(since=NOW - 1)] == [task.id]
        assert shared.history_event() == 7


def test_the_witness_saves_usage_every_few_seconds_and_never_twice(
    store: Store, tmp_path: Path
) -> None:
    transcript = tmp_path / "p1.jsonl"
    polecat(store, "polecat-1", transcript)
    meter = UsageMeter(store, save_every=2.0)
    append(transcript, assistant("m1", input_tokens=100))
    meter.tick(store.list_agents(), NOW)  # the first read is saved at once
    append(transcript, assistant("m2", input_tokens=10))
    meter.tick(store.list_agents(), NOW + 0.5)
    assert store.usage_total().input_tokens == 100  # read, not written yet
    meter.tick(store.list_agents(), NOW + 2.5)
    assert store.usage_total().input_tokens == 110  # saved with its cursor
    append(transcript, assistant("m3", input_tokens=1))
    meter.tick(store.list_agents(), NOW + 3)  # read, then the witness is killed: not saved
    del meter
    UsageMeter(store).tick(store.list_agents(), NOW + 4)  # the next witness
    assert store.usage_total().input_tokens == 111  # m3 read again from the saved cursor, once
