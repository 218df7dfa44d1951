"""Reading an agent's screen: the fallback signal when a runtime has no hooks.

Only asked for when a signal calls for it (a delivery to confirm, a silent agent to
check), never captured for every pane on every tick.
"""

from __future__ import annotations

from collections.abc import Callable

from swarm.runtimes import claude, others, sim

PendingInput = Callable[[str], bool]


def claude_input_pending(screen: str) -> bool:
    """Claude Code's input line (`❯ ` right under a rule) still holds text.

    A permission menu's `❯ 1. Yes` is a selection, not typed text: counting it as pending
    input would make a delivery press Enter again, and Enter approves the menu.
    """
    return claude.is_input_pending(screen)


_DETECTORS: dict[str, PendingInput] = {
    "sim": sim.is_input_pending,
    "claude": claude_input_pending,
}


def pending_detector(runtime: str) -> PendingInput | None:
    return _DETECTORS.get(runtime)


# Keys that answer a permission prompt, per runtime. Claude Code's menu has "1. Yes"
# selected: Enter approves, Escape refuses; the sim takes the option's number.
_APPROVE: dict[str, tuple[str, ...]] = {"claude": ("Enter",), "sim": ("1",)}
_REFUSE: dict[str, tuple[str, ...]] = {"claude": ("Escape",), "sim": ("3",)}
for _name, _info in others.RUNTIMES.items():
    _APPROVE[_name], _REFUSE[_name] = _info.approve, _info.refuse


def answer_keys(runtime: str, approve: bool) -> tuple[str, ...]:
    table = _APPROVE if approve else _REFUSE
    return table.get(runtime, ("Enter",) if approve else ("Escape",))
