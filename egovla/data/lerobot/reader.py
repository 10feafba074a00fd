"""Read a LeRobotDataset (v3.0, or v2.1) with pyarrow and PyAV: metadata, vectors, and frames.

    ds = LeRobotReader("path/to/dataset")
    ds.episodes[3].length, ds.fps, ds.cameras, ds.tasks
    ds.column("action")                    # (total_frames, 48) float32, all episodes
    ds.frames("observation.images.front", episode=3, frame_indices=[0, 6, 12])  # uint8 (3, H, W, 3)

`episode` arguments are positions in `ds.episodes` (sorted by episode_index; the same number
unless the dataset skips indices).

All non-video columns are read into memory once (they are small next to the videos); frames are
decoded on demand by a `FrameReader` that keeps files open and seeks only when it has to.
Every problem with the files raises `DatasetFormatError` naming the file and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egovla.data.lerobot import stats as lstats
from egovla.data.lerobot.format import (
    EPISODES_DIR, INDEX_FEATURES, STATS_PATH, TASKS_PATH, V21, V21_EPISODES_PATH,
    V21_EPISODES_STATS_PATH, V21_TASKS_PATH, DatasetFormatError, camera_keys, is_video, load_info,
    read_json, read_jsonl,
)
from egovla.data.lerobot.images import ImageColumn, camera_hw
from egovla.data.lerobot.video import FrameReader


@dataclass
class Episode:
    index: int
    length: int
    start: int  # global index of its first frame
    tasks: list[str]
    data_file: str
    videos: dict[str, tuple[str, float]] = field(default_factory=dict)  # key -> (path, from_timestamp)


def _format(template: str, **keys) -> str:
    try:
        return template.format(**keys)
    except (KeyError, IndexError, ValueError) as e:
        raise DatasetFormatError(f"path template {template!r} cannot be filled ({e})") from None


def _read_parquet(path: Path, what: str, columns: list[str] | None = None) -> pa.Table:
    if not path.is_file():
        raise DatasetFormatError(f"{path}: {what} is missing")
    try:
        return pq.read_table(str(path), columns=columns)
    except (pa.ArrowInvalid, OSError) as e:
        raise DatasetFormatError(f"{path}: {what} cannot be read as parquet; truncated or corrupt? ({e})") from e


def column_to_numpy(col: pa.ChunkedArray | pa.Array, shape: list[int], where: str) -> np.ndarray:
    """A scalar / fixed-size-list / list column -> numpy (rows, *shape), checking the size per row."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    rows = len(arr)
    while pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type) or pa.types.is_large_list(arr.type):
        arr = arr.flatten()
    values = arr.to_numpy(zero_copy_only=False)
    per_row = int(np.prod(shape))
    if values.size != rows * per_row:
        raise DatasetFormatError(f"{where}: has {values.size / max(rows, 1):g} values per row, "
                                 f"meta/info.json says shape {list(shape)}")
    return values.reshape((rows, *shape)) if shape != [1] else values.reshape(rows)


class LeRobotReader:
    def __init__(self, root: str | Path, frame_reader: FrameReader | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetFormatError(f"{self.root}: no such dataset folder")
        self.info = load_info(self.root)
        self.version = "v3.0" if str(self.info["codebase_version"]).startswith("v3") else V21
        self.fps = int(self.info["fps"])
        self.features: dict[str, dict] = self.info["features"]
        self.cameras = camera_keys(self.features)
        self.video_cameras = [c for c in self.cameras if is_video(self.features[c])]
        self.image_columns = {c: ImageColumn(c) for c in self.cameras if not is_video(self.features[c])}
        self._file_index: dict[str, np.ndarray] = {}  # data file -> the global index of each of its rows
        self.frame_reader = frame_reader or FrameReader()
        if self.version == V21:
            self.tasks, self.episodes = self._v21_meta()
        else:
            self.tasks, self.episodes = self._v3_meta()
        self.total_frames = sum(e.length for e in self.episodes)
        self._columns = self._load_data()
        self.episode_of = np.repeat(np.arange(len(self.episodes)), [e.length for e in self.episodes])
        self._stats: dict | None = None

    # ----------------------------------------------------------------- metadata
    def _v3_meta(self) -> tuple[list[str], list[Episode]]:
        t = _read_parquet(self.root / TASKS_PATH, "the task list")
        names = t.column_names
        task_col = "task" if "task" in names else ("__index_level_0__" if "__index_level_0__" in names else None)
        if task_col is None or "task_index" not in names:
            raise DatasetFormatError(f"{self.root / TASKS_PATH}: needs a 'task' index and a 'task_index' column, has {names}")
        tasks_by_idx = dict(zip(t.column("task_index").to_pylist(), t.column(task_col).to_pylist()))
        tasks = [tasks_by_idx.get(i, "") for i in range(max(tasks_by_idx, default=-1) + 1)]
        files = sorted((self.root / EPISODES_DIR).glob("*/*.parquet"))
        if not files:
            raise DatasetFormatError(f"{self.root / EPISODES_DIR}: no episode metadata files (chunk-XXX/file-XXX.parquet)")
        rows: list[dict] = []
        for f in files:
            schema_names = pq.read_schema(str(f)).names if f.stat().st_size else []
            cols = [c for c in schema_names if not c.startswith("stats/")]
            rows += _read_parquet(f, "episode metadata", columns=cols or None).to_pylist()
        rows.sort(key=lambda r: r["episode_index"])
        need = ["episode_index", "length", "data/chunk_index", "data/file_index", "dataset_from_index"]
        episodes = []
        for r in rows:
            miss = [k for k in need + [f"videos/{c}/from_timestamp" for c in self.video_cameras] if k not in r]
            if miss:
                raise DatasetFormatError(f"{files[0].parent.parent}: episode {r.get('episode_index')} lacks column(s) {miss}")
            data = _format(self.info["data_path"], chunk_index=r["data/chunk_index"], file_index=r["data/file_index"])
            videos = {}
            for c in self.video_cameras:
                p = _format(self.info["video_path"], video_key=c, chunk_index=r[f"videos/{c}/chunk_index"],
                            file_index=r[f"videos/{c}/file_index"])
                videos[c] = (str(self.root / p), float(r[f"videos/{c}/from_timestamp"]))
            episodes.append(Episode(int(r["episode_index"]), int(r["length"]), int(r["dataset_from_index"]),
                                    list(r.get("tasks") or []), str(self.root / data), videos))
        return tasks, episodes

    def _v21_meta(self) -> tuple[list[str], list[Episode]]:
        task_rows = read_jsonl(self.root / V21_TASKS_PATH, "meta/tasks.jsonl")
        tasks_by_idx = {int(r["task_index"]): r["task"] for r in task_rows}
        tasks = [tasks_by_idx.get(i, "") for i in range(max(tasks_by_idx, default=-1) + 1)]
        chunks = int(self.info.get("chunks_size", 1000))
        rows = sorted(read_jsonl(self.root / V21_EPISODES_PATH, "meta/episodes.jsonl"), key=lambda r: r["episode_index"])
        episodes, start = [], 0
        for r in rows:
            i = int(r["episode_index"])
            keys = {"episode_chunk": i // chunks, "episode_index": i}
            data = self.root / _format(self.info["data_path"], **keys)
            videos = {c: (str(self.root / _format(self.info["video_path"], video_key=c, **keys)), 0.0)
                      for c in self.video_cameras}
            episodes.append(Episode(i, int(r["length"]), start, list(r.get("tasks") or []), str(data), videos))
            start += int(r["length"])
        return tasks, episodes

    # ----------------------------------------------------------------- data columns
    def _load_data(self) -> dict[str, np.ndarray]:
        keys = [k for k, ft in self.features.items() if not is_video(ft) and ft["dtype"] not in ("image", "string")]
        files = list(dict.fromkeys(e.data_file for e in self.episodes))
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        for f in files:
            table = _read_parquet(Path(f), "data file")
            missing = [k for k in keys if k not in table.column_names]
            if missing:
                raise DatasetFormatError(f"{f}: column(s) {missing} declared in meta/info.json are missing; has {table.column_names}")
            for k in keys:
                parts[k].append(column_to_numpy(table.column(k), [int(s) for s in self.features[k]["shape"]], f"{f}: column {k!r}"))
            if self.image_columns and "index" in keys:
                self._file_index[f] = parts["index"][-1].reshape(-1).astype(np.int64)
        cols = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()}
        if "index" in cols:
            order = np.argsort(cols["index"], kind="stable")
            cols = {k: v[order] for k, v in cols.items()}
            if len(order) != self.total_frames or not np.array_equal(cols["index"], np.arange(self.total_frames)):
                raise DatasetFormatError(
                    f"{self.root}: the data files hold {len(order)} frames with index {_span(cols['index'])}, "
                    f"the episode metadata says {self.total_frames} frames (0..{self.total_frames - 1})")
        for e in self.episodes:
            if "episode_index" in cols and e.length and not np.all(cols["episode_index"][e.start:e.start + e.length] == e.index):
                raise DatasetFormatError(f"{e.data_file}: rows {e.start}..{e.start + e.length - 1} are not all episode {e.index}")
        return cols

    def column(self, key: str) -> np.ndarray:
        if key not in self._columns:
            raise KeyError(f"{self.root}: no vector feature {key!r}; has {sorted(self._columns)}")
        return self._columns[key]

    def vector_keys(self) -> list[str]:
        return [k for k in self._columns if k not in INDEX_FEATURES]

    def task_at(self, global_index: int) -> str:
        if "task_index" in self._columns:
            return self.tasks[int(self._columns["task_index"][global_index])]
        ep = self.episodes[int(self.episode_of[global_index])]
        return ep.tasks[0] if ep.tasks else ""

    # ----------------------------------------------------------------- frames
    def frames(self, key: str, episode: int, frame_indices: list[int] | np.ndarray) -> np.ndarray:
        """uint8 (n, H, W, 3) frames of camera `key` at the episode's frame indices."""
        if key not in self.cameras:
            raise KeyError(f"{self.root}: no camera {key!r}; cameras: {self.cameras}")
        if not 0 <= episode < len(self.episodes):
            raise IndexError(f"{self.root}: no episode {episode}; positions 0..{len(self.episodes) - 1}")
        ep = self.episodes[episode]
        bad = [int(i) for i in frame_indices if not 0 <= int(i) < ep.length]
        if bad:
            raise IndexError(f"episode {episode} has {ep.length} frames; asked for {bad}")
        if key in self.image_columns:
            return self._image_frames(key, ep, frame_indices)
        path, t0 = ep.videos[key]
        offset = int(round(t0 * self.fps))
        out = self.frame_reader.read(path, [offset + int(i) for i in frame_indices], self.fps)
        shape = (*self.camera_hw(key), 3)
        if out.shape[1:] != shape:
            raise DatasetFormatError(f"{path}: frames are {out.shape[1:]}, meta/info.json says {shape}")
        return out

    def camera_hw(self, key: str) -> tuple[int, int]:
        """(height, width) of a camera's frames."""
        return camera_hw(self.features[key])

    def _image_frames(self, key: str, ep: Episode, frame_indices) -> np.ndarray:
        index = self._file_index.get(ep.data_file)
        if index is None:
            raise DatasetFormatError(f"{ep.data_file}: image features need the 'index' column to find their rows")
        order = np.argsort(index, kind="stable")
        wanted = ep.start + np.asarray(frame_indices, dtype=np.int64)
        pos = np.searchsorted(index[order], wanted)
        if np.any(pos >= len(index)) or np.any(index[order][np.minimum(pos, len(index) - 1)] != wanted):
            raise DatasetFormatError(f"{ep.data_file}: does not hold the rows of episode {ep.index}")
        return self.image_columns[key].read(ep.data_file, order[pos].tolist(), self.camera_hw(key))

    # ----------------------------------------------------------------- stats
    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """meta/stats.json (v2.1 without it: aggregated from meta/episodes_stats.jsonl)."""
        if self._stats is None:
            if (self.root / STATS_PATH).is_file():
                self._stats = lstats.from_json(read_json(self.root / STATS_PATH, "meta/stats.json"))
            elif (self.root / V21_EPISODES_STATS_PATH).is_file():
                rows = read_jsonl(self.root / V21_EPISODES_STATS_PATH, "meta/episodes_stats.jsonl")
                self._stats = lstats.aggregate([lstats.from_json(r["stats"]) for r in rows])
            else:
                self._stats = {}
        return self._stats

    def close(self) -> None:
        """Close the video files this reader has open (reading again reopens them)."""
        self.frame_reader.close()

    def __enter__(self) -> "LeRobotReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"LeRobotReader({str(self.root)!r}, {self.version}, {len(self.episodes)} episodes, "
                f"{self.total_frames} frames, {self.fps} fps, cameras={self.cameras})")


def _span(idx: np.ndarray) -> str:
    return f"{int(idx.min())}..{int(idx.max())}" if idx.size else "(none)"
