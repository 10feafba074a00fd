"""The one MP4 writer: RGB frames -> H.264 (or AV1) through PyAV, for datasets, rollouts and overlays.

`Mp4Writer(path, fps, height, width)` appends uint8 (N, H, W, 3) frames with pts i in a 1/fps time
base and a short GOP by default (any frame a few decodes from a keyframe: what training windows
need); `crf` and `pix_fmt` set the quality (crf 0 with yuv444p is lossless, which small simulated
images need: at 64 px, crf 23 with halved colour smears a few-pixel object by 30-40 of 255); `write_mp4(path, frames, fps)` writes a whole clip, enlarged by an integer factor to at least
`min_height` pixels for viewing and padded to even sides.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODECS = {"h264": "libx264", "av1": "libsvtav1"}
DEFAULT_CODEC = "h264"
DEFAULT_GOP = 2
#: yuv420p halves colour resolution (what players expect); yuv444p keeps it (with crf 0: lossless H.264)
PIX_FMTS = ("yuv420p", "yuv444p")


class Mp4Writer:
    """Append RGB frames (H, W, 3 uint8) to one MP4 file; `close()` flushes and finishes it."""

    def __init__(self, path: Path, fps: int, height: int, width: int, codec: str = DEFAULT_CODEC,
                 gop: int | None = DEFAULT_GOP, crf: int | None = None, pix_fmt: str = "yuv420p"):
        if codec not in CODECS:
            raise ValueError(f"video codec {codec!r} is not one of {sorted(CODECS)}")
        if pix_fmt not in PIX_FMTS or (pix_fmt == "yuv444p" and codec != "h264"):
            raise ValueError(f"pix_fmt {pix_fmt!r}: expected one of {PIX_FMTS} (yuv444p: full-resolution colour, "
                             f"h264 only)")
        if height % 2 or width % 2:
            raise ValueError(f"video frames must have even height and width for yuv420p, got {height}x{width}")
        self.path, self.fps, self.shape = Path(path), int(fps), (int(height), int(width), 3)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), mode="w")
        options = {"crf": str(crf if crf is not None else (23 if codec == "h264" else 30))}
        if gop is not None:  # None: the encoder's own keyframe interval
            options["g"] = str(gop)
        if codec == "h264":
            options.update({"preset": "veryfast", "bf": "0"})
        else:
            options.update({"preset": "10", "svtav1-params": "lp=1"})
        self.stream = self.container.add_stream(CODECS[codec], rate=self.fps, options=options)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, pix_fmt
        self.stream.codec_context.time_base = Fraction(1, self.fps)
        self.codec, self.gop, self.frames, self.bytes = codec, gop, 0, 0

    def write(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames)
        if frames.ndim != 4 or tuple(frames.shape[1:]) != self.shape or frames.dtype != np.uint8:
            raise ValueError(f"{self.path}: frames must be uint8 (N, {self.shape[0]}, {self.shape[1]}, 3), "
                             f"got {frames.dtype} {frames.shape}")
        for img in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts, frame.time_base = self.frames, Fraction(1, self.fps)
            self._mux(self.stream.encode(frame))
            self.frames += 1

    def _mux(self, packets) -> None:
        self.bytes += sum(p.size for p in packets)
        self.container.mux(packets)

    def size_bytes(self) -> int:
        """Encoded bytes so far (the muxer buffers, so the file on disk lags behind)."""
        return self.bytes

    def close(self) -> None:
        if self.container is not None:
            self._mux(self.stream.encode(None))
            self.container.close()
            self.container = None


def write_mp4(path: str | Path, frames, fps: int, min_height: int = 0, crf: int | None = None,
              gop: int | None = DEFAULT_GOP) -> Path:
    """Frames (H, W, 3) uint8 -> an MP4, enlarged by an integer factor to at least `min_height`."""
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError(f"{path}: no frames to write")
    scale = max(1, -(-min_height // frames[0].shape[0])) if min_height else 1
    h, w = frames[0].shape[0] * scale, frames[0].shape[1] * scale
    H, W = h + h % 2, w + w % 2
    writer = Mp4Writer(Path(path), fps, H, W, crf=crf, gop=gop)
    try:
        for f in frames:
            big = np.repeat(np.repeat(f, scale, axis=0), scale, axis=1) if scale > 1 else f
            writer.write(np.pad(big, ((0, H - h), (0, W - w), (0, 0)))[None])
    finally:
        writer.close()
    return Path(path)
