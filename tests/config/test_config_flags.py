"""egovla.config.flags: a dataclass's fields become flags with their defaults and help, and come back."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from egovla.config.flags import add_flags, build


@dataclass(frozen=True)
class Job:
    tasks: tuple[str, ...] = field(metadata={"help": "tasks", "required": True, "parse": lambda s: tuple(s.split("+"))})
    steps: int = field(default=10, metadata={"help": "steps, 50% warm"})
    progress: bool = field(default=True, metadata={"help": "a bar"})
    verbose: bool = field(default=False, metadata={"help": "talk"})
    head: str = field(default="a", metadata={"help": "head", "choices": ("a", "b")})
    token: str | None = field(default=None, metadata={"help": "token", "env": "TEST_EGOVLA_TOKEN"})
    data: tuple[str, ...] = field(default=("x",), metadata={"help": "data", "repeat": True, "flag": "--dataset"})
    policy: str | None = field(default="oracle", metadata={"help": "p", "one_of": "who"})
    server: str | None = field(default=None, metadata={"help": "s", "one_of": "who"})
    hidden: int = field(default=3, metadata={"cli": False})


def parser(**kw) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", exit_on_error=False)
    add_flags(p, Job, prefix="job.", **kw)
    return p


def test_flags_round_trip_to_the_dataclass_with_its_defaults():
    args = parser().parse_args(["--tasks", "a+b", "--policy", "oracle"])
    assert build(Job, args, prefix="job.") == Job(tasks=("a", "b"))
    args = parser().parse_args(["--tasks", "a", "--steps", "3", "--no-progress", "--verbose", "--head", "b",
                                "--dataset", "d1", "--dataset", "d2", "--server", "ws://h:1"])
    assert build(Job, args, prefix="job.") == Job(tasks=("a",), steps=3, progress=False, verbose=True, head="b",
                                                  data=("d1", "d2"), server="ws://h:1")


def test_help_shows_defaults_and_survives_percent_signs(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "steps, 50% warm (default: 10)" in text and "--no-progress" in text and "--hidden" not in text


def test_an_environment_variable_can_give_a_default(monkeypatch):
    monkeypatch.setenv("TEST_EGOVLA_TOKEN", "s3cret")
    assert build(Job, parser().parse_args(["--tasks", "a", "--policy", "p"]), prefix="job.").token == "s3cret"


def test_exactly_one_of_a_group_and_required_flags(capsys):
    for argv in (["--tasks", "a"], ["--tasks", "a", "--policy", "p", "--server", "s"], ["--policy", "p"]):
        with pytest.raises((SystemExit, argparse.ArgumentError)):
            parser().parse_args(argv)
