"""YAML loading that keeps the line and column of every key and value.

`load_document` composes the YAML node tree with libyaml (when available), then builds
plain Python data (dicts, lists, scalars) together with a position index keyed by key
path: `("roles", "polecat", "count")` or `("windows", 0, "layout")`. Errors found later
by the validator point back to `file:line:col` through `Document.error`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from swarm.errors import ConfigError

KeyPath = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line, column

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Bounds that keep a hostile file (a cloned repository's swarm.yaml) from exhausting memory or
# the stack: a layout is a few KB with a few hundred values and a nesting depth under 10.
MAX_BYTES = 1_000_000  # the file itself (`/dev/zero` is refused, not read forever)
MAX_VALUES = 100_000  # values after expanding aliases and merge keys (an alias bomb)
MAX_DEPTH = 100  # nesting (libyaml's composer overflows the C stack near 100,000)
OVERRIDE_LOCATION = "<command line>"


def format_path(path: KeyPath) -> str:
    """`("windows", 0, "panes", 1)` -> `windows[0].panes[1]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass
class Document:
    """Plain data loaded from one YAML file, plus where each key and value was written."""

    file: str  # the path as shown in messages
    data: Any
    values: dict[KeyPath, Position] = field(default_factory=dict)
    keys: dict[KeyPath, Position] = field(default_factory=dict)
    overridden: set[KeyPath] = field(default_factory=set)  # paths set from the command line

    def where(self, path: KeyPath, *, key: bool = False) -> str:
        """`file:line:col` of the value (or key) at `path`, else of its nearest parent."""
        for i in range(len(path), -1, -1):
            if path[:i] in self.overridden:
                return OVERRIDE_LOCATION
        probe = path
        if key and probe in self.keys:
            line, col = self.keys[probe]
            return f"{self.file}:{line}:{col}"
        while True:
            if probe in self.values:
                line, col = self.values[probe]
                return f"{self.file}:{line}:{col}"
            if not probe:
                return f"{self.file}:1:1"
            probe = probe[:-1]

    def error(
        self, path: KeyPath, message: str, *, key: bool = False, at: KeyPath | None = None
    ) -> ConfigError:
        """A one-line `ConfigError`: `file:line:col: key.path: message`.

        The position is that of `at` (default: `path`); `key=True` points at the key
        itself rather than its value (an unknown or duplicate key, a bad name).
        """
        where = self.where(path if at is None else at, key=key)
        shown = format_path(path)
        text = f"{where}: {shown}: {message}" if shown else f"{where}: {message}"
        return ConfigError(" ".join(text.split("\n")))

    def apply_overrides(self, overrides: Mapping[str, Any]) -> None:
        """Deep-merge `overrides` (from the command line) into the data, remembering where."""
        if not isinstance(self.data, dict):
            return
        _merge_overrides(self.data, overrides, (), self.overridden)


def _merge_overrides(
    target: dict[str, Any], overrides: Mapping[str, Any], path: KeyPath, marks: set[KeyPath]
) -> None:
    for name, value in overrides.items():
        here = (*path, name)
        current = target.get(name)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge_overrides(current, value, here, marks)
        else:
            target[name] = value
            marks.add(here)


def _pos(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[KeyPath, Position] = {}
        self.keys: dict[KeyPath, Position] = {}
        self.constructor = yaml.constructor.SafeConstructor()
        self.count = 0  # values built so far, aliases counted each time they are expanded

    def _spend(self, node: yaml.Node, path: KeyPath) -> None:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.fail(
                node,
                path[:1],
                f"more than {MAX_VALUES} values once aliases are expanded (an alias bomb?)",
            )
        if len(path) > MAX_DEPTH:
            raise self.fail(node, path[:1], f"nested more than {MAX_DEPTH} levels deep")

    def fail(self, node: yaml.Node, path: KeyPath, message: str) -> ConfigError:
        line, col = _pos(node)
        shown = format_path(path)
        prefix = f"{self.file}:{line}:{col}: "
        return ConfigError(prefix + (f"{shown}: {message}" if shown else message))

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self._spend(node, path)
        self.values[path] = _pos(node)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in self._pairs(node, path):
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, path, "mapping keys must be plain strings")
                name = str(key_node.value)
                if name in result:
                    raise self.fail(key_node, path, f"duplicate key '{name}'")
                self.keys[(*path, name)] = _pos(key_node)
                result[name] = self.build(value_node, (*path, name))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)

    def _pairs(self, node: yaml.MappingNode, path: KeyPath) -> list[tuple[yaml.Node, yaml.Node]]:
        """Key/value nodes with YAML merge keys (`<<: *base`) expanded; explicit keys win."""
        explicit = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                self._spend(source, path)
                if not isinstance(source, yaml.MappingNode):
                    raise self.fail(source, path, "'<<' merges only mappings")
                merged.extend(self._pairs(source, path))
        if not merged:
            return explicit
        names = {k.value for k, _ in explicit}
        seen: set[str] = set()
        extra = []
        for k, v in merged:
            if k.value in names or k.value in seen:
                continue
            seen.add(k.value)
            extra.append((k, v))
        return extra + explicit


def load_document(path: Path, *, what: str = "layout", shown: str | None = None) -> Document:
    """Load one YAML file with positions. Raise `ConfigError` (file:line:col) if malformed."""
    file = shown if shown is not None else str(path)
    try:
        if path.exists() and not path.is_file():  # a folder, a device (/dev/zero), a fifo
            raise ConfigError(f"{file}: not a regular file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{file}:1:1: larger than {MAX_BYTES // 1_000_000} MB: not a {what}")
    return parse_document(decode_text(raw, file), file, what=what)


def decode_text(raw: bytes, file: str) -> str:
    """UTF-8 text, or a `ConfigError` at the line and column of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise ConfigError(f"{file}:{line}:{col}: not UTF-8 text (byte 0x{byte})") from None


def _check_depth(text: str, file: str) -> None:
    """Refuse deep nesting before composing: libyaml recurses on the C stack."""
    depth = 0
    opening = (
        yaml.BlockMappingStartToken,
        yaml.BlockSequenceStartToken,
        yaml.FlowMappingStartToken,
        yaml.FlowSequenceStartToken,
    )
    closing = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    for token in yaml.scan(text, Loader=_Loader):
        if isinstance(token, opening):
            depth += 1
            if depth > MAX_DEPTH:
                line, col = token.start_mark.line + 1, token.start_mark.column + 1
                raise ConfigError(f"{file}:{line}:{col}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(token, closing):
            depth -= 1


def parse_document(text: str, file: str, *, what: str = "layout") -> Document:
    """Parse YAML `text` (shown as `file` in messages) into a `Document`."""
    try:
        _check_depth(text, file)
        root = yaml.compose(text, Loader=_Loader)
        if root is None:
            raise ConfigError(f"{file}:1:1: empty {what}")
        builder = _Builder(file)
        data = builder.build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        raise ConfigError(f"{file}:{line}:{col}: YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (NUL, other controls)
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character
        code = char if isinstance(char, int) else ord(str(char)[:1] or "\0")
        raise ConfigError(
            f"{file}:{line}:{col}: YAML syntax error: character U+{code:04X} is not allowed"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}:1:1: YAML syntax error: {exc}".split("\n")[0]) from None
    return Document(file=file, data=data, values=builder.values, keys=builder.keys)
