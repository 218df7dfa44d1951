"""Control characters in task titles, bodies and events never reach a terminal raw.

Each place that prints store text (the CLI's lists and details, the log, the controller,
witness and refinery panes, the sim's screen, the sidebar, tmux messages) shows `ESC` as
`^[`: the text is readable and the terminal obeys nothing in it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm import paths
from swarm.cli.main import main as swarm_main
from swarm.instance import SwarmInstance
from swarm.runtimes.sim import SimAgent
from swarm.singleton import log_line
from swarm.store import Store
from swarm.textsafe import one_line, tmux_format, visible
from swarm.ui.format import clip
from swarm.witness.notify import tmux_text

# Clear the screen, set the pane title (OSC 2), ring the bell, a CSI in C1 form, a bidi
# override that reverses what follows, and a lone surrogate from an undecodable byte.
EVIL = "a\x1b[2J\x1b]2;owned\x07b\x9b31m\u202eevil\udcff"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\udcff")


def _clean(text: str) -> None:
    for char in RAW:
        assert char not in text, repr(text)


def test_visible_shows_every_control_character() -> None:
    shown = visible(EVIL)
    assert shown == "a^[[2J^[]2;owned^Gb\\x9b31m\\u202eevil\\udcff"
    assert visible("line one\n\tindented") == "line one\n\tindented"
    assert one_line("two\nlines\r") == "two^Jlines^M"
    assert visible("\x00\x7f") == "^@^?"
    assert tmux_format("#(rm -rf ~)\x1b") == "##(rm -rf ~)^["
    assert visible("plain text, é, 漢字, emoji 🐝") == "plain text, é, 漢字, emoji 🐝"


def test_every_printer_makes_them_visible(capsys: pytest.CaptureFixture[str]) -> None:
    log_line(f"handing sw-1 to polecat-1: {EVIL}")  # controller, witness, refinery panes
    _clean(capsys.readouterr().out)
    _clean(clip(EVIL, 80))  # the sidebar's cells
    _clean(tmux_text(EVIL))  # display-message
    agent = SimAgent.__new__(SimAgent)  # the sim's screen, without its terminal
    agent.draw_prompt = lambda: None  # type: ignore[method-assign]
    agent.say(f"⏺ working on sw-1: {EVIL}")
    out = capsys.readouterr().out
    _clean(out.replace("\r\x1b[K", ""))  # its own line clearing is the only escape
    assert "^[[2J" in out


@pytest.fixture
def with_evil_task(
    recorded_swarm: SwarmInstance, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    state = recorded_swarm.state_dir
    with Store.open(paths.db_path(state)) as store:
        task = store.add_task(
            EVIL.replace("\udcff", "?"), f"body {EVIL}\nline 2".replace("\udcff", "?")
        )
        store.add_event("note", f"event {EVIL}".replace("\udcff", "?"), task=task.id)
    monkeypatch.chdir(repo)
    return task.id


@pytest.mark.parametrize(
    "argv",
    [["task", "list"], ["task", "show", "{id}"], ["log"], ["task", "show", "{id}", "--json"]],
    ids=["list", "show", "log", "show-json"],
)
def test_cli_prints_no_raw_control_characters(
    with_evil_task: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert swarm_main([a.replace("{id}", with_evil_task) for a in argv]) == 0
    out = capsys.readouterr().out
    _clean(out)
    assert "^[[2J" in out or "\\u001b[2J" in out  # shown, not obeyed (JSON escapes it)


def test_error_lines_show_them_too(with_evil_task: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert swarm_main(["task", "show", "\x1b]2;owned\x07"]) == 2
    err = capsys.readouterr().err
    _clean(err)
    assert "^[]2;owned^G" in err
