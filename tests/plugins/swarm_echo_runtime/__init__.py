"""A runtime shipped as its own package, declared through the `swarm.runtimes` entry point.

The worked example of docs/runtimes.md: `echo` is a tiny agent CLI (`agent.py`) with no
reports of its own, so the swarm knows its state from its screen (these patterns), and
answers its question with these keys. Installed for the tests by putting this folder (with
its `.dist-info`) on the Python path.
"""

from __future__ import annotations

import sys

from swarm.plan import AgentSpec
from swarm.runtimes.base import LaunchContext, Runtime
from swarm.runtimes.patterns import Pattern, ScreenPatterns

ECHO_PATTERNS = ScreenPatterns(
    waiting=(Pattern(r"Allow this\? \(y/n\)\s*$", within=2, label="echo's question"),),
    busy=(Pattern(r"^echo is thinking", within=1, label="echo thinking"),),
    ready=(Pattern(r"^echo> ?$", within=1, label="echo prompt"),),
)


class EchoRuntime(Runtime):
    name = "echo"
    description = "a tiny agent that echoes, for the plugin example"
    program = None  # runs with the swarm's own interpreter
    key_required = False
    approve_keys = ("y", "Enter")
    refuse_keys = ("n", "Enter")
    patterns = ECHO_PATTERNS

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        return (sys.executable, "-m", "swarm_echo_runtime.agent", agent.name)
