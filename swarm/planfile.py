"""The resolved plan on disk: `.swarm/plan.json`, written by `swarm up`, read by everyone else.

`swarm up` is the only reader of layout and role files. It expands them into a `SwarmPlan`
and writes that plan here (atomically, with a format version); respawns, the witness, the
refinery and doctor read this file and never the YAML again, so editing `swarm.yaml` while
the swarm runs changes nothing until the next `swarm up`, which says what changes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from pathlib import Path
from typing import Any

from swarm import paths
from swarm.atomic import write_atomic
from swarm.errors import NotFoundError, SwarmError
from swarm.plan import AgentSpec, RoleSpec, SwarmPlan

FORMAT = 1  # bump when a reader of an older swarm could misread the file


class PlanFileError(SwarmError):
    """The plan file is missing, damaged, or written by a newer swarm."""


def write_plan(plan: SwarmPlan) -> Path:
    """Record the plan `swarm up` built (a reader sees the old file or the new, whole)."""
    path = paths.plan_path(plan.state_dir)
    body = _encode(plan)
    roles: dict[str, Any] = {}
    for agent in body["agents"]:  # a role once, however many agents it has
        roles[agent["role"]["name"]] = agent["role"]
        agent["role"] = agent["role"]["name"]
    data = {"format": FORMAT, "roles": roles, "plan": body}
    write_atomic(path, json.dumps(data, indent=1) + "\n")
    return path


def read_plan(state_dir: Path) -> SwarmPlan:
    """The plan of the running swarm; one clear line if it cannot be read."""
    path = paths.plan_path(state_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no plan yet (run `swarm up`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"{path}: unreadable plan ({exc}); run `swarm up` again") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"{path}:{exc.lineno}:{exc.colno}: damaged plan; run `swarm up` again"
        ) from None
    version = data.get("format") if isinstance(data, dict) else None
    if not isinstance(version, int):
        raise PlanFileError(f"{path}: not a swarm plan (no format number); run `swarm up` again")
    if version > FORMAT:
        raise PlanFileError(
            f"{path}: plan format {version} is newer than this swarm reads ({FORMAT}); "
            "upgrade swarm or run `swarm up` with this one"
        )
    try:
        roles = {name: _decode(RoleSpec, role) for name, role in data["roles"].items()}
        body = dict(data["plan"])
        agents = tuple(AgentSpec(name=a["name"], role=roles[a["role"]]) for a in body["agents"])
        plan = _decode(SwarmPlan, {**body, "agents": []})
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as exc:
        raise PlanFileError(f"{path}: damaged plan ({exc!r}); run `swarm up` again") from None
    assert isinstance(plan, SwarmPlan)
    return dataclasses.replace(plan, agents=agents)


def read_plan_if_any(state_dir: Path) -> SwarmPlan | None:
    """The recorded plan, or None when there is none or it cannot be read (for diffs)."""
    try:
        return read_plan(state_dir)
    except SwarmError:
        return None


def plan_changes(old: SwarmPlan, new: SwarmPlan) -> list[str]:
    """What a new `swarm up` changes: `+agent`, `-agent`, `~agent (what: a -> b)`, settings."""
    before = {a.name: a for a in old.agents}
    after = {a.name: a for a in new.agents}
    changes = [f"+{name}" for name in after if name not in before]
    changes += [f"-{name}" for name in before if name not in after]
    for name, agent in after.items():
        if name in before:
            diff = _agent_diff(before[name], agent, old, new)
            if diff:
                changes.append(f"~{name} ({diff})")
    was, now = _settings(old), _settings(new)
    changes += [f"~{name}" for name in was if was[name] != now[name]]
    return changes


def _settings(plan: SwarmPlan) -> dict[str, object]:
    """The parts of a plan besides its agents that a person may change in the layout."""
    return {
        "windows": [
            (w.name, w.layout, w.main_size, w.sidebar_side, w.sidebar_width) for w in plan.windows
        ],
        "environment": plan.environment,
        "options": plan.options,
        "keys": plan.key_prefix,
        "gate": plan.gate,
        "merge": plan.merge,
    }


def describe_changes(changes: list[str]) -> str:
    return "plan changed: " + ", ".join(changes)


def _agent_diff(a: AgentSpec, b: AgentSpec, old: SwarmPlan, new: SwarmPlan) -> str:
    if a.runtime != b.runtime:
        return f"runtime {a.runtime} -> {b.runtime}"
    if a.role.name != b.role.name:
        return f"role {a.role.name} -> {b.role.name}"
    parts = [
        f.name
        for f in dataclasses.fields(a.role)
        if getattr(a.role, f.name) != getattr(b.role, f.name)
    ]
    if _pane(old, a.name) != _pane(new, b.name):
        parts.append("command")
    return ", ".join(dict.fromkeys(p for p in parts if p != "source"))


def _pane(plan: SwarmPlan, name: str) -> tuple[object, ...] | None:
    pane = next((p for p in plan.pane_specs() if p.name == name), None)
    if pane is None:
        return None
    return (pane.command, plan.pane_environment(pane), pane.start_directory)


# -- plain JSON for frozen dataclasses -------------------------------------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(_encode(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


@functools.cache
def _field_types(kind: type) -> dict[str, Any]:
    """A dataclass's fields and their types (resolved once: it is the slow part)."""
    hints = typing.get_type_hints(kind)
    return {f.name: hints[f.name] for f in dataclasses.fields(kind)}


def _decode(kind: Any, value: Any) -> Any:
    """`value` (parsed JSON) as the type `kind` of a plan's field."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        return _decode(next(o for o in options if o is not type(None)), value)
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise ValueError(f"unexpected value {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value, strict=True))
    if origin in (frozenset, set):
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        return origin(_decode(typing.get_args(kind)[0], v) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {value!r}")
        key, item = typing.get_args(kind)
        return {_decode(key, k): _decode(item, v) for k, v in value.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {kind.__name__}")
        hints = _field_types(kind)
        return kind(**{k: _decode(hints[k], v) for k, v in value.items() if k in hints})
    if kind is Path:
        return Path(value)
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind in (str, int, bool) and type(value) is kind:
        return value
    raise TypeError(f"expected {getattr(kind, '__name__', kind)}, got {value!r}")
