"""The sidebar's keys, written once: the footer, the help screen and the command palette
are all built from this table, so they can never disagree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Key:
    key: str  # Textual's key name
    label: str  # how the help screen writes it
    action: str  # the app's action_<name>
    short: str  # the footer's word
    help: str  # one line for the help screen and the palette
    agent: bool = False  # acts on the selected agent
    footer: bool = True  # shown in the footer (the help screen and the palette list every key)


KEYS: tuple[Key, ...] = (
    Key("enter", "⏎", "focus_agent", "focus", "focus the selected agent's pane", agent=True),
    Key("z", "z", "zoom", "zoom", "focus the selected agent's pane, zoomed", agent=True),
    Key("n", "n", "nudge", "nudge", "type a message into the selected agent", agent=True),
    Key("a", "a", "approve", "approve", "approve the selected agent's waiting prompt", agent=True),
    Key("x", "x", "refuse", "refuse", "refuse the selected agent's waiting prompt", agent=True),
    Key("r", "r", "restart", "restart", "restart the selected agent in its pane", agent=True),
    Key(
        "d",
        "d",
        "diff",
        "diff",
        "the selected agent's branch: files changed, +/-",
        agent=True,
        footer=False,
    ),
    Key(
        "o",
        "o",
        "shell",
        "shell",
        "a shell in the selected agent's worktree (new window)",
        agent=True,
        footer=False,
    ),
    Key("t", "t", "add_task", "task", "add a task to the queue (P0..P4 prefix sets priority)"),
    Key("m", "m", "retry_merge", "retry", "retry the selected merge request"),
    Key("R", "R", "reject_merge", "reject", "reject the selected merge request"),
    Key("slash", "/", "filter", "filter", "filter the agents by name, role, state or task"),
    Key("question_mark", "?", "help", "help", "show the keys"),
)

MOVES = (
    ("↑ ↓ j k", "move between agents (or merge requests)"),
    ("tab", "switch between the agents and the merges list"),
    ("click", "select a row; click it again to focus that agent's pane"),
    ("esc", "clear the filter, close a dialog"),
    ("ctrl+p", "command palette: every action, for any agent"),
    ("ctrl+q", "close the sidebar (the swarm goes on; `swarm up` brings it back)"),
)


def by_action(action: str) -> Key:
    return next(k for k in KEYS if k.action == action)
