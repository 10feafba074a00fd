"""What every command shares: the `--set a.b=value` override, and building parsers only when needed.

Each command module has `register(sub, full)`: it adds its subparser (name, help, description) and,
when `full`, its flags, generated from the dataclasses it fills (`egovla.config.flags`). Only the
command being run is built in full, so `egovla inspect` does not import torch to build `egovla train`'s
flags. The subparser's `run` default is the function that runs the command.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from egovla.config import override, split_override

SET_HELP = ("override any field of this command's configs, e.g. {examples}; repeat for several "
            "(roots: {roots})")


def command_parser(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_set(parser: argparse.ArgumentParser, roots: dict[str, str], examples: str) -> None:
    """`--set ROOT.field=value` for the configs named in `roots` ({name: what it is})."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help=SET_HELP.format(examples=examples,
                                             roots="; ".join(f"{k}: {v}" for k, v in roots.items())))


def apply_sets(items: list[str], configs: dict[str, Any], fallback: str | None = None) -> dict[str, Any]:
    """Apply every 'root.a.b=value' of `items` to `configs` ({root: dataclass}); returns the new configs.

    A path whose first part is not a root goes to the `fallback` root with its whole path (the train
    command's policy: `--set head.width=256` means `--set policy.head.width=256`). A root whose value
    is a list collects its overrides as strings (applied later, when that config exists).
    """
    out = dict(configs)
    for item in items:
        path, raw = split_override(item)
        root, _, rest = path.partition(".")
        if root not in out or not rest:
            if fallback is None:
                raise ValueError(f"--set {item}: no config {root!r}; this command has {', '.join(out)}")
            root, rest = fallback, path
        target = out[root]
        if isinstance(target, list):
            out[root] = [*target, f"{rest}={raw}"]
        elif dataclasses.is_dataclass(target):
            out[root] = override(target, rest, raw)
        else:
            raise ValueError(f"--set {item}: {root!r} cannot be overridden")
    return out
