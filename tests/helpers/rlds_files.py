"""Write small RLDS / TFDS builder folders in the real on-disk layout, for tests.

`features.json` uses TFDS's FeatureConnector JSON (FeaturesDict / Dataset / Tensor / Scalar /
Image / Text classes, shapes as strings); `dataset_info.json` has `shardLengths` as strings; each
shard is TFRecord-framed with masked CRC32C (computed with the `crc32c` package, not with the
code under test) and each record is one `tf.train.Example` serialised by the protobuf runtime from
a descriptor built here (so the encoder is protobuf's own, independent of egovla's decoder).

`write_builder(root, kind, shard_lengths, steps, ...)` returns the ground truth of every episode:
`truth[shard][record] = {"steps": T, "values": {leaf path: array / list}, "images": {key: decoded
uint8 frames}}`. Kinds: "bridge", "droid", "fractal" (the real datasets' key layout, small images).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import crc32c
import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

CLS = "tensorflow_datasets.core.features."


def _message_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="egovla_test_example.proto", package="tensorflow", syntax="proto3")
    F = descriptor_pb2.FieldDescriptorProto

    def msg(name, fields, nested=()):
        m = fdp.message_type.add(name=name)
        for fname, num, ftype, label, tname, oneof in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = tname
            if oneof is not None:
                f.oneof_index = oneof
        return m

    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    msg("BytesList", [("value", 1, F.TYPE_BYTES, rep, None, None)])
    msg("FloatList", [("value", 1, F.TYPE_FLOAT, rep, None, None)])
    msg("Int64List", [("value", 1, F.TYPE_INT64, rep, None, None)])
    feat = msg("Feature", [("bytes_list", 1, F.TYPE_MESSAGE, opt, ".tensorflow.BytesList", 0),
                           ("float_list", 2, F.TYPE_MESSAGE, opt, ".tensorflow.FloatList", 0),
                           ("int64_list", 3, F.TYPE_MESSAGE, opt, ".tensorflow.Int64List", 0)])
    feat.oneof_decl.add(name="kind")
    fs = msg("Features", [("feature", 1, F.TYPE_MESSAGE, rep, ".tensorflow.Features.FeatureEntry", None)])
    entry = fs.nested_type.add(name="FeatureEntry")
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=opt, type_name=".tensorflow.Feature")
    entry.options.map_entry = True
    msg("Example", [("features", 1, F.TYPE_MESSAGE, opt, ".tensorflow.Features", None)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


_EXAMPLE = None


def serialize_example(features: dict[str, tuple[str, list]]) -> bytes:
    """{key: ("bytes"|"float"|"int64", values)} -> a serialized tf.train.Example (protobuf runtime)."""
    global _EXAMPLE
    _EXAMPLE = _EXAMPLE or _message_class()
    ex = _EXAMPLE()
    for key, (kind, values) in features.items():
        f = ex.features.feature[key]
        getattr(f, f"{kind}_list").value.extend(list(values))
        if not len(values):
            getattr(f, f"{kind}_list").SetInParent()
    return ex.SerializeToString()


def masked_crc(b: bytes) -> int:
    c = crc32c.crc32c(b)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def write_tfrecord(path: Path, records: list[bytes]) -> list[int]:
    """Frame records into a TFRecord file; returns each record's byte offset."""
    offsets, pos = [], 0
    with open(path, "wb") as f:
        for r in records:
            header = struct.pack("<Q", len(r))
            f.write(header + struct.pack("<I", masked_crc(header)) + r + struct.pack("<I", masked_crc(r)))
            offsets.append(pos)
            pos += 16 + len(r)
    return offsets


# ------------------------------------------------------------------ schema (features.json)
def tensor(shape, dtype, desc="", encoding="none", cls="tensor_feature.Tensor"):
    return {"pythonClassName": CLS + cls, "tensor": {"shape": {"dimensions": [str(s) for s in shape]} if shape else {},
                                                     "dtype": dtype, "encoding": encoding}, "description": desc}


def scalar(dtype, desc=""):
    return tensor((), dtype, desc, cls="scalar.Scalar")


def image(h, w, fmt="jpeg", desc=""):
    return {"pythonClassName": CLS + "image_feature.Image", "image": {
        "shape": {"dimensions": [str(h), str(w), "3"]}, "dtype": "uint8", "encodingFormat": fmt}, "description": desc}


def text(desc=""):
    return {"pythonClassName": CLS + "text_feature.Text", "text": {}, "description": desc}


def fdict(features: dict):
    return {"pythonClassName": CLS + "features_dict.FeaturesDict", "featuresDict": {"features": features}}


def steps_of(step_features: dict):
    return {"pythonClassName": CLS + "dataset_feature.Dataset", "sequence": {"feature": fdict(step_features), "length": "-1"}}


def flat_leaves(node: dict, path: str = "") -> dict[str, dict]:
    if "featuresDict" in node:
        out = {}
        for k, v in node["featuresDict"]["features"].items():
            out.update(flat_leaves(v, f"{path}/{k}" if path else k))
        return out
    if "sequence" in node:
        return flat_leaves(node["sequence"]["feature"], path)
    return {path: node}


def schema(kind: str, hw=(48, 64)) -> dict:
    h, w = hw
    flags = {"is_first": scalar("bool", "True on first step."), "is_last": scalar("bool", "True on last step."),
             "is_terminal": scalar("bool", "True for demos."), "reward": scalar("float32", "1 on final step for demos."),
             "discount": scalar("float32", "Default to 1.")}
    if kind == "bridge":
        obs = fdict({"image_0": image(h, w), "image_1": image(h, w), "state": tensor([7], "float32", "[x,y,z,r,p,y,gripper]")})
        steps = {"observation": obs, "action": tensor([7], "float32"), "language_instruction": text(),
                 "language_embedding": tensor([4], "float32"), **flags}
        meta = fdict({"file_path": text(), "episode_id": scalar("int32"), "has_image_0": scalar("bool")})
    elif kind == "droid":
        obs = fdict({"exterior_image_1_left": image(h, w), "exterior_image_2_left": image(h, w),
                     "wrist_image_left": image(h, w),
                     "cartesian_position": tensor([6], "float64"), "gripper_position": tensor([1], "float64"),
                     "joint_position": tensor([7], "float64")})
        ad = fdict({k: tensor([n], "float64") for k, n in (("cartesian_position", 6), ("cartesian_velocity", 6),
                    ("gripper_position", 1), ("gripper_velocity", 1), ("joint_position", 7), ("joint_velocity", 7))})
        steps = {"observation": obs, "action_dict": ad, "action": tensor([7], "float64"), "language_instruction": text(),
                 "language_instruction_2": text(), "language_instruction_3": text(), **flags}
        meta = fdict({"file_path": tensor((), "string"), "recording_folderpath": tensor((), "string"),
                      "extrinsics_exterior_cam_1": tensor([6], "float64")})
    elif kind == "fractal":
        obs = fdict({"image": image(h, w), "base_pose_tool_reached": tensor([7], "float32"),
                     "gripper_closed": tensor([1], "float32"), "natural_language_instruction": tensor((), "string"),
                     "workspace_bounds": tensor([3, 3], "float32"),
                     "blob": tensor([5], "uint8", encoding="bytes"), "packed": tensor([2], "float32", encoding="zlib")})
        act = fdict({"world_vector": tensor([3], "float32"), "rotation_delta": tensor([3], "float32"),
                     "gripper_closedness_action": tensor([1], "float32"), "terminate_episode": tensor([3], "int32")})
        steps = {"observation": obs, "action": act, **flags}
        meta = fdict({"aspects": fdict({"success": scalar("bool")})})
    else:
        raise ValueError(kind)
    return fdict({"steps": steps_of(steps), "episode_metadata": meta})


# ------------------------------------------------------------------ episodes
def _frame(rng_phase: float, t: int, h: int, w: int, cam: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)),
                    np.full_like(xx, (40 * cam + 20 * t) % 256)], -1).astype(np.uint8)
    cx = int((0.2 + 0.6 * ((t * 0.1 + rng_phase) % 1.0)) * w)
    img[h // 3: h // 3 + h // 5, max(0, cx - w // 10): cx + w // 10] = (255, 255, 255)
    return img


def encode_image(img: np.ndarray, fmt: str = "jpeg") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG" if fmt == "jpeg" else "PNG", quality=95)
    return buf.getvalue()


def ee_trajectory(rng, T: int) -> np.ndarray:
    """(T, 7) [x, y, z, roll, pitch, yaw, gripper] with smooth motion (base frame, metres / radians)."""
    t = np.arange(T)[:, None]
    phase = rng.uniform(0, 2 * np.pi, 7)
    base = np.array([0.3, 0.0, 0.12, 0.0, 0.3, 0.0, 0.5])
    amp = np.array([0.08, 0.1, 0.05, 0.2, 0.2, 0.5, 0.5])
    return (base + amp * np.sin(0.35 * t + phase)).astype(np.float32)


def deltas(state: np.ndarray) -> np.ndarray:
    """Bridge-style actions: [p_{t+1} - p_t, rpy of R_{t+1} R_t^T (extrinsic xyz), gripper_{t+1}] (last repeats)."""
    nxt = np.concatenate([state[1:], state[-1:]])
    R0 = Rotation.from_euler("xyz", state[:, 3:6].astype(np.float64))
    R1 = Rotation.from_euler("xyz", nxt[:, 3:6].astype(np.float64))
    d_rpy = (R1 * R0.inv()).as_euler("xyz")
    return np.concatenate([nxt[:, :3] - state[:, :3], d_rpy, nxt[:, 6:]], 1).astype(np.float32)


def episode_values(kind: str, leaves: dict[str, dict], rng, T: int, ep_id: int, hw) -> dict[str, object]:
    """Ground-truth values per leaf path (step leaves stacked (T, ...))."""
    vals: dict[str, object] = {}
    ee = ee_trajectory(rng, T)
    phase = rng.uniform()
    for path, node in leaves.items():
        step = path.startswith("steps/")
        n = (T,) if step else ()
        if "image" in node:
            cam = sum(map(ord, path)) % 5
            vals[path] = np.stack([_frame(phase, t, hw[0], hw[1], cam) for t in range(T)])
        elif "text" in node or node["tensor"]["dtype"] == "string":
            vals[path] = [f"{kind} task {ep_id} step {t}" if "natural" in path else f"put the cup {ep_id} in the sink"
                          for t in range(T)] if step else f"/raw/episode_{ep_id:04d}.h5"
        else:
            tt = node["tensor"]
            shape = tuple(int(s) for s in tt.get("shape", {}).get("dimensions", []))
            dt = np.dtype(tt["dtype"])
            if dt == np.bool_:
                v = rng.random(n + shape) < 0.5
            elif dt.kind in "iu":
                v = rng.integers(0, 200, n + shape).astype(dt)
            else:
                v = rng.normal(size=n + shape).astype(dt)
            vals[path] = v
    if "steps/observation/state" in vals:
        vals["steps/observation/state"] = ee
    if "steps/observation/base_pose_tool_reached" in vals:
        vals["steps/observation/base_pose_tool_reached"] = np.concatenate([ee[:, :3], rng.normal(size=(T, 4))], 1).astype(np.float32)
    if "steps/action" in vals and kind == "bridge":
        vals["steps/action"] = deltas(ee)
    if "steps/observation/blob" in vals:  # bytes-encoded uint8 values ending in NUL bytes
        vals["steps/observation/blob"][:, -2:] = 0
    vals["steps/is_first"] = np.arange(T) == 0
    vals["steps/is_last"] = np.arange(T) == T - 1
    vals["steps/is_terminal"] = np.arange(T) == T - 1
    if "episode_metadata/extrinsics_exterior_cam_1" in vals:
        vals["episode_metadata/extrinsics_exterior_cam_1"] = np.array([0.6, 0.0, 0.5, -2.2, 0.0, 1.5708])
    return vals


def to_example(leaves: dict[str, dict], vals: dict[str, object]) -> tuple[bytes, dict]:
    feats, images = {}, {}
    for path, node in leaves.items():
        v = vals[path]
        if "image" in node:
            fmt = node["image"]["encodingFormat"]
            enc = [encode_image(f, fmt) for f in v]
            feats[path] = ("bytes", enc)
            images[path] = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in enc])
        elif "text" in node or node["tensor"]["dtype"] == "string":
            feats[path] = ("bytes", [s.encode() for s in ([v] if isinstance(v, str) else v)])
        elif node["tensor"].get("encoding", "none") != "none":
            arr = np.asarray(v)
            raw = [a.tobytes() for a in arr]
            feats[path] = ("bytes", [zlib.compress(r) for r in raw] if node["tensor"]["encoding"] == "zlib" else raw)
        else:
            arr = np.asarray(v).reshape(-1)
            feats[path] = ("float", arr.astype(np.float32).tolist()) if arr.dtype.kind == "f" else ("int64", arr.astype(np.int64).tolist())
    return serialize_example(feats), images


def write_builder(root: Path, kind: str = "bridge", shard_lengths=(2, 1), steps=(6, 9), hw=(48, 64),
                  split: str = "train", seed: int = 0, name: str | None = None, version: str = "1.0.0") -> tuple[Path, list]:
    """A builder folder `root/<name>/<version>`; returns (its path, truth[shard][record])."""
    name = name or {"bridge": "bridge_dataset", "droid": "droid", "fractal": "fractal20220817_data"}[kind]
    d = Path(root) / name / version
    d.mkdir(parents=True, exist_ok=True)
    feats = schema(kind, hw)
    (d / "features.json").write_text(json.dumps(feats, indent=2))
    leaves = flat_leaves(feats)
    rng = np.random.default_rng(seed)
    truth, n = [], len(shard_lengths)
    ep = 0
    for i, count in enumerate(shard_lengths):
        recs, shard_truth = [], []
        for _ in range(count):
            T = int(steps[ep % len(steps)])
            vals = episode_values(kind, leaves, rng, T, ep, hw)
            data, images = to_example(leaves, vals)
            recs.append(data)
            shard_truth.append({"steps": T, "values": vals, "images": images, "bytes": len(data)})
            ep += 1
        write_tfrecord(d / f"{name}-{split}.tfrecord-{i:05d}-of-{n:05d}", recs)
        truth.append(shard_truth)
    info = {"name": name, "version": version, "description": f"test {kind}", "fileFormat": "tfrecord",
            "moduleName": f"{name}.{name}_dataset_builder", "releaseNotes": {version: "test"},
            "splits": [{"name": split, "numBytes": "0", "shardLengths": [str(c) for c in shard_lengths],
                        "filepathTemplate": "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"}]}
    (d / "dataset_info.json").write_text(json.dumps(info, indent=2))
    return d, truth


def shard_path(builder: Path, shard: int, split: str = "train") -> Path:
    return sorted(builder.glob(f"*-{split}.tfrecord-*"))[shard]


def record_offsets(path: Path) -> list[tuple[int, int]]:
    """(offset, data length) of every record of a well-formed TFRecord file."""
    out, b, pos = [], Path(path).read_bytes(), 0
    while pos < len(b):
        (n,) = struct.unpack("<Q", b[pos:pos + 8])
        out.append((pos, n))
        pos += 16 + n
    return out
