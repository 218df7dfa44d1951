"""The tmux layer: a private server per swarm, driven in batches."""

from swarm.tmux.client import PaneInfo, Tmux

__all__ = ["PaneInfo", "Tmux"]
