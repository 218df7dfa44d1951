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

`options`/`confine` build bwrap's argv (pure); `launch_argv` is the pane's command:
`sandbox.sh`, a short /bin/sh script (no Python started for it: a restart costs what it
did, and slower restarts made tmux 3.3a crash under the witness's respawns in the chaos
test) that makes what must exist, checks the worktree's git link, binds every entry of
`.swarm` read-only but the store's files, lists the agent's object store in the
repository's alternates, and becomes bwrap. Where bwrap cannot run here, the agent starts
unconfined with a line saying so.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BWRAP = "bwrap"
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"

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


def options(
    *,
    writable: Sequence[str] = (),
    readonly: Sequence[str] = (),
    hidden: Sequence[str] = (),
    mounts: Sequence[Mount] = (),
) -> list[str]:
    """bwrap's options: everything read-only but `writable`.

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
    return out + mount_args([*ordered(base), *mounts])


def mount_args(mounts: Iterable[Mount]) -> list[str]:
    out: list[str] = []
    for mount in mounts:
        flag = {"rw": "--bind", "ro": "--ro-bind", "tmpfs": "--tmpfs"}[mount.mode]
        out += [flag, mount.path] if mount.mode == "tmpfs" else [flag, mount.path, mount.path]
    return out


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
    """`argv` run by bwrap with everything read-only but `writable` (see `options`)."""
    out = options(writable=writable, readonly=readonly, hidden=hidden, mounts=mounts)
    for name, value in (setenv or {}).items():
        out += ["--setenv", name, value]
    if cwd is not None:
        out += ["--chdir", cwd]
    return (*out, "--", *argv)


@functools.cache
def available() -> str | None:
    """None when bwrap can confine here; otherwise why not (one line)."""
    if os.environ.get("SWARM_SANDBOX") == "off":
        return "turned off (SWARM_SANDBOX=off)"
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


def common_dir(repo: Path) -> Path:
    """The repository's common git folder (`.git`, or where a linked checkout keeps it)."""
    dot = repo / ".git"
    if dot.is_dir():
        return dot
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
    )
    # Not a repository (yet): planning goes on; the pane's script then refuses to start.
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else dot


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


LAUNCH_SCRIPT = Path(__file__).with_name("sandbox.sh")  # the pane's command: see there


def launch_argv(
    argv: Sequence[str],
    *,
    worktree: Path,
    repo: Path,
    state_dir: Path,
    agent: str,
) -> tuple[str, ...]:
    """The pane's command for an agent with a worktree: confined where bwrap works here,
    else unconfined with a line saying so (doctor and status say it too)."""
    why = available()
    if why is not None:  # say so in the pane and in the store (the sidebar's events)
        note = f"swarm: {agent} is NOT confined: {why}"
        call = "import sys; from swarm.sandbox import tell; tell(*sys.argv[1:])"
        script = f'printf "%s\\n" "$1"; "$2" -c {shlex.quote(call)} "$3" "$4" "$1" || true\n'
        script += 'shift 4; exec "$@"'
        told = (note, sys.executable, str(state_dir), agent)
        return ("/bin/sh", "-c", script, "swarm", *told, *argv)
    shim = f'exec {shlex.quote(sys.executable)} -m swarm "$@"'  # as runtimes/claude.py writes it
    common = str(common_dir(repo).resolve())
    keep = ":".join(sorted(_under_tmp(_python_paths())))
    paths = (str(worktree), str(repo), str(state_dir), agent, common, shim, keep)
    return ("/bin/sh", str(LAUNCH_SCRIPT), *paths, *argv)


def _python_paths() -> list[str]:
    """Where this swarm's Python and its packages live (all read by the agent's `swarm`)."""
    here = Path(__file__).resolve().parent.parent
    found = [*sys.path, sys.prefix, str(Path(sys.executable).parent), str(here)]
    return [p for p in found if p and os.path.isabs(p) and os.path.isdir(p)]


def _under_tmp(folders: Sequence[str]) -> set[str]:
    """The folders the sandbox's private /tmp and /var/tmp would hide (no ':' in them)."""
    return {f for f in folders if f.startswith(("/tmp/", "/var/tmp/")) and ":" not in f}


def tell(state_dir: str, agent: str, note: str) -> None:
    """An event the sidebar shows: this agent runs unconfined. Best effort."""
    try:
        from swarm.paths import db_path
        from swarm.store import Store

        with Store.open(db_path(Path(state_dir))) as store:
            store.add_event("agent.unconfined", note.removeprefix("swarm: "), agent=agent)
    except Exception:  # the agent starts all the same
        return
