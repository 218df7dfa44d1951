"""OS confinement of an agent: its processes can write only where the swarm lets them.

The guard (swarm/guard.py) reads commands and can be talked around; the kernel cannot. A
confined polecat runs under bubblewrap (`bwrap`, Debian's `bubblewrap`): the whole file
system is mounted read-only, then only these are writable again:

- its worktree (`.swarm/worktrees/<agent>`), minus the `.git` link file;
- the narrow git paths a commit needs: the worktree's own git folder
  (`.git/worktrees/<n>`, minus `commondir` and `gitdir`), the swarm's branch namespace
  (`refs/heads/swarm/` and its reflogs), and an object store of its own
  (`.git/swarm-objects/<agent>`, where `GIT_OBJECT_DIRECTORY` points; the repository's
  `.git/objects` is read through `GIT_ALTERNATE_OBJECT_DIRECTORIES`, read-only);
- the swarm's state folder `.swarm/` for the store's files (`swarm.db`, its WAL and
  journal), with every other entry there (other worktrees, other agents' Claude folders,
  roles, the `swarm` shim …) mounted read-only again, and its own folders there
  (`.swarm/claude/<agent>`) writable;
- a private, empty `/tmp` and `/var/tmp` (they also hide the tmux socket: a process that
  reached the swarm's tmux server could run anything in another pane).

Why this git layout and not a clone per polecat: the refinery, `swarm done` and the
controller all read the task branch in the person's repository, as they do today; what a
polecat must not touch — the person's checkout, their branches and objects, `.git/config`
and hooks — stays read-only. The repository lists each polecat's object store in
`.git/objects/info/alternates`, so every swarm process reads a polecat's commits; the
refinery copies a commit's objects into `.git/objects` (re-hashed by `index-pack`) before
it lands (`keep_objects`), so the person's history never depends on a polecat's store.
The pointers git follows out of a worktree (`<wt>/.git`, `commondir`) are read-only too,
so a polecat cannot point the controller's `git checkout` in its worktree at a repository
(and a config) of its own. `GIT_OBJECT_DIRECTORY` applies to every repository the agent's
git touches inside the sandbox (a scratch repository in /tmp keeps its objects in the
agent's store).

Also: a new PID namespace (no signal or ptrace to processes outside), all capabilities
dropped (root in a container cannot remount), `/proc/sys` read-only, a fresh `/dev`.
The network stays: agents call their model's API.

Pure parts (`confine`, `polecat_mounts`) build argvs; `run` is the pane-time entry
(`python -m swarm.sandbox …`) that resolves the git paths, makes the folders that must
exist, and becomes bwrap.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

BWRAP = "bwrap"
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"
# The store's files: the only entries of `.swarm/` a polecat writes (SQLite makes the WAL,
# shm and journal next to the database, so their folder must stay writable).
STORE_FILES = ("swarm.db", "swarm.db-wal", "swarm.db-shm", "swarm.db-journal")
# The agent's own folders in `.swarm/<kind>/<agent>`: Claude Code's config, the sim's inbox.
AGENT_FOLDERS = ("claude", "sim")
# Entries of `.swarm/` made before confinement so they are read-only inside, not creatable.
STATE_SUBDIRS = ("worktrees", "bin", "roles", *AGENT_FOLDERS)
SWARM_REFS = "refs/heads/swarm"

Mode = Literal["rw", "ro", "tmpfs"]


@dataclass(frozen=True)
class Mount:
    path: str
    mode: Mode


def _depth(path: str) -> int:
    return len(Path(path).parts)


def ordered(mounts: Iterable[Mount]) -> list[Mount]:
    """Shallow folders before deep ones (a deeper mount overrides its parent's mode);
    for the same depth the given order is kept."""
    return sorted(mounts, key=lambda m: _depth(m.path))


def confine(
    argv: Sequence[str],
    *,
    writable: Sequence[str] = (),
    readonly: Sequence[str] = (),
    hidden: Sequence[str] = (),
    cwd: str | None = None,
    mounts: Sequence[Mount] = (),
    setenv: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """`argv` run by bwrap with everything read-only but `writable`.

    `readonly` re-binds paths read-only (to override a writable parent, or to show a folder
    under the private /tmp); `hidden` become empty tmpfs. Deeper paths win over shallower
    ones; `mounts` gives the exact order when that is not enough (applied after the rest).
    """
    base = [
        *(Mount(p, "rw") for p in writable),
        *(Mount(p, "tmpfs") for p in hidden),
        *(Mount(p, "ro") for p in readonly),
    ]
    out = [
        BWRAP,
        "--die-with-parent",
        "--unshare-pid",
        "--unshare-ipc",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        # bwrap leaves these writable for root; core_pattern would run a command as root.
        "--ro-bind",
        "/proc/sys",
        "/proc/sys",
        "--ro-bind-try",
        "/proc/sysrq-trigger",
        "/proc/sysrq-trigger",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/var/tmp",
    ]
    for mount in [*ordered(base), *mounts]:
        flag = {"rw": "--bind", "ro": "--ro-bind", "tmpfs": "--tmpfs"}[mount.mode]
        out += [flag, mount.path] if mount.mode == "tmpfs" else [flag, mount.path, mount.path]
    for name, value in (setenv or {}).items():
        out += ["--setenv", name, value]
    if cwd is not None:
        out += ["--chdir", cwd]
    return (*out, "--", *argv)


@functools.cache
def available() -> str | None:
    """None when bwrap can confine here; otherwise why not (one line)."""
    binary = shutil.which(BWRAP)
    if binary is None:
        return f"bwrap not found: {INSTALL_HINT}"
    probe = confine(["true"])
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap cannot run: {exc}"
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        why = lines[-1] if lines else f"exit {done.returncode}"
        return f"bwrap cannot make a sandbox here ({why}); user namespaces may be disabled"
    return None


# --------------------------------------------------------------------------- a polecat


@dataclass(frozen=True)
class GitPaths:
    """Where git keeps a worktree's data: its own folder, and the repository's common one."""

    admin: Path  # <common>/worktrees/<n>
    common: Path  # the repository's .git


def git_paths(worktree: Path, common: Path) -> GitPaths:
    """The worktree's git folder, from its `.git` link; it must lie in `common`'s worktrees.

    Read before the agent runs (by the unconfined launcher), so a link the agent rewrote
    in an unconfined past cannot widen what it may write.
    """
    text = (worktree / ".git").read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        raise ValueError(f"{worktree}/.git is not a worktree link")
    admin = (worktree / text.removeprefix("gitdir:").strip()).resolve()
    if admin.parent != (common / "worktrees").resolve():
        raise ValueError(f"{worktree}/.git points outside {common}/worktrees")
    return GitPaths(admin=admin, common=common.resolve())


def common_dir(repo: Path) -> Path:
    """The repository's common git folder (`.git`, or where a linked checkout keeps it)."""
    dot = repo / ".git"
    if dot.is_dir():
        return dot
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def polecat_mounts(
    *,
    worktree: Path,
    repo: Path,
    state_dir: Path,
    git: GitPaths,
    state_entries: Sequence[str],
    own: Sequence[Path] = (),
) -> list[Mount]:
    """The mounts of a confined polecat, in order (see the module's docstring)."""
    mounts = [Mount(str(repo), "ro"), Mount(str(state_dir), "rw")]
    for name in state_entries:
        if name not in STORE_FILES:
            mounts.append(Mount(str(state_dir / name), "ro"))
    mounts += [Mount(str(folder), "rw") for folder in own]
    mounts += [
        Mount(str(worktree), "rw"),
        Mount(str(worktree / ".git"), "ro"),
        Mount(str(git.common / SWARM_REFS), "rw"),
        Mount(str(git.common / "logs" / SWARM_REFS), "rw"),
        Mount(str(git.admin), "rw"),
        Mount(str(git.admin / "commondir"), "ro"),
        Mount(str(git.admin / "gitdir"), "ro"),
    ]
    return ordered(mounts)


def object_store(common: Path, agent: str) -> Path:
    """Where a confined agent's git writes its new objects (the repository's are read-only).

    In the repository's `.git`, not in `.swarm`: a person who deletes `.swarm` keeps the
    swarm's branches whole, and git never meets an alternate that has vanished."""
    return common / "swarm-objects" / agent


def share_objects(common: Path, store: Path) -> None:
    """List `store` in the repository's alternates, once: the controller, `swarm done` and
    the refinery then read a polecat's commits as if they were in `.git/objects`."""
    (store / "pack").mkdir(parents=True, exist_ok=True)
    info = common / "objects" / "info"
    info.mkdir(parents=True, exist_ok=True)
    alternates = info / "alternates"
    with open(info / "alternates.swarm-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lines = alternates.read_text().splitlines() if alternates.exists() else []
        if str(store) not in lines:
            text = "".join(f"{line}\n" for line in [*lines, str(store)])
            tmp = info / f"alternates.{os.getpid()}.tmp"
            tmp.write_text(text)
            tmp.replace(alternates)


def keep_objects(repo: Path, old: str, new: str) -> None:
    """Copy the objects of `new` that `old` lacks into the repository's own store, each
    re-hashed on the way in (`index-pack`), before `new` lands on a branch of the person's:
    landed history must not depend on a swarm folder, nor trust a polecat's files."""
    ahead = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--count", new, f"^{old}"],
        capture_output=True,
        text=True,
        check=True,
    )
    if ahead.stdout.strip() == "0":
        return
    pack = subprocess.Popen(
        ["git", "-C", str(repo), "pack-objects", "--stdout", "--revs", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert pack.stdin is not None and pack.stdout is not None
    pack.stdin.write(f"{new}\n^{old}\n".encode())
    pack.stdin.close()
    index = subprocess.run(
        ["git", "-C", str(repo), "index-pack", "--stdin"],
        stdin=pack.stdout,
        capture_output=True,
        check=False,
    )
    pack.stdout.close()
    if pack.wait() != 0 or index.returncode != 0:
        why = index.stderr.decode(errors="replace").strip() or "git pack-objects failed"
        raise OSError(f"cannot copy the objects of {new[:12]} into {repo}: {why}")


def hidden_places(env: dict[str, str] | os._Environ[str]) -> list[str]:
    """Sockets outside /tmp that would let a confined process act unconfined: the user's
    runtime folder (D-Bus, systemd --user) and a tmux folder moved by TMUX_TMPDIR."""
    places = []
    for var in ("XDG_RUNTIME_DIR", "TMUX_TMPDIR"):
        value = env.get(var)
        if value and os.path.isdir(value) and not value.startswith(("/tmp", "/var/tmp")):
            places.append(value)
    return places


def polecat_argv(
    argv: Sequence[str], *, worktree: Path, repo: Path, state_dir: Path, agent: str
) -> tuple[str, ...]:
    """At pane time: make what must exist, then the confined argv of a polecat."""
    common = common_dir(repo)
    git = git_paths(worktree, common)
    for folder in (common / SWARM_REFS, common / "logs" / SWARM_REFS):
        folder.mkdir(parents=True, exist_ok=True)
    for name in STATE_SUBDIRS:
        (state_dir / name).mkdir(parents=True, exist_ok=True)
    # `swarm` on the agent's PATH (runtimes/claude.py): written here, read-only inside
    from swarm.runtimes.claude import write_swarm_shim

    write_swarm_shim(state_dir / "bin", sys.executable)
    own = [state_dir / kind / agent for kind in AGENT_FOLDERS]
    for folder in own:
        folder.mkdir(parents=True, exist_ok=True)
    store = object_store(git.common, agent)
    share_objects(git.common, store)
    entries = sorted(os.listdir(state_dir))
    mounts = polecat_mounts(
        worktree=worktree,
        repo=repo,
        state_dir=state_dir,
        git=git,
        state_entries=entries,
        own=[*own, store],
    )
    hidden = [Mount(p, "tmpfs") for p in hidden_places(os.environ)]
    git_env = {
        "GIT_OBJECT_DIRECTORY": str(store),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(git.common / "objects"),
    }
    return confine(argv, mounts=[*hidden, *mounts], cwd=str(worktree), setenv=git_env)


def launch_argv(
    argv: Sequence[str], *, worktree: Path, repo: Path, state_dir: Path, agent: str
) -> tuple[str, ...]:
    """The pane's command for a confined polecat: this module, then the agent."""
    return (
        sys.executable,
        "-m",
        "swarm.sandbox",
        str(worktree),
        str(repo),
        str(state_dir),
        agent,
        "--",
        *argv,
    )


def _tell_the_swarm(state_dir: Path, agent: str, why: str) -> None:
    """An event the sidebar shows: this agent runs unconfined. Best effort."""
    try:
        from swarm.paths import db_path
        from swarm.store import Store

        with Store.open(db_path(state_dir)) as store:
            store.add_event("agent.unconfined", f"{agent} is NOT confined: {why}", agent=agent)
    except Exception:  # the agent must start all the same
        return


def run(args: Sequence[str]) -> NoReturn:
    """`python -m swarm.sandbox WORKTREE REPO STATE AGENT -- argv…`: become the confined
    agent. Without a working bwrap the agent runs unconfined, saying so (doctor says it too);
    a worktree whose git link looks wrong is refused."""
    worktree, repo, state, agent, sep, *argv = args
    if sep != "--" or not argv:
        raise SystemExit("usage: python -m swarm.sandbox WORKTREE REPO STATE AGENT -- ARGV…")
    why = available()
    if why is not None:
        print(f"swarm: this agent is NOT confined: {why}", flush=True)
        _tell_the_swarm(Path(state), agent, why)
        os.execvp(argv[0], argv)
    try:
        confined = polecat_argv(
            argv, worktree=Path(worktree), repo=Path(repo), state_dir=Path(state), agent=agent
        )
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        print(f"swarm: cannot confine {agent}: {exc}", flush=True)
        os.execvp("sleep", ["sleep", "2147483647"])
    os.execvp(confined[0], list(confined))


if __name__ == "__main__":
    run(sys.argv[1:])
