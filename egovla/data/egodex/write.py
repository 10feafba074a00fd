"""Write EgoDex-format pairs: `<i>.hdf5` (transforms, confidences, intrinsics, attributes) beside `<i>.mp4`.

The inverse of `egovla.data.egodex.format.read_episode`, for the generators that make data in
EgoDex's format (the synthetic hands, the Meta-World human proxy): `transforms/<name>` (T, 4, 4)
world poses as float32, `confidences/<name>` (T,), `camera/intrinsic` (3, 3), string attributes,
and the video at `fps` with one frame per row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egovla.data.mp4 import write_mp4

ARKIT_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])


def write_pair(hdf5: str | Path, frames: np.ndarray, fps: int, intrinsic: np.ndarray,
               transforms: dict[str, np.ndarray], confidences: dict[str, np.ndarray] | None = None,
               attrs: dict[str, str] | None = None, camera_axes: str = "opencv") -> Path:
    """Write one pair; `transforms["camera"]` is given in OpenCV axes and stored in `camera_axes`."""
    import h5py

    hdf5 = Path(hdf5)
    rows = len(transforms["camera"])
    if len(frames) != rows:
        raise ValueError(f"{hdf5}: {len(frames)} video frames for {rows} pose rows (EgoDex pairs them 1:1)")
    hdf5.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(hdf5.with_suffix(".mp4"), frames, fps, crf=18, gop=None)
    with h5py.File(hdf5, "w") as f:
        f.create_dataset("camera/intrinsic", data=np.asarray(intrinsic))
        for name, M in transforms.items():
            M = np.asarray(M, dtype=np.float64)
            if name == "camera" and camera_axes == "arkit":
                M = M.copy()
                M[:, :3, :3] = M[:, :3, :3] @ ARKIT_FROM_OPENCV
            f.create_dataset(f"transforms/{name}", data=M.astype(np.float32))
        for name, c in (confidences or {}).items():
            f.create_dataset(f"confidences/{name}", data=np.asarray(c))
        f.attrs.update(attrs or {})
    return hdf5
