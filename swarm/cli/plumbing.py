"""Commands the swarm runs itself (in panes and hooks), kept out of the person's list.

They still parse and have `--help`; `swarm --help` names them once, at the end.
"""

from __future__ import annotations

import argparse

# In the order a curious person would look at them.
PLUMBING = (
    "controller",
    "witness",
    "refinery",
    "sidebar",
    "focus",
    "report",
    "guard",
    "agent",
    "claude-start",
    "worktree-setup",
)
EPILOG = (
    "plumbing (run by the swarm in its panes and hooks, not by people): "
    + ", ".join(PLUMBING)
    + ". Each has --help."
)


def add_plumbing_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, about: str
) -> argparse.ArgumentParser:
    """A subcommand with a description but no `help`, so argparse does not list it."""
    assert name in PLUMBING, name
    return sub.add_parser(name, description=f"(plumbing) {about}")
