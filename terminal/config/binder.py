"""Bind parsed TOML tables to frozen dataclasses, with one clear error per mistake.

Supported field types: ``str``, ``int``, ``float`` (ints accepted), ``bool``, ``Literal[...]``,
``X | None``, ``tuple[T, ...]``, ``dict[str, T]`` and nested dataclasses. Unknown keys, wrong types
and missing values raise :class:`~terminal.errors.ConfigError` naming the file, the key path and
what was expected.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from terminal.errors import ConfigError

T = TypeVar("T")


def bind(cls: type[T], data: Mapping[str, Any], *, source: str, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; ``source`` names the file in error messages."""
    if not isinstance(data, Mapping):
        raise _error(source, path, f"expected a table, got {_describe(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields)) or "none"
        raise _error(source, _join(path, unknown[0]), f"unknown key (allowed here: {allowed})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        key_path = _join(path, name)
        if name in data:
            values[name] = _convert(hints[name], data[name], source=source, path=key_path)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise _error(source, key_path, f"missing value (expected {_type_name(hints[name])})")
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:  # __post_init__ validation
        message = str(exc)
        if path and message.startswith((f"{path}:", f"{path}.")):
            # The check already names its key ("face.x ..."): the file, then the message.
            raise ConfigError(f"{source}: {message}") from None
        raise _error(source, path or "(top level)", message) from None


def _convert(tp: Any, value: Any, *, source: str, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(options) == 1:  # "X | None": X's own error is the clearest
            return _convert(options[0], value, source=source, path=path)
        errors = []
        for option in options:
            try:
                return _convert(option, value, source=source, path=path)
            except ConfigError as exc:
                errors.append(exc)
        raise _error(source, path, f"expected {_type_name(tp)}, got {_describe(value)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed or type(value) is not type(allowed[0]):
            choices = " | ".join(repr(a) for a in allowed)
            raise _error(source, path, f"expected one of {choices}, got {value!r}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list | tuple):
            raise _error(source, path, f"expected {_type_name(tp)}, got {_describe(value)}")
        item_type = args[0]
        return tuple(
            _convert(item_type, item, source=source, path=f"{path}[{i}]")
            for i, item in enumerate(value)
        )
    if origin is dict:
        _, item_type = get_args(tp)
        if not isinstance(value, Mapping):
            raise _error(source, path, f"expected a table, got {_describe(value)}")
        return {
            str(k): _convert(item_type, v, source=source, path=_join(path, str(k)))
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        return bind(tp, value, source=source, path=path)
    if tp is bool:
        if not isinstance(value, bool):
            raise _error(source, path, f"expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _error(source, path, f"expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _error(source, path, f"expected a number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _error(source, path, f"expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"unsupported config field type {tp!r} at {path}")  # programming error


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _error(source: str, path: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {path}: {message}")
