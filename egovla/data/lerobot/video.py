"""LeRobot video files: their `info` entries, and a frame reader that seeks and keeps files open.

Frames are addressed by their index in the file (timestamp * fps). The writer (`egovla.data.mp4`)
puts episodes back to back in one stream whose frame i has pts i in a 1/fps time base, with a short
GOP so that any frame is at most `gop - 1` decodes away from a keyframe.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from egovla.data.lerobot.format import DatasetFormatError
from egovla.data.mp4 import DEFAULT_GOP

_ORPHANS: list = []  # decoders a forked worker inherited: never freed there (see FrameReader._state)


def video_info(path: Path, codec: str, fps: int) -> dict:
    """The `info` entries LeRobot keeps for a video feature, read from the file."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return {
            "video.height": s.codec_context.height, "video.width": s.codec_context.width,
            "video.codec": "av1" if codec == "av1" else "h264", "video.pix_fmt": s.codec_context.pix_fmt or "yuv420p",
            "video.is_depth_map": False, "video.fps": int(fps), "video.channels": 3, "has_audio": False,
        }


class FrameReader:
    """Decode frames by index from MP4 files, keeping each file open and its decoder position.

    Safe with DataLoader workers: a worker forked from a process that had files open starts with
    none of its own, and keeps the inherited decoders alive without touching them (freeing them
    in the child waits forever on decoder threads that exist only in the parent). Reading forward
    within `reuse_window` frames (about the GOP) of the last decoded frame continues decoding;
    anything else seeks to the keyframe at or before the target. RGB conversion runs on one
    thread with a converter kept per file. `naive=True` decodes from the start of the file every
    time (the baseline the benchmark compares against).
    """

    def __init__(self, reuse_window: int = DEFAULT_GOP, naive: bool = False, max_open: int = 64):
        self.reuse_window, self.naive, self.max_open = reuse_window, naive, max_open
        self._pid = os.getpid()
        self._open: dict[str, dict] = {}

    def _own_process(self) -> None:
        """In a forked copy, set the parent's decoders aside (never used, never freed) and start empty."""
        if os.getpid() != self._pid:
            _ORPHANS.append(self._open)
            self._open, self._pid = {}, os.getpid()

    def _state(self, path: str) -> dict:
        self._own_process()
        st = self._open.get(path)
        if st is None:
            if len(self._open) >= self.max_open:
                self._close(next(iter(self._open)))
            if not os.path.isfile(path):
                raise DatasetFormatError(f"{path}: video file is missing")
            try:
                container = av.open(path)
                stream = container.streams.video[0]
            except (av.error.FFmpegError, IndexError) as e:
                raise DatasetFormatError(f"{path}: cannot open the video ({e})") from e
            st = {"container": container, "stream": stream, "iter": None, "last": None, "last_img": None,
                  "rgb": VideoReformatter()}
            self._open[path] = st
        return st

    def _close(self, path: str) -> None:
        st = self._open.pop(path, None)
        if st is not None:
            st["container"].close()

    def close(self) -> None:
        self._own_process()
        for p in list(self._open):
            self._close(p)

    def __getstate__(self):  # a reader pickled into a spawned worker starts with no open files
        return {"reuse_window": self.reuse_window, "naive": self.naive, "max_open": self.max_open}

    def __setstate__(self, d):
        self.__init__(**d)

    def read(self, path: str | Path, indices: list[int], fps: int) -> np.ndarray:
        """Frames at the given file-frame indices, as uint8 (len(indices), H, W, 3)."""
        path = str(path)
        want = sorted(set(int(i) for i in indices))
        got: dict[int, np.ndarray] = {}
        try:
            for idx in want:
                got[idx] = self._frame(path, idx, fps)
        except av.error.FFmpegError as e:
            self._close(path)
            raise DatasetFormatError(f"{path}: cannot decode frame(s) {want} ({e}); is the file truncated?") from e
        return np.stack([got[int(i)] for i in indices])

    def _frame(self, path: str, idx: int, fps: int) -> np.ndarray:
        st = self._state(path)
        if st["last"] == idx:
            return st["last_img"]
        stream = st["stream"]
        ahead = st["last"] is not None and st["iter"] is not None and 0 < idx - st["last"] <= self.reuse_window
        if self.naive:
            st["container"].seek(0, stream=stream, backward=True)
            st["iter"] = st["container"].decode(stream)
        elif not ahead:
            target = int(round(idx / fps / stream.time_base))
            st["container"].seek(max(target, 0), stream=stream, backward=True, any_frame=False)
            st["iter"] = st["container"].decode(stream)
        for frame in st["iter"]:
            if frame.pts is None:
                continue
            i = int(round(float(frame.pts * stream.time_base) * fps))
            if i < idx:
                continue
            if i > idx:
                break
            img = st["rgb"].reformat(frame, format="rgb24", threads=1).to_ndarray()
            st["last"], st["last_img"] = i, img
            return img
        st["iter"], st["last"] = None, None
        raise DatasetFormatError(f"{path}: frame {idx} (t={idx / fps:.3f}s) is not in the video; "
                                 "the file may be truncated or shorter than its metadata says")
