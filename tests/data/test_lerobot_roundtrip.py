"""LeRobot v3 written by egovla reads back: vectors exactly, frames within codec tolerance.

Codec tolerance: PSNR above 28 dB on these tiny 32-px frames of sharp-edged squares.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers.lerobot_files import frame_image, psnr, write_dataset, yuv420

from egovla.data.lerobot.format import DATA_PATH, INFO_PATH, STATS_PATH
from egovla.data.lerobot.reader import LeRobotReader


@pytest.mark.parametrize("codec", ["h264", "av1"])
def test_round_trip_vectors_exact_frames_close(tmp_path, codec):
    root = tmp_path / "ds"
    episodes = write_dataset(root, lengths=(12, 9, 15), cameras=2, codec=codec)
    r = LeRobotReader(root)
    assert (r.version, r.fps, len(r.episodes), r.total_frames) == ("v3.0", 10, 3, 36)
    assert r.cameras == ["observation.images.cam0", "observation.images.cam1"]
    for e, data in enumerate(episodes):
        ep = r.episodes[e]
        rows = slice(ep.start, ep.start + ep.length)
        for key in ("observation.state", "action"):
            np.testing.assert_array_equal(r.column(key)[rows], data[key])
        np.testing.assert_array_equal(r.column("frame_index")[rows], np.arange(ep.length))
        assert r.task_at(ep.start) == ("pick up the red block", "push the button")[e % 2]
        for cam in r.cameras:
            idx = [0, ep.length // 2, ep.length - 1]
            got = r.frames(cam, e, idx)
            assert got.shape == (3, 32, 32, 3) and got.dtype == np.uint8
            # the codec's own loss: against the frames in yuv420p (whose halved colour alone costs 31-32 dB here,
            # which left AV1 at crf 30 within 0.5 dB of a bar set against the RGB frames)
            assert psnr(got, yuv420(data[cam][idx])) > 28, f"episode {e} {cam}"


def test_frames_come_from_the_right_episode_and_time(tmp_path):
    """Episodes share one video file; every frame must map to its own (episode, t)."""
    root = tmp_path / "ds"
    write_dataset(root, lengths=(12, 9, 15))
    r = LeRobotReader(root)
    for e, ep in enumerate(r.episodes):
        got = r.frames("observation.images.cam0", e, list(range(ep.length))[::-1])
        for k, t in enumerate(range(ep.length - 1, -1, -1)):
            errs = [np.abs(got[k].astype(int) - frame_image(e2, t2)).mean() for e2 in range(3) for t2 in range(15)]
            assert int(np.argmin(errs)) == e * 15 + t


def test_files_roll_over_at_the_size_limit(tmp_path):
    root = tmp_path / "ds"
    episodes = write_dataset(root, lengths=(10,) * 6, video_file_mb=0.002, data_file_mb=0.0001)
    videos = sorted((root / "videos" / "observation.images.cam0").rglob("*.mp4"))
    data = sorted((root / "data").rglob("*.parquet"))
    assert len(videos) > 1 and len(data) > 1
    r = LeRobotReader(root)
    assert len({ep.videos["observation.images.cam0"][0] for ep in r.episodes}) == len(videos)
    for e, ep in enumerate(r.episodes):
        np.testing.assert_array_equal(r.column("action")[ep.start:ep.start + ep.length], episodes[e]["action"])
        assert psnr(r.frames("observation.images.cam0", e, [9]), episodes[e]["observation.images.cam0"][[9]]) > 28


def test_layout_and_metadata_follow_lerobot_v3(tmp_path):
    root = tmp_path / "ds"
    write_dataset(root, lengths=(5, 6))
    info = json.loads((root / INFO_PATH).read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 2 and info["total_frames"] == 11
    assert info["splits"] == {"train": "0:2"} and info["total_tasks"] == 2
    cam = info["features"]["observation.images.cam0"]
    assert cam["dtype"] == "video" and cam["shape"] == [32, 32, 3] and cam["info"]["video.codec"] == "h264"
    assert info["features"]["timestamp"] == {"dtype": "float32", "shape": [1], "names": None}
    schema = pq.read_schema(root / DATA_PATH.format(chunk_index=0, file_index=0))
    assert str(schema.field("action").type).startswith("fixed_size_list<element: float>")
    assert str(schema.field("index").type) == "int64" and b"huggingface" in schema.metadata
    episodes = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["dataset_from_index"] for e in episodes] == [0, 5]
    assert episodes[1]["videos/observation.images.cam0/from_timestamp"] == pytest.approx(0.5)
    assert len(episodes[0]["stats/action/mean"]) == len(episodes[0]["stats/action/q99"])
    tasks = pq.read_table(root / "meta/tasks.parquet").to_pandas()
    assert tasks.index.name == "task" and list(tasks["task_index"]) == [0, 1]
    stats = json.loads((root / STATS_PATH).read_text())
    assert np.array(stats["observation.images.cam0"]["mean"]).shape == (3, 1, 1)
    assert set(stats["action"]) >= {"min", "max", "mean", "std", "count", "q01", "q99"}


def test_dataset_stats_pool_episodes_exactly(tmp_path):
    root = tmp_path / "ds"
    episodes = write_dataset(root, lengths=(7, 13, 4))
    all_actions = np.concatenate([e["action"] for e in episodes]).astype(np.float64)
    s = LeRobotReader(root).stats["action"]
    np.testing.assert_allclose(s["mean"], all_actions.mean(0), rtol=1e-6)
    np.testing.assert_allclose(s["std"], all_actions.std(0), rtol=1e-5)
    np.testing.assert_allclose(s["min"], all_actions.min(0))
    assert int(s["count"][0]) == 24
