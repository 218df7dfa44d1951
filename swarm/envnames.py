"""The environment every pane of a swarm gets: who it is and where its swarm lives.

This is a contract with everything that runs in a pane (agents call `swarm done` with no
arguments; hooks and the guard find their swarm from it), so its names live here once and
every reader and writer uses these constants.
"""

from __future__ import annotations

from pathlib import Path

AGENT = "SWARM_AGENT"  # the agent's name: polecat-3, mayor, sidebar, controller
ROLE = "SWARM_ROLE"  # the agent's role name
HOME = "SWARM_HOME"  # the swarm's state folder (<repo>/.swarm)
REPO = "SWARM_REPO"  # the repository the swarm works on
TMUX_SOCKET = "SWARM_TMUX_SOCKET"  # the private tmux socket (tmux -L); also an override
SESSION = "SWARM_SESSION"  # the tmux session

IDENTITY = (AGENT, ROLE, HOME, REPO, TMUX_SOCKET, SESSION)


def pane_identity(
    *, agent: str, role: str | None, state_dir: Path, repo: Path, socket: str, session: str
) -> dict[str, str]:
    """The variables one pane is started with (`role` None: a pane that is no agent's)."""
    env = {AGENT: agent} if role is None else {AGENT: agent, ROLE: role}
    return {
        **env,
        HOME: str(state_dir),
        REPO: str(repo),
        TMUX_SOCKET: socket,
        SESSION: session,
    }
