"""The SmolVLA-class preset of `egovla bench`: its config, and the bench run on the same structure at toy widths.

The real preset (`--model smolvla`, 404M parameters) takes a while to build on a CPU; here a SmolVLM2-shaped
folder at toy widths (`smolvlm2_500m_spec` with overrides) goes through the very same config builder
(`smolvla_config`): 2 views, the language model cut (2 of 4 layers), state 8 / action 7, chunk 50, a flow
head with 10 steps, and `egovla bench --model CONFIG.json` measures it.
"""

from __future__ import annotations

import json

import pytest
import torch

from egovla.cli import main
from egovla.jobs.bench import BenchConfig, build_model
from egovla.model.presets import SMOLVLA, smolvla_config, smolvlm2_500m_spec
from egovla.model.config import HeadConfig
from egovla.model.heads.flow import FlowHead

TOY_TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 16}
TOY_VISION = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "patch_size": 8}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """(config JSON, spec folder): the preset's structure at toy widths, 64 px."""
    root = tmp_path_factory.mktemp("smolvla")
    spec = smolvlm2_500m_spec(root / "smolvlm2-toy", image_size=64, text=TOY_TEXT, vision=TOY_VISION)
    cfg = smolvla_config(spec, 64, head_width=32, head_layers=1, head_heads=2, text_layers_kept=2)
    path = root / "config.json"
    path.write_text(json.dumps(cfg.to_dict()))
    return path, spec


def test_the_preset_has_smolvlas_structure():
    cfg = smolvla_config("/no/weights/needed")
    assert cfg.backbone.kind == "hf" and cfg.backbone.text_layers_kept == 16 and cfg.backbone.max_text_len == 48
    assert (cfg.n_views, cfg.n_history, cfg.image_height, cfg.image_width) == (2, 1, 256, 256)
    assert (cfg.state_dim, cfg.action_dim, cfg.chunk_len) == (8, 7, 50)
    assert cfg.head.kind == "flow" and cfg.head.flow_steps == 10
    assert (cfg.head.width, cfg.head.layers) == (720, 12)  # SmolVLA's expert width (0.75 x 960)
    assert smolvla_config("x", 512).image_height == 512
    with pytest.raises(ValueError, match="unknown sizes"):
        smolvla_config("x", head_depth=3)


def test_the_preset_head_is_smolvla_expert_sized():
    head = FlowHead(HeadConfig(kind="flow", width=SMOLVLA["head_width"], layers=SMOLVLA["head_layers"],
                               heads=SMOLVLA["head_heads"]), SMOLVLA["n_queries"], 50, 7, torch.ones(7))
    assert 95e6 < sum(p.numel() for p in head.parameters()) < 105e6  # SmolVLA's action expert: ~98M


def test_the_smolvlm2_folder_is_smolvlm2_sized(toy):
    _, spec = toy
    config = json.loads((spec / "config.json").read_text())
    assert config["model_type"] == "smolvlm" and config["scale_factor"] == 4 and config["image_token_id"] == 49190
    assert config["text_config"]["vocab_size"] == 49280 and config["vision_config"]["image_size"] == 64
    assert json.loads((spec / "processor_config.json").read_text())["image_seq_len"] == 4  # (64 / 8 / 4) ** 2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(spec)
    assert len(tok) == 49280 and tok.convert_tokens_to_ids("<image>") == 49190 and tok.pad_token_id == 2
    assert tok.convert_tokens_to_ids("<fake_token_around_image>") == 49189
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json",
                 "video_preprocessor_config.json", "chat_template.json"):
        assert (spec / name).is_file()


def test_the_bench_builds_the_toy_preset_with_its_cut(toy):
    path, _ = toy
    policy, what = build_model(BenchConfig(model=str(path), threads=1))
    assert "random weights" in what
    assert len(policy.backbone.vlm.text_model.layers) == 2  # 2 of the folder's 4
    assert policy.config.image_shape == (1, 2, 3, 64, 64)
    from egovla.jobs.bench import observation

    chunk = policy.predict_chunk(observation(policy.config, 1, 0, policy.normalizer))
    assert chunk.shape == (1, 50, 7)


def test_egovla_bench_measures_the_toy_preset(toy, tmp_path, capsys):
    path, _ = toy
    out = tmp_path / "rows.json"
    code = main(["bench", "--model", str(path), "--levers", "cache", "--runs", "2", "--warmup", "1",
                 "--threads", "1", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    base, cache = json.loads(out.read_text())
    assert (base["levers"], cache["levers"]) == ("baseline", "cache")
    assert cache["max_dev"] == 0.0  # the cache lever is exact
    for row in (base, cache):
        assert row["p90_ms"] >= row["p50_ms"] > 0 and row["actions_per_s"] == pytest.approx(50 * row["chunks_per_s"])


def test_the_image_size_option_is_for_the_smolvla_presets():
    assert BenchConfig(model="smolvla", image_size=128).image_size == 128
    assert "smolvla-512" in BenchConfig.__dataclass_fields__["model"].metadata["help"]
    with pytest.raises(ValueError, match="--image-size applies to the smolvla presets"):
        BenchConfig(model="tiny", image_size=128)
