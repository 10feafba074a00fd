"""A TFDS builder folder: `dataset_info.json`, `features.json`, shards, and one episode's decoding.

Facts relied on (tensorflow/datasets `core/proto/{feature,dataset_info}.proto`, `core/naming.py`,
`core/example_serializer.py`, `core/features/tensor_feature.py`):

- A builder folder `<name>/<version>/` holds `dataset_info.json` (proto3 JSON, camelCase, int64 as
  strings: `name`, `version`, `fileFormat`, `splits: [{name, shardLengths: ["12", ...],
  filepathTemplate?}]`), `features.json`, and shards named `{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}`
  (`bridge_dataset-train.tfrecord-00000-of-01024`, index zero-padded to 5 digits).
- `features.json` is a tree of `{"pythonClassName", "description"?, <content>}` with content one of
  `featuresDict: {features: {name: node}}`, `sequence: {feature: node, length}` (RLDS `steps`),
  `tensor: {shape: {dimensions: ["7"]}, dtype, encoding: none|bytes|zlib}` (Tensor and Scalar;
  `shape: {}` is a scalar), `image: {shape, dtype, encodingFormat: jpeg|png}`, `text: {}`, `classLabel`.
- One record is one episode. Keys are the tree's paths joined by '/'. Leaves under the sequence hold
  the T steps stacked as one flat list of T*prod(shape) values: ints and bools in `int64_list`,
  floats (float64 too, stored as float32) in `float_list`, strings/text/encoded images one bytes value
  per step; tensors with encoding bytes/zlib one `ndarray.tobytes()` (zlib-compressed) value per step.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egovla.data.rlds.example import BYTES, FLOAT, INT64

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
SHARD_RE = re.compile(r"-(\d{5,})-of-(\d{5,})$")


class RLDSFormatError(ValueError):
    """A builder folder, schema or episode that cannot be read; the message names the file/record/key."""


@dataclass(frozen=True)
class Leaf:
    path: str                  # flattened key, e.g. "steps/observation/image_0"
    kind: str                  # "tensor", "image", "text" or "unsupported"
    shape: tuple[int, ...] = ()  # per step for step leaves; -1 for an unknown size
    dtype: str = "float32"     # numpy dtype name, or "string"
    encoding: str = "none"     # tensors: none|bytes|zlib; images: jpeg|png
    step: bool = False         # inside the steps sequence
    description: str = ""
    class_name: str = ""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


def _dims(node: dict, where: str) -> tuple[int, ...]:
    dims = (node.get("shape") or {}).get("dimensions", [])
    try:
        return tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        raise RLDSFormatError(f"{where}: shape dimensions {dims!r} are not integers") from None


def parse_features(doc: dict, where: str = "features.json") -> dict[str, Leaf]:
    """The leaves of a features.json tree, keyed by their flattened path."""
    leaves: dict[str, Leaf] = {}

    def walk(node: dict, path: str, step: bool) -> None:
        if not isinstance(node, dict):
            raise RLDSFormatError(f"{where}: {path or '(root)'} is not an object")
        cls, desc = node.get("pythonClassName", ""), node.get("description", "")
        if "featuresDict" in node:
            for name, child in (node["featuresDict"].get("features") or {}).items():
                walk(child, f"{path}/{name}" if path else name, step)
        elif "sequence" in node:
            if step:
                leaves[path] = Leaf(path, "unsupported", step=True, description=desc, class_name=cls + " (nested sequence)")
                return
            walk(node["sequence"].get("feature", {}), path, True)
        elif "tensor" in node:
            t = node["tensor"]
            leaves[path] = Leaf(path, "tensor", _dims(t, f"{where}: {path}"), str(t.get("dtype", "float32")),
                                str(t.get("encoding", "none")).lower(), step, desc, cls)
        elif "image" in node:
            im = node["image"]
            leaves[path] = Leaf(path, "image", _dims(im, f"{where}: {path}"), str(im.get("dtype", "uint8")),
                                str(im.get("encodingFormat", "png")).lower(), step, desc, cls)
        elif "text" in node:
            leaves[path] = Leaf(path, "text", (), "string", "none", step, desc, cls)
        elif "classLabel" in node:
            leaves[path] = Leaf(path, "tensor", (), "int64", "none", step, desc, cls)
        else:
            leaves[path] = Leaf(path, "unsupported", step=step, description=desc, class_name=cls or str(sorted(node)))

    walk(doc, "", False)
    if not any(leaf.step for leaf in leaves.values()):
        raise RLDSFormatError(f"{where}: no sequence feature (RLDS 'steps') found; is this an RLDS dataset?")
    return leaves


@dataclass
class Builder:
    root: Path
    name: str
    version: str
    file_format: str
    leaves: dict[str, Leaf]
    splits: dict[str, dict] = field(default_factory=dict)  # name -> {"shard_lengths": [...], "template": str}

    def shards(self, split: str) -> list[Path]:
        """The shard files of a split, in order (missing ones included, so they can be reported)."""
        if split not in self.splits:
            raise RLDSFormatError(f"{self.root}: no split {split!r}; splits: {sorted(self.splits)}")
        lengths = self.splits[split]["shard_lengths"]
        template = self.splits[split].get("template") or "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
        if not lengths:  # no shard lengths recorded: whatever shards are there
            pattern = f"{self.name}-{split}.{self.file_format}-"
            return sorted(p for p in self.root.iterdir() if p.name.startswith(pattern) and SHARD_RE.search(p.name))
        n = len(lengths)
        return [self.root / template.format(DATASET=self.name, SPLIT=split, FILEFORMAT=self.file_format,
                                            SHARD_INDEX=f"{i:05d}", NUM_SHARDS=f"{n:05d}",
                                            SHARD_X_OF_Y=f"{i:05d}-of-{n:05d}") for i in range(n)]


def find_builder_dir(src: str | Path) -> Path:
    """`src` itself when it holds dataset_info.json, else its one (or highest) version folder."""
    src = Path(src)
    if (src / "dataset_info.json").is_file():
        return src
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such RLDS builder folder")
    versions = [p for p in src.iterdir() if (p / "dataset_info.json").is_file()]
    if not versions:
        raise RLDSFormatError(f"{src}: no dataset_info.json here or in a version folder (<name>/<version>/)")

    def key(p: Path):
        return tuple(int(x) if x.isdigit() else -1 for x in p.name.split("."))
    return max(versions, key=key)


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RLDSFormatError(f"{path}: missing (a TFDS builder folder has dataset_info.json and features.json)") from None
    except json.JSONDecodeError as e:
        raise RLDSFormatError(f"{path}: not valid JSON ({e})") from None


def open_builder(src: str | Path) -> Builder:
    root = find_builder_dir(src)
    info = _json(root / "dataset_info.json")
    leaves = parse_features(_json(root / "features.json"), str(root / "features.json"))
    fmt = str(info.get("fileFormat") or "tfrecord").lower()
    if fmt not in ("tfrecord",):
        raise RLDSFormatError(f"{root / 'dataset_info.json'}: fileFormat {fmt!r} is not supported (only tfrecord)")
    splits = {}
    for s in info.get("splits", []):
        try:
            lengths = [int(x) for x in s.get("shardLengths", [])]
        except (TypeError, ValueError):
            raise RLDSFormatError(f"{root / 'dataset_info.json'}: split {s.get('name')!r} has non-integer shardLengths") from None
        splits[str(s.get("name"))] = {"shard_lengths": lengths, "template": s.get("filepathTemplate")}
    name = str(info.get("name") or root.parent.name)
    return Builder(root, name, str(info.get("version") or root.name), fmt, leaves, splits)


@dataclass
class Episode:
    length: int
    values: dict[str, object]  # path -> (T, *shape) array, list[bytes] (images), list[str] (text); episode leaves unstacked


def _decode_leaf(leaf: Leaf, kind: str | None, vals, n: int | None, where: str):
    """One leaf's list -> its value; n is T for step leaves (None at episode level)."""
    lead = (n,) if leaf.step else ()
    if leaf.kind == "image" or (leaf.kind in ("text",) or leaf.dtype == "string"):
        if kind not in (BYTES, None):
            raise RLDSFormatError(f"{where}: key {leaf.path!r} ({leaf.kind}) is stored as {kind}_list, expected bytes_list")
        vals = list(vals)
        if leaf.kind == "image":
            return vals
        text = [v.decode("utf-8", errors="replace") for v in vals]
        return text if leaf.step else (text[0] if len(text) == 1 else text)
    if leaf.kind != "tensor":
        raise RLDSFormatError(f"{where}: key {leaf.path!r} has a feature type this reader does not decode ({leaf.class_name})")
    dtype = np.dtype("float32" if leaf.dtype == "bfloat16" else leaf.dtype)
    if leaf.encoding in ("bytes", "zlib"):
        if kind not in (BYTES, None):
            raise RLDSFormatError(f"{where}: key {leaf.path!r} (encoding {leaf.encoding}) is stored as {kind}_list")
        try:
            raw = [zlib.decompress(v) if leaf.encoding == "zlib" else v for v in vals]
            arrs = [np.frombuffer(r, dtype=dtype).reshape(leaf.shape) for r in raw]
        except (zlib.error, ValueError) as e:
            raise RLDSFormatError(f"{where}: key {leaf.path!r} cannot be decoded as {leaf.encoding} {dtype}{list(leaf.shape)} ({e})") from None
        out = np.stack(arrs) if arrs else np.zeros((0, *leaf.shape), dtype)
        return out if leaf.step else out[0]
    if any(d < 0 for d in leaf.shape):
        raise RLDSFormatError(f"{where}: key {leaf.path!r} has unknown dimensions {list(leaf.shape)}; not supported")
    want = FLOAT if dtype.kind == "f" else INT64
    if kind not in (want, None):
        raise RLDSFormatError(f"{where}: key {leaf.path!r} ({leaf.dtype}) is stored as {kind}_list, expected {want}_list")
    arr = np.asarray(vals)
    expected = (n if leaf.step else 1) * leaf.size
    if arr.size != expected:
        raise RLDSFormatError(f"{where}: key {leaf.path!r} has {arr.size} values, expected "
                              f"{'T=%d x ' % n if leaf.step else ''}{leaf.size} (shape {list(leaf.shape)})")
    if dtype == np.bool_:
        arr = arr != 0
    elif dtype == np.uint64:
        arr = arr.astype(np.int64).view(np.uint64)
    else:
        arr = arr.astype(dtype)
    return arr.reshape(lead + leaf.shape)


def episode_length(ex: dict, leaves: dict[str, Leaf], where: str) -> int:
    for key in ("steps/is_first", "steps/is_last"):
        if key in ex and key in leaves:
            return len(ex[key][1])
    for leaf in leaves.values():
        if leaf.step and leaf.path in ex and (leaf.kind in ("image", "text") or leaf.encoding != "none"):
            return len(ex[leaf.path][1])
    for leaf in leaves.values():
        if leaf.step and leaf.path in ex and leaf.kind == "tensor" and leaf.size:
            return len(ex[leaf.path][1]) // leaf.size
    raise RLDSFormatError(f"{where}: cannot tell the number of steps (no steps/is_first and no step feature present)")


def decode_episode(ex: dict, leaves: dict[str, Leaf], keys: list[str], where: str) -> Episode:
    """Decode the leaves `keys` of one parsed Example (see `example.parse_example`)."""
    n = episode_length(ex, leaves, where)
    if n == 0:
        raise RLDSFormatError(f"{where}: the episode has no steps")
    values = {}
    for key in keys:
        if key not in leaves:
            raise RLDSFormatError(f"{where}: key {key!r} is not in features.json")
        if key not in ex:
            raise RLDSFormatError(f"{where}: key {key!r} is missing from the record (keys: {sorted(ex)[:12]}...)")
        leaf = leaves[key]
        kind, vals = ex[key]
        value = _decode_leaf(leaf, kind, vals, n, where)
        if leaf.step and len(value) != n:
            raise RLDSFormatError(f"{where}: key {key!r} has {len(value)} steps, the episode has {n}")
        values[key] = value
    return Episode(n, values)
