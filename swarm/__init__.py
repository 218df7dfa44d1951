"""Swarm: a tmux swarm controller for AI coding agents."""

__version__ = "0.1.0"
