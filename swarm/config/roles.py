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
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from swarm import paths
from swarm.config.schema import Coerce, Validator, suggest
from swarm.config.yamlpos import Document, KeyPath, load_document
from swarm.plan import Capabilities, HealthSpec, PermissionsSpec, RoleSpec

if TYPE_CHECKING:
    from swarm.runtimes.base import Runtime


def _runtime_name(value: Any) -> str:
    """A runtime the registry knows (built in, or declared by an installed package)."""
    from swarm.runtimes.registry import runtime_names

    names = runtime_names()
    if isinstance(value, str) and value in names:
        return value
    close = suggest(value, names) if isinstance(value, str) else None
    hint = f" (did you mean '{close}'?)" if close else ""
    raise ValueError(f"expected one of {', '.join(names)}{hint}")


RuntimeName = Annotated[str, Coerce(_runtime_name, "a runtime name")]
BuiltinLoop = Literal["witness", "refinery"]
JUMP_KEY_PATTERN = (
    r"[abd-moqrt-y]"  # n, p (next, previous), s, c (sidebar, controller), z (zoom) are taken
)

MAX_AGENTS_PER_ROLE = 100
ROLE_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]*(-[A-Za-z][A-Za-z0-9_]*)*"
ROLE_NAME_HELP = "a role name starts with a letter and uses letters, digits, '_' and '-'"
RESERVED_ROLES = ("sidebar", "controller")
PROMPT_PLACEHOLDERS = ("agent", "role", "task_id", "task_title", "branch", "worktree", "repo")


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

    runtime: RuntimeName = field(
        metadata={"help": "what runs in the pane: sim, claude, builtin, ..."}
    )
    description: str = ""
    prompt: str = field(default="", metadata={"help": "Markdown template sent to the agent"})
    permissions: PermissionsSpec = field(default_factory=PermissionsSpec)
    health: HealthSpec = field(default_factory=HealthSpec)
    guard: GuardConfig = field(default_factory=GuardConfig)
    command: tuple[str, ...] = field(default=(), metadata={"help": "argv for runtime 'command'"})
    capabilities: Capabilities = field(
        default_factory=Capabilities, metadata={"help": "what the role does"}
    )
    loop: BuiltinLoop | None = field(
        default=None, metadata={"help": "the swarm loop a builtin role runs: witness, refinery"}
    )
    key: str | None = field(
        default=None,
        metadata={
            "pattern": JUMP_KEY_PATTERN,
            "pattern_help": "one letter that is not n, p, s, c or z",
            "help": "the key that jumps to its agent in the swarm key table",
        },
    )
    first_message: str = field(
        default="", metadata={"help": "what its agents are told first (placeholders as prompt)"}
    )
    nice: int = field(
        default=0,
        metadata={
            "min": 0,
            "max": 19,
            "help": "CPU priority of its agents below the swarm's own processes and yours "
            "(0: the same, 19: the lowest); under load the controller, witness, refinery and "
            "sidebar keep their share",
        },
    )


@dataclass(frozen=True)
class RoleFile(RoleBody):
    """One `roles/<name>.yaml` file."""

    name: str | None = field(
        default=None, metadata={"pattern": ROLE_NAME_PATTERN, "pattern_help": ROLE_NAME_HELP}
    )


@dataclass(frozen=True)
class RoleOverride(RoleBody):
    """`roles.<name>` in a layout: how many agents, and any role field to override.

    Validated partially: only the keys given are returned (as a dict).
    """

    __schema_partial__: ClassVar[bool] = True

    count: int = field(
        default=1,
        metadata={"min": 0, "max": MAX_AGENTS_PER_ROLE, "help": "how many agents of this role run"},
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


def get_runtime(name: str) -> Runtime:
    from swarm.runtimes.registry import get_runtime as lookup

    return lookup(name)


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
    elif layout_runtime is not None and not get_runtime(role_file.runtime).builtin_loop:
        changes["runtime"] = layout_runtime
        runtime_from = (layout_doc, ("runtime",))
    merged = merge_overrides(role_file, changes)
    assert isinstance(merged, RoleFile)
    runtime = get_runtime(merged.runtime)
    if runtime.uses_role_command and not merged.command:
        doc, at = runtime_from
        raise doc.error(
            at, f"role '{name}': runtime '{runtime.name}' needs a 'command' list (the argv to run)"
        )
    if runtime.builtin_loop and merged.loop is None:
        doc, at = runtime_from
        raise doc.error(
            at, f"role '{name}': runtime '{runtime.name}' needs a 'loop' (witness or refinery)"
        )
    spec = RoleSpec(
        name=name,
        description=merged.description,
        runtime=merged.runtime,
        prompt=merged.prompt,
        permissions=merged.permissions,
        health=merged.health,
        guard_deny=merged.guard.deny,
        sandbox=merged.guard.sandbox,
        command=merged.command,
        source=path,
        capabilities=merged.capabilities,
        loop=merged.loop,
        key=merged.key,
        first_message=merged.first_message,
        nice=merged.nice,
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
