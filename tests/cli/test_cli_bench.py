"""`egovla bench`: the table, the JSON rows, and the errors a user sees."""

from __future__ import annotations

import json

import pytest

from egovla.cli import main
from egovla.model.backbone import BackboneConfig
from egovla.model.config import HeadConfig, PolicyConfig


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    cfg = PolicyConfig(
        backbone=BackboneConfig(image_size=32, vision_hidden=32, text_hidden=32, vision_heads=2, text_heads=2,
                                vision_layers=1, text_layers=1),
        head=HeadConfig(kind="flow", width=32, layers=1, heads=2, flow_steps=3),
        image_height=32, image_width=32, chunk_len=6, n_queries=4,
    )
    path = tmp_path_factory.mktemp("bench") / "config.json"
    path.write_text(json.dumps(cfg.to_dict()))
    return path


def test_bench_prints_one_row_per_lever_set(config_file, tmp_path, capsys):
    out = tmp_path / "rows.json"
    code = main(["bench", "--model", str(config_file), "--levers", "cache;int8", "--runs", "3",
                 "--warmup", "1", "--batch", "2", "--threads", "1", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "p50 ms" in text and "actions/s" in text and "peak MB" in text
    rows = json.loads(out.read_text())
    assert [r["levers"] for r in rows] == ["baseline", "cache", "int8"]
    base, cache, int8 = rows
    assert base["max_dev"] == 0.0 and cache["max_dev"] == 0.0 and 0.0 < int8["max_dev"] < 0.15  # cache is exact
    for r in rows:
        assert r["p90_ms"] >= r["p50_ms"] > 0 and r["peak_mb"] > 0 and r["batch"] == 2
        assert r["actions_per_s"] == pytest.approx(6 * r["chunks_per_s"])
    for line in ("baseline", "cache", "int8"):
        assert any(row.startswith(line) for row in text.splitlines())


def test_bench_names_an_unknown_lever(config_file, capsys):
    assert main(["bench", "--model", str(config_file), "--levers", "cache;warp"]) == 2
    assert "unknown lever 'warp'; valid levers: cache, prune=R" in capsys.readouterr().err


def test_bench_needs_a_model_or_a_policy(tmp_path, capsys):
    assert main(["bench", "--levers", "cache"]) == 2  # a usage error: one of --policy / --model is required
    assert main(["bench", "--model", str(tmp_path / "nope.json"), "--levers", "cache"]) == 2
    assert "not one of tiny, smolvlm2-500m" in capsys.readouterr().err
