"""The team's git remote: where task branches meet and where the target branch moves.

Polecats on every machine finish with `swarm done`, and their machine's controller pushes the
task branch (swarm.team.pushes: the sandbox keeps `.git` read-only to the polecat); new work
starts from the remote's target. The team's refinery works in a bare mirror of the remote
(`.swarm/team-mirror.git`): before each step it fetches every branch (`+refs/heads/*`, so the
mirror is exactly the remote), runs the unchanged merge queue there, and publishes a
landing with a *plain* push of the target. The remote decides: if the target moved in the
meantime the push is refused, the mirror's ref is put back, and the batch is tried again on
the new tip. Nothing is ever force-pushed to the target.

The push happens inside the landing's store transaction (as the local fast-forward does), so
`swarm mq reject` from any machine waits for it and a landing is all or nothing; the price
is that the team's store writers wait for the push too (a few hundred ms to a LAN remote).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from swarm.errors import SwarmError
from swarm.git.repo import GitError, git

MIRROR_NAME = "team-mirror.git"
TIMEOUT = 120.0


def mirror_path(state_dir: Path) -> Path:
    return state_dir / MIRROR_NAME


def remote_url(repo: Path, remote: str) -> str:
    try:
        return git(repo, "remote", "get-url", remote)
    except GitError:
        raise SwarmError(f"{repo}: no git remote '{remote}' (see `git remote -v`)") from None


def ensure_mirror(repo: Path, state_dir: Path, remote: str) -> Path:
    """The refinery's bare mirror of `remote` (made on first use), fetched up to date."""
    path = mirror_path(state_dir)
    url = remote_url(repo, remote)
    if not (path / "HEAD").exists():
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", "--bare")
        git(path, "remote", "add", "origin", url)
        # The identity the refinery's merge commits carry: the person's, as in the clone.
        for key in ("user.name", "user.email"):
            value = git(repo, "config", key, check=False)
            if value:
                git(path, "config", key, value)
    elif git(path, "remote", "get-url", "origin", check=False) != url:
        git(path, "remote", "set-url", "origin", url)
    sync_mirror(path)
    return path


def sync_mirror(mirror: Path) -> None:
    """Make every branch of the mirror what the remote has now (pushed task branches too)."""
    _run(mirror, "fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/heads/*")


def publish(mirror: Path, branch: str, old: str, new: str) -> tuple[bool, str]:
    """Push `new` to the remote's `branch` as a plain (fast-forward only) push.

    The mirror's own ref was already moved to `new`; when the remote refuses (it moved) the
    ref goes back to `old`, so the mirror never claims a landing the remote does not hold.
    """
    proc = _run(mirror, "push", "-q", "--porcelain", "origin", f"{new}:refs/heads/{branch}",
                check=False)  # fmt: skip
    if proc.returncode == 0:
        return True, ""
    git(mirror, "update-ref", f"refs/heads/{branch}", old, new, check=False)
    words = " ".join((proc.stderr or proc.stdout).split())[:300]
    return False, f"the remote refused the push of {branch} (it moved?): {words}"


def push_task_branch(repo: Path, remote: str, branch: str, head: str | None = None) -> None:
    """A polecat's finished task branch goes to the remote for the team's refinery (pushed by
    its machine's controller: the polecat's sandbox keeps `.git` read-only).

    `head`: the commit `swarm done` recorded (default: the branch as it is). The branch is the
    polecat's own: after a bounce it may have been rebased, so a refused plain push is
    retried with a lease on what the remote had (never on the target).
    """
    spec = f"{head or f'refs/heads/{branch}'}:refs/heads/{branch}"
    plain = _run(repo, "push", "-q", remote, spec, check=False)
    if plain.returncode == 0:
        return
    again = _run(
        repo, "push", "-q", f"--force-with-lease=refs/heads/{branch}", remote, spec, check=False
    )
    if again.returncode != 0:
        words = " ".join((again.stderr or plain.stderr).split())[:300]
        raise SwarmError(f"could not push {branch} to {remote}: {words}")


def adopt_task_branch(repo: Path, remote: str, branch: str) -> None:
    """A task that comes back (re-run after its machine was lost, bounced to another
    machine) continues from what was pushed for it, if this clone has no branch of its own."""
    if git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False):
        return
    spec = f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"
    fetched = _run(repo, "fetch", "-q", remote, spec, check=False)
    if fetched.returncode == 0:
        git(repo, "branch", "-q", "--no-track", branch, f"refs/remotes/{remote}/{branch}")


def fetch_target(repo: Path, remote: str, branch: str) -> str:
    """The remote's target, fetched: new work starts from what the team merged."""
    _run(repo, "fetch", "-q", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    return tracking_ref(remote, branch)


def tracking_ref(remote: str, branch: str) -> str:
    """The remote's target as last fetched (a confined `swarm done` cannot fetch)."""
    return f"refs/remotes/{remote}/{branch}"


def _run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise SwarmError(f"git {args[0]} in {repo}: no answer in {TIMEOUT:.0f}s") from None
    if check and proc.returncode != 0:
        words = " ".join((proc.stderr or proc.stdout).split())[:300]
        raise SwarmError(f"git {args[0]} in {repo}: {words or f'exit {proc.returncode}'}")
    return proc
