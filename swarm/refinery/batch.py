"""When a batch closes, and which requests of a failing batch are to blame: pure logic.

Nothing here touches git, the store or the clock, so the search can be tested with a fake
gate and its number of gate runs counted exactly.

The culprit search looks for the *first failing prefix* of the batch: every candidate the
refinery tests is "the target + the accepted requests + the first p remaining ones", so the
request at the first prefix that fails, right after one that passed, is the culprit — it broke
a green stack. With one gate job at a time this is bisection (test the first half; recurse).
With several jobs, one round probes several prefixes at once (the first round the full stack
and evenly spaced prefixes below it, as a merge train does), so a culprit is usually pinned
in one or two rounds instead of log2(K).

How many requests one gate run takes on (the *window*) follows the failure rate measured so
far: a stack of about 1/rate requests passes about half the time, which is where a passing
run validates the most requests for the runs a failing one costs in the search (simulated
over 1 to 4 jobs). When the queue is deeper than one batch, the requests behind it ride
along as a *train* of up to `TRAIN_WINDOWS` windows: the search moves window by window, and
what is left after a culprit goes on with the next requests instead of being gated alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Waiting(Protocol):
    """Anything queued with a creation time (a `MergeRequest`)."""

    @property
    def created_at(self) -> float: ...


W = TypeVar("W", bound=Waiting)
T = TypeVar("T")


def ready_batch(queued: Sequence[W], now: float, size: int, wait: float) -> list[W]:
    """The next batch, in queue order, or [] while it should stay open.

    A batch closes when it is full (`size` requests wait) or when its oldest request has
    waited `wait` seconds: a short wait lets work that finishes together be tested together.
    """
    if not queued:
        return []
    size = max(1, size)
    if len(queued) >= size or now - queued[0].created_at >= wait:
        return list(queued[:size])
    return []


def seconds_until_ready(queued: Sequence[W], now: float, size: int, wait: float) -> float | None:
    """How long until `ready_batch` closes a batch (None: nothing queued)."""
    if not queued:
        return None
    if len(queued) >= max(1, size):
        return 0.0
    return max(0.0, queued[0].created_at + wait - now)


TRAIN_WINDOWS = 3  # windows one step takes from a deep queue
MAX_TRAIN = 32  # requests one step takes at most (the layout's largest batch)
PRIOR_RATE = 1 / 8  # the failure rate assumed before anything was gated
PRIOR_WEIGHT = 8  # how many requests the prior counts for


def failure_rate(passed: int, failed: int) -> float:
    """The share of requests that break the gate, from the requests judged so far (a
    culprit counts as failed, a merged request as passed), starting from `PRIOR_RATE`."""
    judged = max(0, passed) + max(0, failed)
    return (max(0, failed) + PRIOR_RATE * PRIOR_WEIGHT) / (judged + PRIOR_WEIGHT)


def stack_window(rate: float, limit: int) -> int:
    """Requests a gate run takes on at once, beyond those that passed: about 1/rate, at
    least 2 (a pair tested together already halves the runs of a clean queue), at most
    `limit` (the layout's `merge.batch_size`; 1 keeps the refinery one at a time)."""
    limit = max(1, limit)
    if limit == 1:
        return 1
    return max(2, min(limit, round(1 / max(rate, 1e-3))))


def train_length(queued: int, batch: int, window: int) -> int:
    """How many queued requests one step takes once a batch is ready: the batch, or, from a
    deeper queue, up to `TRAIN_WINDOWS` windows (never more than `MAX_TRAIN`)."""
    if window <= 1:
        return min(queued, batch)
    return min(queued, max(batch, min(MAX_TRAIN, TRAIN_WINDOWS * window)))


def spread(low: int, high: int, count: int) -> list[int]:
    """Up to `count` prefix lengths strictly between `low` and `high`, evenly spaced.

    With `count == 1` this is the midpoint: plain bisection.
    """
    inside = list(range(low + 1, high))
    if count <= 0 or not inside:
        return []
    if len(inside) <= count:
        return inside
    points = {low + ((high - low) * i) // (count + 1) for i in range(1, count + 1)}
    return sorted(p for p in points if low < p < high)


# probe(accepted, rest, points) -> one verdict per point: does accepted + rest[:p] pass?
Probe = Callable[[Sequence[T], Sequence[T], Sequence[int]], Sequence[bool]]


@dataclass
class Search(Generic[T]):
    """The outcome of a culprit search."""

    good: list[T] = field(default_factory=list)  # in order; their stack passed the gate
    # Each culprit with the stack that convicted it (it failed, the same stack without it passed).
    bad: list[tuple[T, tuple[T, ...]]] = field(default_factory=list)
    rounds: int = 0  # gate rounds, one after the other
    runs: int = 0  # gate runs in all (a round may run several at once)


def find_culprits(
    items: Sequence[T],
    probe: Probe[T],
    jobs: int | Callable[[], int] = 1,
    window: int | None = None,
) -> Search[T]:
    """Split a batch into the requests to merge and the culprits to send back.

    `probe` runs the gate on several prefixes at once and is called at most once per round
    with at most `jobs` points. A prefix of length 0 (the accepted stack itself) is never
    probed: it passed before, or it is the target's tip, which the caller vouches for.
    `window`: while no failure is known, no probe reaches more than `window` requests past
    the longest passing prefix (None: the whole batch at once). `jobs` may be a function,
    asked each round: the gate's measured cost can change how many run at once mid-train.
    """
    result: Search[T] = Search()
    accepted: list[T] = []
    rest = list(items)
    known: dict[int, bool] = {}  # prefix length of `rest` (on top of `accepted`) -> passed
    while rest:
        failing = [p for p, ok in known.items() if not ok]
        high = min(failing) if failing else None
        # Only a pass below the first failure counts: a longer stack that passes again
        # would hide a red commit in the middle of the target's history.
        low = max((p for p, ok in known.items() if ok and (high is None or p < high)), default=0)
        if high is None and low == len(rest):
            accepted += rest
            rest = []
            break
        if high is not None and high == low + 1:
            result.bad.append((rest[low], tuple(accepted + rest[:high])))
            accepted += rest[:low]
            rest = rest[high:]
            known = {}
            continue
        width = max(1, jobs() if callable(jobs) else jobs)
        if high is None:
            top = len(rest) if window is None else min(len(rest), low + max(1, window))
            points = [*spread(low, top, width - 1), top]
        else:
            points = spread(low, high, width)
        verdicts = list(probe(list(accepted), list(rest), points))
        if len(verdicts) != len(points):
            raise ValueError(f"probe returned {len(verdicts)} verdicts for {len(points)} points")
        result.rounds += 1
        result.runs += len(points)
        known.update(zip(points, verdicts, strict=True))
    result.good = accepted
    return result
