"""Landing: the target moves to a candidate that passed, and the store records it, as one step.

The order is what makes it safe to kill the refinery at any moment:

1. every request of the stack must still point at the head that was gated (else: `stale`);
2. the landing journal is written (what is about to happen);
3. in one store transaction (so `swarm mq reject` from another terminal waits for it): every
   request is still where the refinery left it (else: `changed`), the target is
   fast-forwarded (else: `moved` or `refused`), and each request is marked merged;
4. the journal is removed.

A kill between 3's fast-forward and its commit leaves the journal: `finish_journal` sees the
target holds the new commit and marks the requests merged then, exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from swarm.errors import SwarmError
from swarm.refinery import target as target_git
from swarm.refinery.journal import Landing, LandingJournal
from swarm.store import Store
from swarm.store.models import LIVE_MERGE_STATUSES, MergeRequest, MergeStatus

Publish = Callable[[str, str, str], tuple[bool, str]]  # (branch, old, new) -> (done, why not)
Outcome = Literal["landed", "stale", "changed", "moved", "refused"]


@dataclass(frozen=True)
class LandResult:
    outcome: Outcome
    reason: str = ""  # for everything but `landed`: why not, in a person's words


class _Abort(Exception):
    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome: Outcome = outcome
        self.reason = reason


def land(
    store: Store,
    journal: LandingJournal,
    repo: Path,
    target: str,
    tip: str,
    stack: Sequence[MergeRequest],
    new: str,
    shas: Sequence[str],
    *,
    expected: MergeStatus,
    result_text: str,
    publish: Publish | None = None,
) -> LandResult:
    """Fast-forward `target` from `tip` to `new` and mark `stack` merged (`shas`: the commit
    after each request's own changes). `expected`: the status the requests must still have.
    `publish`: a team's refinery pushes the fast-forward to the remote, which may refuse."""
    moved = [
        mr.task_id
        for mr in stack
        if (head := target_git.branch_tip(repo, mr.branch)) is not None and head != mr.head_sha
    ]
    if moved:
        return LandResult("stale", f"{', '.join(moved)} moved during the gate")
    pairs = tuple((mr.id, sha) for mr, sha in zip(stack, shas, strict=True))
    journal.write(Landing(target, tip, new, pairs))
    try:
        with store.transaction():
            for mr in stack:
                status = store.get_merge_request(mr.id).status
                if status != expected:
                    raise _Abort("changed", f"{mr.task_id} became {status} during the gate")
            advance = target_git.fast_forward(repo, target, tip, new)
            if not advance.ok:
                raise _Abort("moved" if advance.moved else "refused", advance.reason)
            if publish is not None:
                pushed, why = publish(target, tip, new)
                if not pushed:
                    raise _Abort("moved", why)
            for mr_id, sha in pairs:
                store.set_merge_status(mr_id, expected, result_text)
                store.mark_request_merged(mr_id, sha)
            store.add_event(
                "merge.landed",
                f"{target} {tip[:12]} -> {new[:12]}: {len(stack)} request(s)",
                data={"old": tip, "new": new, "mrs": [mr.id for mr in stack]},
            )
    except _Abort as abort:
        journal.clear()
        return LandResult(abort.outcome, abort.reason)
    except BaseException:
        finish_journal(store, journal, repo)  # the fast-forward may have happened
        raise
    journal.clear()
    return LandResult("landed")


def finish_journal(store: Store, journal: LandingJournal, repo: Path) -> list[str]:
    """Finish (or drop) a landing a killed refinery left in flight; what was done."""
    landing = journal.read()
    if landing is None:
        journal.clear()  # nothing, or a file too damaged to trust
        return []
    found: list[str] = []
    current = target_git.branch_tip(repo, landing.target)
    if current is not None and target_git.is_ancestor(repo, landing.new, current):
        for mr_id, sha in landing.requests:
            try:
                mr = store.get_merge_request(mr_id)
                if mr.status in LIVE_MERGE_STATUSES:
                    store.mark_request_merged(mr_id, sha)
                    found.append(f"{mr.task_id} (#{mr_id}) was landed: marked merged")
            except SwarmError as exc:
                found.append(f"#{mr_id}: {exc.message}")
    journal.clear()
    return found
