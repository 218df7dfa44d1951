"""The team's one active refinery, and each machine's heartbeat, kept by a background thread.

Every machine of a team runs a refinery; exactly one is active: the holder of the store's
`refinery` lease. A thread with its own store connection renews the lease (and this
machine's `host:` lease) every third of the lease period, so a long gate run never lets it
lapse while the process lives; a machine that dies stops renewing and another machine's
refinery takes over within one lease period. The same thread declares machines whose
lease ran out lost (`hosts.reap_lost_hosts`), so any surviving machine cleans up after a
lost one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from swarm.store import Store
from swarm.team import hosts

REFINERY_LEASE = 15.0  # seconds; a lost refinery is replaced within this


class TeamLease:
    """Holds (or waits for) the team's refinery lease; `held` says whether we hold it now."""

    def __init__(
        self,
        url: str,
        host: str,
        *,
        holder: str | None = None,
        ttl: float | None = None,
        host_ttl: float | None = None,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.url = url
        self.host = host
        self.holder = holder or f"{host}/refinery"
        self.ttl = ttl or hosts.lease_seconds(REFINERY_LEASE)
        self.host_ttl = host_ttl or hosts.lease_seconds(hosts.HOST_LEASE)
        self.log = log
        self._held = threading.Event()
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    @property
    def held(self) -> bool:
        return self._held.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="team-lease", daemon=True)
        self._thread.start()

    def wait_changed(self, timeout: float) -> None:
        self._changed.wait(timeout)
        self._changed.clear()

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if release and self.held:
            with Store.open(self.url) as store:
                store.release_lease(hosts.REFINERY_LEASE_NAME, self.holder)
            self._held.clear()

    def _run(self) -> None:
        period = min(self.ttl, self.host_ttl) / 3
        store: Store | None = None
        while not self._stop.is_set():
            try:
                if store is None:
                    store = Store.open(self.url)
                self.tick(store)
                self.error = None
            except Exception as exc:  # a store that went away: not held, say why, try again
                self.error = str(exc)
                self._set(False)
                if store is not None:
                    store.close()
                store = None
            self._stop.wait(period)
        if store is not None:
            store.close()

    def tick(self, store: Store) -> None:
        """One renewal round: heartbeat, the refinery lease, lost machines."""
        hosts.heartbeat(store, self.host, self.host_ttl)
        held = store.acquire_lease(hosts.REFINERY_LEASE_NAME, self.holder, self.ttl) is not None
        self._set(held)
        for lost in hosts.reap_lost_hosts(store, self.host):
            self.log(
                f"{lost.host} lost: {len(lost.agents)} agent(s) dead, "
                f"{len(lost.requeued)} task(s) back in the queue"
            )

    def _set(self, held: bool) -> None:
        if held != self.held:
            if held:
                self._held.set()
            else:
                self._held.clear()
            self._changed.set()
