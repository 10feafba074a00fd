"""`egovla synth egodex`, `egovla convert egodex`, `egovla viz` on human video, and training on human
and robot data together (their state and action slots line up in the unified space)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.lerobot_files import GRIPPER_NAMES, write_dataset

from egovla import spaces
from egovla.cli import main
from egovla.runs import read_record
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.sources import open_sources
from egovla.data.windows import WindowConfig

TINY = ["--batch-size", "4", "--eval-samples", "8", "--chunk-len", "4", "--image-size", "32", "--set",
        "backbone.image_size=32", "--set", "backbone.text_layers=1", "--set", "backbone.vision_layers=1",
        "--set", "head.layers=1", "--no-progress", "--warmup", "2"]


@pytest.fixture(scope="module")
def human(tmp_path_factory):
    root = tmp_path_factory.mktemp("human")
    assert main(["synth", "egodex", str(root / "src"), "--episodes", "2", "--frames", "30", "--tasks", "open_drawer"]) == 0
    assert main(["convert", "egodex", str(root / "src"), str(root / "ds"), "--size", "48", "--horizon", "6",
                 "--workers", "1", "--no-progress"]) == 0
    return root


def test_convert_prints_a_summary_and_writes_a_dataset(human, capsys):
    assert main(["convert", "egodex", str(human / "src"), str(human / "ds"), "--size", "48", "--horizon", "6",
                 "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 episodes (0 converted, 2 reused" in out and "egovla viz" in out
    assert LeRobotReader(human / "ds").features["action"]["shape"] == [6, 48]


def test_viz_draws_converted_episodes_and_raw_pairs(human, tmp_path, capsys):
    assert main(["viz", str(human / "ds"), "--episode", "1", "--out", str(tmp_path / "ep1.mp4")]) == 0
    assert (tmp_path / "ep1.mp4").stat().st_size > 0 and (tmp_path / "ep1.png").is_file()
    pair = human / "src" / "open_drawer" / "0.hdf5"
    assert main(["viz", str(pair), "--out", str(tmp_path / "pair.mp4"), "--sheet", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file() and "contact sheet" in capsys.readouterr().out


def test_clear_errors(human, tmp_path, capsys):
    assert main(["convert", "egodex", str(tmp_path / "nope"), str(tmp_path / "o")]) == 2
    assert "no such EgoDex folder" in capsys.readouterr().err
    assert main(["viz", str(human / "ds"), "--episode", "9", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "no episode 9" in capsys.readouterr().err


def test_human_and_robot_slots_line_up(human, tmp_path):
    write_dataset(tmp_path / "robot", lengths=(12, 10), size=32)
    train, _ = open_sources([str(human / "ds"), str(tmp_path / "robot")], [0.5, 0.5],
                            WindowConfig(chunk_len=4, image_size=(32, 32)), holdout=0)
    h, r = train.datasets
    hs, rs = h.vectors(0), r.vectors(0)
    assert hs["state"].shape == rs["state"].shape == (48,) and hs["action"].shape == rs["action"].shape == (4, 48)
    gripper = np.isin(spaces.names(), GRIPPER_NAMES)
    assert (rs["state_mask"] == gripper).all()  # the robot supervises its 15 named dims, in their unified slots
    robot_state = LeRobotReader(tmp_path / "robot").column("observation.state")[0]
    np.testing.assert_allclose(rs["state"][spaces.slot("right", "wrist_pos")],
                               robot_state[[GRIPPER_NAMES.index(f"right.wrist_pos.{a}") for a in "xyz"]])
    assert hs["state_mask"][spaces.slot("right", "wrist_pos")].all() and hs["state_mask"][spaces.slot("left", "wrist_pos")].all()


def test_train_on_human_and_robot_data_together(human, tmp_path):
    write_dataset(tmp_path / "robot", lengths=(12, 10, 11), size=32)
    out = tmp_path / "run"
    assert main(["train", "--dataset", f"{human / 'ds'}:0.5", "--dataset", f"{tmp_path / 'robot'}:0.5",
                 "--steps", "3", "--out", str(out), *TINY]) == 0
    cfg = json.loads((out / "policy/config.json").read_text())
    assert (cfg["action_dim"], cfg["state_dim"], cfg["chunk_len"]) == (48, 48, 4)
    assert len(read_record(out).datasets) == 2


def test_convert_rlds_and_hot3d_then_inspect_and_viz_them(tmp_path, capsys):
    from helpers.hot3d_files import write_clip
    from helpers.rlds_files import write_builder

    builder, _ = write_builder(tmp_path / "rlds", "bridge", shard_lengths=(2,), steps=(8, 6), hw=(32, 32))
    assert main(["convert", "rlds", str(builder), str(tmp_path / "bridge"), "--preset", "bridge", "--workers", "1",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 episodes, 14 frames" in out and "not unified: " in out  # no camera extrinsics were given
    write_clip(tmp_path / "hot3d" / "clip-001849.tar", frames=12, seed=0, rgb_size=352)
    assert main(["convert", "hot3d", str(tmp_path / "hot3d"), str(tmp_path / "h3"), "--size", "32", "--horizon", "4",
                 "--min-valid", "0", "--no-progress"]) == 0
    assert "1 clips, 12 frames" in capsys.readouterr().out
    for ds in ("bridge", "h3"):
        assert main(["inspect", str(tmp_path / ds)]) == 0
        assert main(["viz", str(tmp_path / ds), "--out", str(tmp_path / f"{ds}.mp4")]) == 0
        assert (tmp_path / f"{ds}.mp4").stat().st_size > 0
    assert "projected hand trajectories" in capsys.readouterr().out  # HOT3D labels drawn over its video
