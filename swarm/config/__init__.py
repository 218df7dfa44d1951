"""Layout and role files -> `SwarmPlan`: find, load (with positions), validate, expand.

Only the standard library and PyYAML are imported here: `swarm up` must start fast.
"""

from __future__ import annotations

from swarm.config.expand import LayoutSummary, load_plan, session_name, summarize, validate_layout
from swarm.config.layouts import bundled_layouts, find_layout, list_layouts, load_layout
from swarm.config.roles import PROMPT_PLACEHOLDERS, check_role_file, render_prompt
from swarm.errors import SwarmError


def error_report(error: SwarmError) -> tuple[str, int]:
    """What the CLI prints for a failure (one line) and the exit code it exits with."""
    return " ".join(error.message.splitlines()), error.exit_code


__all__ = [
    "PROMPT_PLACEHOLDERS",
    "LayoutSummary",
    "bundled_layouts",
    "check_role_file",
    "error_report",
    "find_layout",
    "list_layouts",
    "load_layout",
    "load_plan",
    "render_prompt",
    "session_name",
    "summarize",
    "validate_layout",
]
