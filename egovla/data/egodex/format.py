"""Read one EgoDex recording: an `<task>/<i>.hdf5` of poses beside its `<task>/<i>.mp4`.

EgoDex (Apple, 2025: 829 h of Vision Pro video, 194 tabletop tasks) stores per episode:

- `camera/intrinsic` (3, 3): the pinhole matrix of the 1920x1080 video;
- `transforms/<joint>` (T, 4, 4): SE(3) poses in the ARKit world frame of that recording (it
  differs per episode), one row per video frame; joints are camelCase with the side first
  (`rightHand` is the right wrist, `rightThumbTip`, `rightIndexFingerTip`, ...), plus `camera`;
- `confidences/<joint>` (T,): tracking confidence in [0, 1], absent in some files;
- attributes: `llm_description`, `llm_description2`, `which_llm_description`, `llm_type`, `task`,
  `environment`, `object`, `session_name`.

`read_episode` loads what the converter needs (the camera, both wrists and their five fingertips)
and checks it: a missing key, a wrong shape or an unreadable file is an `EgoDexError` naming the
file and the key. Poses are returned as float64 exactly as stored; deciding which rows are usable
(non-finite or non-rigid matrices, low confidence) is the label code's job, so nothing is dropped here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SIDES = ("left", "right")
TIP_FINGERS = ("Thumb", "IndexFinger", "MiddleFinger", "RingFinger", "LittleFinger")  # egovla.spaces.FINGERS order


def wrist_joint(side: str) -> str:
    return f"{side}Hand"


def tip_joints(side: str) -> tuple[str, ...]:
    """The five fingertip joints of a side, thumb to little (the order of `egovla.spaces.FINGERS`)."""
    return tuple(f"{side}{f}Tip" for f in TIP_FINGERS)


def needed_joints() -> tuple[str, ...]:
    return tuple(j for s in SIDES for j in (wrist_joint(s), *tip_joints(s)))


class EgoDexError(ValueError):
    """An EgoDex file that cannot be used as it is; the message names the file and what is wrong."""


@dataclass
class EgoDexEpisode:
    hdf5: Path
    video: Path
    task: str                      # the folder name (the `task` attribute when present)
    instruction: str
    intrinsic: np.ndarray          # (3, 3) for the stored video size
    camera: np.ndarray             # (T, 4, 4) T_world_camera
    joints: dict[str, np.ndarray]  # name -> (T, 4, 4) T_world_joint, for `needed_joints()`
    confidences: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (T,), empty when absent
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.camera)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


def instruction_from_attrs(attrs: dict[str, str], where: str = "episode") -> str:
    """EgoDex's description rule: a 'reversible' task has two descriptions (e.g. open / close the
    drawer) and `which_llm_description` ('1' or '2') names the one this episode shows; any other
    task uses `llm_description`."""
    first = attrs.get("llm_description", "").strip()
    if attrs.get("llm_type", "").strip() == "reversible":
        which = attrs.get("which_llm_description", "").strip()
        if which not in ("1", "2"):
            raise EgoDexError(f"{where}: llm_type is 'reversible' but which_llm_description is {which!r}, "
                              "expected '1' or '2'")
        chosen = first if which == "1" else attrs.get("llm_description2", "").strip()
        key = "llm_description" if which == "1" else "llm_description2"
    else:
        chosen, key = first, "llm_description"
    if not chosen:
        raise EgoDexError(f"{where}: attribute {key!r} is missing or empty, so the episode has no instruction")
    return chosen


def _poses(f, key: str, where: Path, rows: int | None) -> np.ndarray:
    if key not in f:
        raise EgoDexError(f"{where}: no dataset {key!r}")
    try:
        arr = np.asarray(f[key][()], dtype=np.float64)
    except (OSError, ValueError, TypeError) as e:
        raise EgoDexError(f"{where}: cannot read {key!r} ({e}); is the file truncated?") from e
    if arr.ndim != 3 or arr.shape[1:] != (4, 4):
        raise EgoDexError(f"{where}: {key!r} should have shape (T, 4, 4), got {arr.shape}")
    if rows is not None and len(arr) != rows:
        raise EgoDexError(f"{where}: {key!r} has {len(arr)} rows but 'transforms/camera' has {rows}")
    return arr


def read_episode(hdf5: str | Path) -> EgoDexEpisode:
    """Load and check one EgoDex episode (its MP4 must sit beside it)."""
    import h5py

    hdf5 = Path(hdf5)
    video = hdf5.with_suffix(".mp4")
    if not hdf5.is_file():
        raise EgoDexError(f"{hdf5}: no such file")
    if not video.is_file():
        raise EgoDexError(f"{hdf5}: its video {video.name} is missing (EgoDex pairs <i>.hdf5 with <i>.mp4)")
    try:
        f = h5py.File(hdf5, "r")
    except OSError as e:
        raise EgoDexError(f"{hdf5}: not a readable HDF5 file ({e}); is it truncated?") from e
    with f:
        attrs = {k: _text(v) for k, v in f.attrs.items()}
        if "camera/intrinsic" not in f:
            raise EgoDexError(f"{hdf5}: no dataset 'camera/intrinsic'")
        K = np.asarray(f["camera/intrinsic"][()], dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise EgoDexError(f"{hdf5}: 'camera/intrinsic' should be a finite (3, 3) pinhole matrix, got {K.tolist()}")
        camera = _poses(f, "transforms/camera", hdf5, None)
        if len(camera) == 0:
            raise EgoDexError(f"{hdf5}: 'transforms/camera' has no rows")
        joints = {j: _poses(f, f"transforms/{j}", hdf5, len(camera)) for j in needed_joints()}
        confidences = {}
        if "confidences" in f:
            for j in needed_joints():
                key = f"confidences/{j}"
                if key not in f:
                    continue  # a joint without confidences counts as fully confident
                c = np.asarray(f[key][()], dtype=np.float64).reshape(-1)
                if len(c) != len(camera):
                    raise EgoDexError(f"{hdf5}: {key!r} has {len(c)} rows but 'transforms/camera' has {len(camera)}")
                confidences[j] = c
    return EgoDexEpisode(hdf5=hdf5, video=video, task=attrs.get("task") or hdf5.parent.name,
                         instruction=instruction_from_attrs(attrs, str(hdf5)), intrinsic=K, camera=camera,
                         joints=joints, confidences=confidences, attrs=attrs)


def find_episodes(src: str | Path, tasks: list[str] | None = None, max_episodes: int | None = None) -> list[Path]:
    """The `.hdf5` files of an EgoDex folder (a part such as `part1/`, or one task folder), sorted by
    task then numerically by episode; `tasks` keeps those task folders, `max_episodes` the first N per task."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such EgoDex folder")
    files = sorted(src.rglob("*.hdf5"), key=lambda p: (str(p.parent.relative_to(src)), _number(p.stem), p.stem))
    if tasks:
        known = sorted({p.parent.name for p in files})
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise ValueError(f"{src}: no task folder(s) {unknown}; tasks here: {known}")
        files = [p for p in files if p.parent.name in tasks]
    if max_episodes is not None:
        per: dict[Path, int] = {}
        kept = []
        for p in files:
            per[p.parent] = per.get(p.parent, 0) + 1
            if per[p.parent] <= max_episodes:
                kept.append(p)
        files = kept
    if not files:
        raise FileNotFoundError(f"{src}: no EgoDex episodes (<task>/<i>.hdf5 beside <i>.mp4) found")
    return files


def _number(stem: str) -> float:
    return float(stem) if stem.isdigit() else float("inf")
