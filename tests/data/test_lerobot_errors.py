"""Broken datasets and bad episodes give errors that name the file (or feature) and the problem."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers.lerobot_files import episode_data, write_dataset

from egovla.data.lerobot.format import DatasetFormatError, vector_feature, video_feature
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.lerobot.writer import LeRobotWriter

DATA0 = "data/chunk-000/file-000.parquet"
VIDEO0 = "videos/observation.images.cam0/chunk-000/file-000.mp4"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    root = tmp_path_factory.mktemp("err") / "good"
    write_dataset(root, lengths=(12, 9, 15))
    return root


@pytest.fixture
def ds(good, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(good, copy)
    return copy


@pytest.mark.parametrize("rel, words", [
    ("meta/info.json", "meta/info.json: the dataset description is missing"),
    ("meta/tasks.parquet", "meta/tasks.parquet: the task list is missing"),
    ("meta/episodes", "no episode metadata files"),
    (DATA0, "data file is missing"),
])
def test_missing_files_are_named(ds, rel, words):
    p = ds / rel
    shutil.rmtree(p) if p.is_dir() else p.unlink()
    with pytest.raises(DatasetFormatError, match=words):
        LeRobotReader(ds)


def test_schema_mismatch_names_file_column_and_shape(ds):
    info = json.loads((ds / "meta/info.json").read_text())
    info["features"]["action"]["shape"] = [7]
    (ds / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetFormatError, match=r"file-000.parquet: column 'action'.*says shape \[7\]"):
        LeRobotReader(ds)


def test_missing_column_is_named(ds):
    info = json.loads((ds / "meta/info.json").read_text())
    info["features"]["observation.effort"] = {"dtype": "float32", "shape": [3], "names": None}
    (ds / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetFormatError, match=r"\['observation.effort'\] declared in meta/info.json are missing"):
        LeRobotReader(ds)


def test_truncated_parquet(ds):
    p = ds / DATA0
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(DatasetFormatError, match="file-000.parquet: data file cannot be read as parquet; truncated"):
        LeRobotReader(ds)


def test_truncated_mp4_fails_on_the_frames_it_lost(ds):
    p = ds / VIDEO0
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])
    r = LeRobotReader(ds)  # metadata is fine; the video is not
    with pytest.raises(DatasetFormatError, match=r"file-000.mp4: (cannot open|cannot decode|frame \d+)"):
        for e, ep in enumerate(r.episodes):
            r.frames("observation.images.cam0", e, [ep.length - 1])


def test_bad_info_json_and_version(ds):
    (ds / "meta/info.json").write_text("{not json")
    with pytest.raises(DatasetFormatError, match="is not valid JSON"):
        LeRobotReader(ds)
    (ds / "meta/info.json").write_text(json.dumps({"codebase_version": "v1.6", "fps": 10, "features": {}}))
    with pytest.raises(DatasetFormatError, match="v1.6' is not supported"):
        LeRobotReader(ds)


def test_writer_refuses_bad_episodes_and_keeps_good_ones(tmp_path):
    feats = {"observation.images.cam0": video_feature(32, 32), "observation.state": vector_feature(6),
             "action": vector_feature(6)}
    w = LeRobotWriter(tmp_path / "ds", fps=10, features=feats)
    good = episode_data(0, 5, native=True)
    w.add_episode(good, task="t")
    bad_shape = dict(good, action=np.zeros((5, 7), np.float32))
    with pytest.raises(ValueError, match=r"feature 'action' has shape \(5, 7\), expected \(T, 6\)"):
        w.add_episode(bad_shape, task="t")
    nan = {k: v.copy() for k, v in good.items()}
    nan["observation.state"][3, 2] = np.nan
    with pytest.raises(ValueError, match="'observation.state' has NaN/inf \\(first at frame 3, dim 2\\)"):
        w.add_episode(nan, task="t")
    with pytest.raises(ValueError, match=r"missing feature\(s\) \['action'\]"):
        w.add_episode({k: v for k, v in good.items() if k != "action"}, task="t")
    with pytest.raises(ValueError, match="must be uint8"):
        w.add_episode(dict(good, **{"observation.images.cam0": good["observation.images.cam0"].astype(np.float32)}), task="t")
    w.add_episode(episode_data(1, 4, native=True), task="t")
    w.finalize()
    r = LeRobotReader(tmp_path / "ds")
    assert [e.length for e in r.episodes] == [5, 4]


def test_writer_will_not_clobber_without_overwrite(good):
    with pytest.raises(FileExistsError, match="overwrite"):
        LeRobotWriter(good, fps=10, features={"action": vector_feature(2)})
