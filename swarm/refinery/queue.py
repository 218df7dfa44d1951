"""`Refinery`: one batch of merge requests, from the queue to the target or back to a polecat.

One call of `step()` does at most one batch, start to end, and leaves the store consistent:

1. refresh: a request whose branch moved since it was queued is tested with its new head;
2. build: stack the batch in queue order onto the target's tip in the refinery's worktree;
   a request that conflicts is bounced at once, with the files named, and the rest go on;
3. gate: run the layout's gate on the stack (and, with several gate jobs, on prefixes of it
   at the same time); on a failure, search for the culprits (`batch.find_culprits`);
4. land: fast-forward the target to the largest stack that passed, mark each of its
   requests merged with the commit after its own changes (exactly once), delete their
   branches; bounce the culprits with the gate's output tail.

The target is never red by the refinery's doing: it only moves to a commit the gate passed,
in one atomic fast-forward. A refinery killed anywhere leaves `testing` requests, maybe a
half-done cherry-pick and maybe a landing journal; `recover()` cleans all three.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from swarm import paths
from swarm.errors import SwarmError
from swarm.git.repo import GitError
from swarm.refinery import target as target_git
from swarm.refinery.batch import (
    failure_rate,
    find_culprits,
    ready_batch,
    seconds_until_ready,
    stack_window,
    train_length,
)
from swarm.refinery.bounce import bounce
from swarm.refinery.candidate import Applied, CandidateWorktree, Conflict, commit_flags
from swarm.refinery.gate import GateResult, kill_leftover_gates
from swarm.refinery.journal import Journal, LandingJournal, StoreJournal
from swarm.refinery.landing import finish_journal, land
from swarm.refinery.settings import WORKTREE_NAME, Settings
from swarm.refinery.slots import GateSlots
from swarm.store import Store
from swarm.store.models import MergeRequest

Log = Callable[[str], None]
Escalator = Callable[[str, str], None]  # (task id, what happened)
Clock = Callable[[], float]

BLOCKED_RETRY = 5.0  # seconds before trying again a fast-forward git refused (doubling)
BLOCKED_RETRY_MAX = 60.0
KILLED_GATE_RETRY = 15.0  # seconds before re-testing after a gate was killed by a signal
RED_TARGET_RETRY = 60.0  # seconds before re-testing a target that fails the gate by itself
ERROR_RETRY = (5.0, 60.0)  # first and longest pause after an unexpected error


def _quiet(_message: str) -> None:
    pass


@dataclass
class Stats:
    batches: int = 0
    rounds: int = 0
    gate_runs: int = 0
    merged: int = 0
    bounced: int = 0
    culprits: int = 0  # requests the gate convicted (conflicts not included)


@dataclass
class _Hold:
    """Do not start a batch before `until`; when `tip` is set, a target that moves ends it."""

    until: float
    tip: str | None
    why: str


@dataclass
class _Prepared:
    """A stack that passed the gate but could not land yet (git refused the fast-forward)."""

    tip: str
    key: tuple[tuple[int, str], ...]  # (request id, head) in order
    new: str
    shas: tuple[str, ...]  # per request: the candidate after its own commits
    result: GateResult


@dataclass
class _Batch:
    """Per-batch memory: candidates built and verdicts by stack."""

    tip: str
    shas: dict[tuple[int, ...], str] = field(default_factory=dict)
    results: dict[tuple[int, ...], GateResult] = field(default_factory=dict)
    conflicts: dict[tuple[int, ...], Conflict] = field(default_factory=dict)
    by_tree: dict[str, GateResult] = field(default_factory=dict)


class Refinery:
    """The merge queue's engine; `loop.py` drives it, tests call `step()` directly."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        log: Log = _quiet,
        clock: Clock = time.time,
        escalate: Escalator | None = None,
        agent: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.log = log
        self.clock = clock
        self.escalate = escalate
        self.agent = agent
        self.stats = Stats()
        self.journal: LandingJournal = (
            StoreJournal(store) if settings.remote else Journal(settings.journal_path)
        )
        flags = commit_flags(settings.repo)
        self.builder = CandidateWorktree(settings.repo, settings.worktree, flags)
        self.slots = GateSlots(
            self.builder,
            settings.slot,
            gate=settings.gate,
            marker=settings.marker,
            timeout=settings.gate_timeout,
        )
        self._green: set[str] = set()  # trees that passed the gate
        self._hold: _Hold | None = None
        self._prepared: _Prepared | None = None
        self._blocked: tuple[str, int] | None = None  # why git refused, and how often since
        self._errors = 0
        self._state: tuple[str, str] | None = None

    # -- the public steps -------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Clean up after a refinery that was killed: run once before the first step."""
        found: list[str] = []
        self._sync()
        killed = kill_leftover_gates(self.settings.marker)
        if killed:
            found.append(f"ended {len(killed)} gate process(es) left running")
        for path in self._existing_slots():
            aborted = CandidateWorktree(self.settings.repo, path).abort_in_progress()
            if aborted:
                found.append(f"aborted a half-done {', '.join(aborted)} in {path.name}")
        self._reset_builder(self._tip())
        found += finish_journal(self.store, self.journal, self.settings.repo)
        for mr in self.store.list_merge_requests(["testing"]):
            self.store.set_merge_status(mr.id, "queued", "interrupted: the refinery restarted")
            found.append(f"{mr.task_id} (#{mr.id}) back to queued")
        if found:
            message = "recovered: " + "; ".join(found)
            self.store.add_event("merge.recovered", message, data={"found": found})
            self.log(message)
        self._set_state("idle", "waiting for merge requests")
        return found

    def step(self) -> float | None:
        """Process at most one ready batch. Returns the seconds until a batch could be ready
        by time alone (0: call again now; None: only when the store changes)."""
        now = self.clock()
        hold = self._hold
        if hold is not None:
            if now < hold.until and (hold.tip is None or self._tip() == hold.tip):
                return hold.until - now
            self._hold = None
        merge = self.settings.merge
        queued = self.store.list_merge_requests(["queued"])
        batch = ready_batch(queued, now, merge.batch_size, merge.batch_wait)
        if not batch:
            return seconds_until_ready(queued, now, merge.batch_size, merge.batch_wait)
        batch = list(queued[: train_length(len(queued), len(batch), self.window())])
        self._sync()
        try:
            self._process(batch)
            self._errors = 0
        except (SwarmError, OSError) as exc:
            self._on_error(batch, exc)
        finally:
            self._set_state("idle", "waiting for merge requests")
        return 0.0

    def window(self) -> int:
        """Requests one gate run takes on, from the failure rate seen so far (`batch`)."""
        rate = failure_rate(self.stats.merged, self.stats.culprits)
        return stack_window(rate, self.settings.merge.batch_size)

    def drain(self, max_batches: int = 1000) -> None:
        """Process batches until none is ready now (tests and benchmarks)."""
        for _ in range(max_batches):
            wait = self.step()
            if wait is None or wait > 0:
                return

    # -- one batch --------------------------------------------------------------------------

    def _process(self, batch: list[MergeRequest]) -> None:
        tip = self._tip()
        batch = [self._refresh(mr) for mr in batch]
        prepared = self._matching_prepared(tip, batch)
        if prepared is not None:
            # The same stack passed the gate on this same tip; only git refused to move.
            ready = batch[: len(prepared.key)]
            self.log(f"  retrying the fast-forward of {', '.join(mr.task_id for mr in ready)}")
            self._land(tip, ready, prepared.new, prepared.shas, prepared.result, waiting=True)
            return
        self.stats.batches += 1
        names = ", ".join(mr.task_id for mr in batch)
        for mr in batch:
            self.store.set_merge_status(mr.id, "testing", f"testing in a batch of {len(batch)}")
        self.store.add_event(
            "merge.testing",
            f"batch of {len(batch)} on {self.settings.target} @ {tip[:12]}: {names}",
            data={
                "mrs": [mr.id for mr in batch],
                "tasks": [mr.task_id for mr in batch],
                "tip": tip,
            },
        )
        self.log(f"batch of {len(batch)} on {self.settings.target} @ {tip[:10]}: {names}")
        self._set_state("working", f"testing {names}")
        try:
            memo = _Batch(tip)
            applied = self._initial_build(memo, batch)
            if not applied:
                return
            search = find_culprits(
                applied,
                lambda acc, rest, pts: self._probe(memo, acc, rest, pts),
                # as many probes per round as gates may run at once (cores, for a heavy
                # gate), asked each round: the gate's measured cost may change mid-train
                lambda: self.slots.jobs(self.settings.gate_jobs) if self.settings.gate else 1,
                window=self.window(),
            )
            self.stats.rounds += search.rounds
            self.stats.culprits += len(search.bad)
            if any(len(stack) == 1 for _, stack in search.bad) and not self._tip_green(memo):
                self._hold_red_target(tip, batch)
                return
            for mr, stack in search.bad:
                self._bounce_culprit(memo, mr, stack)
            if search.good:
                ids = tuple(mr.id for mr in search.good)
                shas = tuple(memo.shas[ids[: i + 1]] for i in range(len(ids)))
                self._land(
                    tip, search.good, memo.shas[ids], shas, memo.results.get(ids, GateResult(True))
                )
        finally:
            for mr in batch:
                fresh = self.store.get_merge_request(mr.id)
                if fresh.status == "testing":
                    self.store.set_merge_status(mr.id, "queued", "not finished: tried again next")

    def _refresh(self, mr: MergeRequest) -> MergeRequest:
        """Test what the branch holds now: a branch that moved since queueing is re-tested."""
        current = target_git.branch_tip(self.settings.repo, mr.branch)
        if current is None:
            gone = f"branch {mr.branch} is gone"
            self.log(f"  {mr.task_id}: {gone}; testing the queued head {mr.head_sha[:10]}")
            return mr
        if current != mr.head_sha:
            moved = f"{mr.branch} moved {mr.head_sha[:10]} -> {current[:10]}"
            self.log(f"  {mr.task_id}: {moved}; testing the new head")
            return self.store.update_merge_head(mr.id, current)
        return mr

    def _initial_build(self, memo: _Batch, batch: list[MergeRequest]) -> list[MergeRequest]:
        """Stack the batch on the tip; conflicting requests are bounced now, the rest go on."""
        self._reset_builder(memo.tip)
        memo.shas[()] = memo.tip
        applied: list[MergeRequest] = []
        for mr in batch:
            outcome = self._apply(memo, mr)
            if isinstance(outcome, Conflict):
                self._bounce(mr, memo.tip, outcome)
                continue
            applied.append(mr)
            memo.shas[tuple(m.id for m in applied)] = outcome.sha
        return applied

    def _build(self, memo: _Batch, stack: Sequence[MergeRequest]) -> list[str | None]:
        """The candidate sha of every prefix of `stack` (None past a request that conflicts)."""
        ids = tuple(mr.id for mr in stack)
        done = max(i for i in range(len(ids) + 1) if ids[:i] in memo.shas)
        shas: list[str | None] = [memo.shas[ids[:i]] for i in range(done + 1)]
        if done == len(ids):
            return shas
        self.builder.reset_to(memo.shas[ids[:done]])
        broken = False
        for i in range(done, len(ids)):
            mr = stack[i]
            if broken:
                shas.append(None)
                continue
            outcome = self._apply(memo, mr)
            if isinstance(outcome, Applied):
                memo.shas[ids[: i + 1]] = outcome.sha
                shas.append(outcome.sha)
            else:
                memo.conflicts[ids[: i + 1]] = outcome
                self.log(
                    f"  {mr.task_id} conflicts on this smaller stack: {', '.join(outcome.files)}"
                )
                broken = True
                shas.append(None)
        return shas

    def _probe(
        self,
        memo: _Batch,
        accepted: Sequence[MergeRequest],
        rest: Sequence[MergeRequest],
        points: Sequence[int],
    ) -> list[bool]:
        """Gate the stacks `accepted + rest[:p]`, as many at once as there are gate jobs."""
        full = [*accepted, *rest]
        shas = self._build(memo, full)
        stacks = [tuple(mr.id for mr in full[: len(accepted) + p]) for p in points]
        todo: dict[str, str] = {}  # tree -> candidate sha
        trees: list[str | None] = []
        for stack in stacks:
            sha = shas[len(stack)]
            tree = None if sha is None else self.builder.tree(sha)
            trees.append(tree)
            if tree is not None and tree not in memo.by_tree and sha is not None:
                if tree in self._green:
                    memo.by_tree[tree] = GateResult(True, command="(this tree passed before)")
                else:
                    todo[tree] = sha
        labels = {
            sha: self._describe(full, len(stack)) for stack in stacks if (sha := shas[len(stack)])
        }
        self._run_gates(memo, todo, labels)
        verdicts: list[bool] = []
        for stack, tree in zip(stacks, trees, strict=True):
            if tree is None:
                verdicts.append(False)
                continue
            result = memo.by_tree[tree]
            memo.results[stack] = result
            verdicts.append(result.passed)
        return verdicts

    def _run_gates(self, memo: _Batch, todo: dict[str, str], labels: dict[str, str]) -> None:
        """Run the gate on each candidate (tree -> sha), `gate_jobs` of them at a time."""
        if not todo:
            return
        s = self.settings
        items = list(todo.items())
        jobs = min(len(items), self.slots.jobs(s.gate_jobs))
        commands = " && ".join(f"`{c}`" for c in s.gate) or "(no commands: always passes)"
        if len(items) == 1:
            self.log(f"  gate {commands} on {labels.get(items[0][1], items[0][1][:10])}")
        else:
            self.log(f"  gate {commands} on {len(items)} candidates, {jobs} at a time")
        results = self.slots.run([sha for _, sha in items], jobs)
        self.stats.gate_runs += len(items)
        for (tree, sha), result in zip(items, results, strict=True):
            memo.by_tree[tree] = result
            if result.passed:
                self._green.add(tree)
            mark = "✓" if result.passed else "✗"
            self.log(f"    {mark} {labels.get(sha, sha[:10])}: {result.brief()}")
        self.store.add_event(
            "merge.gate",
            f"gate on {len(items)} candidate(s): {sum(r.passed for r in results)} passed",
            data={
                "candidates": [sha for _, sha in items],
                "passed": [r.passed for r in results],
                "summaries": [r.summary() for r in results],
            },
        )

    def _tip_green(self, memo: _Batch) -> bool:
        """A culprit found at the bottom of the stack is only guilty if the tip itself is
        green; a red target (or a gate broken by the environment) must not bounce anyone."""
        tree = self.builder.tree(memo.tip)
        if tree in self._green:
            return True
        self.log(f"  checking that {self.settings.target} itself passes the gate")
        self._run_gates(memo, {tree: memo.tip}, {memo.tip: f"{self.settings.target} alone"})
        return memo.by_tree[tree].passed

    # -- outcomes ---------------------------------------------------------------------------

    def _bounce_culprit(
        self, memo: _Batch, mr: MergeRequest, stack: tuple[MergeRequest, ...]
    ) -> None:
        ids = tuple(m.id for m in stack)
        cause = memo.conflicts.get(ids) or memo.results.get(ids)
        if isinstance(cause, GateResult) and cause.killed:  # a signal, not the change
            self._requeue([mr], f"{cause.summary()}; tested again")
            # The machine may be short of memory: pause the queue rather than loop on it.
            self._hold = _Hold(self.clock() + KILLED_GATE_RETRY, None, cause.summary())
            self.store.add_event(
                "merge.gate_killed",
                f"{mr.task_id}: {cause.summary()}; retrying in {KILLED_GATE_RETRY:.0f}s",
                task=mr.task_id,
                data={"mr": mr.id, "signal": cause.killed, "reruns": cause.reruns},
            )
            self.log(f"  {mr.task_id}: {cause.summary()}; back to the queue, not bounced")
            return
        self._bounce(mr, memo.tip, cause or GateResult(False, tail="(no gate output kept)"))

    def _bounce(self, mr: MergeRequest, tip: str, cause: Conflict | GateResult) -> None:
        s = self.settings
        try:
            bounced = bounce(
                self.store,
                mr,
                target=s.target,
                tip=tip,
                max_bounces=s.merge.max_bounces,
                cause=cause,
            )
        except SwarmError as exc:  # changed under us (rejected by a person): say so, go on
            self.log(f"  {mr.task_id}: could not bounce ({exc.message})")
            return
        self.stats.bounced += 1
        self.log(f"  ↩ {bounced.message}")
        if bounced.escalation is None:
            return
        self.log(f"  ! escalated to the mayor: {mr.task_id}")
        if self.escalate is not None:
            try:
                self.escalate(mr.task_id, bounced.escalation)
            except SwarmError as exc:
                self.log(f"  (the mayor could not be told: {exc.message})")

    def _land(
        self,
        tip: str,
        stack: Sequence[MergeRequest],
        new: str,
        shas: Sequence[str],
        result: GateResult,
        *,
        waiting: bool = False,
    ) -> None:
        """Fast-forward the target to `new` and mark the stack merged, or requeue it.

        `waiting`: the stack passed before and waits, queued, for git to let it land.
        """
        s = self.settings
        landed = land(
            self.store,
            self.journal,
            s.repo,
            s.target,
            tip,
            stack,
            new,
            shas,
            expected="queued" if waiting else "testing",
            result_text=result.summary(),
            publish=self._publish if s.remote else None,
        )
        if landed.outcome == "refused":
            self._refused(tip, stack, new, shas, result, landed.reason)
            return
        if landed.outcome != "landed":
            self._requeue(stack, f"not merged: {landed.reason}; testing again")
            self.log(f"  {landed.reason}: back to the queue, to be tested again")
            return
        self._prepared = None
        self._blocked = None
        self._green.add(self.builder.tree(new))
        self.stats.merged += len(stack)
        for mr, sha in zip(stack, shas, strict=True):
            target_git.delete_branch(s.repo, mr.branch, mr.head_sha)
            self.log(f"  ✓ merged {mr.task_id} (#{mr.id}) as {sha[:10]}")
        self.log(f"  {s.target} -> {new[:10]} ({len(stack)} merged)")

    def _refused(
        self,
        tip: str,
        stack: Sequence[MergeRequest],
        new: str,
        shas: Sequence[str],
        result: GateResult,
        reason: str,
    ) -> None:
        """Git would not fast-forward (the person's uncommitted changes, a lock): keep the
        passing stack, leave it queued, and try again later, less and less often."""
        key = tuple((mr.id, mr.head_sha) for mr in stack)
        self._prepared = _Prepared(tip, key, new, tuple(shas), result)
        again = self._blocked is not None and self._blocked[0] == reason
        tries = self._blocked[1] + 1 if again and self._blocked is not None else 0
        self._blocked = (reason, tries)
        pause = min(BLOCKED_RETRY_MAX, BLOCKED_RETRY * 2**tries)
        self._hold = _Hold(self.clock() + pause, tip, reason)
        self._requeue(stack, f"passed, waiting to fast-forward: {reason}")
        what = f"cannot fast-forward {self.settings.target}: {reason}"
        self.log(f"  ⏸ {what}; retrying in {pause:.0f}s")
        if not again:  # one event per reason, not one per retry
            self.store.add_event(
                "merge.blocked",
                f"cannot fast-forward {self.settings.target} yet: {reason}",
                data={"mrs": [mr.id for mr in stack], "reason": reason},
            )

    def _hold_red_target(self, tip: str, batch: Sequence[MergeRequest]) -> None:
        reason = f"{self.settings.target} @ {tip[:12]} fails the gate by itself"
        self._hold = _Hold(self.clock() + RED_TARGET_RETRY, tip, reason)
        self._requeue(batch, f"waiting: {reason}")
        self.store.add_event("merge.blocked", f"{reason}; nobody bounced", data={"tip": tip})
        later = f"retrying when it changes or in {RED_TARGET_RETRY:.0f}s"
        self.log(f"  ⏸ {reason}: nobody is bounced; {later}")

    def _requeue(self, stack: Sequence[MergeRequest], why: str) -> None:
        for mr in stack:
            fresh = self.store.get_merge_request(mr.id)
            if fresh.status == "testing":
                self.store.set_merge_status(mr.id, "queued", why)

    def _matching_prepared(self, tip: str, batch: Sequence[MergeRequest]) -> _Prepared | None:
        prepared = self._prepared
        if prepared is None:
            return None
        key = tuple((mr.id, mr.head_sha) for mr in batch[: len(prepared.key)])
        if prepared.tip == tip and key == prepared.key:
            return prepared
        self._prepared = None
        return None

    def _on_error(self, batch: Sequence[MergeRequest], exc: BaseException) -> None:
        self._errors += 1
        first, longest = ERROR_RETRY
        pause = min(longest, first * 2 ** (self._errors - 1))
        message = getattr(exc, "message", None) or str(exc)
        self.log(f"  ✗ refinery error: {message}; pausing {pause:.0f}s")
        self.store.add_event(
            "merge.error", f"refinery error: {message}", data={"mrs": [m.id for m in batch]}
        )
        self._requeue(batch, f"refinery error: {message}")
        self._hold = _Hold(self.clock() + pause, None, message)

    # -- recovery helpers -------------------------------------------------------------------

    def _reset_builder(self, sha: str) -> None:
        try:
            self.builder.reset_to(sha)
        except GitError:
            # A worktree too broken to reset (its git metadata gone): make it again.
            shutil.rmtree(self.builder.path, ignore_errors=True)
            self.builder.reset_to(sha)

    def _existing_slots(self) -> list[Path]:
        base = paths.worktrees_dir(self.settings.state_dir)
        if not base.is_dir():
            return []
        return sorted(
            p
            for p in base.iterdir()
            if p.name == WORKTREE_NAME or p.name.startswith(f"{WORKTREE_NAME}-gate-")
        )

    # -- a team's refinery: the mirror of the remote ------------------------------------------

    def _sync(self) -> None:
        """A team's refinery first makes its mirror exactly the remote (branches pushed by
        every machine's polecats, the target as the team has it)."""
        if self.settings.remote:
            from swarm.team.remote import sync_mirror

            sync_mirror(self.settings.repo)

    def _publish(self, branch: str, old: str, new: str) -> tuple[bool, str]:
        from swarm.team.remote import publish

        return publish(self.settings.repo, branch, old, new)

    # -- small things -----------------------------------------------------------------------

    def _tip(self) -> str:
        return target_git.tip(self.settings.repo, self.settings.target)

    def _apply(self, memo: _Batch, mr: MergeRequest) -> Applied | Conflict:
        """Apply one request onto the builder's HEAD (its own commits: those not on the tip)."""
        try:
            title = self.store.get_task(mr.task_id).title
        except SwarmError:
            title = "(task gone)"
        summary = f"{title} ({mr.task_id}, merge request #{mr.id})"
        strategy = self.settings.merge.strategy
        return self.builder.apply(mr.head_sha, memo.tip, strategy, summary, mr.branch)

    @staticmethod
    def _describe(stack: Sequence[MergeRequest], length: int) -> str:
        if length == 0:
            return "the tip"
        last = stack[length - 1].task_id
        return last if length == 1 else f"{length} requests, the last {last}"

    def _set_state(self, state: str, detail: str) -> None:
        """The refinery is an agent too: the sidebar and the witness see it idle or working."""
        if self.agent is None or self._state == (state, detail):
            return
        if self.store.find_agent(self.agent) is None:
            return
        self.store.set_agent_state(self.agent, state, detail)
        self._state = (state, detail)
