"""The refinery's pure logic: when a batch closes, and the culprit search with a fake gate."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from swarm.refinery.batch import (
    failure_rate,
    find_culprits,
    ready_batch,
    seconds_until_ready,
    spread,
    stack_window,
    train_length,
)


@dataclass(frozen=True)
class Req:
    name: str
    created_at: float = 0.0


def queue(*ages: float, now: float = 100.0) -> list[Req]:
    return [Req(f"r{i}", now - age) for i, age in enumerate(ages)]


def test_batch_waits_for_the_oldest_request_then_closes() -> None:
    waiting = queue(0.5, 0.2)
    assert ready_batch(waiting, 100.0, size=4, wait=2.0) == []
    assert seconds_until_ready(waiting, 100.0, size=4, wait=2.0) == pytest.approx(1.5)
    old = queue(2.5, 0.2)
    assert [r.name for r in ready_batch(old, 100.0, size=4, wait=2.0)] == ["r0", "r1"]


def test_a_full_batch_closes_at_once_and_takes_queue_order() -> None:
    waiting = queue(0.1, 0.1, 0.1, 0.1, 0.1)
    assert [r.name for r in ready_batch(waiting, 100.0, size=3, wait=60)] == ["r0", "r1", "r2"]
    assert seconds_until_ready(waiting, 100.0, size=3, wait=60) == 0.0
    assert ready_batch([], 100.0, size=3, wait=0) == []
    assert seconds_until_ready([], 100.0, size=3, wait=0) is None


def test_spread_is_bisection_with_one_job_and_spaced_with_more() -> None:
    assert spread(0, 8, 1) == [4]
    assert spread(4, 8, 1) == [6]
    assert spread(4, 6, 1) == [5]
    assert spread(4, 5, 3) == []
    assert spread(0, 8, 3) == [2, 4, 6]
    assert spread(0, 4, 8) == [1, 2, 3]


class FakeGate:
    """Fails any stack that contains a bad item; counts rounds and runs."""

    def __init__(self, bad: set[int], jobs: int) -> None:
        self.bad = bad
        self.jobs = jobs
        self.calls: list[list[tuple[int, ...]]] = []

    def __call__(
        self, accepted: Sequence[int], rest: Sequence[int], points: Sequence[int]
    ) -> list[bool]:
        assert 1 <= len(points) <= self.jobs
        assert all(0 < p <= len(rest) for p in points)
        stacks = [(*accepted, *rest[:p]) for p in points]
        self.calls.append(stacks)
        return [not (set(stack) & self.bad) for stack in stacks]


def test_eight_with_two_bad_bisected_with_one_job() -> None:
    gate = FakeGate({3, 6}, jobs=1)
    search = find_culprits(list(range(1, 9)), gate, jobs=1)
    assert search.good == [1, 2, 4, 5, 7, 8]
    assert [item for item, _ in search.bad] == [3, 6]
    # each culprit convicted by a stack that ends with it
    assert [stack for _, stack in search.bad] == [(1, 2, 3), (1, 2, 4, 5, 6)]
    assert search.runs == search.rounds == 8
    assert gate.calls[0] == [(1, 2, 3, 4, 5, 6, 7, 8)]  # the whole batch first
    assert gate.calls[1] == [(1, 2, 3, 4)]  # then its first half on the tip


def test_a_clean_batch_costs_one_gate_run() -> None:
    gate = FakeGate(set(), jobs=1)
    search = find_culprits(list(range(8)), gate, jobs=1)
    assert search.good == list(range(8)) and search.bad == [] and search.runs == 1


def test_parallel_jobs_need_fewer_rounds() -> None:
    serial = find_culprits(list(range(1, 9)), FakeGate({3, 6}, 1), jobs=1)
    wide = find_culprits(list(range(1, 9)), FakeGate({3, 6}, 8), jobs=8)
    assert wide.good == serial.good and wide.bad == serial.bad
    assert wide.rounds == 3 < serial.rounds


@pytest.mark.parametrize("jobs", [1, 2, 3, 4, 8])
def test_search_is_right_for_every_culprit_pattern(jobs: int) -> None:
    """Exhaustive for 6 items: every good item merged, every bad one caught, and the
    accepted stack passed the gate as it is."""
    items = list(range(6))
    for size in range(len(items) + 1):
        for bad in itertools.combinations(items, size):
            gate = FakeGate(set(bad), jobs)
            search = find_culprits(items, gate, jobs=jobs)
            assert search.good == [i for i in items if i not in bad]
            assert sorted(item for item, _ in search.bad) == list(bad)
            if search.good and bad:
                tested = [stack for call in gate.calls for stack in call]
                assert tuple(search.good) in tested


def test_a_fix_later_in_the_batch_does_not_hide_a_red_commit() -> None:
    """Item 2 breaks the gate, item 4 repairs it: the stack passes as a whole, but the
    target's history would hold red commits, so item 2 is still the culprit."""

    def gate(accepted: Sequence[int], rest: Sequence[int], points: Sequence[int]) -> list[bool]:
        out = []
        for p in points:
            stack = [*accepted, *rest[:p]]
            out.append(2 not in stack or 4 in stack)
        return out

    search = find_culprits([1, 2, 3, 4], gate, jobs=4)
    assert [item for item, _ in search.bad] == [2]


def test_random_batches_with_random_jobs() -> None:
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 24)
        bad = {i for i in range(n) if rng.random() < 0.15}
        jobs = rng.randint(1, 8)
        search = find_culprits(list(range(n)), FakeGate(bad, jobs), jobs=jobs)
        assert set(search.good) == set(range(n)) - bad
        assert {item for item, _ in search.bad} == bad


def test_probe_must_answer_every_point() -> None:
    with pytest.raises(ValueError, match="verdicts"):
        find_culprits([1, 2], lambda a, r, p: [], jobs=1)


def test_the_window_follows_the_failure_rate_within_the_layouts_batch_size() -> None:
    assert failure_rate(0, 0) == pytest.approx(1 / 8)  # nothing judged yet: the prior
    assert failure_rate(90, 0) < 0.02 < failure_rate(20, 10)
    assert stack_window(failure_rate(0, 0), 32) == 8
    assert stack_window(failure_rate(200, 1), 32) == 32  # rare failures: big stacks
    assert stack_window(failure_rate(10, 30), 32) == 2  # most fail: pairs
    assert stack_window(failure_rate(200, 1), 4) == 4  # never past the layout's batch size
    assert stack_window(0.01, 1) == 1  # batch_size 1 stays one at a time


def test_a_deep_queue_rides_along_as_a_train() -> None:
    assert train_length(queued=3, batch=3, window=8) == 3
    assert train_length(queued=24, batch=8, window=8) == 24
    assert train_length(queued=100, batch=8, window=8) == 24  # three windows
    assert train_length(queued=100, batch=8, window=32) == 32  # never past 32
    assert train_length(queued=24, batch=1, window=1) == 1  # one at a time stays so


def test_a_window_keeps_each_probe_within_reach_of_the_last_pass() -> None:
    gate = FakeGate({9}, jobs=2)
    search = find_culprits(list(range(24)), gate, jobs=2, window=8)
    assert search.good == [i for i in range(24) if i != 9] and [b for b, _ in search.bad] == [9]
    assert max(len(stack) for stack in gate.calls[0]) == 8  # not the whole train at once
    # what is left of the culprit's window goes on with the next requests, not alone
    assert any(10 in s and 16 in s and 9 not in s for call in gate.calls for s in call)


@pytest.mark.parametrize("window", [1, 2, 3, 8])
def test_search_with_a_window_is_right_for_every_culprit_pattern(window: int) -> None:
    items = list(range(7))
    for size in range(len(items) + 1):
        for bad in itertools.combinations(items, size):
            for jobs in (1, 2, 3):
                gate = FakeGate(set(bad), jobs)
                search = find_culprits(items, gate, jobs=jobs, window=window)
                assert search.good == [i for i in items if i not in bad]
                assert sorted(item for item, _ in search.bad) == list(bad)
                for item, stack in search.bad:
                    assert stack[-1] == item  # convicted by a stack that ends with it
