"""Decode an EgoDex video into the images a policy sees: crop, resize, and the matching intrinsics.

`View(src_hw, size, crop)` describes the transformation: `crop="center"` cuts the largest centred
square (1080x1080 out of 1920x1080) and resizes it to size x size; `crop="none"` keeps the whole
frame and resizes it to height `size` (width rounded to an even number). `View.intrinsic(K)` maps
the source pinhole matrix onto the output pixels (pixel centres stay pixel centres), so projecting a
camera-frame point with it lands on the same spot of the output image as on the source image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egovla.data.egodex.format import EgoDexError

CROPS = ("center", "none")


@dataclass(frozen=True)
class View:
    src_hw: tuple[int, int]
    size: int = 224
    crop: str = "center"

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")
        if self.size < 2:
            raise ValueError(f"size must be at least 2 pixels, got {self.size}")

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(left, top, width, height) of the source region kept."""
        h, w = self.src_hw
        if self.crop == "none":
            return 0, 0, w, h
        side = min(h, w)
        return (w - side) // 2, (h - side) // 2, side, side

    @property
    def out_hw(self) -> tuple[int, int]:
        _, _, bw, bh = self.box
        return self.size, max(2, int(round(self.size * bw / bh / 2)) * 2)

    def intrinsic(self, K: np.ndarray) -> np.ndarray:
        x0, y0, bw, bh = self.box
        oh, ow = self.out_hw
        sx, sy = ow / bw, oh / bh
        out = np.array(K, dtype=np.float64).copy()
        out[0, 0], out[1, 1] = K[0, 0] * sx, K[1, 1] * sy
        out[0, 2] = (K[0, 2] - x0 + 0.5) * sx - 0.5
        out[1, 2] = (K[1, 2] - y0 + 0.5) * sy - 0.5
        return out

    def apply(self, img: np.ndarray) -> np.ndarray:
        from PIL import Image

        x0, y0, bw, bh = self.box
        oh, ow = self.out_hw
        im = Image.fromarray(img).crop((x0, y0, x0 + bw, y0 + bh))
        return np.asarray(im.resize((ow, oh), Image.BILINEAR, reducing_gap=2.0))


def video_size(path: str | Path) -> tuple[int, int, int]:
    """(frames, height, width) of a video, frames counted from the stream header (0 if unknown)."""
    import av

    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            return int(s.frames or 0), int(s.codec_context.height), int(s.codec_context.width)
    except (av.error.FFmpegError, IndexError) as e:
        raise EgoDexError(f"{path}: not a readable video ({e})") from e


def video_fps(path: str | Path) -> float | None:
    """The video's frame rate from its stream header (None when the header has none)."""
    import av

    try:
        with av.open(str(path)) as c:
            rate = c.streams.video[0].average_rate or c.streams.video[0].base_rate
            return float(rate) if rate else None
    except (av.error.FFmpegError, IndexError) as e:
        raise EgoDexError(f"{path}: not a readable video ({e})") from e


def read_frames(path: str | Path, keep: np.ndarray, view: View) -> np.ndarray:
    """Decode the frames whose indices are in `keep` (sorted), transformed by `view`: (len(keep), h, w, 3).

    Raises EgoDexError when the video ends before the last wanted frame (a truncated file)."""
    import av

    want = set(int(i) for i in keep)
    last = max(want) if want else -1
    oh, ow = view.out_hw
    out = np.zeros((len(keep), oh, ow, 3), dtype=np.uint8)
    slot = {int(i): n for n, i in enumerate(keep)}
    seen = 0
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(c.decode(stream)):
                if i in want:
                    out[slot[i]] = view.apply(frame.to_ndarray(format="rgb24"))
                seen = i + 1
                if i >= last:
                    break
    except av.error.FFmpegError as e:
        raise EgoDexError(f"{path}: cannot decode the video after frame {seen} ({e}); is it truncated?") from e
    if seen <= last:
        raise EgoDexError(f"{path}: the video has {seen} frames but its poses need frame {last}; is it truncated?")
    return out
