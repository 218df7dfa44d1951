"""The command palette (ctrl+p): every key's action, and each agent action for any agent.

Typing `focus polecat-7` or `approve mayor` reaches an agent without moving the cursor to
it first, which matters with 30 agents in a short pane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from swarm.ui.keys import KEYS

if TYPE_CHECKING:
    from swarm.ui.app import SidebarApp


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    text: str
    help: str
    run: Callable[[], object]


def palette_commands(app: SidebarApp) -> list[PaletteCommand]:
    """Key actions on the selection first, then every agent action for every agent."""
    commands = [
        PaletteCommand(
            f"{key.short}: {key.help}",
            f"key {key.label}",
            _bind(app.run_action_named, key.action),
        )
        for key in KEYS
    ]
    for agent in app.agent_names():
        for key in KEYS:
            if key.agent:
                commands.append(
                    PaletteCommand(
                        f"{key.short} {agent}",
                        key.help.replace("the selected agent", agent),
                        _bind2(app.act_on_agent, key.action, agent),
                    )
                )
    return commands


def _bind(func: Callable[[str], object], arg: str) -> Callable[[], object]:
    return lambda: func(arg)


def _bind2(func: Callable[[str, str], object], a: str, b: str) -> Callable[[], object]:
    return lambda: func(a, b)


class SwarmCommands(Provider):
    """Feeds `palette_commands` to Textual's command palette."""

    def _app(self) -> SidebarApp:
        return cast("SidebarApp", self.app)

    async def discover(self) -> Hits:
        for command in palette_commands(self._app())[: len(KEYS)]:
            yield DiscoveryHit(command.text, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in palette_commands(self._app()):
            score = matcher.match(command.text)
            if score > 0:
                yield Hit(score, matcher.highlight(command.text), command.run, help=command.help)
