"""Runtimes: what runs in an agent's pane, and how it is launched."""

from swarm.runtimes.launch import LaunchContext, launch_command

__all__ = ["LaunchContext", "launch_command"]
