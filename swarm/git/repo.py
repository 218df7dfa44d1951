"""Find the repository a command runs in, and run git in it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from swarm.errors import NotFoundError, SwarmError


class GitError(SwarmError):
    """A git command failed; the message carries git's own first line."""


def git(repo: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    """Run git in `repo` and return its stdout (stripped of the final newline)."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        first = lines[0] if lines else f"exit status {proc.returncode}"
        raise GitError(f"git {args[0]}: {first}")
    return proc.stdout.rstrip("\n")


# git's own discovery is changed by these; with any of them set, git is asked.
_DISCOVERY_ENV = ("GIT_DIR", "GIT_COMMON_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES")


def common_dir_of(start: Path) -> Path | None:
    """The common git folder of the checkout or linked worktree around `start`, found the
    way git finds it (a `.git` folder, or a `.git` file naming a worktree's folder whose
    `commondir` leads back), without a process; None where that is not the plain case
    (git is asked then)."""
    if any(os.environ.get(name) for name in _DISCOVERY_ENV):
        return None
    here = start.absolute()
    try:
        device = here.stat().st_dev
    except OSError:
        return None
    for folder in (here, *here.parents):
        dot = folder / ".git"
        try:
            if folder.stat().st_dev != device:
                return None  # git stops at a file system's edge; let it say so
            if dot.is_dir():
                gitdir = dot
            elif dot.is_file():
                pointer = dot.read_text()
                if not pointer.startswith("gitdir:"):
                    return None
                gitdir = (folder / pointer.removeprefix("gitdir:").strip()).resolve()
            else:
                continue
            common = gitdir
            if (gitdir / "commondir").is_file():
                common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
            if not (common / "HEAD").is_file() or common.stat().st_uid != os.getuid():
                return None  # not plainly a repository, or git's ownership check applies
            return common
        except OSError:
            return None
    return None


def find_repo(start: Path) -> Path:
    """The main repository of `start`, also when `start` is inside one of its worktrees.

    Polecats run in worktrees under `.swarm/worktrees/`; their commands must reach the
    same swarm as the person's checkout, so we follow the common git dir, not the toplevel.
    The plain case is read from the files (every `swarm` command a person runs starts
    here: one process less on a loaded machine); anything else is git's to answer.
    """
    common = common_dir_of(start)
    if common is not None and common.name == ".git":
        return common.parent
    proc = subprocess.run(
        ["git", "-C", str(start), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise NotFoundError(f"{start}: not a git repository (run `git init` first, or pass --repo)")
    common = Path(proc.stdout.strip())
    if common.name == ".git":
        return common.parent
    # A bare repository or an unusual layout: fall back to the toplevel.
    top = subprocess.run(
        ["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    )
    if top.returncode != 0:
        raise NotFoundError(f"{start}: not inside a git work tree")
    return Path(top.stdout.strip())


def exclude_path(repo: Path, pattern: str) -> None:
    """Keep `pattern` out of `git status` without touching the person's tracked files."""
    info = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir")) / "info"
    info.mkdir(parents=True, exist_ok=True)
    exclude = info / "exclude"
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    if pattern not in lines:
        with exclude.open("a") as fh:
            if lines and not exclude.read_text().endswith("\n"):
                fh.write("\n")
            fh.write(pattern + "\n")


def current_branch(repo: Path) -> str:
    return git(repo, "rev-parse", "--abbrev-ref", "HEAD")


def head_sha(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref)
