"""Usage and limits with the real Claude Code CLI, the whole swarm up.

The scripted model reports known `usage` numbers, so the swarm's accounting can be checked
to the token: what each task cost is what the server said it spent, times the price table.
And it answers 429 to one agent, as an API does when an account's limit is reached: with a
`retry-after` header (Claude Code waits and tries again by itself) or with none and no retry
(the turn ends on the error); either way the agent is `limited`, no agent on that key is
given a task until the reset, the person is told once, and afterwards every task merges once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from claude_fixtures import ClaudeSwarm
from fake_anthropic import Rule, limited, run, say
from steps import (
    commit_and_finish,
    events,
    finish,
    full_swarm,
    git,
    status_of,
    times_typed,
    typed_task,
    wait_merged,
)

from swarm.usage.prices import PER, PriceTable

pytestmark = [pytest.mark.slow, pytest.mark.claude]

TWO_POLECATS = full_swarm(2)
KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def paid(rule: Rule, *numbers: int) -> Rule:
    """`rule`, its reply reporting these usage numbers (in, out, cache write, cache read)."""
    return replace(rule, usage=dict(zip(KEYS, numbers, strict=True)))


def summed(*usages: dict[str, int]) -> dict[str, int]:
    return {key: sum(u[key] for u in usages) for key in KEYS}


def task_usage(swarm: ClaudeSwarm, task_id: str) -> dict[str, Any] | None:
    shown = json.loads(swarm.cli("task", "show", task_id, "--json").stdout)
    usage: dict[str, Any] | None = shown["usage"]
    return usage


def as_counted(usage: dict[str, int]) -> dict[str, int]:
    """The server's names for the four counts -> the names `swarm task show --json` uses."""
    return {
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cache_write_tokens": usage["cache_creation_input_tokens"],
        "cache_read_tokens": usage["cache_read_input_tokens"],
    }


def test_each_task_costs_what_the_server_reported_times_the_prices(
    claude_swarm: Callable[..., ClaudeSwarm], fake_api: Any
) -> None:
    swarm = claude_swarm(**TWO_POLECATS)
    swarm.wait_ready("polecat-1", "polecat-2")
    first = swarm.cli("task", "add", "Write the first file").stdout.strip()
    second = swarm.cli("task", "add", "Write the second file").stdout.strip()
    spent = {
        first: (paid(run(typed_task(first), commit_and_finish("first.txt")), 1200, 150, 40, 3000),
                paid(say(f"{first} done", "Finished the first."), 310, 21, 0, 4200)),
        second: (paid(run(typed_task(second), commit_and_finish("second.txt")), 900, 77, 512, 0),
                 paid(say(f"{second} done", "Finished the second."), 64, 9, 3, 5100)),
    }  # fmt: skip
    swarm.script.add(*(rule for rules in spent.values() for rule in rules))
    for task_id in spent:
        wait_merged(swarm, task_id, timeout=90)

    models = {
        str(r.get("model")) for r in fake_api.requests_dump or [] if r.get("tools")
    }  # what the server answered as (it echoes the requested model)
    assert len(models) == 1, models
    price = PriceTable().price_for(models.pop())
    assert price is not None
    for task_id, rules in spent.items():
        expected = summed(*(rule.usage or {} for rule in rules))
        counts = as_counted(expected)

        seen: dict[str, object] = {}

        def counted(
            task_id: str = task_id, counts: dict[str, int] = counts, seen: dict[str, object] = seen
        ) -> bool:
            seen.update({t: task_usage(swarm, t) for t in spent})
            usage = task_usage(swarm, task_id)
            return usage is not None and {k: usage[k] for k in counts} == counts

        try:
            swarm.wait(f"{task_id}'s usage to be counted ({counts})", counted, timeout=60)
        except pytest.fail.Exception as exc:
            pytest.fail(f"{exc}\nlast seen: {seen}")
        usage = task_usage(swarm, task_id)
        assert usage is not None
        cost = (
            expected["input_tokens"] * price.input
            + expected["output_tokens"] * price.output
            + expected["cache_creation_input_tokens"] * price.write
            + expected["cache_read_input_tokens"] * price.read
        ) / PER
        assert usage["cost_usd"] == pytest.approx(cost, abs=1e-6)
        assert times_typed(swarm, task_id) == 1
    # every reply that reported these numbers was sent once, and counted once
    assert swarm.script.usage_sent() == summed(
        *(rule.usage or {} for rules in spent.values() for rule in rules)
    )
    status = json.loads(swarm.cli("status", "--json").stdout)
    polecats = [row for row in status if str(row["name"]).startswith("polecat")]
    assert polecats and all(row["cost_usd"] is not None for row in polecats)


RESET_AFTER = 20  # seconds: the server's retry-after, or the swarm's wait when none is given


@pytest.mark.parametrize("reset", ["retry-after", "none"])
def test_a_rate_limited_agent_holds_its_key_until_the_reset_then_all_merge_once(
    claude_swarm: Callable[..., ClaudeSwarm], reset: str, tmp_path: Path
) -> None:
    notes = tmp_path / "notifications.txt"
    swarm = claude_swarm(
        env={
            "SWARM_LIMIT_WAIT": str(RESET_AFTER),
            # the person's own notifier: one line per notification
            "SWARM_NOTIFY_COMMAND": f'echo "$SWARM_NOTIFY_TITLE: $SWARM_NOTIFY_MESSAGE" >> {notes}',
        },
        **TWO_POLECATS,
    )
    swarm.wait_ready("polecat-1", "polecat-2")
    first = swarm.cli("task", "add", "Write the first file").stdout.strip()
    if reset == "retry-after":
        # Claude Code waits the header's seconds and tries again by itself.
        headers = {"retry-after": str(RESET_AFTER)}
        carry_on = typed_task(first)
    else:
        # No reset given and no retry: the turn ends on the error; the swarm holds the key
        # for SWARM_LIMIT_WAIT, then tells the agent to continue.
        headers = {"x-should-retry": "false"}
        carry_on = "takes requests again"
    swarm.script.add(
        limited(typed_task(first), headers=headers),
        run(carry_on, commit_and_finish("first.txt")),
        say(f"{first} done", "Finished the first."),
    )

    def limited_agent() -> str | None:
        with swarm.store() as store:
            found = [a.name for a in store.list_agents() if a.state == "limited"]
        return found[0] if found else None

    who = swarm.wait("an agent to be limited", limited_agent, timeout=60)
    shown = json.loads(swarm.cli("status", "--json").stdout)
    assert {row["name"]: row["state"] for row in shown}[who] == "limited"

    later = [swarm.cli("task", "add", f"Write file {n}").stdout.strip() for n in (2, 3)]
    for n, task_id in enumerate(later, start=2):
        swarm.script.add(*finish(task_id, f"file{n}.txt", typed_task(task_id)))

    # Until the reset: neither polecat (one key) is handed a task.
    with swarm.store() as store:
        pause = store.pauses()["limit:claude"]
    assert pause.until is not None and who in pause.agents
    while time.time() < pause.until:
        hooked = [e for e in events(swarm) if e.kind == "task.hooked" and e.task in later]
        assert not hooked, f"handed out while limited: {hooked[0].message}\n{swarm.report()}"
        time.sleep(0.5)

    for task_id in (first, *later):
        wait_merged(swarm, task_id, timeout=120)
        assert times_typed(swarm, task_id) == 1
    log = git(swarm, "log", "--first-parent", "--format=%s", "main")
    for file in ("first.txt", "file2.txt", "file3.txt"):
        assert log.count(f"Add {file}") == 1, log
    hooked = [e for e in events(swarm) if e.kind == "task.hooked" and e.task in later]
    assert all(e.ts >= pause.until for e in hooked), [e.message for e in hooked]
    swarm.wait(
        "the end of the limit", lambda: any(e.kind == "usage.resumed" for e in events(swarm))
    )
    limits = [e for e in events(swarm) if e.kind == "usage.limited"]
    told = notes.read_text().splitlines() if notes.exists() else []
    assert len(limits) == 1, swarm.report()
    assert len([line for line in told if line.startswith("swarm: usage limit")]) == 1, told
    assert status_of(swarm, first) == "merged"
