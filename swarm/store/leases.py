"""Leases: a name held by one holder until a time, renewed while the holder lives.

A team's machines share one store, so "exactly one refinery" and "is laptop-a still there?"
are answered here: the holder renews its lease every few seconds; once it stops (power off,
network gone, killed) the lease expires and another may take it over. Times are the
store's clock (the database server's), so machines with skewed clocks still agree.
"""

from __future__ import annotations

from swarm.store import events
from swarm.store.backend import Connection
from swarm.store.models import Lease


def find(conn: Connection, name: str) -> Lease | None:
    row = conn.execute("SELECT * FROM leases WHERE name = ?", (name,)).fetchone()
    return None if row is None else Lease.from_row(row)


def list_leases(conn: Connection, prefix: str = "") -> list[Lease]:
    rows = conn.execute(
        "SELECT * FROM leases WHERE substr(name, 1, ?) = ? ORDER BY name", (len(prefix), prefix)
    ).fetchall()
    return [Lease.from_row(row) for row in rows]


def acquire(conn: Connection, now: float, name: str, holder: str, ttl: float) -> Lease | None:
    """Take or renew `name` for `ttl` seconds; None while someone else's lease runs.

    The caller holds the write transaction, so two machines asking at once are decided in
    turn: the second sees the first's fresh lease and is refused.
    """
    current = find(conn, name)
    expires = now + ttl
    if current is None:
        conn.execute(
            "INSERT INTO leases (name, holder, expires, acquired_at, renewed_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, holder, expires, now, now),
        )
        events.add(conn, now, "lease.acquired", f"{holder} holds {name}", data={"lease": name})
    elif current.holder == holder:
        conn.execute(
            "UPDATE leases SET expires = ?, renewed_at = ? WHERE name = ?", (expires, now, name)
        )
    elif current.expires <= now:
        conn.execute(
            "UPDATE leases SET holder = ?, expires = ?, acquired_at = ?, renewed_at = ?"
            " WHERE name = ?",
            (holder, expires, now, now, name),
        )
        events.add(
            conn,
            now,
            "lease.taken",
            f"{holder} took over {name} from {current.holder} "
            f"(its lease ran out {now - current.expires:.0f}s ago)",
            data={"lease": name, "from": current.holder},
        )
    else:
        return None
    return find(conn, name)


def release(conn: Connection, now: float, name: str, holder: str) -> bool:
    """Give a lease up at once (a clean shutdown), so nobody waits for it to expire."""
    current = find(conn, name)
    if current is None or current.holder != holder:
        return False
    conn.execute("DELETE FROM leases WHERE name = ?", (name,))
    events.add(conn, now, "lease.released", f"{holder} released {name}", data={"lease": name})
    return True


def forget(conn: Connection, name: str) -> None:
    """Drop an expired lease once what it covered has been dealt with (a lost machine)."""
    conn.execute("DELETE FROM leases WHERE name = ?", (name,))
