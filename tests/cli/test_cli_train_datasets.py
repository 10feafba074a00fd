"""`egovla train` on LeRobot v3 datasets: one dataset, and a weighted mixture of two rigs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.lerobot_files import write_dataset

from egovla.cli import main
from egovla.runs import read_record
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.windows import WindowConfig, WindowDataset
from egovla.model.policy import Policy

TINY = ["--batch-size", "4", "--eval-samples", "8", "--chunk-len", "4", "--set", "backbone.image_size=32",
        "--set", "backbone.text_layers=1", "--set", "backbone.vision_layers=1", "--set", "head.layers=1",
        "--no-progress", "--warmup", "2"]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_ds")
    write_dataset(root / "arm", lengths=(20, 16, 18), cameras=2)
    write_dataset(root / "other", lengths=(15, 15), cameras=1, size=16, tasks=("open the drawer",))
    return root


def test_train_from_a_v3_dataset_and_predict(datasets, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(datasets / "arm"), "--history=-0.2,0", "--steps", "4",
                 "--out", str(out), *TINY]) == 0
    cfg = json.loads((out / "policy/config.json").read_text())
    assert (cfg["n_history"], cfg["n_views"], cfg["chunk_len"], cfg["action_dim"]) == (2, 2, 4, 48)
    record = read_record(out)
    assert record.history_s == (-0.2, 0.0) and record.cameras == ("cam0", "cam1") and record.fps == 10
    assert record.datasets[0]["cameras"] == ["observation.images.cam0", "observation.images.cam1"]
    ev = json.loads((out / "eval.json").read_text())
    assert ev["samples"] == 8 and np.isfinite(ev["wrist_error_m"])  # the held-out episode
    policy = Policy.from_pretrained(out / "policy")
    sample = WindowDataset(LeRobotReader(datasets / "arm"), WindowConfig(history=(-0.2, 0.0), chunk_len=4))[10]
    chunk = policy.predict_chunk({k: sample[k] for k in ("images", "image_mask", "instruction", "state", "state_mask")})
    assert chunk.shape == (4, 48) and np.isfinite(chunk).all()


def test_train_on_a_weighted_mixture(datasets, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--dataset", f"{datasets / 'arm'}:3", "--dataset", f"{datasets / 'other'}:1",
                 "--steps", "3", "--out", str(out), *TINY]) == 0
    record = read_record(out)
    assert [d["weight"] for d in record.datasets] == [3.0, 1.0]
    assert record.share[str(datasets / "arm")] == pytest.approx(0.75, abs=0.2)
    assert json.loads((out / "summary.json").read_text())["steps_run"] == 3


def test_synthetic_cannot_be_mixed(datasets, tmp_path, capsys):
    assert main(["train", "--dataset", "synthetic", "--dataset", str(datasets / "arm"), "--steps", "1",
                 "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "cannot be mixed" in capsys.readouterr().err


def test_train_with_auxiliary_targets(tmp_path):
    from helpers.lerobot_files import ENV_STATE

    write_dataset(tmp_path / "ds", lengths=(12, 10), env_dim=8)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(tmp_path / "ds"), "--aux-key", ENV_STATE, "--aux-dims", "0,7",
                 "--aux-weight", "0.5", "--steps", "3", "--out", str(out), *TINY]) == 0
    policy = Policy.from_pretrained(out / "policy")
    assert (policy.config.aux_dim, policy.config.aux_weight) == (2, 0.5)
    assert len(policy.normalizer.stats["aux"]["mean"]) == 2
    spec = read_record(out).datasets[0]
    assert (spec["aux_key"], spec["aux_dims"], spec["has_aux"]) == (ENV_STATE, [0, 7], True)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["metrics"]["aux_loss"]) for r in logged) and logged
