"""Pictures of the sidebar with what a person must see first (issue 12): an escalation in the
"needs you" section, and a bounced request showing why it bounced, at 30 and 60 columns.

The bounced request's line is what `merge_reason` makes of the notes the refinery really
writes (`bounce.gate_notes`), so the picture shows the real reason, not a made-up string.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from swarm.inbox import InboxItem
from swarm.refinery import BOUNCE_MARK, merge_reason
from swarm.ui.app import SidebarApp
from swarm.ui.data import MergeRow, Snapshot, StaticSource
from swarm.ui.sample import NOW, sample_snapshot
from swarm.ui.widgets.needs import NeedsView

NOTES = (
    f"{BOUNCE_MARK}: gate failed: tests/test_more.py::ChunkedTests::test_even (bounce 1)\n"
    "gate failed: `pytest -q` exited 1: swarm/sw-7 @ 1a2b3c on top of main @ 4d5e6f.\n"
    "--- output (tail) ---\nFAILED tests/test_more.py::ChunkedTests::test_even\n"
    "Fix it on your branch, run the gate's commands yourself, commit, then run `swarm done`."
)
ESCALATION = InboxItem(
    "118",
    "escalation",
    "refinery: task sw-9 failed to merge after 3 bounces (last: conflict in "
    "more_itertools/__init__.py). See `swarm task show sw-9`",
    NOW - 60,
    None,
    "sw-9",
)


def needs_snapshot() -> Snapshot:
    base = sample_snapshot(3)
    bounced = MergeRow(
        45,
        "sw-7",
        "polecat-1",
        "swarm/sw-7",
        "bounced",
        merge_reason("bounced", NOTES),
        1,
        NOW - 30,
    )
    return dataclasses.replace(
        base, merges_done=(bounced, *base.merges_done), escalations=(ESCALATION,)
    )


async def _loaded(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, SidebarApp)
    for _ in range(300):
        if app.snapshot is not None:
            break
        await pilot.pause(0.01)
    assert app.snapshot is not None
    await pilot.pause()
    needs = app.query_one(NeedsView)
    assert needs.display and "#118" in str(needs.render())


def test_reason_is_the_failing_test_not_the_instruction() -> None:
    reason = merge_reason("bounced", NOTES)
    assert reason == "gate failed: tests/test_more.py::ChunkedTests::test_even (bounce 1)"


@pytest.mark.parametrize("width", [30, 60])
def test_sidebar_shows_escalation_and_bounce_reason(
    snap_compare: Callable[..., bool], width: int
) -> None:
    app = SidebarApp(StaticSource([needs_snapshot()]), None, title="swarm demo")
    assert snap_compare(app, terminal_size=(width, 50), run_before=_loaded)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


@pytest.mark.anyio
async def test_the_palette_holds_the_swarms_entries_only() -> None:
    app = SidebarApp(StaticSource([needs_snapshot()]), None, title="swarm demo")
    async with app.run_test(size=(60, 50)) as pilot:
        await _loaded(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
    assert titles == ["Quit", "Keys"]


def test_the_store_source_follows_escalations(tmp_path: Path) -> None:
    """The sidebar's reader: an escalation shows, is settled by its task, or marked done."""
    from swarm.inbox import mark_done
    from swarm.store import Store
    from swarm.ui.data import StoreSource

    db = tmp_path / "swarm.db"
    source = StoreSource(db, full_every=0.0)
    with Store.open(db) as store:
        task = store.add_task("hard")
        store.fail_task(task.id, "gave up")
        store.add_event("escalation", f"refinery: task {task.id} failed", task=task.id)
        first = source.poll(force=True)
        assert first is not None and [e.task for e in first.escalations] == [task.id]
        store.add_event("escalation", "polecat-2 died 3 times", agent="polecat-2")
        store.retry_task(task.id)
        second = source.poll(force=True)
        assert second is not None and [e.agent for e in second.escalations] == ["polecat-2"]
        mark_done(store, second.escalations[0].key)
        third = source.poll(force=True)
        assert third is not None and third.escalations == ()
    source.close()


def test_one_merge_is_not_four_event_lines() -> None:
    from swarm.ui.data import EventRow
    from swarm.ui.widgets.events import worth_a_line

    steps = [
        ("merge.queued", "merge request #3 queued: swarm/sw-1 @ 1a2b3c4d5e6f"),
        ("merge.status", "merge request #3: queued -> testing (testing in a batch of 1)"),
        ("merge.testing", "batch of 1 on main @ 1a2b3c4d5e: sw-1"),
        ("merge.gate", "gate on 1 candidate(s): 1 passed"),
        ("merge.status", "merge request #3: still testing (gate passed (2.0s))"),
        ("merge.merged", "merge request #3 merged as 9f8e7d6c5b4a"),
        ("merge.landed", "main 1a2b3c4d5e6f -> 9f8e7d6c5b4a: 1 request(s)"),
        ("merge.gate", "gate on 2 candidate(s): 1 passed"),
        ("merge.status", "merge request #4: testing -> bounced (gate failed: t.py::test_x)"),
    ]
    shown = [
        kind
        for n, (kind, message) in enumerate(steps)
        if worth_a_line(EventRow(n, 0.0, kind, None, message))
    ]
    assert shown == ["merge.queued", "merge.merged", "merge.gate", "merge.status"]
