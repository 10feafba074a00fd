"""Command-line flags generated from dataclass fields, and the dataclasses built back from them.

`add_flags(parser, Cls)` adds one flag per field: `--field-name` (or `metadata["flag"]`) with the
field's default, its type (bool: a switch, or `--no-x` when the default is True; tuples: comma
lists; `X | None`: 'none' is None) and `metadata["help"]`, with the default appended to the help.
Other metadata: `positional` (an argument, not a flag), `choices`, `metavar`, `group` (the help
section), `required`, `parse` (a callable for a special spelling, e.g. a task-set name),
`repeat` (the flag may be given several times, each adding one value), `cli: False` (not a flag),
`one_of` (a name shared by fields of which exactly one must be given), `env` (an environment
variable whose value, when set, is the default).

`build(Cls, args)` makes the dataclass from the parsed namespace. Each flag's destination is
`<prefix><field>`, so two dataclasses with a field of the same name can share one command.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from typing import Any

from egovla.config import _unwrap_optional, field_types, parse_value


def _flag_name(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _converter(tp: Any, f: dataclasses.Field):
    parse = f.metadata.get("parse")
    what = _flag_name(f)

    def convert(raw: str) -> Any:
        try:
            return parse(raw) if parse is not None else parse_value(raw, tp, what)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix(f"{what}: ")) from None

    convert.__name__ = getattr(_unwrap_optional(tp)[0], "__name__", "value")
    return convert


def cli_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("cli", True)]


def add_flags(parser: argparse.ArgumentParser, cls: type, *, prefix: str = "", exclude: tuple[str, ...] = (),
              defaults: dict[str, Any] | None = None) -> None:
    """Add a flag for every field of `cls` (except `exclude`); `defaults` replaces some defaults
    (a command whose preset differs from the dataclass's own default)."""
    types_ = field_types(cls)
    groups: dict[str, Any] = {}
    exclusive: dict[str, Any] = {}
    for f in cli_fields(cls):
        if f.name in exclude:
            continue
        m = f.metadata
        tp = types_[f.name]
        if dataclasses.is_dataclass(_unwrap_optional(tp)[0]):
            continue  # a nested config gets its own flags (add_flags on its class, with a prefix)
        default = (defaults or {}).get(f.name, _default(f))
        if m.get("env") and os.environ.get(m["env"]):
            default = os.environ[m["env"]]
        target = parser
        if m.get("group"):
            if m["group"] not in groups:
                groups[m["group"]] = parser.add_argument_group(m["group"])
            target = groups[m["group"]]
        if m.get("one_of"):
            if m["one_of"] not in exclusive:
                exclusive[m["one_of"]] = target.add_mutually_exclusive_group(required=True)
            target = exclusive[m["one_of"]]
        help_ = m.get("help", "").replace("%", "%%")  # argparse %-formats help strings
        kw: dict[str, Any] = {"dest": prefix + f.name}
        if m.get("positional"):
            kw.pop("dest")
            target.add_argument(prefix + f.name, type=_converter(tp, f), help=help_,
                                metavar=m.get("metavar", f.name.upper()))
            continue
        inner, _ = _unwrap_optional(tp)
        if inner is bool and "parse" not in m:
            if default is True:
                name = "--no-" + _flag_name(f).removeprefix("--")
                target.add_argument(name, action="store_false", help=f"turn off: {help_} (on by default)", **kw)
            else:
                target.add_argument(_flag_name(f), action="store_true", help=help_, **kw)
            parser.set_defaults(**{prefix + f.name: bool(default)})
            continue
        if default is not dataclasses.MISSING and default is not None and not m.get("required") \
                and "default" not in help_:
            help_ += f" (default: {_show(default)})".replace("%", "%%")
        kw.update(type=_converter(typing.get_args(inner)[0] if m.get("repeat") else tp, f), help=help_)
        if "choices" in m:
            kw["choices"] = m["choices"]
        kw["metavar"] = m.get("metavar", "{" + ",".join(map(str, m["choices"])) + "}" if "choices" in m else
                              _flag_name(f).lstrip("-").upper().replace("-", "_"))
        if m.get("repeat") or m.get("one_of"):
            kw["action"] = "append" if m.get("repeat") else "store"
            kw["default"] = None
        elif m.get("required"):
            kw["required"] = True
        else:
            kw["default"] = None if default is dataclasses.MISSING else default
        target.add_argument(_flag_name(f), **kw)


def build(cls: type, args: argparse.Namespace, *, prefix: str = "", base: Any = None, **fixed) -> Any:
    """The `cls` instance the parsed flags describe: `base` (default: the dataclass's defaults), with
    every field that has a flag taken from `args`, then `fixed` fields."""
    values = {}
    for f in cli_fields(cls):
        dest = prefix + f.name
        if not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        if f.metadata.get("repeat"):
            if value is None:
                continue
            value = tuple(value)
        elif value is None and f.metadata.get("one_of"):
            continue
        values[f.name] = value
    values.update(fixed)
    if base is not None:
        return dataclasses.replace(base, **values)
    return cls(**values)

