"""Machines in a team: their names, their liveness lease, and what happens when one is lost.

Every machine keeps a lease `host:<name>` in the shared store and renews it while its swarm
runs. A machine that disappears (power off, network gone) stops renewing; once its lease
has run out, any other machine's swarm declares it lost: its agents are shown as dead
("lost") and every task they held goes back to the queue with a note. The work a polecat
had pushed stays on its task branch on the remote, so the next polecat starts from it.

Agents' names in a team's store carry their machine: `laptop-a/polecat-3`.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from swarm.store import Store
from swarm.store.models import Lease

HOST_LEASE = 15.0  # seconds a machine's lease runs without a renewal
HOST_PREFIX = "host:"
REFINERY_LEASE_NAME = "refinery"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def lease_seconds(default: float = HOST_LEASE) -> float:
    """The lease period: `SWARM_TEAM_LEASE` seconds (tests shorten it), else `default`."""
    try:
        value = float(os.environ.get("SWARM_TEAM_LEASE", ""))
    except ValueError:
        return default
    return value if value > 0 else default


def this_host() -> str:
    """This machine's name in the team: `SWARM_HOST`, else the short hostname."""
    raw = os.environ.get("SWARM_HOST") or socket.gethostname().split(".")[0] or "host"
    return sanitize(raw)


def sanitize(name: str) -> str:
    """A host name safe in agent names, tmux options, paths and branch names."""
    return _SAFE.sub("-", name).strip("-.") or "host"


def qualified(host: str, agent: str) -> str:
    return agent if "/" in agent else f"{host}/{agent}"


def host_of(agent: str) -> str | None:
    """The machine in `laptop-a/polecat-3`; None for a single machine's `polecat-3`."""
    head, sep, _ = agent.partition("/")
    return head if sep else None


def local_name(agent: str) -> str:
    return agent.rpartition("/")[2]


def lease_name(host: str) -> str:
    return HOST_PREFIX + host


def heartbeat(store: Store, host: str, ttl: float = HOST_LEASE) -> bool:
    """Renew this machine's lease; False if another holder has it (a name clash)."""
    return store.acquire_lease(lease_name(host), host, ttl) is not None


def lost_hosts(leases: Sequence[Lease], now: float, me: str) -> list[str]:
    """The machines whose lease ran out (never this one): a pure decision."""
    return [
        lease.holder
        for lease in leases
        if lease.name.startswith(HOST_PREFIX) and lease.expires <= now and lease.holder != me
    ]


@dataclass(frozen=True)
class Reaped:
    host: str
    agents: tuple[str, ...]
    requeued: tuple[str, ...]  # task ids back in the queue


def reap_lost_hosts(store: Store, me: str) -> list[Reaped]:
    """Declare every machine whose lease ran out lost, once, in one transaction each."""
    done: list[Reaped] = []
    for host in lost_hosts(store.list_leases(HOST_PREFIX), store.lease_time(), me):
        with store.transaction():
            lease = store.get_lease(lease_name(host))
            if lease is None or lease.expires > store.lease_time():
                continue  # another machine reaped it first, or it came back
            agents: list[str] = []
            requeued: list[str] = []
            for agent in store.list_agents(team=True):
                if host_of(agent.name) != host:
                    continue
                if agent.hook is not None:
                    task = store.get_task(agent.hook)
                    branch = task.branch or ""
                    store.release_task(
                        agent.hook,
                        f"{host} was lost (its lease ran out) while {agent.name} held this "
                        f"task; whatever it pushed is on {branch}",
                    )
                    requeued.append(task.id)
                if agent.state not in ("dead", "stopped"):
                    store.set_agent_state(agent.name, "dead", f"lost: {host}'s lease ran out")
                agents.append(agent.name)
            store.forget_lease(lease_name(host))
            store.add_event(
                "team.host_lost",
                f"{host} lost: {len(agents)} agent(s) marked dead, "
                f"{len(requeued)} task(s) back in the queue",
                data={"host": host, "agents": agents, "tasks": requeued},
            )
        done.append(Reaped(host, tuple(agents), tuple(requeued)))
    return done
