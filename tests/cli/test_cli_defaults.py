"""Every command's defaults come from the dataclasses it fills: parsing a command with only its required
arguments gives exactly the dataclasses' own defaults, every flag explains itself, and `--set` reaches
every config of a command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from egovla.cli import build_parser, convert, data, serve, sim, train
from egovla.config.flags import build


@pytest.fixture(autouse=True)
def _no_token_in_the_environment(monkeypatch):
    monkeypatch.delenv("EGOVLA_TOKEN", raising=False)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(argv[0]).parse_args(list(argv))


def test_train():
    from egovla.jobs.train import RunOptions, TrainJob
    from egovla.train.config import TrainConfig

    assert train.configs(parse("train", "--out", "r")) == (TrainJob(), TrainConfig(), RunOptions(out=Path("r")))


def test_demo():
    from egovla.jobs.demo import PRESETS, DemoConfig

    cfg = build(DemoConfig, parse("demo"))
    assert cfg == DemoConfig() and cfg.loop() == PRESETS["demo"]
    assert build(DemoConfig, parse("demo", "--quick")).loop() == PRESETS["demo-quick"]


def test_collect_and_eval():
    from egovla.sim.collect import CollectConfig
    from egovla.sim.evaluate import EvalConfig
    from egovla.sim.tasks import MT10

    c = parse("collect", "metaworld", "--tasks", "push", "--out", "d")
    assert sim.configs(c, CollectConfig) == (CollectConfig(tasks=("push-v3",)), sim.Output(out=Path("d")))
    e = parse("eval", "metaworld", "--tasks", "mt10", "--policy", "oracle", "--out", "e")
    assert sim.configs(e, EvalConfig) == (EvalConfig(tasks=MT10), sim.Output(out=Path("e")))


def test_serve():
    from egovla.serve.server import ServerConfig

    args = parse("serve", "--policy", "p")
    assert build(serve.ServeOptions, args, prefix="opts.") == serve.ServeOptions(policy=Path("p"))
    assert build(ServerConfig, args, prefix="server.") == ServerConfig()


def test_bench():
    from egovla.jobs.bench import BenchConfig

    assert build(BenchConfig, parse("bench", "--model", "tiny"), prefix="bench.") == BenchConfig(model="tiny")


@pytest.mark.parametrize("source", ["egodex", "rlds", "hot3d"])
def test_convert(source):
    from egovla.data.egodex.convert import ConvertConfig
    from egovla.data.hot3d.convert import Hot3DConfig
    from egovla.data.rlds.config import RLDSConfig

    cls = {"egodex": ConvertConfig, "rlds": RLDSConfig, "hot3d": Hot3DConfig}[source]
    args = parse("convert", source, "src", "out")
    assert convert._configs(args, cls) == (cls(), convert.Paths(src=Path("src"), out=Path("out")))
    if source == "egodex":
        assert build(convert.EgoDexSelection, args, prefix="sel.") == convert.EgoDexSelection()


def test_synth_inspect_viz():
    from egovla.data.egodex.synthetic import SyntheticEgoDexConfig

    assert build(SyntheticEgoDexConfig, parse("synth", "egodex", "o"), prefix="cfg.") == SyntheticEgoDexConfig()
    assert build(data.InspectOptions, parse("inspect", "d"), prefix="opts.") == data.InspectOptions(Path("d"))
    assert build(data.VizOptions, parse("viz", "d", "--out", "v.mp4"), prefix="opts.") == data.VizOptions(
        Path("d"), Path("v.mp4"))


def _leaf_parsers(parser: argparse.ArgumentParser):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for child in action.choices.values():
            yield from _leaf_parsers(child)


def test_every_flag_of_every_command_has_help():
    for leaf in _leaf_parsers(build_parser()):
        for action in leaf._actions:
            assert action.help, f"{leaf.prog} {action.option_strings or action.dest}: no help"


def test_set_reaches_each_config_of_a_command():
    job, cfg, _ = train.configs(parse("train", "--out", "r", "--set", "train.weight_decay=0", "--set", "job.holdout=0.2",
                                      "--set", "head.width=256", "--set", "policy.n_queries=4"))
    assert cfg.weight_decay == 0 and job.holdout == 0.2 and job.policy_overrides == ("head.width=256", "n_queries=4")
    from egovla.sim.evaluate import EvalConfig

    e, _ = sim.configs(parse("eval", "metaworld", "--tasks", "push", "--policy", "oracle", "--out", "e", "--set",
                             "eval.env.fovy=40", "--set", "eval.execute=2"), EvalConfig)
    assert e.env.fovy == 40 and e.execute == 2
    with pytest.raises(ValueError, match="EvalConfig has no field 'exekute'"):
        sim.configs(parse("eval", "metaworld", "--tasks", "push", "--policy", "oracle", "--out", "e", "--set",
                          "eval.exekute=2"), EvalConfig)


def test_demo_trains_the_lean_model_and_set_changes_it():
    from egovla.cli.common import apply_sets
    from egovla.jobs.demo import LEAN, PRESETS, PX128

    assert PRESETS["demo-easy"].policy == LEAN == ("backbone.text_layers=1", "head.layers=1")
    assert PRESETS["demo"].policy == PRESETS["mt10-reduced"].policy == LEAN + PX128
    assert PRESETS["mt10"].policy == ()  # GPU: two layers
    loop = apply_sets(["loop.policy=backbone.text_layers=2,head.layers=2"], {"loop": PRESETS["demo"]})["loop"]
    assert loop.policy == ("backbone.text_layers=2", "head.layers=2")
