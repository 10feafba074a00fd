"""`describe` / `describe_json`: what a person and a program learn about a LeRobot dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.lerobot_files import GRIPPER_NAMES, write_dataset

from egovla import spaces
from egovla.data.inspect import describe, describe_json
from egovla.data.lerobot.format import STATS_PATH, vector_feature
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.lerobot.writer import LeRobotWriter


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect") / "ds"
    write_dataset(root, lengths=(12, 9, 15), cameras=2)
    return LeRobotReader(root)


def test_text_has_every_section(reader):
    text = describe(reader)
    for line in ("format    LeRobotDataset v3.0", "robot     test_arm", "episodes  3", "frames    36", "fps       10",
                 "duration  3.6 s"):
        assert line in text, line
    for section in ("features (", "tasks (2)", "episodes (3)", "stats"):
        assert f"\n{section}" in text, section
    assert str(reader.root) in text
    cam_row = next(ln for ln in text.splitlines() if ln.strip().startswith("observation.images.cam1"))
    assert "video" in cam_row and "(32, 32, 3)" in cam_row and "h264" in cam_row
    state_row = next(ln for ln in text.splitlines() if ln.strip().startswith("observation.state "))
    assert "(15,)" in state_row and "15 names: right.wrist_pos.x" in state_row
    assert "pick up the red block" in text and "push the button" in text
    task_rows = [ln.split() for ln in text.split("\ntasks (2)\n")[1].splitlines()[1:3]]
    assert [r[:2] for r in task_rows] == [["0", "2"], ["1", "1"]]  # index, episodes using it
    # stats: one row per named dim with mean/std/min/max, and per-channel camera stats
    assert "observation.state (15 dims)" in text and "action (15 dims)" in text
    row = next(ln for ln in text.splitlines() if ln.strip().startswith("right.fingertips.index.z"))
    assert len(row.split()) == 5
    assert text.count("mean R=") == 2 and "std R=" in text


def test_json_matches_the_dataset(reader):
    d = describe_json(reader)
    json.dumps(d)  # plain JSON
    head = (d["version"], d["robot_type"], d["total_episodes"], d["total_frames"], d["fps"])
    assert head == ("v3.0", "test_arm", 3, 36, 10)
    assert d["duration_s"] == pytest.approx(3.6)
    feats = {f["name"]: f for f in d["features"]}
    assert feats["observation.images.cam0"]["kind"] == "camera" and feats["observation.images.cam0"]["codec"] == "h264"
    assert feats["action"]["names"] == GRIPPER_NAMES and feats["index"]["kind"] == "index"
    assert d["tasks"] == [{"index": 0, "text": "pick up the red block", "episodes": 2},
                          {"index": 1, "text": "push the button", "episodes": 1}]
    assert [(e["index"], e["length"]) for e in d["episodes"]] == [(0, 12), (1, 9), (2, 15)]
    state = reader.column("observation.state")
    np.testing.assert_allclose(d["stats"]["observation.state"]["mean"], state.mean(0), rtol=1e-5)
    np.testing.assert_allclose(d["stats"]["observation.state"]["max"], state.max(0), rtol=1e-6)
    assert len(d["stats"]["observation.images.cam0"]["mean"]) == 3
    assert "timestamp" not in d["stats"]


def test_many_episodes_show_head_ellipsis_and_tail(tmp_path):
    write_dataset(tmp_path / "ds", lengths=[2] * 20, cameras=0)
    text = describe(LeRobotReader(tmp_path / "ds"))
    rows = text.split("\nepisodes (20)\n")[1].split("\n\n")[0].splitlines()[1:]
    assert [r.split()[0] for r in rows] == [str(i) for i in range(10)] + ["...", "17", "18", "19"]
    assert "(7 more episodes)" in rows[10]
    assert "stats" in text and "mean R=" not in text


def test_wide_vector_folds_constant_dims(tmp_path):
    names = spaces.names()
    state = np.zeros((6, 48), np.float32)
    state[:, 24:] = np.arange(6)[:, None] * 0.1 + np.arange(24)  # the right hand moves, the left is all 0
    with LeRobotWriter(tmp_path / "ds", fps=5, features={"observation.state": vector_feature(48, names)}) as w:
        w.add_episode({"observation.state": state}, task="wave")
    text = describe(LeRobotReader(tmp_path / "ds"))
    lines = text.splitlines()
    assert "observation.state (48 dims)" in text and "robot     -" in text
    assert sum(ln.strip().startswith("right.") for ln in lines) == 24
    assert not any(ln.strip().startswith("left.") for ln in lines)
    const = next(ln for ln in lines if "constant dims" in ln)
    assert "24 constant dims (value 0)" in const and "left.wrist_pos.x" in const and len(const) < 160


def test_no_stats_file_is_said(tmp_path):
    write_dataset(tmp_path / "ds", lengths=(3,), cameras=0)
    (tmp_path / "ds" / STATS_PATH).unlink()
    assert "none (no meta/stats.json)" in describe(LeRobotReader(tmp_path / "ds"))
