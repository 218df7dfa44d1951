"""Fixed, made-up swarms for the sidebar's snapshot images, tests and benchmark.

Everything is derived from the arguments (no clock, no randomness), so an image taken
today matches one taken next year.
"""

from __future__ import annotations

from swarm.store import Store
from swarm.ui.data import (
    AgentRow,
    EventRow,
    MergeRow,
    Snapshot,
    TaskRow,
    order_agents,
)

NOW = 1_800_000_000.0  # the fixed "now" of every sample
MB = 1024 * 1024

# A cycle of polecat states and details, so any count of agents shows a mix.
_POLECAT_STATES = (
    ("waiting", "permission: git push origin sw-task"),
    ("working", "tool Bash"),
    ("idle", "turn ended"),
    ("working", "turn started"),
    ("stalled", "no output for 6m"),
    ("dead", "pane died (status 137)"),
    ("starting", "pane started by swarm up"),
    ("working", "tool Edit"),
    ("idle", "escalated: died 3 times in 10m"),
    ("done", "nothing left to do"),
)
_TITLES = (
    "fix the login redirect loop",
    "add retries to the upload client",
    "document the merge queue",
    "make the CLI exit codes consistent",
    "speed up the test suite",
    "remove the legacy config loader",
)


def task_id(n: int) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    digits = ""
    value = 7_000_000 + n * 7919
    for _ in range(5):
        value, rest = divmod(value, 36)
        digits = alphabet[rest] + digits
    return f"sw-{digits}"


SAMPLE_RANK = {"mayor": 0, "polecat": 1, "witness": 2, "refinery": 3}  # the team layout's order


def sample_agents(count: int) -> tuple[AgentRow, ...]:
    """`count` agents: mayor, polecats, witness, refinery (in that order of creation)."""
    if count <= 0:
        return ()
    names: list[tuple[str, str]] = [("mayor", "mayor")]
    if count >= 3:
        names.append(("witness", "witness"))
    if count >= 4:
        names.append(("refinery", "refinery"))
    polecats = count - len(names)
    names[1:1] = [(f"polecat-{i}", "polecat") for i in range(1, polecats + 1)]
    rows = []
    for index, (name, role) in enumerate(names):
        state, detail = ("working", "turn started") if role == "mayor" else ("idle", "")
        task = None
        title = ""
        if role == "polecat":
            number = int(name.split("-")[1])
            state, detail = _POLECAT_STATES[(number - 1) % len(_POLECAT_STATES)]
            if state in ("working", "waiting", "stalled", "dead"):
                task = task_id(number)
                title = _TITLES[number % len(_TITLES)]
        rows.append(
            AgentRow(
                name=name,
                role=role,
                runtime="sim" if role in ("mayor", "polecat") else "builtin",
                state=state,
                since=NOW - 7 - 53 * index,
                task=task,
                task_title=title,
                detail=detail,
                cpu_percent=None if state == "dead" else float((index * 13) % 97),
                rss_bytes=None if state == "dead" else (90 + 17 * index) * MB,
                restarts=1 if state == "dead" else 0,
                pane=f"%{index + 1}",
            )
        )
    return order_agents(rows, SAMPLE_RANK)


def sample_snapshot(agents: int, session: str = "demo-swarm") -> Snapshot:
    """A mid-run swarm with `agents` agents; 0 gives the empty, just-started sidebar."""
    if agents == 0:
        return Snapshot(now=NOW, session=session, counts=tuple((s, 0) for s in _STATUSES))
    queue = tuple(
        TaskRow(
            id=task_id(100 + n),
            title=_TITLES[n % len(_TITLES)],
            priority=n % 4,
            status="hooked" if n == 0 else "open",
            assignee="polecat-2" if n == 0 else None,
            created_at=NOW - 40 - 130 * n,
        )
        for n in range(min(agents, 8))
    )
    counts = dict.fromkeys(_STATUSES, 0)
    counts.update(
        open=len(queue) - 1 + agents * 3,
        hooked=1,
        working=sum(1 for a in sample_agents(agents) if a.state == "working"),
        done=2,
        merged=agents * 4,
        failed=1 if agents > 3 else 0,
    )
    live = tuple(
        MergeRow(
            id=40 + n,
            task_id=task_id(200 + n),
            agent=f"polecat-{n + 1}",
            branch=f"swarm/{task_id(200 + n)}",
            status="testing" if n == 0 else "queued",
            result="",
            attempts=1 if n == 0 else 0,
            updated_at=NOW - 20 * (n + 1),
        )
        for n in range(min(3, agents))
    )
    done = (
        MergeRow(39, task_id(300), "polecat-3", "swarm/a", "merged", "", 1, NOW - 75),
        MergeRow(
            38,
            task_id(301),
            "polecat-1",
            "swarm/b",
            "bounced",
            "gate failed: 2 failed, 40 passed",
            1,
            NOW - 300,
        ),
        MergeRow(
            37,
            task_id(302),
            "polecat-2",
            "swarm/c",
            "bounced",
            "conflict in src/app/login.py",
            2,
            NOW - 900,
        ),
        MergeRow(36, task_id(303), "polecat-4", "swarm/d", "merged", "", 1, NOW - 1800),
    )
    events = tuple(
        EventRow(
            id=n + 1,
            ts=NOW - 600 + 15 * n,
            kind=kind,
            agent=agent,
            message=message,
        )
        for n, (kind, agent, message) in enumerate(_EVENTS)
    )
    return Snapshot(
        now=NOW,
        session=session,
        agents=sample_agents(agents),
        queue=queue,
        queue_total=counts["open"] + counts["hooked"],
        counts=tuple((s, counts[s]) for s in _STATUSES),
        merges_live=live,
        merges_done=done[: 1 + agents // 3],
        events=events,
    )


_STATUSES = ("open", "hooked", "working", "done", "merged", "failed", "cancelled")
_EVENTS = (
    ("agent.state", "polecat-1", "polecat-1: idle -> working (turn started)"),
    ("task.hooked", "polecat-2", f"{task_id(1)} hooked to polecat-2: fix the login loop"),
    ("merge.queued", "polecat-3", f"merge request #39 queued: swarm/{task_id(300)} @ 1a2b3c4d5e6f"),
    ("agent.waiting", "polecat-3", "Claude needs your permission"),
    ("merge.merged", "polecat-3", "merge request #39 merged as 9f8e7d6c5b4a"),
    ("merge.status", "polecat-1", "merge request #38: testing -> bounced (2 failed, 40 passed)"),
    ("controller.respawn", "witness", "witness pane died (status 1); respawned, next wait 4s"),
    ("task.added", None, f"{task_id(7)} added (P1): speed up the test suite"),
)


def populate_store(store: Store, agents: int, tasks: int, events: int) -> None:
    """A big swarm for the benchmark: agents in mixed states, tasks across the lifecycle,
    merge requests for the finished ones, and `events` events in all (the store's own
    included)."""
    with store.transaction():
        for row in sample_agents(agents):
            store.upsert_agent(row.name, row.role, row.runtime, row.pane, None)
            store.set_agent_state(row.name, row.state, row.detail)
            store.set_agent_resources(row.name, row.cpu_percent, row.rss_bytes)
        ids = [
            store.add_task(f"{_TITLES[n % len(_TITLES)]} #{n}", priority=n % 5).id
            for n in range(tasks)
        ]
    polecats = [a.name for a in sample_agents(agents) if a.role == "polecat" and a.state != "dead"]
    # Most of the history is finished work: done -> merged or bounced, a few failed.
    finished = ids[: tasks // 5]
    with store.transaction():
        for n, tid in enumerate(finished):
            agent = polecats[n % len(polecats)] if polecats else "polecat-1"
            if store.find_agent(agent) is None:
                store.upsert_agent(agent, "polecat", "sim")
            free = store.get_agent(agent)
            if free.hook is not None:
                continue
            store.hook_task(tid, agent)
            mr = store.finish_task(agent, f"{n:040x}", "0" * 40)
            if n % 50 == 49:
                continue  # left in the refinery's queue
            if n % 10 == 9:
                store.set_merge_status(mr.id, "bounced", "gate failed: pytest -q\n1 failed")
                store.fail_task(tid, "bounced too often")
            else:
                store.mark_request_merged(mr.id, f"{n + 1:040x}")
        # Hold one task per live polecat, like a busy swarm.
        for n, agent in enumerate(polecats):
            if store.get_agent(agent).hook is None and len(ids) > len(finished) + n:
                store.hook_task(ids[len(finished) + n], agent)
    have = len(store.events(after_id=0))
    with store.transaction():
        for n in range(max(0, events - have)):
            who = polecats[n % len(polecats)] if polecats else None
            store.add_event("bench.tick", f"{who or 'swarm'}: synthetic event {n}", agent=who)
