"""`swarm doctor`'s checks of a team's shared parts: the store and the git remote.

A store that cannot be reached, has an older or newer schema, or whose clock disagrees with
this machine's (leases are timed by the database) fails here, before `swarm up`, with the
fix; so does a remote that cannot be read or pushed to.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from swarm.doctor import Check
from swarm.errors import SwarmError
from swarm.store import db
from swarm.store.backend import connect, parse_url

MAX_SKEW = 2.0  # seconds between this machine's clock and the store's before leases suffer
REMOTE_TIMEOUT = 30.0


def shared_checks(repo: Path | None, store: str | None, remote: str | None) -> list[Check]:
    """The store and remote checks `swarm doctor` adds: those given, else the ones the swarm
    of this repository recorded (`swarm up --store … --remote …`)."""
    branch = "main"
    if repo is not None:
        from swarm.instance import SwarmInstance, state_dir_for

        try:
            instance = SwarmInstance.load(state_dir_for(repo=repo))
        except SwarmError:
            instance = None
        if instance is not None:
            store = store or instance.store_url
            remote = remote or instance.remote or None
            branch = instance.target_branch
    checks = check_store(store) if store else []
    if remote:
        if repo is None:
            checks.append(Check(f"remote {remote}", False, "not in a git repository", "cd there"))
        else:
            checks.append(check_remote(repo, remote, branch))
    return checks


def check_store(url: str) -> list[Check]:
    """Reachable, schema up to date, clocks in step (the last only for a server)."""
    try:
        where = parse_url(url)
        conn = connect(url)
    except SwarmError as exc:
        fix = "check the URL, the server and the password (PGPASSWORD or ~/.pgpass work too)"
        return [Check("store", False, exc.message, fix)]
    try:
        version = db.schema_version(conn)
        checks = [Check("store", True, f"{where.display} ({where.dialect})")]
        if version == db.SCHEMA_VERSION:
            checks.append(Check("store schema", True, f"version {version}"))
        elif version < db.SCHEMA_VERSION:
            detail = "empty" if version == 0 else f"version {version}"
            checks.append(
                Check(
                    "store schema",
                    False,
                    f"{detail}, this swarm uses {db.SCHEMA_VERSION}",
                    "run `swarm store migrate` (or `swarm up`, which migrates)",
                    required=version != 0,
                )
            )
        else:
            checks.append(
                Check(
                    "store schema",
                    False,
                    f"version {version}, newer than this swarm ({db.SCHEMA_VERSION})",
                    "upgrade swarm on this machine",
                )
            )
        if where.dialect != "sqlite":
            before = time.time()
            server = conn.now()
            skew = server - (before + time.time()) / 2
            ok = abs(skew) <= MAX_SKEW
            checks.append(
                Check(
                    "store clock",
                    ok,
                    f"this machine is {abs(skew):.2f}s {'behind' if skew > 0 else 'ahead of'} "
                    f"the store's server",
                    "" if ok else "sync the clocks (NTP: timedatectl set-ntp true)",
                )
            )
        return checks
    finally:
        conn.close()


def check_remote(repo: Path, remote: str, branch: str) -> Check:
    """The remote can be read, and a push to it would be accepted (a dry run)."""
    name = f"remote {remote}"
    listed = _git(repo, "ls-remote", "--heads", remote, branch)
    if listed.returncode != 0:
        return Check(name, False, _first_line(listed.stderr), "check `git remote -v` and access")
    if not listed.stdout.strip():
        return Check(name, False, f"has no branch {branch}", f"git push {remote} {branch}")
    probe = _git(
        repo, "push", "--dry-run", "--porcelain", remote, "HEAD:refs/heads/swarm/doctor-probe"
    )
    if probe.returncode != 0:
        return Check(name, False, f"cannot push: {_first_line(probe.stderr)}", "check push access")
    return Check(name, True, f"{branch} readable, pushes accepted")


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=REMOTE_TIMEOUT,
            env=None,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 1, "", f"no answer in {REMOTE_TIMEOUT:.0f}s")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "git failed"
