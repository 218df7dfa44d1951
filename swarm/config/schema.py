"""A small validator: plain YAML data -> frozen dataclasses, with one-line errors.

Models are frozen dataclasses whose type hints say what each key holds:
`str`, `int`, `float`, `bool` (a bool is never an int), `Literal[...]`, `list[X]`,
`tuple[X, ...]`, `dict[str, X]`, `X | Y`, `X | None`, nested dataclasses, and
`Annotated[str, Coerce(fn)]` for values converted by a function. Field metadata adds
`min`/`max` (a number, or a function of the key path), `gt` (strictly greater),
`pattern` + `pattern_help` for strings, `key_pattern` + `key_help` for dict keys, and
`help` (shown when a required key is missing).

Errors name `file:line:col: key.path: message`; the first error in document order wins.
A dataclass with `__schema_partial__ = True` validates into a dict of only the keys
given (nested dataclasses too): that is how a layout overrides some fields of a role.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from swarm.config.yamlpos import Document, KeyPath
from swarm.errors import ConfigError


@dataclass(frozen=True)
class Coerce:
    """`Annotated[str, Coerce(fn)]`: `fn(value)` returns the converted value or raises
    `ValueError("expected ...")` whose text becomes the error message (", got X" is added)."""

    convert: Callable[[Any], Any]
    expected: str


def describe_value(value: Any) -> str:
    """How a value is shown after "got": YAML spelling for scalars, kind for collections."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return repr(value) if "\n" not in value else repr(value.split("\n")[0] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def suggest(name: str, known: typing.Iterable[str]) -> str | None:
    """The closest known name, for "did you mean ...?" (None if nothing is close)."""
    import difflib

    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _bound(meta: typing.Mapping[str, Any], key: str, path: KeyPath) -> Any:
    value = meta.get(key)
    return value(path) if callable(value) else value


def _number_words(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def describe_type(hint: Any, meta: typing.Mapping[str, Any], path: KeyPath) -> str:
    """What is expected, as words: "an integer from 0 to 100", "one of a, b"."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        base, *extras = typing.get_args(hint)
        for extra in extras:
            if isinstance(extra, Coerce):
                return extra.expected
        return describe_type(base, meta, path)
    if hint is bool:
        return "true or false"
    if hint is int or hint is float:
        noun = "an integer" if hint is int else "a number"
        low, high, gt = _bound(meta, "min", path), _bound(meta, "max", path), meta.get("gt")
        if low is not None and high is not None:
            return f"{noun} from {_number_words(low)} to {_number_words(high)}"
        if gt is not None:
            return f"{noun} greater than {_number_words(gt)}"
        if low is not None:
            return f"{noun} of at least {_number_words(low)}"
        if high is not None:
            return f"{noun} of at most {_number_words(high)}"
        return noun
    if hint is str:
        return str(meta["pattern_help"]) if "pattern_help" in meta else "a string"
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        args = typing.get_args(hint)
        item = args[0] if args else Any
        if item is str:
            return "a list of strings"
        return "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a mapping"
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return " or ".join(describe_type(a, meta, path) for a in options)
    return str(hint)


class Validator:
    """Validate plain data from one `Document` against dataclass models."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def fail(
        self, path: KeyPath, message: str, *, key: bool = False, at: KeyPath | None = None
    ) -> ConfigError:
        return self.doc.error(path, message, key=key, at=at)

    def expected(
        self, hint: Any, meta: typing.Mapping[str, Any], path: KeyPath, value: Any
    ) -> ConfigError:
        return self.fail(
            path, f"expected {describe_type(hint, meta, path)}, got {describe_value(value)}"
        )

    # -- entry points ---------------------------------------------------------------------

    def model(self, cls: type[Any], data: Any, path: KeyPath = (), *, partial: bool = False) -> Any:
        """Validate `data` (a mapping) into an instance of `cls` (or a dict when partial)."""
        partial = partial or bool(getattr(cls, "__schema_partial__", False))
        if not isinstance(data, dict):
            raise self.fail(path, f"expected a mapping, got {describe_value(data)}")
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        hints = _hints(cls)
        result: dict[str, Any] = {}
        for name, value in data.items():
            here = (*path, name)
            if name not in fields:
                close = suggest(name, fields)
                hint = (
                    f"did you mean '{close}'?"
                    if close
                    else "known keys: " + ", ".join(sorted(fields))
                )
                raise self.fail(path, f"unknown key '{name}' ({hint})", key=True, at=here)
            f = fields[name]
            result[name] = self.value(hints[name], value, here, f.metadata, partial=partial)
        if partial:
            return result
        for name, f in fields.items():
            if name in result:
                continue
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                help_text = f.metadata.get("help")
                extra = f" ({help_text})" if help_text else ""
                raise self.fail(path, f"missing required key '{name}'{extra}")
        return cls(**result)

    def value(
        self,
        hint: Any,
        value: Any,
        path: KeyPath,
        meta: typing.Mapping[str, Any] | None = None,
        *,
        partial: bool = False,
    ) -> Any:
        meta = meta or {}
        origin = typing.get_origin(hint)
        if origin is Annotated:
            base, *extras = typing.get_args(hint)
            for extra in extras:
                if isinstance(extra, Coerce):
                    try:
                        return extra.convert(value)
                    except ValueError as exc:
                        message = str(exc) or f"expected {extra.expected}"
                        raise self.fail(path, f"{message}, got {describe_value(value)}") from None
            return self.value(base, value, path, meta, partial=partial)
        if hint is Any:
            return value
        if origin in (Union, types.UnionType):
            return self._union(hint, value, path, meta, partial)
        if value is None:
            raise self.expected(hint, meta, path, value)
        if dataclasses.is_dataclass(hint):
            assert isinstance(hint, type)
            return self.model(hint, value, path, partial=partial)
        if hint is bool:
            if not isinstance(value, bool):
                raise self.expected(hint, meta, path, value)
            return value
        if hint is int or hint is float:
            return self._number(hint, value, path, meta)
        if hint is str:
            if not isinstance(value, str):
                raise self.expected(hint, meta, path, value)
            pattern = meta.get("pattern")
            if pattern is not None and not re.fullmatch(pattern, value):
                raise self.expected(hint, meta, path, value)
            return value
        if origin is Literal:
            if isinstance(value, bool) or value not in typing.get_args(hint):
                raise self.expected(hint, meta, path, value)
            return value
        if origin in (list, tuple):
            if not isinstance(value, list):
                raise self.expected(hint, meta, path, value)
            args = typing.get_args(hint)
            item_hint = args[0] if args else Any
            items = [
                self.value(item_hint, item, (*path, i), partial=partial)
                for i, item in enumerate(value)
            ]
            return tuple(items) if origin is tuple else items
        if origin is dict:
            if not isinstance(value, dict):
                raise self.expected(hint, meta, path, value)
            _key_hint, item_hint = typing.get_args(hint)
            key_pattern = meta.get("key_pattern")
            out: dict[str, Any] = {}
            for name, item in value.items():
                if key_pattern is not None and not re.fullmatch(key_pattern, name):
                    raise self.fail(
                        path,
                        f"bad name '{name}': {meta.get('key_help', 'not allowed')}",
                        key=True,
                        at=(*path, name),
                    )
                out[name] = self.value(item_hint, item, (*path, name), partial=partial)
            return out
        raise TypeError(f"schema: unsupported type hint {hint!r}")  # a bug in a model

    # -- helpers --------------------------------------------------------------------------

    def _number(self, hint: Any, value: Any, path: KeyPath, meta: typing.Mapping[str, Any]) -> Any:
        ok_types: tuple[type, ...] = (int,) if hint is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_types):
            raise self.expected(hint, meta, path, value)
        assert isinstance(value, int | float)
        low, high, gt = _bound(meta, "min", path), _bound(meta, "max", path), meta.get("gt")
        if (
            (low is not None and value < low)
            or (high is not None and value > high)
            or (gt is not None and value <= gt)
        ):
            raise self.expected(hint, meta, path, value)
        return float(value) if hint is float else value

    def _union(
        self, hint: Any, value: Any, path: KeyPath, meta: typing.Mapping[str, Any], partial: bool
    ) -> Any:
        options = list(typing.get_args(hint))
        if value is None:
            if type(None) in options:
                return None
            raise self.expected(hint, meta, path, value)
        options = [o for o in options if o is not type(None)]
        if len(options) == 1:
            return self.value(options[0], value, path, meta, partial=partial)
        # Pick the alternative that has the value's shape, so its own error is reported.
        for option in options:
            if _shape_matches(option, value):
                return self.value(option, value, path, meta, partial=partial)
        raise self.expected(hint, meta, path, value)


def _shape_matches(hint: Any, value: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _shape_matches(typing.get_args(hint)[0], value)
    if isinstance(value, dict):
        return origin is dict or dataclasses.is_dataclass(hint)
    if isinstance(value, list):
        return origin in (list, tuple)
    if isinstance(value, bool):
        return hint is bool
    if isinstance(value, str):
        return hint is str or (origin is Literal and value in typing.get_args(hint))
    if isinstance(value, int):
        return hint in (int, float)
    if isinstance(value, float):
        return hint is float
    return False


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        _HINTS[cls] = hints
    return hints


def field_help(cls: type) -> dict[str, str]:
    """The `help` text of each field of a model, for documentation and `swarm validate`."""
    return {f.name: str(f.metadata.get("help", "")) for f in dataclasses.fields(cls)}
