"""The launch line of an agent's pane for each runtime.

The command is the pane's own command (no shell in between), so `pane_current_command`
names the agent and a dead agent is a dead pane the witness can see.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from swarm import paths, sandbox
from swarm.errors import ConfigError
from swarm.plan import AgentSpec

KNOWN_RUNTIMES = ("sim", "claude", "codex", "gemini", "aider", "command", "builtin")


@dataclass(frozen=True)
class LaunchContext:
    repo: Path
    state_dir: Path
    socket: str
    session: str
    base_ref: str = "HEAD"  # what a new polecat worktree starts from (the merge target)
    gate: tuple[str, ...] = ()  # the layout's gate commands (agents may run them unasked)


def swarm_argv(*args: str) -> tuple[str, ...]:
    """Run this same swarm installation, whatever PATH says inside the pane."""
    return (sys.executable, "-m", "swarm", *args)


def agent_environment(agent: AgentSpec, ctx: LaunchContext) -> dict[str, str]:
    """The contract every agent relies on: who it is and where the swarm lives."""
    return {
        "SWARM_AGENT": agent.name,
        "SWARM_ROLE": agent.role.name,
        "SWARM_HOME": str(ctx.state_dir),
        "SWARM_REPO": str(ctx.repo),
        "SWARM_TMUX_SOCKET": ctx.socket,
        "SWARM_SESSION": ctx.session,
    }


def agent_start_directory(agent: AgentSpec, ctx: LaunchContext, default: Path) -> Path:
    """Where tmux starts the pane; a polecat's command then moves into its worktree."""
    return default


def agent_worktree(agent: AgentSpec, ctx: LaunchContext) -> Path | None:
    if agent.role.name == "polecat":
        return paths.worktrees_dir(ctx.state_dir) / agent.name
    return None


# Run by /bin/sh as the pane's command: enter the worktree, making it on first use (in the
# pane, so the panes of 30 polecats make theirs in parallel and `swarm up` never waits for
# them), then become the agent. A stale registration (folder deleted by hand) is pruned.
_WORKTREE_PRELUDE = """\
wt=$1 repo=$2 base=$3; shift 3; n=0
while [ ! -e "$wt/.git" ]; do
  n=$((n + 1)); rm -rf "$wt"
  nice git -C "$repo" worktree add --detach -q "$wt" "$base" && break
  if [ "$n" -ge 5 ]; then echo "swarm: cannot prepare the worktree $wt"; exec sleep 2147483647; fi
  git -C "$repo" worktree prune; sleep "0.$n"
done
cd "$wt" && exec "$@"
"""


def in_worktree(argv: tuple[str, ...], worktree: Path, ctx: LaunchContext) -> tuple[str, ...]:
    prelude = ("/bin/sh", "-c", _WORKTREE_PRELUDE, "swarm-agent")
    return (*prelude, str(worktree), str(ctx.repo), ctx.base_ref, *argv)


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
    """The argv that starts `agent` in its pane (in its worktree, for a polecat)."""
    argv = runtime_command(agent, ctx)
    worktree = agent_worktree(agent, ctx)
    if worktree is None:
        return argv
    if agent.role.sandbox:  # confined by the OS once its worktree exists (swarm.sandbox)
        argv = sandbox.launch_argv(
            argv, worktree=worktree, repo=ctx.repo, state_dir=ctx.state_dir, agent=agent.name
        )
    return in_worktree(argv, worktree, ctx)


def runtime_command(agent: AgentSpec, ctx: LaunchContext) -> tuple[str, ...]:
    runtime = agent.runtime
    if runtime == "sim":
        return swarm_argv("agent", "sim")
    if runtime == "builtin":
        return swarm_argv(agent.role.name)
    if runtime == "command":
        if not agent.role.command:
            raise ConfigError(f"role {agent.role.name}: runtime 'command' needs a 'command' list")
        return agent.role.command
    if runtime == "claude":
        from swarm.runtimes import claude

        binary = claude.find_binary()
        if binary is None:
            return _missing(
                "claude",
                "Install it (npm install -g @anthropic-ai/claude-code) or set SWARM_CLAUDE_BIN; "
                "`swarm doctor` checks the machine.",
            )
        return claude.launch_argv(
            agent,
            binary=binary,
            state_dir=ctx.state_dir,
            repo=ctx.repo,
            worktree=agent_worktree(agent, ctx),
            gate=ctx.gate,
        )
    if runtime in ("codex", "gemini", "aider"):
        from swarm.runtimes import others

        program = others.find_program(runtime)
        if program is None:
            install = others.RUNTIMES[runtime].install
            return _missing(runtime, f"Install it ({install}); `swarm doctor` checks the machine.")
        return others.launch_argv(
            runtime, agent, program=program, repo=ctx.repo, worktree=agent_worktree(agent, ctx)
        )
    raise ConfigError(
        f"role {agent.role.name}: unknown runtime '{runtime}' "
        f"(expected one of: {', '.join(KNOWN_RUNTIMES)})"
    )
