"""The refinery: a deterministic merge queue with a gate, batches and culprit search.

Finished branches wait in the store's merge queue. The refinery stacks a batch of them onto
the target branch in its own worktree, runs the layout's gate on the stack, and moves the
target only by one atomic fast-forward to a commit that passed. A request that conflicts or
breaks the gate goes back to its polecat (or the queue) with the conflict files or the gate's
output attached. Modules, from the bottom up:

    batch.py      pure logic: when a batch closes, and the culprit search (bisection)
    gate.py       run the gate commands in a folder, with a timeout and an output tail
    slots.py      run the gate on several candidates at once, one worktree each
    candidate.py  git work in the refinery's worktree: stack requests, name conflict files
    target.py     the target branch: fast-forward (in the person's checkout or by CAS), cleanup
    journal.py    a landing in flight, so a kill between fast-forward and store is repaired
    landing.py    fast-forward the target and mark the stack merged, as one step
    bounce.py     sending work back: same polecat, the queue, or failed and escalated
    settings.py   what the refinery is told: target, gate, batch size, wait, gate jobs
    queue.py      `Refinery`: one batch from queue to landed / bounced, and crash recovery
    loop.py       the process in the refinery pane: lock, poll the store, print what it does

This package file stays import-light: the sim runtime reads `BOUNCE_MARK` from it.
"""

from __future__ import annotations

# The first words of every note the refinery attaches to a task it sends back; an agent
# (and the sim runtime) reads it as "your last attempt was not merged: start from the target".
BOUNCE_MARK = "refinery: bounced"


def merge_reason(status: str, result: str) -> str:
    """The one line a person reads about a merge request: for a bounced one, why (the first
    line of what the polecat was told, not the instruction at its end); else the latest
    result. The sidebar and `swarm mq` show this."""
    lines = [line.strip() for line in result.splitlines() if line.strip()]
    if not lines:
        return ""
    if status in ("bounced", "rejected") and lines[0].startswith(BOUNCE_MARK):
        return lines[0].removeprefix(BOUNCE_MARK).lstrip(": ")
    return lines[-1]


__all__ = ["BOUNCE_MARK", "merge_reason"]
