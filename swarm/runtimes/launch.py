"""The launch line of an agent's pane for each runtime.

The command is the pane's own command (no shell in between), so `pane_current_command`
names the agent and a dead agent is a dead pane the witness can see.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace
from pathlib import Path

from swarm import paths, sandbox
from swarm.git.worktrees import WORKTREE_ATTEMPTS
from swarm.plan import AgentSpec
from swarm.runtimes.base import LaunchContext, swarm_argv
from swarm.runtimes.registry import get_runtime

__all__ = ["LaunchContext", "launch_command", "swarm_argv"]


def agent_start_directory(agent: AgentSpec, ctx: LaunchContext, default: Path) -> Path:
    """Where tmux starts the pane; a polecat's command then moves into its worktree."""
    return default


def agent_worktree(agent: AgentSpec, ctx: LaunchContext) -> Path | None:
    if agent.role.capabilities.worktree:
        return paths.agent_worktree(ctx.state_dir, agent.name)
    return None


# Run by /bin/sh as the pane's command: enter the worktree, making it on first use (in the
# pane, so the panes of 30 polecats make theirs in parallel and `swarm up` never waits for
# them), then become the agent. A stale registration (folder deleted by hand) is pruned.
_WORKTREE_PRELUDE = f"""\
wt=$1 repo=$2 base=$3; shift 3; n=0
while [ ! -e "$wt/.git" ]; do
  n=$((n + 1)); rm -rf "$wt"
  nice git -C "$repo" worktree add --detach -q "$wt" "$base" && break
  if [ "$n" -ge {WORKTREE_ATTEMPTS} ]; then
    echo "swarm: cannot make the worktree $wt"; exec sleep 2147483647
  fi
  git -C "$repo" worktree prune; sleep "0.$n"
done
cd "$wt" || exit 1
# the layout's worktree set-up (swarm/git/setup.py), once, in view; a failure keeps its reason
[ -z "$SWARM_WORKTREE_SETUP" ] || "$SWARM_SETUP_PYTHON" -m swarm worktree-setup \
  || exec sleep 2147483647
exec "$@"
"""


def in_worktree(argv: tuple[str, ...], worktree: Path, ctx: LaunchContext) -> tuple[str, ...]:
    prelude = ("/bin/sh", "-c", _WORKTREE_PRELUDE, "swarm-agent")
    return (*prelude, str(worktree), str(ctx.repo), ctx.base_ref, *argv)


# Run by /bin/sh first when a role lowers its agents' priority (`nice`). Each pane is a
# session, and where the kernel schedules sessions as groups (autogroup, the default on
# desktop Linux) a process's nice value counts only inside its own session: a hundred busy
# agent sessions would each get as much CPU as the controller's. So the session's group is
# lowered too (any user may lower their own; a kernel without autogroup has no file), and
# the agent, and all it starts, runs niced for a kernel that schedules processes alone.
PRIORITY_PRELUDE = """\
n=$1; shift
{ echo "$n" > /proc/self/autogroup; } 2>/dev/null
exec nice -n "$n" "$@"
"""


def at_priority(argv: tuple[str, ...], nice: int) -> tuple[str, ...]:
    """`argv` run `nice` steps below the swarm's own processes (as it is, for 0)."""
    if nice <= 0:
        return argv
    return ("/bin/sh", "-c", PRIORITY_PRELUDE, "swarm-agent", str(nice), *argv)


def controller_command() -> tuple[str, ...]:
    """The controller restarts itself: its pane runs a tiny shell loop around it."""
    python = shlex.quote(sys.executable)
    loop = (
        f"while :; do {python} -m swarm controller; "
        "echo 'swarm: controller exited; restarting in 1s'; sleep 1; done"
    )
    return ("/bin/sh", "-c", loop)


def _missing(program: str, hint: str) -> tuple[str, ...]:
    message = f"swarm: runtime '{program}' not found on PATH. {hint}"
    # The pane stays open with the message so the person sees why nothing runs.
    script = f"printf '%s\\n' {shlex.quote(message)}; exec sleep 2147483647"
    return ("/bin/sh", "-c", script)


def launch_command(agent: AgentSpec, ctx: LaunchContext) -> tuple[str, ...]:
    """The argv that starts `agent` in its pane (in its worktree, when its role has one)."""
    worktree = agent_worktree(agent, ctx)
    argv = runtime_command(agent, replace(ctx, worktree=worktree))
    if worktree is None:
        return at_priority(argv, agent.role.nice)
    if agent.role.sandbox:  # confined by the OS once its worktree exists (swarm.sandbox)
        argv = sandbox.launch_argv(
            argv,
            worktree=worktree,
            repo=ctx.repo,
            state_dir=ctx.state_dir,
            agent=agent.name,
        )
    return at_priority(in_worktree(argv, worktree, ctx), agent.role.nice)


def runtime_command(agent: AgentSpec, ctx: LaunchContext) -> tuple[str, ...]:
    runtime = get_runtime(agent.runtime)
    binary = runtime.find()
    if binary is None:
        hint = f"Install it ({runtime.install_hint}); `swarm doctor` checks the machine."
        return _missing(runtime.program or runtime.name, hint)
    return runtime.argv(agent, ctx, binary)
