"""One config system: plain dataclasses, read from JSON, overridden by `a.b=value`, turned into flags.

Every knob lives once, as a dataclass field with its default and (for the command line) its help:

    steps: int = field(default=1000, metadata={"help": "optimizer steps in total"})

- `from_dict(cls, d)` builds a (nested) dataclass from JSON, naming unknown keys.
- `override(obj, "a.b", "value")` returns `obj` with one field replaced, parsed as that field's
  type (frozen and nested dataclasses included); `apply_overrides(obj, ["a.b=v", ...])` does many.
- `egovla.config.flags` turns a dataclass's fields into argparse flags and back, so a command's
  defaults and help come from the dataclasses it fills (`egovla.cli`).

Named presets (`egovla.jobs.demo.PRESETS`) are instances of these dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

NONE_WORDS = ("none", "null")
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def field_types(cls: type) -> dict[str, Any]:
    """{field name: resolved type annotation} of a dataclass (string annotations resolved)."""
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if (typing.get_origin(tp) in (typing.Union, types.UnionType)) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    return tp, False


def parse_value(raw: str, tp: Any, what: str) -> Any:
    """A command-line string as a value of type `tp`: bool, int, float, str, Path, tuples of those
    (comma-separated), and X | None ('none')."""
    inner, optional = _unwrap_optional(tp)
    if optional and raw.strip().lower() in NONE_WORDS:
        return None
    origin = typing.get_origin(inner)
    if origin in (tuple, list):
        args = typing.get_args(inner)
        item = args[0] if args else str
        if item is Ellipsis or (len(args) == 2 and args[1] is not Ellipsis):
            item = args[0]
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        values = [parse_value(p, item, what) for p in parts]
        return tuple(values) if origin is tuple else values
    if inner is bool:
        low = raw.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise ValueError(f"{what}: expected true or false, got {raw!r}")
    if inner in (int, float):
        try:
            return inner(raw)
        except ValueError:
            raise ValueError(f"{what}: expected {'an integer' if inner is int else 'a number'}, got {raw!r}") from None
    if inner is typing.Any:
        return raw
    if isinstance(inner, type) and not dataclasses.is_dataclass(inner):
        return inner(raw)  # str, Path
    raise ValueError(f"{what}: cannot set a field of type {tp} from the command line")


def from_dict(cls: type, d: dict[str, Any]) -> Any:
    """Build a (nested) dataclass from a dict, rejecting unknown keys by name."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(fields)}")
    types_ = field_types(cls)
    kwargs = {}
    for name, value in d.items():
        tp, _ = _unwrap_optional(types_[name])
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            kwargs[name] = from_dict(tp, value)
        elif typing.get_origin(tp) is tuple and isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def override(obj: Any, path: str, raw: str) -> Any:
    """`obj` with the field at dotted `path` set to `raw` parsed as that field's type (a new object)."""
    head, _, rest = path.partition(".")
    if not dataclasses.is_dataclass(obj):
        raise ValueError(f"override {path}={raw}: {type(obj).__name__} has no fields")
    names = {f.name for f in dataclasses.fields(obj)}
    if head not in names:
        raise ValueError(f"override {path}={raw}: {type(obj).__name__} has no field {head!r}; "
                         f"fields: {', '.join(sorted(names))}")
    if rest:
        value = override(getattr(obj, head), rest, raw)
    else:
        value = parse_value(raw, field_types(type(obj))[head], f"override {path}={raw}")
    return dataclasses.replace(obj, **{head: value})


def split_override(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ValueError(f"override {item!r} must look like field.sub=value")
    path, raw = item.split("=", 1)
    return path.strip(), raw


def apply_overrides(obj: Any, overrides: list[str]) -> Any:
    """`obj` with every 'a.b=value' of `overrides` applied, in order (a new object)."""
    for item in overrides:
        obj = override(obj, *split_override(item))
    return obj
