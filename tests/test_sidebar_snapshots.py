"""Pictures of the sidebar (pytest-textual-snapshot): 0, 3 and 30 agents at 30 and 60 columns.

The data is fixed (`swarm.ui.sample`, its own clock), so the images change only when the
sidebar's look does; review a change with `pytest --snapshot-update` and the SVGs in
`tests/__snapshots__/`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from swarm.ui.app import SidebarApp
from swarm.ui.data import StaticSource
from swarm.ui.sample import sample_snapshot

HEIGHT = 50


async def _loaded(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, SidebarApp)
    for _ in range(300):
        if app.snapshot is not None:
            break
        await pilot.pause(0.01)
    assert app.snapshot is not None
    await pilot.pause()


@pytest.mark.parametrize("width", [30, 60])
@pytest.mark.parametrize("agents", [0, 3, 30])
def test_sidebar_looks(snap_compare: Callable[..., bool], agents: int, width: int) -> None:
    app = SidebarApp(StaticSource([sample_snapshot(agents)]), None, title="swarm demo")
    assert snap_compare(app, terminal_size=(width, HEIGHT), run_before=_loaded)


def test_sidebar_help_at_30_columns(snap_compare: Callable[..., Any]) -> None:
    app = SidebarApp(StaticSource([sample_snapshot(3)]), None, title="swarm demo")
    assert snap_compare(app, press=["question_mark"], terminal_size=(30, 40), run_before=_loaded)
