"""Write a small dataset laid out as LeRobot's published Meta-World set (`lerobot/metaworld_mt50`).

The layout, as that dataset's meta/info.json has it: LeRobotDataset v3.0, robot_type "metaworld",
80 fps; `observation.image` of dtype "image" (PNG bytes in the data parquet, shape [3, H, W] with
names [channels, height, width]; 480 px there) from the corner2 camera moved to (0.75, 0.075, 0.7)
and turned upright; `observation.state` float32 [4] (Meta-World's observation[:4]: hand xyz and
gripper opening), `action` float32 [4] (names x, y, z, gripper: Meta-World's raw action),
`observation.environment_state` float32 [39], `next.reward`, `next.success`, `task_id` int16, and
the index columns. Written here with pyarrow directly (not egovla's writer), from real expert
rollouts, so the reader is tested on a layout it did not write.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from egovla.sim.collect import run_expert
from egovla.sim.metaworld_env import LEROBOT_VIEW, MetaWorldEnv
from egovla.sim.tasks import INSTRUCTIONS

FPS = 80


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _features(size: int) -> dict:
    scalar = {"shape": [1], "names": None}
    return {
        "observation.state": {"dtype": "float32", "shape": [4], "names": {"axes": None}},
        "action": {"dtype": "float32", "shape": [4], "names": {"axes": ["x", "y", "z", "gripper"]}},
        "next.reward": {"dtype": "float32", **scalar},
        "next.success": {"dtype": "bool", **scalar},
        "observation.environment_state": {"dtype": "float32", "shape": [39], "names": ["keypoints"]},
        "observation.image": {"dtype": "image", "shape": [3, size, size], "names": ["channels", "height", "width"]},
        "task_id": {"dtype": "int16", **scalar},
        "timestamp": {"dtype": "float32", **scalar},
        "frame_index": {"dtype": "int64", **scalar},
        "episode_index": {"dtype": "int64", **scalar},
        "index": {"dtype": "int64", **scalar},
        "task_index": {"dtype": "int64", **scalar},
    }


def write_mt50_layout(root: Path, tasks=("reach-v3",), episodes: int = 2, size: int = 32, seed: int = 0) -> Path:
    """Expert episodes of `tasks` (layouts 0.., environment seed `seed`) in the MT50 dataset's layout."""
    view = LEROBOT_VIEW.__class__(**{**LEROBOT_VIEW.__dict__, "size": size})
    rows: dict[str, list] = {k: [] for k in ("observation.state", "action", "next.reward", "next.success",
                                            "observation.environment_state", "observation.image", "task_id",
                                            "timestamp", "frame_index", "episode_index", "index", "task_index")}
    episodes_meta, index = [], 0
    for t, task in enumerate(tasks):
        with MetaWorldEnv(task, seed, view) as env:
            for e in range(episodes):
                ep = run_expert(env, e, settle_steps=5)
                n = len(ep["raw_action"])
                frames = ep["frames"][view.cameras[0]]
                ep_index = len(episodes_meta)
                rows["observation.state"] += [r[:4].astype(np.float32) for r in ep["raw_obs"]]
                rows["action"] += list(ep["raw_action"].astype(np.float32))
                rows["next.reward"] += [0.0] * n
                rows["next.success"] += [i >= (ep["success_step"] or n + 1) - 1 for i in range(n)]
                rows["observation.environment_state"] += list(ep["raw_obs"].astype(np.float32))
                rows["observation.image"] += [{"bytes": _png(f), "path": None} for f in frames]
                rows["task_id"] += [t] * n
                rows["timestamp"] += [i / FPS for i in range(n)]
                rows["frame_index"] += list(range(n))
                rows["episode_index"] += [ep_index] * n
                rows["index"] += list(range(index, index + n))
                rows["task_index"] += [t] * n
                episodes_meta.append({"episode_index": ep_index, "tasks": [INSTRUCTIONS[task]], "length": n,
                                      "data/chunk_index": 0, "data/file_index": 0, "dataset_from_index": index,
                                      "dataset_to_index": index + n})
                index += n
    root = Path(root)
    (root / "data/chunk-000").mkdir(parents=True)
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    cols = {}
    for k, v in rows.items():
        if k == "observation.image":
            cols[k] = pa.array(v, type=image_type)
        elif k in ("observation.state", "action", "observation.environment_state"):
            cols[k] = pa.array([list(map(float, x)) for x in v], type=pa.list_(pa.float32()))
        elif k == "next.success":
            cols[k] = pa.array(v, type=pa.bool_())
        elif k == "task_id":
            cols[k] = pa.array(v, type=pa.int16())
        elif k in ("timestamp", "next.reward"):
            cols[k] = pa.array(v, type=pa.float32())
        else:
            cols[k] = pa.array(v, type=pa.int64())
    pq.write_table(pa.table(cols), root / "data/chunk-000/file-000.parquet", row_group_size=64)
    pq.write_table(pa.Table.from_pylist(episodes_meta), root / "meta/episodes/chunk-000/file-000.parquet")
    pq.write_table(pa.table({"task_index": list(range(len(tasks))), "task": [INSTRUCTIONS[t] for t in tasks]}),
                   root / "meta/tasks.parquet")
    info = {"codebase_version": "v3.0", "robot_type": "metaworld", "total_episodes": len(episodes_meta),
            "total_frames": index, "total_tasks": len(tasks), "chunks_size": 1000, "fps": FPS,
            "splits": {"train": f"0:{len(episodes_meta)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": {k: {**ft, "fps": FPS} for k, ft in _features(size).items()}}
    (root / "meta/info.json").write_text(json.dumps(info, indent=2))
    return root
