"""Role files (`roles/<name>.yaml`): find, load, validate, merge a layout's overrides.

A role says what its agents run (`runtime`), what they are told (`prompt`), what they may
do (`permissions`, `guard`) and when the witness calls them stuck (`health`). A layout's
`roles.<name>` mapping may override any of these fields (mappings merge deeply, lists
replace) and adds `count`.

Search order for `<name>.yaml`: the layout's `role_paths`, then `<repo>/.swarm/roles`,
then the bundled `roles/`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from swarm import paths
from swarm.config.schema import Validator, suggest
from swarm.config.yamlpos import Document, KeyPath, load_document
from swarm.plan import HealthSpec, PermissionsSpec, RoleSpec

Runtime = Literal["sim", "claude", "codex", "gemini", "aider", "command", "builtin"]

ROLE_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]*(-[A-Za-z][A-Za-z0-9_]*)*"
ROLE_NAME_HELP = "a role name starts with a letter and uses letters, digits, '_' and '-'"
RESERVED_ROLES = ("sidebar", "controller")
PROMPT_PLACEHOLDERS = ("agent", "role", "task_id", "task_title", "branch", "worktree", "repo")

_SECONDS = {"gt": 0}


@dataclass(frozen=True)
class PermissionsConfig:
    allow: tuple[str, ...] = field(default=(), metadata={"help": "tools allowed without asking"})
    deny: tuple[str, ...] = field(default=(), metadata={"help": "tools never allowed"})
    skip_permissions: bool = field(default=False, metadata={"help": "skip every permission prompt"})
    auto_approve: tuple[str, ...] = field(
        default=(), metadata={"help": "prompts the swarm answers 'yes' to on the agent's behalf"}
    )


@dataclass(frozen=True)
class HealthConfig:
    startup_grace: float = field(default=20.0, metadata={**_SECONDS, "help": "seconds to start"})
    stall_after: float = field(
        default=300.0, metadata={**_SECONDS, "help": "seconds without progress before 'stalled'"}
    )
    nudge_after: float = field(
        default=120.0, metadata={**_SECONDS, "help": "seconds idle on a hook before a nudge"}
    )
    max_restarts: int = field(
        default=5, metadata={"min": 1, "max": 100, "help": "restarts allowed per restart_window"}
    )
    restart_window: float = field(
        default=900.0, metadata={**_SECONDS, "help": "seconds over which restarts are counted"}
    )


@dataclass(frozen=True)
class GuardConfig:
    deny: tuple[str, ...] = field(
        default=(), metadata={"help": "shell command patterns (fnmatch) the agent may not run"}
    )
    sandbox: bool = field(
        default=True,
        metadata={"help": "confine an agent with a worktree by the OS (bubblewrap) if available"},
    )


@dataclass(frozen=True)
class RoleBody:
    """The fields of a role file that a layout may override."""

    runtime: Runtime = field(metadata={"help": "what runs in the pane: sim, claude, builtin, ..."})
    description: str = ""
    prompt: str = field(default="", metadata={"help": "Markdown template sent to the agent"})
    permissions: PermissionsConfig = field(default_factory=PermissionsConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    command: tuple[str, ...] = field(default=(), metadata={"help": "argv for runtime 'command'"})


@dataclass(frozen=True)
class RoleFile(RoleBody):
    """One `roles/<name>.yaml` file."""

    name: str | None = field(
        default=None, metadata={"pattern": ROLE_NAME_PATTERN, "pattern_help": ROLE_NAME_HELP}
    )


def _count_max(path: KeyPath) -> int:
    return 100 if len(path) >= 2 and path[-2] == "polecat" else 10


@dataclass(frozen=True)
class RoleOverride(RoleBody):
    """`roles.<name>` in a layout: how many agents, and any role field to override.

    Validated partially: only the keys given are returned (as a dict).
    """

    __schema_partial__: ClassVar[bool] = True

    count: int = field(
        default=1,
        metadata={"min": 0, "max": _count_max, "help": "how many agents of this role run"},
    )


def role_search_path(
    layout_file: Path | None, role_paths: tuple[str, ...], repo: Path | None
) -> list[Path]:
    """Folders searched for role files, first match wins."""
    folders: list[Path] = []
    base = layout_file.parent if layout_file is not None else Path.cwd()
    for entry in role_paths:
        folders.append((base / Path(entry).expanduser()).resolve())
    if repo is not None:
        folders.append(paths.state_dir(repo) / "roles")
    folders.append(paths.bundled_dir("roles"))
    return folders


def find_role(name: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def known_roles(folders: list[Path]) -> list[str]:
    names: set[str] = set()
    for folder in folders:
        if folder.is_dir():
            names.update(p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    return sorted(names)


def load_role_file(path: Path) -> tuple[RoleFile, Document]:
    """Load and validate one role file; errors name the role file's own line and column."""
    doc = load_document(path, what="role file")
    role = Validator(doc).model(RoleFile, doc.data)
    assert isinstance(role, RoleFile)
    if role.name is not None and role.name != path.stem:
        raise doc.error(("name",), f"name '{role.name}' does not match the file name '{path.name}'")
    return role, doc


def merge_overrides(base: Any, overrides: dict[str, Any]) -> Any:
    """Deep-merge a partial dict into a dataclass instance: mappings merge, lists replace."""
    changes: dict[str, Any] = {}
    for name, value in overrides.items():
        current = getattr(base, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[name] = merge_overrides(current, value)
        else:
            changes[name] = value
    return dataclasses.replace(base, **changes)


@dataclass(frozen=True)
class ResolvedRole:
    spec: RoleSpec
    count: int


def resolve_role(
    name: str,
    override: dict[str, Any],
    *,
    layout_doc: Document,
    folders: list[Path],
    layout_runtime: str | None,
) -> ResolvedRole:
    """Find `name`'s role file, validate it, and merge the layout's override into it.

    The runtime is, by precedence: `roles.<name>.runtime` in the layout, then the layout's
    top-level `runtime` (except for roles whose file says `builtin`: deterministic loops stay
    loops unless a layout names their runtime explicitly), then the role file's.
    """
    where: KeyPath = ("roles", name)
    if name in RESERVED_ROLES:
        raise layout_doc.error(where, f"'{name}' is reserved for swarm's own pane", key=True)
    path = find_role(name, folders)
    if path is None:
        close = suggest(name, known_roles(folders))
        hint = f" (did you mean '{close}'?)" if close else ""
        searched = ", ".join(str(f) for f in folders)
        raise layout_doc.error(
            where, f"unknown role '{name}'{hint}; no {name}.yaml in {searched}", key=True
        )
    role_file, role_doc = load_role_file(path)
    count = int(override.get("count", 1))
    changes = {k: v for k, v in override.items() if k != "count"}
    runtime_from: tuple[Document, KeyPath] = (role_doc, ("runtime",))
    if "runtime" in changes:
        runtime_from = (layout_doc, (*where, "runtime"))
    elif layout_runtime is not None and role_file.runtime != "builtin":
        changes["runtime"] = layout_runtime
        runtime_from = (layout_doc, ("runtime",))
    merged = merge_overrides(role_file, changes)
    assert isinstance(merged, RoleFile)
    if merged.runtime == "command" and not merged.command:
        doc, at = runtime_from
        raise doc.error(
            at, f"role '{name}': runtime 'command' needs a 'command' list (the argv to run)"
        )
    spec = RoleSpec(
        name=name,
        description=merged.description,
        runtime=merged.runtime,
        prompt=merged.prompt,
        permissions=PermissionsSpec(
            allow=merged.permissions.allow,
            deny=merged.permissions.deny,
            skip_permissions=merged.permissions.skip_permissions,
            auto_approve=merged.permissions.auto_approve,
        ),
        health=HealthSpec(
            startup_grace=merged.health.startup_grace,
            stall_after=merged.health.stall_after,
            nudge_after=merged.health.nudge_after,
            max_restarts=merged.health.max_restarts,
            restart_window=merged.health.restart_window,
        ),
        guard_deny=merged.guard.deny,
        sandbox=merged.guard.sandbox,
        command=merged.command,
        source=path,
    )
    return ResolvedRole(spec=spec, count=count)


_PLACEHOLDER = re.compile(r"\{(" + "|".join(PROMPT_PLACEHOLDERS) + r")\}")


def render_prompt(template: str, values: dict[str, str]) -> str:
    """Fill `{agent}`, `{task_id}`, ... in a prompt; every other brace is left alone."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def check_role_file(path: Path) -> RoleFile:
    """Validate one role file on its own (for `swarm validate roles/x.yaml`)."""
    role, _ = load_role_file(path)
    return role


__all__ = [
    "PROMPT_PLACEHOLDERS",
    "ResolvedRole",
    "RoleFile",
    "RoleOverride",
    "check_role_file",
    "find_role",
    "load_role_file",
    "render_prompt",
    "resolve_role",
    "role_search_path",
]
