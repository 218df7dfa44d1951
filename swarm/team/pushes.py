"""The controller pushes its machine's finished task branches: polecats stay confined.

A team polecat runs in the sandbox like any other (swarm.sandbox), and the sandbox keeps the
repository's `.git` read-only, so its `swarm done` cannot push (git writes the remote's
tracking refs there). It records the push as wanted instead (swarm.store.pushes); the
controller of the same machine, outside the sandbox, sees the request on its next pass, pushes
the recorded commit of the task branch (the polecat's objects are read through the
repository's alternates) and only then finishes the task, which queues it for the refinery.

A push runs in a worker thread (a slow remote never holds up dispatch); the store is written
from the controller loop's thread when it is over. A failed push is one `task.push_failed`
event per new reason and is tried again after 2 s, 4 s, … up to a minute (`due`). Nothing is
queued that the remote does not have.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc

from swarm.errors import SwarmError
from swarm.store import Store
from swarm.store.models import PushRequest
from swarm.team.remote import push_task_branch

RETRY_FIRST = 2.0  # seconds after the first failure; doubled after each one
RETRY_MAX = 60.0
PUSH_WORKERS = 4  # pushes at once per machine

Log = Callable[[str], None]


def due(request: PushRequest, now: float) -> bool:
    """Try at once the first time, then after a doubling wait (RETRY_FIRST … RETRY_MAX)."""
    if request.attempts == 0 or request.tried_at is None:
        return True
    wait = min(RETRY_FIRST * 2.0 ** (request.attempts - 1), RETRY_MAX)
    return bool(now - request.tried_at >= wait)


def of_host(request: PushRequest, host: str) -> bool:
    """Only a polecat's own machine has its commits: the other machines leave it alone."""
    return not host or request.agent.startswith(f"{host}/")


@dataclass
class Pusher:
    repo: Path
    remote: str
    host: str
    log: Log
    clock: Callable[[], float] = time.time
    in_flight: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.workers = anyio.CapacityLimiter(PUSH_WORKERS)

    def start(self, store: Store, group: anyio.abc.TaskGroup) -> None:
        """Start the pushes that are due (one store read)."""
        now = self.clock()
        for request in store.pending_pushes():
            if request.agent in self.in_flight or not of_host(request, self.host):
                continue
            if not due(request, now):
                continue
            self.in_flight.add(request.agent)
            group.start_soon(self.push, store, request)

    async def push(self, store: Store, request: PushRequest) -> None:
        error: str | None = None
        try:
            await anyio.to_thread.run_sync(
                push_task_branch,
                self.repo,
                self.remote,
                request.branch,
                request.head_sha,
                limiter=self.workers,
            )
        except SwarmError as exc:
            error = exc.message
        finally:
            self.in_flight.discard(request.agent)
        self.record(store, request, error)

    def record(self, store: Store, request: PushRequest, error: str | None) -> None:
        """On the loop's thread: the task queued, or the failure counted (said once)."""
        try:
            if error is not None:
                if store.push_failed(request.agent, request.head_sha, error):
                    self.log(f"push of {request.branch} for {request.agent} failed: {error}")
                return
            queued = store.finish_pushed(request.agent, request.head_sha)
        except SwarmError as exc:  # the task moved on meanwhile: said, never a traceback
            self.log(f"push of {request.branch} for {request.agent}: {exc.message}")
            return
        if queued is not None:
            self.log(f"pushed {request.branch}: merge request #{queued.id} queued")
