"""A v2.1 dataset, laid out the way LeRobot wrote that version, reads like a v3 one.

v2.1: one parquet and one mp4 per episode under `chunk-{episode_chunk:03d}`, each video starting
at t=0, `meta/episodes.jsonl`, `meta/tasks.jsonl`, `meta/episodes_stats.jsonl`, no stats.json.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from helpers.lerobot_files import episode_data, psnr

from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.lerobot.stats import array_stats, to_json
from egovla.data.mp4 import Mp4Writer
from egovla.data.windows import WindowConfig, WindowDataset

DATA = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
TASKS = ["stack the cups", "wipe the table"]


def write_v21(root, lengths=(8, 11, 6)):
    cam = "observation.images.cam0"
    features = {
        cam: {"dtype": "video", "shape": [32, 32, 3], "names": ["height", "width", "channels"],
              "info": {"video.fps": 10.0, "video.codec": "h264"}},
        "observation.state": {"dtype": "float32", "shape": [6], "names": {"motors": [f"m{i}" for i in range(6)]}},
        "action": {"dtype": "float32", "shape": [6], "names": {"motors": [f"m{i}" for i in range(6)]}},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }
    info = {"codebase_version": "v2.1", "robot_type": "koch", "total_episodes": len(lengths),
            "total_frames": sum(lengths), "total_tasks": 2, "total_videos": len(lengths), "total_chunks": 1,
            "chunks_size": 1000, "fps": 10, "splits": {"train": f"0:{len(lengths)}"}, "data_path": DATA,
            "video_path": VIDEO, "features": features}
    (root / "meta").mkdir(parents=True)
    (root / "meta/info.json").write_text(json.dumps(info))
    (root / "meta/tasks.jsonl").write_text("".join(json.dumps({"task_index": i, "task": t}) + "\n" for i, t in enumerate(TASKS)))
    eps, stats_lines, start, written = [], [], 0, []
    for e, n in enumerate(lengths):
        d = episode_data(e, n, native=True)
        written.append(d)
        table = pa.table({
            "observation.state": pa.array(d["observation.state"].tolist(), pa.list_(pa.float32())),
            "action": pa.array(d["action"].tolist(), pa.list_(pa.float32())),
            "timestamp": pa.array(np.arange(n, dtype=np.float32) / 10),
            "frame_index": pa.array(np.arange(n)), "episode_index": pa.array(np.full(n, e)),
            "index": pa.array(np.arange(start, start + n)), "task_index": pa.array(np.full(n, e % 2)),
        })
        path = root / DATA.format(episode_chunk=0, episode_index=e)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        enc = Mp4Writer(root / VIDEO.format(episode_chunk=0, video_key=cam, episode_index=e), 10, 32, 32)
        enc.write(d[cam])
        enc.close()
        eps.append({"episode_index": e, "tasks": [TASKS[e % 2]], "length": n})
        stats_lines.append({"episode_index": e, "stats": to_json({"action": array_stats(d["action"])})})
        start += n
    (root / "meta/episodes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in eps))
    (root / "meta/episodes_stats.jsonl").write_text("".join(json.dumps(x) + "\n" for x in stats_lines))
    return written


def test_v21_reads_vectors_frames_tasks_and_stats(tmp_path):
    written = write_v21(tmp_path)
    r = LeRobotReader(tmp_path)
    assert (r.version, len(r.episodes), r.total_frames, r.tasks) == ("v2.1", 3, 25, TASKS)
    for e, d in enumerate(written):
        ep = r.episodes[e]
        np.testing.assert_array_equal(r.column("action")[ep.start:ep.start + ep.length], d["action"])
        assert ep.videos["observation.images.cam0"][1] == 0.0 and r.task_at(ep.start) == TASKS[e % 2]
        got = r.frames("observation.images.cam0", e, [0, ep.length - 1])
        assert psnr(got, d["observation.images.cam0"][[0, ep.length - 1]]) > 28
    all_actions = np.concatenate([d["action"] for d in written])
    np.testing.assert_allclose(r.stats["action"]["mean"], all_actions.mean(0), rtol=1e-6)


def test_v21_trains_through_windows(tmp_path):
    write_v21(tmp_path)
    ds = WindowDataset(LeRobotReader(tmp_path), WindowConfig(chunk_len=4))
    s = ds[7]  # last frame of episode 0: one real step, three padded
    assert s["action"].shape == (4, 6) and s["action_mask"].any(1).tolist() == [True, False, False, False]
