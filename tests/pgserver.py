"""A real PostgreSQL server for the test session, in a temporary data directory.

PostgreSQL refuses to run as root, and CI runs as root: then initdb and pg_ctl run as an
unprivileged user (`postgres`, which Debian's package and `.ci/run` create) through
`runuser`. The server listens on a unix socket in its own folder and on 127.0.0.1 at a free
port, with durability switched off (a test server loses nothing worth keeping), and is
stopped by its own data directory at the end, never by name.

Under CI=true a server that cannot start fails the tests loudly; elsewhere the PostgreSQL
tests are skipped with the reason only when the binaries are not installed.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPERUSER = "swarm"
PASSWORD = "swarm-test"
RUN_AS = "postgres"


class Unavailable(Exception):
    """PostgreSQL's binaries are not installed here."""


def find_bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")

    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0

    if not candidates:
        raise Unavailable(
            "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)"
        )
    return Path(max(candidates, key=version)).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgServer:
    bin_dir: Path
    root: Path
    port: int
    user: str | None  # who runs the server when we are root
    tests_db: str = "postgres"  # the database the tests' schemas live in

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        init = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        self._start_server()

    def _start_server(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=300 -c shared_buffers=32MB"
        )
        started = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip
        if started.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{log[-2000:]}")

    def restart(self, down: float = 0.0) -> None:
        """Stop the server (every connection dropped), stay down `down` seconds, start it
        again on the same port with the same data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(down)
        self._start_server()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def create_schema(self, database: str) -> tuple[str, str]:
        """A fresh, empty schema in `database` and a URL whose tables live there: much
        cheaper than a database per test, and just as separate for the store."""
        import psycopg

        name = f"s_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return name, f"{self.url(database)}?options=-csearch_path%3D{name}"

    def drop_schema(self, database: str, name: str) -> None:
        import psycopg

        # A swarm's last processes may still hold locks on the schema for a moment: the
        # drop can meet them in a deadlock; it is tried again, never left half done.
        for attempt in range(5):
            try:
                with psycopg.connect(self.url(database), autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
                return
            except psycopg.errors.DeadlockDetected:
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))


def start_server() -> PgServer:
    """Start a fresh server; raises Unavailable when PostgreSQL is not installed."""
    bin_dir = find_bin_dir()
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            raise RuntimeError(
                f"running as root and there is no '{RUN_AS}' user to run PostgreSQL as "
                f"(.ci/run creates it)"
            ) from None
        user = RUN_AS
    last: Exception | None = None
    for _ in range(3):  # a free port can be taken between the probe and the start
        root = Path(tempfile.mkdtemp(prefix="swpg-"))
        server = PgServer(bin_dir, root, free_port(), user)
        try:
            server.start()
            return server
        except Exception as exc:
            last = exc
            server.stop()
    assert last is not None
    raise last
