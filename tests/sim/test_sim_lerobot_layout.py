"""LeRobot's published Meta-World data (`lerobot/metaworld_mt50`) in egovla: a dataset in its layout
(PNG frames in the parquet, Meta-World's raw 4-D state and action, the moved corner2 camera) reads,
trains, and evaluates closed loop through the raw-action embodiment, so egovla and SmolVLA can be
compared on the very same data."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers.lerobot_mt50 import write_mt50_layout
from PIL import Image

from egovla.cli import main
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.windows import WindowConfig, WindowDataset
from egovla.sim.embodiment import RawEmbodiment
from egovla.sim.metaworld_env import LEROBOT_VIEW, MetaWorldEnv


@pytest.fixture(scope="module")
def mt50(tmp_path_factory):
    return write_mt50_layout(tmp_path_factory.mktemp("mt50") / "ds", tasks=("reach-v3",), episodes=2, size=32)


def test_image_features_read_frame_by_frame(mt50):
    reader = LeRobotReader(mt50)
    assert reader.cameras == ["observation.image"] and reader.camera_hw("observation.image") == (32, 32)
    table = pq.read_table(mt50 / "data/chunk-000/file-000.parquet")
    ep = reader.episodes[1]
    got = reader.frames("observation.image", 1, [0, 5, ep.length - 1])
    for k, i in enumerate([0, 5, ep.length - 1]):
        png = table.column("observation.image")[ep.start + i].as_py()["bytes"]
        np.testing.assert_array_equal(got[k], np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
    sample = WindowDataset(reader, WindowConfig(chunk_len=8))[ep.start + 3]
    assert sample["images"].shape == (1, 1, 3, 32, 32) and sample["state"].shape == (4,)
    assert sample["action"].shape == (8, 4) and sample["action_mask"].all()


def test_the_raw_embodiment_states_and_actions_are_meta_worlds_own():
    with MetaWorldEnv("reach-v3", 0, LEROBOT_VIEW.__class__(**{**LEROBOT_VIEW.__dict__, "size": 32}),
                      RawEmbodiment()) as env:
        obs = env.reset(0)
        np.testing.assert_array_equal(obs["state"], env.raw_observation[:4])
        assert obs["images"]["corner2"].shape == (32, 32, 3)
        assert env.embodiment.command(np.array([2.0, -0.5, 0.1, 1.0, 9.0]), env, obs, obs["hand"]).tolist() == \
            [1.0, -0.5, pytest.approx(0.1), 1.0]
        assert env.sim_model.cam_pos[env.camera_id("corner2")].tolist() == [0.75, 0.075, 0.7]


def test_a_policy_trained_on_that_layout_runs_closed_loop(mt50, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(mt50), "--chunk-len", "8", "--steps", "3", "--batch-size", "4",
                 "--holdout", "0", "--eval-samples", "0", "--out", str(run), "--no-progress", "--threads", "1"]) == 0
    cfg = json.loads((run / "policy/config.json").read_text())
    assert (cfg["state_dim"], cfg["action_dim"], cfg["image_height"]) == (4, 4, 32)
    out = tmp_path / "eval"
    assert main(["eval", "metaworld", "--policy", str(run), "--embodiment", "raw", "--tasks", "reach", "--views",
                 "corner2", "--cameras", "corner2", "--camera-pos", "0.75,0.075,0.7", "--fovy", "0", "--size", "32",
                 "--episodes", "1",
                 "--max-steps", "6", "--videos", "0", "--workers", "1", "--no-progress", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["embodiment"] == "raw" and results["per_episode"][0]["steps"] == 6
    assert main(["eval", "metaworld", "--policy", str(run), "--tasks", "reach", "--size", "32", "--episodes", "1",
                 "--max-steps", "3", "--videos", "0", "--workers", "1", "--no-progress",
                 "--out", str(tmp_path / "wrong")]) == 2  # the gripper embodiment's 48-D state does not fit
