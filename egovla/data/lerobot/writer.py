"""Write a LeRobotDataset v3 with pyarrow and PyAV, finalised atomically.

    features = {"observation.images.front": video_feature(128, 128),
                "observation.state": vector_feature(48, names), "action": vector_feature(48, names)}
    with LeRobotWriter("out/ds", fps=30, features=features, robot_type="sawyer") as w:
        w.add_episode({"observation.images.front": frames, "observation.state": s, "action": a},
                      task="pick up the red block")

Everything is written into a hidden sibling folder; `finalize()` (the end of the `with` block)
writes the metadata last and then moves the folder into place. A writer that crashes or is killed
leaves the previous dataset at the path untouched (or nothing), never a half dataset that reads
as valid: an unfinished folder has no meta/info.json, and it is not at the dataset's path.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egovla.data.lerobot import stats as lstats
from egovla.data.lerobot.format import (
    CHUNKS_SIZE, DATA_FILE_MB, DATA_PATH, EPISODES_PATH, INDEX_FEATURES, INFO_PATH, STATS_PATH,
    TASKS_PATH, V3, VIDEO_FILE_MB, VIDEO_PATH, camera_keys, check_features, hf_feature, is_video,
)
from egovla.data.lerobot.video import video_info
from egovla.data.mp4 import DEFAULT_CODEC, DEFAULT_GOP, Mp4Writer

MB = 1024 * 1024


def _next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    file += 1
    return (chunk + 1, 0) if file >= chunks_size else (chunk, file)


def _column(values: np.ndarray, ft: dict) -> pa.Array:
    shape = [int(s) for s in ft["shape"]]
    arr = np.ascontiguousarray(values, dtype=np.dtype(ft["dtype"]))
    if shape == [1]:
        return pa.array(arr.reshape(-1))
    flat = pa.array(arr.reshape(-1))
    for size in reversed(shape):
        flat = pa.FixedSizeListArray.from_arrays(flat, size)
    return flat


class LeRobotWriter:
    def __init__(self, root: str | Path, fps: int, features: dict[str, dict], robot_type: str | None = None,
                 *, codec: str = DEFAULT_CODEC, gop: int = DEFAULT_GOP, overwrite: bool = False,
                 data_file_mb: float = DATA_FILE_MB, video_file_mb: float = VIDEO_FILE_MB,
                 chunks_size: int = CHUNKS_SIZE, crf: int | None = None, pix_fmt: str = "yuv420p"):
        self.root = Path(root)
        if self.root.exists() and not overwrite:
            raise FileExistsError(f"{self.root} already exists; pass overwrite=True (--overwrite) to replace it")
        if int(fps) <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        clash = sorted(set(features) & set(INDEX_FEATURES))
        if clash:
            raise ValueError(f"feature name(s) {clash} are reserved for LeRobot's index columns")
        check_features(features)
        self.fps, self.robot_type, self.codec, self.gop = int(fps), robot_type, codec, gop
        self.crf, self.pix_fmt = crf, pix_fmt  # video quality (crf None: the codec's default)
        self.user_features = {k: {**v, "shape": [int(s) for s in v["shape"]]} for k, v in features.items()}
        self.features = {**self.user_features, **INDEX_FEATURES}
        self.cameras = camera_keys(self.features)
        self.data_keys = [k for k, ft in self.features.items() if not is_video(ft)]
        self.data_file_mb, self.video_file_mb, self.chunks_size = data_file_mb, video_file_mb, chunks_size
        recover_interrupted(self.root)
        self.tmp = self.root.parent / f".{self.root.name}.writing-{os.getpid()}"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict[str, Any]] = []
        self.episode_stats: list[dict] = []
        self.total_frames = 0
        self._data = {"writer": None, "chunk": 0, "file": 0, "frames": 0}
        self._video = {k: {"enc": None, "chunk": 0, "file": 0, "frames": 0} for k in self.cameras}
        self._video_info: dict[str, dict] = {}
        self._closed = False

    # ----------------------------------------------------------------- episodes
    def add_episode(self, data: dict[str, Any], task: str | list[str]) -> int:
        """Append one episode: every user feature as an array with T rows; returns its index."""
        if self._closed:
            raise RuntimeError("this writer is already finalised or aborted")
        arrays = self._check_episode(data)
        t = next(iter(arrays.values())).shape[0]
        tasks = [task] * t if isinstance(task, str) else list(task)
        if len(tasks) != t or not all(isinstance(s, str) and s for s in tasks):
            raise ValueError(f"episode {len(self.episodes)}: task must be a non-empty string or one per frame ({t})")
        for s in dict.fromkeys(tasks):
            self.tasks.setdefault(s, len(self.tasks))
        ep = len(self.episodes)
        arrays.update({
            "timestamp": np.arange(t, dtype=np.float32) / self.fps,
            "frame_index": np.arange(t, dtype=np.int64),
            "episode_index": np.full(t, ep, dtype=np.int64),
            "index": np.arange(self.total_frames, self.total_frames + t, dtype=np.int64),
            "task_index": np.array([self.tasks[s] for s in tasks], dtype=np.int64),
        })
        row: dict[str, Any] = {"episode_index": ep, "tasks": list(dict.fromkeys(tasks)), "length": t}
        row.update(self._write_data(arrays, t))
        for key in self.cameras:
            row.update(self._write_video(key, arrays[key]))
        ep_stats = {}
        for key, ft in self.features.items():
            if is_video(ft):
                ep_stats[key] = lstats.image_stats(arrays[key])
            else:
                st = lstats.array_stats(arrays[key].reshape(t, -1) if ft["shape"] == [1] else arrays[key])
                if np.dtype(ft["dtype"]).kind in "iu":  # integer features keep integer min/max, as LeRobot's
                    st["min"], st["max"] = st["min"].astype(np.int64), st["max"].astype(np.int64)
                ep_stats[key] = st
        self.episodes.append(row)
        self.episode_stats.append(ep_stats)
        self.total_frames += t
        return ep

    def _check_episode(self, data: dict[str, Any]) -> dict[str, np.ndarray]:
        ep = len(self.episodes)
        missing = [k for k in self.user_features if k not in data]
        extra = [k for k in data if k not in self.user_features]
        if missing or extra:
            raise ValueError(f"episode {ep}: missing feature(s) {missing}, unknown feature(s) {extra}; "
                             f"declared: {sorted(self.user_features)}")
        arrays, lengths = {}, {}
        for key, ft in self.user_features.items():
            a = np.asarray(data[key])
            if a.ndim != len(ft["shape"]) + 1 or list(a.shape[1:]) != ft["shape"]:
                raise ValueError(f"episode {ep}: feature {key!r} has shape {a.shape}, expected (T, {', '.join(map(str, ft['shape']))})")
            if is_video(ft) and a.dtype != np.uint8:
                raise ValueError(f"episode {ep}: camera {key!r} must be uint8 RGB, got {a.dtype}")
            if not is_video(ft) and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                bad = np.argwhere(~np.isfinite(a.reshape(a.shape[0], -1)))[0].tolist()
                raise ValueError(f"episode {ep}: feature {key!r} has NaN/inf (first at frame {bad[0]}, dim {bad[1]})")
            arrays[key], lengths[key] = a, a.shape[0]
        if len(set(lengths.values())) != 1 or 0 in lengths.values():
            raise ValueError(f"episode {ep}: features must have the same non-zero number of frames, got {lengths}")
        return arrays

    def _write_data(self, arrays: dict[str, np.ndarray], t: int) -> dict[str, Any]:
        d = self._data
        path = self.tmp / DATA_PATH.format(chunk_index=d["chunk"], file_index=d["file"])
        if d["writer"] is not None and d["frames"]:
            size = path.stat().st_size / MB
            if size + size / d["frames"] * t >= self.data_file_mb:
                d["writer"].close()
                d["writer"], d["frames"] = None, 0
                d["chunk"], d["file"] = _next_file(d["chunk"], d["file"], self.chunks_size)
                path = self.tmp / DATA_PATH.format(chunk_index=d["chunk"], file_index=d["file"])
        table = pa.table({k: _column(arrays[k], self.features[k]) for k in self.data_keys})
        hf = {"info": {"features": {k: hf_feature(self.features[k]) for k in self.data_keys}}}
        table = table.replace_schema_metadata({"huggingface": json.dumps(hf)})
        if d["writer"] is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            d["writer"] = pq.ParquetWriter(str(path), table.schema, compression="snappy")
        d["writer"].write_table(table)  # one row group per episode
        d["frames"] += t
        return {"data/chunk_index": d["chunk"], "data/file_index": d["file"],
                "dataset_from_index": self.total_frames, "dataset_to_index": self.total_frames + t}

    def _write_video(self, key: str, frames: np.ndarray) -> dict[str, Any]:
        v = self._video[key]
        if v["enc"] is not None and v["enc"].size_bytes() / MB >= self.video_file_mb:
            v["enc"].close()
            v["enc"], v["frames"] = None, 0
            v["chunk"], v["file"] = _next_file(v["chunk"], v["file"], self.chunks_size)
        if v["enc"] is None:
            path = self.tmp / VIDEO_PATH.format(video_key=key, chunk_index=v["chunk"], file_index=v["file"])
            h, w, _ = self.features[key]["shape"]
            v["enc"] = Mp4Writer(path, self.fps, h, w, self.codec, self.gop, self.crf, self.pix_fmt)
        start = v["frames"]
        v["enc"].write(frames)
        v["frames"] += frames.shape[0]
        return {f"videos/{key}/chunk_index": v["chunk"], f"videos/{key}/file_index": v["file"],
                f"videos/{key}/from_timestamp": start / self.fps,
                f"videos/{key}/to_timestamp": v["frames"] / self.fps}

    # ----------------------------------------------------------------- finishing
    def _info(self) -> dict[str, Any]:
        features = json.loads(json.dumps(self.features))
        for key in self.cameras:
            features[key]["info"] = self._video_info[key]
        return {
            "codebase_version": V3, "robot_type": self.robot_type,
            "total_episodes": len(self.episodes), "total_frames": self.total_frames, "total_tasks": len(self.tasks),
            "chunks_size": self.chunks_size, "data_files_size_in_mb": self.data_file_mb,
            "video_files_size_in_mb": self.video_file_mb, "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": DATA_PATH, "video_path": VIDEO_PATH if self.cameras else None, "features": features,
        }

    def _write_meta(self) -> None:
        import pandas as pd

        tasks = pd.DataFrame({"task_index": list(self.tasks.values())},
                             index=pd.Index(list(self.tasks), name="task"))
        (self.tmp / TASKS_PATH).parent.mkdir(parents=True, exist_ok=True)
        tasks.to_parquet(self.tmp / TASKS_PATH)
        rows = []
        for row, ep_stats in zip(self.episodes, self.episode_stats):
            r = dict(row)
            r["meta/episodes/chunk_index"], r["meta/episodes/file_index"] = 0, 0
            for feat, st in ep_stats.items():
                for name, value in st.items():
                    r[f"stats/{feat}/{name}"] = np.asarray(value).tolist()
            rows.append(r)
        path = self.tmp / EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), str(path), compression="snappy")
        stats = lstats.aggregate(self.episode_stats)
        (self.tmp / STATS_PATH).write_text(json.dumps(lstats.to_json(stats), indent=2))
        (self.tmp / INFO_PATH).write_text(json.dumps(self._info(), indent=4))  # last: marks the folder complete

    def finalize(self) -> Path:
        """Close the files, write the metadata, and move the dataset into place atomically."""
        if self._closed:
            raise RuntimeError("this writer is already finalised or aborted")
        if not self.episodes:
            self.abort()
            raise ValueError(f"{self.root}: no episodes were added; nothing written")
        if self._data["writer"] is not None:
            self._data["writer"].close()
        for key, v in self._video.items():
            if v["enc"] is not None:
                v["enc"].close()
            first = self.tmp / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0)
            self._video_info[key] = video_info(first, self.codec, self.fps)
        self._write_meta()
        _fsync_tree(self.tmp)
        backup = self.root.parent / f".{self.root.name}.old-{os.getpid()}"
        if self.root.exists():
            os.rename(self.root, backup)
        os.rename(self.tmp, self.root)
        if backup.exists():
            shutil.rmtree(backup)
        self._closed = True
        return self.root

    def abort(self) -> None:
        """Drop everything written so far; the dataset path is left as it was."""
        if self._data["writer"] is not None:
            self._data["writer"].close()
        for v in self._video.values():
            if v["enc"] is not None:
                try:
                    v["enc"].close()
                except Exception:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._closed = True

    def __enter__(self) -> "LeRobotWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.finalize()
        else:
            self.abort()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(root: Path) -> None:
    """Clean up after writers of `root` that were killed: drop their unfinished folders, and put
    back a previous dataset if one was killed between moving it aside and moving the new one in."""
    parent = root.parent
    if not parent.is_dir():
        return
    for kind in ("writing", "old"):
        for p in parent.glob(f".{root.name}.{kind}-*"):
            pid = p.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            if kind == "old" and not root.exists():
                os.rename(p, root)
            else:
                shutil.rmtree(p, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
