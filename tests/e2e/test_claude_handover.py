"""The hand-over protocol and the witness with the real Claude Code CLI, the whole swarm up.

Each test runs the controller, the witness and the refinery with one Claude Code polecat
against a scripted model on 127.0.0.1, on every tested Claude Code version (conftest.py),
and scripts what real agents do: ask for permission (a menu of three or four options), end
a turn with a question, get a task while their start-up turn still runs, get killed
mid-task, and receive texts a runtime would take as commands.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import ClaudeSwarm
from fake_anthropic import Rule, Text, content_text, run, say
from steps import events, finish, full_swarm, git, times_typed, typed_task, wait_merged

from swarm.runtimes.registry import get_runtime

pytestmark = [pytest.mark.slow, pytest.mark.claude]

FULL_SWARM = full_swarm()


@pytest.mark.parametrize("answer", ["approve", "refuse"])
def test_permission_prompt_waits_until_answered_then_merges(
    claude_swarm: Callable[..., ClaudeSwarm], answer: str
) -> None:
    swarm = claude_swarm(**FULL_SWARM)
    swarm.wait_ready("polecat-1")
    task_id = swarm.cli("task", "add", "Record the build year").stdout.strip()
    # `python3 -c` is in no allow list: Claude Code asks before running it.
    swarm.script.add(
        run(typed_task(task_id), "python3 -c 'print(2026)' > year.txt && echo wrote-year"),
        run("wrote-year", "git add year.txt && git commit -q -m 'Record the year' && swarm done"),
        # refused: Claude Code stops the turn; the person says what to do instead
        run(
            "use echo instead",
            "echo 2026 > year.txt && git add year.txt && git commit -q -m 'Record the year'"
            " && swarm done",
        ),
        say(f"{task_id} done", "Finished."),
    )

    swarm.wait(
        "the permission menu",
        lambda: "Do you want to proceed?" in swarm.screen("polecat-1"),
        timeout=60,
    )
    # Shown at once by the PermissionRequest report (well under a second on an idle
    # machine); the generous timeout only covers a loaded one.
    swarm.wait("the waiting state", lambda: swarm.agent("polecat-1").state == "waiting", 20)
    # The witness ticks many times meanwhile: nothing but an answer moves it on.
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        agent = swarm.agent("polecat-1")
        assert agent.state == "waiting", f"left waiting unanswered: {agent.detail}"
        time.sleep(0.2)
    with swarm.store() as store:
        told = [e for e in store.events() if e.kind == "witness.notify"]
    assert told, "the person was not told"

    assert f"prompt {answer}d" in swarm.cli(answer, "polecat-1").stdout
    if answer == "refuse":
        swarm.wait(
            "the refusal to be shown as waiting for the person",
            lambda: "permission refused" in swarm.agent("polecat-1").detail,
            timeout=10,
        )
        swarm.cli("nudge", "polecat-1", "Do not run python; use echo instead.")
    wait_merged(swarm, task_id)
    assert times_typed(swarm, task_id) == 1
    assert git(swarm, "show", "main:year.txt") == "2026"


def test_a_question_at_the_end_of_a_turn_waits_for_the_person(
    claude_swarm: Callable[..., ClaudeSwarm],
) -> None:
    swarm = claude_swarm(**FULL_SWARM)
    swarm.wait_ready("polecat-1")
    task_id = swarm.cli("task", "add", "Pick the database").stdout.strip()
    question = "Which database should I use, Postgres or SQLite?"
    swarm.script.add(
        say(typed_task(task_id), question),
        *finish(task_id, "db.txt", "Use SQLite"),
    )

    def asked() -> str | None:
        agent = swarm.agent("polecat-1")
        return agent.detail if agent.state == "waiting" else None

    detail = swarm.wait("the question to be shown as waiting", asked, timeout=60)
    assert question in detail
    swarm.wait(
        "the person to be told",
        lambda: any(e.kind == "witness.notify" and question in e.message for e in events(swarm)),
        timeout=10,
    )
    time.sleep(3)  # the controller ticks many times: nothing is typed again
    assert times_typed(swarm, task_id) == 1
    assert swarm.agent("polecat-1").state == "waiting"

    assert "delivered" in swarm.cli("nudge", "polecat-1", "Use SQLite, please.").stdout
    wait_merged(swarm, task_id)
    assert times_typed(swarm, task_id) == 1


def test_a_task_added_during_the_start_up_turn_is_typed_once(
    claude_swarm: Callable[..., ClaudeSwarm], fake_api: Any
) -> None:
    # The model is slow to answer the start-up turn: the task arrives while it runs.
    fake_api.script.add(
        Rule("You are polecat-1, a polecat", (Text("Ready for work."),), times=1, delay=6.0)
    )
    swarm = claude_swarm(**FULL_SWARM)
    task_id = swarm.cli("task", "add", "Write the notes").stdout.strip()
    swarm.script.add(*finish(task_id, "notes.txt", typed_task(task_id)))
    wait_merged(swarm, task_id, timeout=90)
    assert times_typed(swarm, task_id) == 1
    with swarm.store() as store:
        started = [e for e in store.events() if e.kind == "task.started" and e.task == task_id]
    assert len(started) == 1


def test_a_killed_agent_resumes_its_own_conversation(
    claude_swarm: Callable[..., ClaudeSwarm], fake_api: Any
) -> None:
    swarm = claude_swarm(**FULL_SWARM)
    swarm.wait_ready("polecat-1")
    task_id = swarm.cli("task", "add", "Write the changelog").stdout.strip()
    swarm.script.add(
        run(typed_task(task_id), "echo thinking it over && sleep 120"),
        # After the restart the resumed session is told to continue: no new session.
        *finish(task_id, "CHANGELOG.md", "you were restarted"),
    )
    swarm.wait("the task to start", lambda: "sleep 120" in swarm.screen("polecat-1"), 60)
    session = swarm.agent("polecat-1").session_id
    assert session
    # Killed once its conversation is on disk (Claude Code writes its transcript a little
    # after the screen shows the tool running; a kill before that loses the last lines).
    transcript = Path(swarm.agent("polecat-1").transcript_path or "")
    swarm.wait(
        "the task in the transcript",
        lambda: transcript.is_file() and typed_task(task_id) in transcript.read_text(),
        30,
    )
    pid = swarm.pane("polecat-1").pid
    assert pid is not None
    before = len(fake_api.requests_dump or [])
    os.kill(pid, signal.SIGKILL)
    wait_merged(swarm, task_id, timeout=90)

    agent = swarm.agent("polecat-1")
    assert agent.restarts >= 1 and agent.session_id == session
    later = (fake_api.requests_dump or [])[before:]
    resumed = [r for r in later if r.get("tools") and mentions(r, "you were restarted")]
    assert resumed, "no request carried the resume message"
    history = " ".join(content_text(m.get("content")) for m in resumed[0]["messages"])
    assert typed_task(task_id) in history, "the resumed conversation lost the earlier messages"
    assert times_typed(swarm, task_id) == 1
    assert git(swarm, "log", "--format=%s", "main").count("Add CHANGELOG.md") == 1


def mentions(request: dict[str, Any], text: str) -> bool:
    return any(text in content_text(m.get("content")) for m in request.get("messages") or [])


HOSTILE = {
    "quotes": "it's \"quoted\" and 'single'",
    "substitution": "$(touch /tmp/swarm-e2e-pwned) and `touch /tmp/swarm-e2e-pwned`",
    "tmux-format": "#{pane_id} #(touch /tmp/swarm-e2e-pwned) ;",
    "slash": "/status and more",
    "bang": "!touch /tmp/swarm-e2e-pwned",
    "hash": "# a heading",
    "backslash": "ends with a backslash \\",
    "escape-bytes": "red \x1b[31mtext\x1b[0m and a tab\there",
    "long": "long " + "x" * 100_000,
}


def test_hostile_nudges_arrive_as_text_or_are_reported(
    claude_swarm: Callable[..., ClaudeSwarm],
) -> None:
    marker = "/tmp/swarm-e2e-pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    runtime = get_runtime("claude")
    swarm = claude_swarm(**FULL_SWARM)
    swarm.wait_ready("polecat-1")
    outcomes: dict[str, str] = {}
    for name, text in HOSTILE.items():
        before = len(swarm.script.log)
        proc = swarm.cli("nudge", "polecat-1", text, check=False)
        if proc.returncode != 0:
            assert "not delivered" in proc.stderr, f"{name}: {proc.stderr}"
            outcomes[name] = "reported"
        else:
            expected = runtime.received(runtime.as_text(text))

            def main_texts(b: int = before) -> list[str]:
                return [e.last_text for e in swarm.script.log[b:] if e.main_turn]

            got = swarm.wait(f"the {name} text at the model", main_texts, timeout=30)
            assert expected in runtime.prompt_of(got[0]), f"{name}: {got[0][:300]!r}"
            outcomes[name] = "arrived"
        swarm.wait("polecat-1 ready again", lambda: swarm.agent("polecat-1").state == "idle", 30)
    assert not os.path.exists(marker), "a nudge was executed"
    # Every one of them arrives as text: none needs to be reported on these versions.
    assert set(outcomes.values()) == {"arrived"}, outcomes
