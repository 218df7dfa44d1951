"""Layout files: find (a bundled name or a path), load with positions, validate.

The keys follow tmuxp where they mean the same thing (`windows`, `panes`, `layout`,
`start_directory`, `environment`, `options`) and add the swarm's own: `roles`, `runtime`,
`sidebar`, `keys`, `gate`, `merge`, `polecats_per_window`, `role_paths`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from swarm import paths
from swarm.config.roles import ROLE_NAME_HELP, ROLE_NAME_PATTERN, RoleOverride, RuntimeName
from swarm.config.schema import Coerce, Validator, suggest
from swarm.config.yamlpos import Document, load_document
from swarm.errors import ConfigError, NotFoundError
from swarm.plan import MergeSpec

TmuxLayout = Literal[
    "main-vertical", "main-horizontal", "tiled", "even-horizontal", "even-vertical"
]
MAIN_LAYOUTS = ("main-vertical", "main-horizontal")
DEFAULT_LAYOUT = "team"
NAME_PATTERN = r"[A-Za-z0-9_-]+"
NAME_HELP = "a name of letters, digits, '-' and '_'"
ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        raise ValueError("expected a string or a number (quote yes/no/on/off/true/false)")
    raise ValueError("expected a string or a number")


def _option_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError("expected a string, number or boolean")


def _size(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str):
        match = re.fullmatch(r"([0-9]+)(%?)", value.strip())
        if match and int(match.group(1)) > 0 and (not match.group(2) or int(match.group(1)) < 100):
            return value.strip()
    raise ValueError("expected a size like '60%' or a number of cells")


EnvValue = Annotated[str, Coerce(_env_value, "a string or a number")]
OptionValue = Annotated[str, Coerce(_option_value, "a string, number or boolean")]
Size = Annotated[str, Coerce(_size, "a size like '60%' or a number of cells")]


@dataclass(frozen=True)
class SidebarConfig:
    enabled: bool = True
    side: Literal["left", "right"] = "left"
    width: int = field(default=32, metadata={"min": 20, "max": 120, "help": "columns"})


@dataclass(frozen=True)
class KeysConfig:
    prefix: str = field(
        default="g",
        metadata={
            "pattern": r"\S+",
            "pattern_help": "a tmux key name such as 'g' or 'C-s'",
            "help": "the key after the tmux prefix that enters the swarm key table",
        },
    )


@dataclass(frozen=True)
class WorktreeConfig:
    copy: tuple[str, ...] = field(
        default=(), metadata={"help": "files or folders copied from the checkout (.env)"}
    )
    link: tuple[str, ...] = field(
        default=(), metadata={"help": "files or folders linked to the checkout (node_modules)"}
    )
    setup: tuple[str, ...] = field(
        default=(),
        metadata={"help": "commands run once in a new worktree, in its pane (uv sync, npm ci)"},
    )


@dataclass(frozen=True)
class PaneItem:
    agent: str = field(metadata={"help": "an agent name (polecat-2) or a role name (polecat)"})
    size: Size | None = None


@dataclass(frozen=True)
class WindowConfig:
    name: str = field(
        metadata={
            "pattern": NAME_PATTERN,
            "pattern_help": NAME_HELP,
            "help": "the tmux window name",
        }
    )
    panes: tuple[str | PaneItem, ...] = field(
        metadata={"help": "agent names or role names, in order"}
    )
    layout: TmuxLayout = "tiled"


@dataclass(frozen=True)
class LayoutFile:
    roles: dict[str, RoleOverride | None] = field(
        metadata={
            "key_pattern": ROLE_NAME_PATTERN,
            "key_help": ROLE_NAME_HELP,
            "help": "which roles run and how many, e.g. roles: {polecat: {count: 4}}",
        }
    )
    session: str | None = field(
        default=None, metadata={"pattern": NAME_PATTERN, "pattern_help": NAME_HELP}
    )
    description: str = ""
    repo: str | None = None
    start_directory: str = "."
    runtime: RuntimeName | None = None
    environment: dict[str, EnvValue] = field(
        default_factory=dict,
        metadata={
            "key_pattern": ENV_NAME_PATTERN,
            "key_help": "an environment variable name uses letters, digits and '_'",
        },
    )
    options: dict[str, OptionValue] = field(default_factory=dict)
    polecats_per_window: int = field(default=10, metadata={"min": 1, "max": 100})
    sidebar: SidebarConfig = field(default_factory=SidebarConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    role_paths: tuple[str, ...] = ()
    windows: tuple[WindowConfig, ...] | None = None
    gate: tuple[str, ...] = ()
    merge: MergeSpec = field(default_factory=MergeSpec)
    worktree: WorktreeConfig = field(default_factory=WorktreeConfig)


@dataclass(frozen=True)
class LoadedLayout:
    """A validated layout file and the positions of everything in it."""

    name: str
    path: Path
    layout: LayoutFile
    doc: Document

    def role_overrides(self) -> dict[str, dict[str, Any]]:
        """`roles.<name>` as given (RoleOverride validates partially, into plain dicts)."""
        return role_overrides(self.layout)


def role_overrides(layout: LayoutFile) -> dict[str, dict[str, Any]]:
    roles: dict[str, Any] = layout.roles
    return {name: dict(value or {}) for name, value in roles.items()}


def bundled_layouts() -> dict[str, Path]:
    folder = paths.bundled_dir("layouts")
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def find_layout(name_or_path: str | None, repo: Path | None = None) -> Path:
    """A layout file: None -> the bundled `team`; a path (has `/` or ends in .yaml/.yml,
    relative to the cwd); else a name in `<repo>/.swarm/layouts/` or the bundled layouts."""
    if name_or_path is None:
        name_or_path = DEFAULT_LAYOUT
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise NotFoundError(f"{name_or_path}: no such file (a layout file, or a bundled name)")
        return path  # a folder or a device is refused, with why, where it is read
    if repo is not None:
        for suffix in (".yaml", ".yml"):
            local = paths.state_dir(repo) / "layouts" / f"{name_or_path}{suffix}"
            if local.is_file():
                return local
    bundled = bundled_layouts()
    if name_or_path in bundled:
        return bundled[name_or_path]
    close = suggest(name_or_path, bundled)
    hint = f"did you mean '{close}'? " if close else ""
    raise NotFoundError(
        f"unknown layout '{name_or_path}' ({hint}bundled: {', '.join(sorted(bundled))})"
    )


def load_layout(path: Path, *, overrides: Mapping[str, Any] | None = None) -> LoadedLayout:
    """Load and validate one layout file (its role files are checked by `expand`)."""
    doc = load_document(path, what="layout")
    if overrides:
        doc.apply_overrides(overrides)
    layout = Validator(doc).model(LayoutFile, doc.data)
    assert isinstance(layout, LayoutFile)
    return LoadedLayout(name=path.stem, path=path, layout=layout, doc=doc)


def layout_agent_count(layout: LayoutFile) -> int:
    return sum(int(value.get("count", 1)) for value in role_overrides(layout).values())


def list_layouts() -> list[tuple[str, str, int]]:
    """(name, description, number of agents) of every bundled layout, by name."""
    rows: list[tuple[str, str, int]] = []
    for name, path in bundled_layouts().items():
        try:
            loaded = load_layout(path)
        except ConfigError as exc:
            rows.append((name, f"(broken: {exc.message})", 0))
            continue
        rows.append((name, loaded.layout.description, layout_agent_count(loaded.layout)))
    return rows
