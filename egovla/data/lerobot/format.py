"""The LeRobotDataset layout: path templates, feature specs, info.json, and the errors it raises.

Facts of the format (v3.0, as LeRobot writes it):

- `meta/info.json`: `codebase_version` "v3.0", `fps`, `robot_type`, `features` (each with `dtype`,
  `shape`, `names`; videos also carry `info` with `video.*` entries), `data_path` / `video_path`
  templates with `{chunk_index}` / `{file_index}` (and `{video_key}`), `chunks_size` (files per
  chunk folder), `data_files_size_in_mb` / `video_files_size_in_mb` (roll-over limits),
  `total_episodes` / `total_frames` / `total_tasks`, `splits` ({"train": "0:N"}).
- `meta/tasks.parquet`: one row per task, the task string as the (pandas) index named `task`,
  column `task_index`.
- `meta/episodes/chunk-XXX/file-XXX.parquet`: one row per episode: `episode_index`, `tasks`,
  `length`, `data/chunk_index`, `data/file_index`, `dataset_from_index`, `dataset_to_index`,
  per video key `videos/<key>/{chunk_index,file_index,from_timestamp,to_timestamp}`,
  `meta/episodes/{chunk_index,file_index}`, and `stats/<feature>/<stat>` columns.
- `data/chunk-XXX/file-XXX.parquet`: one row per frame, many episodes per file; every non-video
  feature is a column (shape (1,) features are scalars, (N,) features fixed-size lists).
- `videos/<key>/chunk-XXX/file-XXX.mp4`: episodes one after another in one stream; an episode's
  frame i sits at `from_timestamp + i / fps`.
- `meta/stats.json`: per feature `min`, `max`, `mean`, `std`, `count`, `q01`..`q99`; images per
  channel with shape (3, 1, 1), scaled to [0, 1].

v2.1 (read only): one parquet and one mp4 per episode (`episode_chunk = episode_index //
chunks_size` in the templates), `meta/episodes.jsonl`, `meta/tasks.jsonl`,
`meta/episodes_stats.jsonl`; each episode's video starts at time 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE + ".parquet"
V21_EPISODES_PATH = "meta/episodes.jsonl"
V21_TASKS_PATH = "meta/tasks.jsonl"
V21_EPISODES_STATS_PATH = "meta/episodes_stats.jsonl"

V3 = "v3.0"
V21 = "v2.1"
CHUNKS_SIZE = 1000
DATA_FILE_MB = 100
VIDEO_FILE_MB = 200

# the bookkeeping columns every LeRobot data file has, besides the user's features
INDEX_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
VECTOR_DTYPES = ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)


class DatasetFormatError(ValueError):
    """A dataset on disk is missing a file, has a schema that does not match, or is truncated."""


def is_video(feature: dict) -> bool:
    return feature.get("dtype") == "video"


def video_feature(height: int, width: int, names: list[str] | None = None) -> dict[str, Any]:
    """A camera feature spec (RGB, stored as MP4)."""
    return {"dtype": "video", "shape": [int(height), int(width), 3],
            "names": names or ["height", "width", "channels"]}


def vector_feature(size: int, names: list[str] | None = None, dtype: str = "float32") -> dict[str, Any]:
    if names is not None and len(names) != size:
        raise ValueError(f"vector feature of size {size} given {len(names)} names")
    return {"dtype": dtype, "shape": [int(size)], "names": list(names) if names else None}


def check_features(features: dict[str, dict]) -> None:
    """Raise naming the feature when a spec is not one this writer/reader understands."""
    for key, ft in features.items():
        if not isinstance(ft, dict) or "dtype" not in ft or "shape" not in ft:
            raise DatasetFormatError(f"feature {key!r}: needs 'dtype' and 'shape', got {ft!r}")
        shape = list(ft["shape"])
        if is_video(ft):
            if len(shape) != 3 or shape[2] != 3:
                raise DatasetFormatError(f"feature {key!r}: a video must have shape [height, width, 3], got {shape}")
        elif ft["dtype"] in ("image", "string"):
            continue
        elif ft["dtype"] not in VECTOR_DTYPES:
            raise DatasetFormatError(f"feature {key!r}: dtype {ft['dtype']!r} is not one of {VECTOR_DTYPES + ('video',)}")
        elif len(shape) not in (1, 2) or any(int(s) <= 0 for s in shape):
            raise DatasetFormatError(f"feature {key!r}: shape {shape} must be (N,) or (N, M) with positive sizes")


def hf_feature(ft: dict) -> dict[str, Any]:
    """The Hugging Face `datasets` feature JSON for one non-video column (stored in the parquet schema)."""
    shape = [int(s) for s in ft["shape"]]
    if shape == [1]:
        return {"dtype": ft["dtype"], "_type": "Value"}
    if len(shape) == 1:
        return {"feature": {"dtype": ft["dtype"], "_type": "Value"}, "length": shape[0], "_type": "Sequence"}
    return {"shape": shape, "dtype": ft["dtype"], "_type": "Array2D"}


def read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise DatasetFormatError(f"{path}: {what} is missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"{path}: {what} is not valid JSON ({e})") from e


def read_jsonl(path: Path, what: str) -> list[dict]:
    if not path.is_file():
        raise DatasetFormatError(f"{path}: {what} is missing")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DatasetFormatError(f"{path}:{n}: {what} has a line that is not JSON ({e})") from e
    return rows


def load_info(root: Path) -> dict[str, Any]:
    info = read_json(root / INFO_PATH, "the dataset description")
    for key in ("codebase_version", "fps", "features"):
        if key not in info:
            raise DatasetFormatError(f"{root / INFO_PATH}: has no {key!r}")
    version = str(info["codebase_version"])
    if version not in (V3, V21, "v3", "v2.1"):
        raise DatasetFormatError(
            f"{root / INFO_PATH}: codebase_version {version!r} is not supported (reads {V3} and {V21})")
    if version == V3 and ("data_path" not in info):
        raise DatasetFormatError(f"{root / INFO_PATH}: a {V3} dataset needs a 'data_path' template")
    try:
        check_features(info["features"])
    except DatasetFormatError as e:
        raise DatasetFormatError(f"{root / INFO_PATH}: {e}") from None
    return info


def is_image(feature: dict) -> bool:
    """A camera stored frame by frame in the data files (LeRobot's `image` dtype), not as a video."""
    return feature.get("dtype") == "image"


def camera_keys(features: dict[str, dict]) -> list[str]:
    return [k for k, ft in features.items() if is_video(ft) or is_image(ft)]
