"""egovla.config: dataclasses from JSON, `a.b=value` overrides typed by the field, frozen and nested."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from egovla.config import apply_overrides, from_dict, override, parse_value


@dataclass(frozen=True)
class Inner:
    width: int = 8
    rate: float | None = 0.5


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    sizes: tuple[int, ...] = (1, 2)
    betas: tuple[float, float] = (0.9, 0.95)
    on: bool = False
    where: Path | None = None


def test_overrides_parse_by_the_fields_type_and_return_new_objects():
    a = Outer()
    b = apply_overrides(a, ["inner.width=16", "inner.rate=none", "sizes=3,4,5", "betas=0.8,0.9", "on=true",
                            "where=/tmp/x", "name=y=z"])
    assert a == Outer() and b.inner == Inner(16, None) and b.sizes == (3, 4, 5) and b.betas == (0.8, 0.9)
    assert b.on is True and b.where == Path("/tmp/x") and b.name == "y=z"


@pytest.mark.parametrize("item, error", [
    ("inner.depth=3", "Inner has no field 'depth'; fields: rate, width"),
    ("inner.width=wide", "expected an integer, got 'wide'"),
    ("on=maybe", "expected true or false"),
    ("name", "must look like field.sub=value"),
])
def test_bad_overrides_name_the_field(item, error):
    with pytest.raises(ValueError, match=error):
        apply_overrides(Outer(), [item])


def test_from_dict_builds_nested_configs_and_names_unknown_keys():
    assert from_dict(Outer, {"inner": {"width": 3}, "sizes": [7]}) == Outer(inner=Inner(3), sizes=(7,))
    with pytest.raises(ValueError, match=r"Outer: unknown field\(s\) \['colour'\]"):
        from_dict(Outer, {"colour": "red"})


def test_parse_value_types():
    assert parse_value("none", int | None, "f") is None and parse_value("3", int | None, "f") == 3
    assert parse_value("a, b", tuple[str, ...], "f") == ("a", "b") and parse_value("", tuple[str, ...], "f") == ()
    assert override(Inner(), "rate", "0.25").rate == 0.25
