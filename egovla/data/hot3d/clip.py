"""Read one HOT3D-Clips tar: per-frame cameras, hands, info and images, and the clip's hand profile.

Facts (facebookresearch/hot3d `hot3d/clips/README.md`, `clip_util.py`, `vis_clips.py`; the
hand_tracking_toolkit's `dataset.py`): a clip is `clip-<ID>.tar` (ID zero-padded to 6 digits), a
flat WebDataset-style tar of members `<FRAME>.<suffix>` with FRAME = 000000, 000001, ... (150 frames
= 5 s at 30 fps); suffixes `image_<stream>.jpg` (Aria: RGB `214-1` 1408x1408 and mono `1201-1`,
`1201-2`; Quest 3: mono `1201-1`, `1201-2` only), `cameras.json`, `hands.json`, `hand_crops.json`,
`objects.json`, `info.json`; plus one clip-level `__hand_shapes.json__` ({"mano": betas, "umetrack":
profile}). Test clips lack hands.json. The frame count is the largest `*.info.json` frame + 1.

- `cameras.json`: {stream: {"calibration": {label, image_width, image_height, projection_model_type,
  projection_params, T_device_from_camera, ...}, "T_world_from_camera": {"translation_xyz",
  "quaternion_wxyz"}}}; metres; T_a_from_b maps b coordinates to a; quaternions w first.
- `hands.json`: {"left"|"right": {"umetrack_pose": {"joint_angles": [20 or 22], "T_world_from_wrist":
  {...}}, "mano_pose": ...}}; a side may be absent or null. The README's older `wrist_xform` (a 4x4
  matrix) is accepted too.
- `info.json`: device ("Aria" / "Quest3"), participant_id, sequence_id, image_timestamps_ns, ...
Every missing member or bad JSON raises `Hot3DError` naming the tar and the member.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import numpy as np

from egovla import geometry

SHAPES = "__hand_shapes.json__"
MEMBER = re.compile(r"^(\d+)\.(.+)$")


class Hot3DError(ValueError):
    """A HOT3D clip that cannot be used as it is; the message names the tar and the member."""


def pose_from_json(d, where: str) -> np.ndarray:
    """{"translation_xyz", "quaternion_wxyz"} (or a 4x4 / 16-number matrix) -> (4, 4) float64."""
    try:
        if isinstance(d, dict):
            t = np.asarray(d["translation_xyz"], dtype=np.float64).reshape(3)
            q = np.asarray(d["quaternion_wxyz"], dtype=np.float64).reshape(4)
            return geometry.make_pose(geometry.matrix_from_quat(q), t)
        return np.asarray(d, dtype=np.float64).reshape(4, 4)
    except (KeyError, TypeError, ValueError) as e:
        raise Hot3DError(f"{where}: not a pose ({type(e).__name__}: {e})") from None


class Clip:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.tar = tarfile.open(self.path, "r:*")
            members = self.tar.getmembers()
        except (OSError, tarfile.TarError, EOFError) as e:
            raise Hot3DError(f"{self.path}: not a readable tar ({e}); is it truncated?") from None
        self.members = {m.name.lstrip("./"): m for m in members if m.isfile()}
        frames = {int(MEMBER.match(n).group(1)) for n in self.members if n.endswith(".info.json") and MEMBER.match(n)}
        if not frames:
            raise Hot3DError(f"{self.path}: no <FRAME>.info.json members; is this a HOT3D-Clips tar?")
        self.n_frames = max(frames) + 1
        self.width = len(next(n for n in self.members if n.endswith(".info.json")).split(".")[0])

    def close(self) -> None:
        self.tar.close()

    def __enter__(self) -> "Clip":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def clip_id(self) -> str:
        m = re.search(r"clip-(\d+)", self.path.name)
        return m.group(1) if m else self.path.stem

    def name(self, frame: int, suffix: str) -> str:
        return f"{frame:0{self.width}d}.{suffix}"

    def has(self, name: str) -> bool:
        return name in self.members

    def read(self, name: str) -> bytes:
        if name not in self.members:
            raise Hot3DError(f"{self.path}: member {name!r} is missing")
        try:
            return self.tar.extractfile(self.members[name]).read()
        except (OSError, tarfile.TarError, EOFError) as e:
            raise Hot3DError(f"{self.path}: member {name!r} cannot be read ({e}); is the tar truncated?") from None

    def json(self, name: str):
        try:
            return json.loads(self.read(name))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise Hot3DError(f"{self.path}: member {name!r} is not valid JSON ({e})") from None

    def frame_json(self, frame: int, suffix: str, optional: bool = False):
        name = self.name(frame, suffix)
        if optional and name not in self.members:
            return None
        return self.json(name)

    def info(self, frame: int = 0) -> dict:
        return self.frame_json(frame, "info.json")

    def streams(self) -> list[str]:
        """Image streams present in frame 0 (e.g. ['1201-1', '1201-2', '214-1'])."""
        pre = self.name(0, "image_")
        return sorted(n[len(pre):-4] for n in self.members if n.startswith(pre) and n.endswith(".jpg"))

    def image(self, frame: int, stream: str) -> bytes:
        return self.read(self.name(frame, f"image_{stream}.jpg"))

    def hand_profile(self) -> dict | None:
        if SHAPES not in self.members:
            return None
        doc = self.json(SHAPES)
        if not isinstance(doc, dict) or "umetrack" not in doc:
            raise Hot3DError(f"{self.path}: member {SHAPES!r} has no 'umetrack' profile (keys: {sorted(doc) if isinstance(doc, dict) else type(doc).__name__})")
        return doc["umetrack"]

    def camera(self, frame: int, stream: str) -> tuple[dict, np.ndarray]:
        """(calibration, T_world_from_camera) of one stream at one frame."""
        name = self.name(frame, "cameras.json")
        cams = self.json(name)
        if stream not in cams:
            raise Hot3DError(f"{self.path}: member {name!r} has no camera {stream!r} (streams: {sorted(cams)})")
        c = cams[stream]
        if "calibration" not in c or "T_world_from_camera" not in c:
            raise Hot3DError(f"{self.path}: member {name!r}: camera {stream!r} lacks calibration or T_world_from_camera")
        return c["calibration"], pose_from_json(c["T_world_from_camera"], f"{self.path}: {name}: {stream}")

    def hands(self, frame: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{side: (T_world_from_wrist (4, 4), joint_angles)} for the sides annotated at this frame."""
        name = self.name(frame, "hands.json")
        doc = self.json(name)
        out = {}
        for side in ("left", "right"):
            h = doc.get(side) if isinstance(doc, dict) else None
            if not h or not h.get("umetrack_pose"):
                continue
            u = h["umetrack_pose"]
            wrist = u.get("T_world_from_wrist", u.get("wrist_xform"))
            if wrist is None:
                raise Hot3DError(f"{self.path}: member {name!r}: {side} umetrack_pose has neither T_world_from_wrist nor wrist_xform")
            angles = np.asarray(u.get("joint_angles", []), dtype=np.float64).reshape(-1)
            out[side] = (pose_from_json(wrist, f"{self.path}: {name}: {side}"), angles)
        return out
