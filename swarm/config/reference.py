"""The reference of layout and role files, written from the schema models themselves.

Every key, its type, default and limits come from the dataclasses the validator uses, so
the document cannot describe a key that does not exist or miss one that does; the words
come from each field's `help` metadata, else from `DESCRIPTIONS` below (a test checks that
every key is described and that `DESCRIPTIONS` names no key that is gone, and that the
committed `docs/layouts.md` is exactly what this module writes).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from swarm.config.layouts import LayoutFile, bundled_layouts, load_layout, role_overrides
from swarm.config.roles import RoleFile
from swarm.config.schema import Coerce

# Words for the keys whose field carries no `help` (dotted paths; `*` is any map key).
DESCRIPTIONS: dict[str, str] = {
    "session": "the tmux session name (default: the repository's folder and the layout name)",
    "description": "one line shown by `swarm layouts`",
    "repo": "the repository to run on, relative to the one `swarm up` is given",
    "start_directory": "where panes start, relative to the repository",
    "runtime": "the runtime of every role that does not name its own (builtin loops stay)",
    "environment": "variables set in every pane",
    "options": "tmux options set on the swarm's own server (e.g. mouse: on)",
    "polecats_per_window": "polecats per window before another window is opened",
    "sidebar": "the Textual sidebar pane",
    "sidebar.enabled": "show the sidebar",
    "sidebar.side": "which side of the first window",
    "keys": "the swarm's tmux key table",
    "role_paths": "more folders to find role files in, relative to the layout file",
    "windows": "the tmux windows and the panes in each (default: one window per role group)",
    "windows.*.layout": "the tmux layout of the window",
    "windows.*.panes.*.size": "the pane's size: '60%' or a number of cells",
    "gate": "shell commands every merge must pass, run in order in the refinery's worktree",
    "merge": "how the refinery merges finished branches",
    "merge.strategy": "rebase (linear history) or merge (a merge commit per request)",
    "merge.batch_size": "requests tested together in one gate run",
    "merge.batch_wait": "seconds to wait for a batch to fill",
    "merge.max_bounces": "times a task is sent back before it fails and needs a person",
    "worktree": "how a new polecat worktree is prepared, once, before its first task",
    "roles.*": "a role to run (a file in roles/, .swarm/roles/ or role_paths)",
    "roles.*.description": "one line about the role",
    "roles.*.permissions": "what the agent may do without asking",
    "roles.*.health": "the witness's thresholds for this role",
    "roles.*.guard": "the PreToolUse guard's extra rules",
    "role.name": "the role's name (default: the file name)",
    "role.description": "one line about the role",
    "role.permissions": "what the agent may do without asking",
    "role.health": "the witness's thresholds for this role",
    "role.guard": "the PreToolUse guard's extra rules",
}


@dataclasses.dataclass(frozen=True)
class Key:
    path: str  # dotted; `*` stands for any name or index
    type: str
    default: str
    text: str


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        extra = next((a for a in args[1:] if isinstance(a, Coerce)), None)
        return extra.expected if extra else _type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(parts) + (" | null" if type(None) in args else "")
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
        if dataclasses.is_dataclass(value):
            return ""
    else:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | dict) and not value:
        return "[]" if isinstance(value, tuple) else "{}"
    return str(value)


def _limits(meta: typing.Mapping[str, Any]) -> str:
    low, high = meta.get("min"), meta.get("max")
    if low is None and high is None:
        return ""
    if callable(high):
        high = "100 for polecat, else 10"
    return f" ({low} to {high})" if low is not None else f" (at most {high})"


def _nested(tp: Any) -> type | None:
    """The dataclass inside `tp` (a mapping, a list of them, a map of them), if any."""
    if dataclasses.is_dataclass(tp):
        return tp  # type: ignore[return-value]
    if typing.get_origin(tp) is typing.Annotated:
        return None
    for arg in typing.get_args(tp):
        found = _nested(arg)
        if found is not None:
            return found
    return None


def _star(tp: Any) -> str:
    """The path step to a nested model: `.*` through a list or a map."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _star(inner[0]) if len(inner) == 1 else ".*"
    return ".*" if origin in (tuple, dict) else ""


def model_keys(model: type, prefix: str = "") -> list[Key]:
    hints = typing.get_type_hints(model, include_extras=True)
    partial = bool(getattr(model, "__schema_partial__", False))  # every key optional
    keys: list[Key] = []
    for field in dataclasses.fields(model):
        if field.name.startswith("__"):
            continue
        path = f"{prefix}{field.name}"
        tp = hints[field.name]
        text = str(field.metadata.get("help") or DESCRIPTIONS.get(path, ""))
        default = _default(field)
        if partial and default == "required":
            default = ""
        keys.append(Key(path, _type_name(tp) + _limits(field.metadata), default, text))
        nested = _nested(tp)
        if nested is not None:
            keys.extend(model_keys(nested, f"{path}{_star(tp)}."))
    return keys


def layout_keys() -> list[Key]:
    keys = model_keys(LayoutFile)
    out: list[Key] = []
    for key in keys:
        out.append(key)
        if key.path == "roles":
            star = "roles.*"
            out.append(Key(star, "mapping | null", "", DESCRIPTIONS[star]))
    return out


def role_keys() -> list[Key]:
    return model_keys(RoleFile, "role.")


def _table(keys: list[Key], strip: str = "") -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key in keys:
        name = key.path.removeprefix(strip)
        default = f"`{key.default}`" if key.default and key.default != "required" else key.default
        text = key.text.replace("|", "\\|")
        kind = key.type.replace("|", "\\|")
        lines.append(f"| `{name}` | {kind} | {default} | {text} |")
    return "\n".join(lines)


def reference_markdown() -> str:
    """The whole of docs/layouts.md."""
    bundled = []
    for name, path in bundled_layouts().items():
        layout = load_layout(path).layout
        roles = ", ".join(
            f"{role} × {int(spec.get('count', 1))}" for role, spec in role_overrides(layout).items()
        )
        bundled.append(f"| `{name}` | {layout.description} | {roles} |")
    return "\n".join(
        [
            "# Layouts and roles: the reference",
            "",
            "<!-- Generated by `swarm layouts --reference` from swarm/config/reference.py;",
            "     do not edit by hand (tests/test_newcomer_cli.py checks it is current). -->",
            "",
            "A **layout** (`swarm up NAME|FILE`, or the repository's `swarm.yaml`) says which",
            "roles run, how many, with which runtime, and how windows and panes are arranged.",
            "A mistake is reported as `file:line:col: key.path: what was expected`.",
            "",
            "## Bundled layouts",
            "",
            "| name | description | roles |",
            "|---|---|---|",
            *bundled,
            "",
            "## Layout keys",
            "",
            "`*` stands for any role name, window index or pane index.",
            "",
            _table(layout_keys()),
            "",
            "## Role files",
            "",
            "A role file (`roles/NAME.yaml`, `.swarm/roles/NAME.yaml` or a folder in",
            "`role_paths`) describes one role; a layout overrides any of its keys under",
            "`roles.NAME`. Prompt placeholders: `{agent}`, `{role}`, `{task_id}`,",
            "`{task_title}`, `{branch}`, `{worktree}`, `{repo}`.",
            "",
            _table(role_keys(), strip="role."),
            "",
        ]
    )
