"""Run configuration: plain dataclasses, loaded from YAML plus ``key.sub=value`` overrides.

A config is a (possibly nested) dataclass with type annotations; there is no schema besides the class.
``load_config(DemoConfig, "configs/demo.yaml", ["episodes=3", "env.seed=1"])`` starts from the class
defaults, applies the YAML file, then the overrides, and checks every key and type on the way:

* an unknown key names the full dotted key and lists the valid keys at that level;
* a wrong type names the key, the expected type and the value it got (an int is fine for a float; a YAML
  list becomes a tuple where the field is a tuple);
* malformed YAML names the file, line and column.

Override values are parsed as YAML scalars/flow collections (``episodes=3``, ``video=false``,
``tasks=[TabletopReach,TabletopLift]``, ``max_steps=null``). For fields that accept ``str``, a value that
YAML would read as something else is kept as the text typed (``run_name=2024`` gives ``"2024"``).
Floats in exponent notation without a dot (``1e-3``) are read as floats, unlike plain PyYAML.

Every failure raises ``ConfigError`` (a ``ValueError`` and a ``skill_rl.errors.UserError``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import enum
import os
import re
import types
import typing
from collections import abc
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from .errors import UserError
from .fileio import atomic_write_text

T = TypeVar("T")

__all__ = ["ConfigError", "config_from_dict", "config_to_dict", "dump_config", "load_config", "parse_override"]


class ConfigError(UserError, ValueError):
    """A config file, override or value is invalid; the message names the key (and file) at fault."""


# --------------------------------------------------------------------------------------------- YAML
class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` / ``1E5`` as floats (YAML 1.2 behaviour; PyYAML needs a dot)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _yaml_error_text(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
    return f"{where}: {problem}" + (f" ({context})" if context else "")


def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML in {p}, {_yaml_error_text(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level of a config file must be a mapping of keys, got {type(data).__name__}")
    return data


# --------------------------------------------------------------------------------------------- types
def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and not get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _strip_optional(tp: Any) -> Any:
    if _is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_mapping_type(tp: Any) -> bool:
    return tp in (dict, Mapping) or get_origin(tp) in (dict, Mapping, typing.Mapping)


def _mapping_value_type(tp: Any) -> Any:
    args = get_args(tp)
    return args[1] if len(args) == 2 else Any


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:  # unresolvable forward reference: a bug in the config class, not user input
        raise TypeError(f"cannot resolve the type annotations of config class {cls.__name__}: {exc}") from exc


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _unknown_key(key: str, parent: str, valid: Iterable[str]) -> ConfigError:
    valid = sorted(valid)
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    level = f"under {parent!r}" if parent else "at the top level"
    return ConfigError(f"unknown config key {key!r}{hint}; valid keys {level}: {', '.join(valid)}")


def _convert(value: Any, tp: Any, key: str, base: Any = None) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it in that type (lists -> tuples, etc.)."""
    if tp is Any or tp is object:
        return value
    if _is_union(tp):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, base)
            except ConfigError:
                continue
        raise ConfigError(f"config key {key!r}: expected {_type_name(tp)}, got {_got(value)}")
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise ConfigError(f"config key {key!r}: expected one of {list(choices)}, got {_got(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"config key {key!r}: expected None, got {_got(value)}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r}: expected a mapping for section {tp.__name__}, got {_got(value)}")
        return _from_dict(tp, value, prefix=f"{key}.", base=base if isinstance(base, tp) else None)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, str | PurePath):
            return tp(value)
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        for member in tp:
            if value == member.name or (value == member.value and type(value) is type(member.value)):
                return member
        raise ConfigError(f"config key {key!r}: expected one of {[m.name for m in tp]}, got {_got(value)}")
    elif origin in (list, abc.Sequence) or tp is list:
        if isinstance(value, list | tuple):
            (item_tp,) = get_args(tp) or (Any,)
            return [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is tuple or tp is tuple:
        if isinstance(value, list | tuple):
            args = get_args(tp)
            if not args:
                return tuple(value)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
            if len(value) != len(args):
                raise ConfigError(
                    f"config key {key!r}: expected {_type_name(tp)} ({len(args)} items), got {_got(value)}"
                )
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    elif _is_mapping_type(tp):
        if isinstance(value, Mapping):
            key_tp = get_args(tp)[0] if get_args(tp) else Any
            val_tp = _mapping_value_type(tp)
            return {_convert(k, key_tp, f"{key} (a key)"): _convert(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    elif isinstance(tp, type):
        if isinstance(value, tp):
            return value
    else:  # an annotation we do not model (Callable, a TypeVar...): accept as is
        return value
    raise ConfigError(f"config key {key!r}: expected {_type_name(tp)}, got {_got(value)}")


def _from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "", base: Any = None) -> T:
    fields = _fields(cls)
    hints = _hints(cls)
    parent = prefix[:-1]
    for key in data:
        if key not in fields:
            raise _unknown_key(f"{prefix}{key}", parent, fields)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        dotted = prefix + name
        sub_base = getattr(base, name) if base is not None else _default(f)
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], dotted, base=sub_base)
        elif base is not None:
            kwargs[name] = copy.deepcopy(getattr(base, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required config key {dotted!r} ({_type_name(hints[name])})")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # the class's own __post_init__ validation
        raise ConfigError(f"invalid config {parent or cls.__name__!r}: {exc}") from None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def config_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build the dataclass ``cls`` from a nested mapping, checking keys and types (defaults fill the rest)."""
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"config classes must be dataclasses, got {cls!r}")
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of keys, got {_got(data)}")
    return _from_dict(cls, data)


# --------------------------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[str, Any, str]:
    """``"a.b=3"`` -> ``("a.b", 3, "3")``: the dotted key, the value parsed as YAML, and the raw text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} must look like key=value or section.key=value")
    try:
        value = yaml.load(raw, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        value = _Unparsable(f"{_yaml_error_text(exc)}")
    return key, value, raw


class _Unparsable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _admits_str(tp: Any) -> bool:
    if tp is str or tp is Any:
        return True
    if _is_union(tp):
        return any(_admits_str(a) for a in get_args(tp))
    return isinstance(tp, type) and issubclass(tp, PurePath)


def _apply_override(cls: type, data: dict[str, Any], text: str) -> None:
    key, value, raw = parse_override(text)
    parts = key.split(".")
    node_tp: Any = cls
    node = data
    for i, part in enumerate(parts):
        parent = ".".join(parts[:i])
        dotted = ".".join(parts[: i + 1])
        if dataclasses.is_dataclass(node_tp) and isinstance(node_tp, type):
            fields = _fields(node_tp)
            if part not in fields:
                raise _unknown_key(dotted, parent, fields)
            tp = _hints(node_tp)[part]
        elif _is_mapping_type(node_tp) or node_tp is Any:
            tp = _mapping_value_type(node_tp) if node_tp is not Any else Any
        else:  # unreachable: checked below before descending
            raise ConfigError(f"cannot set {key!r}: {parent!r} is not a section")
        if i == len(parts) - 1:
            node[part] = _override_value(value, raw, tp, key)
            return
        section_tp = _strip_optional(tp)
        is_section = (dataclasses.is_dataclass(section_tp) and isinstance(section_tp, type)) or _is_mapping_type(
            section_tp
        ) or section_tp is Any
        if not is_section:
            raise ConfigError(
                f"cannot set {key!r}: {dotted!r} has type {_type_name(tp)}, not a section; use {dotted}=VALUE"
            )
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node, node_tp = child, section_tp


def _override_value(value: Any, raw: str, tp: Any, key: str) -> Any:
    if isinstance(value, _Unparsable):
        if _admits_str(tp):
            return raw
        raise ConfigError(f"override for {key!r}: {raw!r} is not valid YAML ({value.reason})")
    try:
        _convert(value, tp, key)
    except ConfigError:
        if _admits_str(tp):
            return raw.strip()
        raise
    return value


# --------------------------------------------------------------------------------------------- public API
def load_config(cls: type[T], path: str | os.PathLike[str] | None = None, overrides: Iterable[str] = ()) -> T:
    """Class defaults <- YAML file at ``path`` (optional) <- ``key.sub=value`` overrides, all checked.

    Raises ``ConfigError`` naming the key (and file) on any unknown key, wrong type or malformed YAML.
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"config classes must be dataclasses, got {cls!r}")
    if isinstance(overrides, str):
        overrides = [overrides]
    data = _read_yaml(path) if path is not None else {}
    try:
        for text in overrides:
            _apply_override(cls, data, text)
        return _from_dict(cls, data)
    except ConfigError as exc:
        if path is not None:
            raise ConfigError(f"{path}: {exc}") from None
        raise


def config_to_dict(cfg: Any) -> Any:
    """A dataclass config as plain YAML/JSON-ready data (dicts, lists, str, numbers, bool, None)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, Mapping):
        return {config_to_dict(k): config_to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, list | tuple):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, enum.Enum):
        return cfg.name
    if isinstance(cfg, PurePath):
        return str(cfg)
    if hasattr(cfg, "tolist") and callable(cfg.tolist):  # numpy scalars and arrays
        return config_to_dict(cfg.tolist())
    return cfg


def dump_config(cfg: Any, path: str | os.PathLike[str], header: str | None = None) -> Path:
    """Write ``cfg`` as YAML to ``path`` atomically; ``load_config(type(cfg), path)`` reads it back equal.

    ``header`` (optional) is written first as ``#`` comment lines.
    """
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True, default_flow_style=False)
    if header:
        text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + text
    return atomic_write_text(path, text)
