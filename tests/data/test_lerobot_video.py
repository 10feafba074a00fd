"""The frame reader: random access equals a straight decode, and forked workers do not hang."""

from __future__ import annotations

import av
import numpy as np
import pytest
from torch.utils.data import DataLoader

from egovla.data.sample import collate
from egovla.data.lerobot.format import vector_feature, video_feature
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.lerobot.video import FrameReader
from egovla.data.mp4 import Mp4Writer
from egovla.data.lerobot.writer import LeRobotWriter
from egovla.data.windows import EGOVLA_HISTORY, WindowConfig, WindowDataset


def moving_frames(n: int = 40, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 60, (n, size, size, 3), dtype=np.uint8)
    for t in range(n):
        frames[t, 4:12, t % (size - 8):t % (size - 8) + 8, t % 3] = 240
    return frames


@pytest.mark.parametrize("codec", ["h264", "av1"])
def test_random_access_is_bit_identical_to_a_straight_decode(tmp_path, codec):
    path = tmp_path / "v.mp4"
    enc = Mp4Writer(path, 10, 32, 32, codec=codec)
    enc.write(moving_frames())
    enc.close()
    with av.open(str(path)) as c:
        straight = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert straight.shape[0] == 40
    order = np.random.default_rng(1).permutation(40).tolist() + [5, 6, 7, 9, 13, 39, 0]
    for reader in (FrameReader(), FrameReader(reuse_window=16), FrameReader(naive=True)):
        got = np.stack([reader.read(path, [i], 10)[0] for i in order])
        np.testing.assert_array_equal(got, straight[order])
        np.testing.assert_array_equal(reader.read(path, [3, 1, 3], 10), straight[[3, 1, 3]])


def test_dataloader_workers_read_after_the_parent_did(tmp_path):
    """Training reads sample 0 before its DataLoader forks workers. Freeing the parent's decoders in a
    worker can hang on decoder threads that live only in the parent (seen with the benchmark's
    dataset; not every file triggers it), so workers leave them alone and open their own."""
    feats = {f"observation.images.cam{c}": video_feature(128, 128) for c in range(2)}
    feats.update({"observation.state": vector_feature(4), "action": vector_feature(4)})
    rng = np.random.default_rng(0)
    with LeRobotWriter(tmp_path / "ds", fps=30, features=feats) as w:  # noisy frames: real bitstreams
        for _ in range(2):
            w.add_episode({**{k: rng.integers(0, 255, (40, 128, 128, 3), dtype=np.uint8) for k in feats if "images" in k},
                           "observation.state": np.zeros((40, 4), np.float32),
                           "action": np.zeros((40, 4), np.float32)}, task="t")
    ds = WindowDataset(LeRobotReader(tmp_path / "ds"), WindowConfig(history=EGOVLA_HISTORY, chunk_len=4))
    first = ds[0]  # the parent now has both videos open
    loader = DataLoader(ds, batch_size=2, num_workers=1, collate_fn=collate, timeout=30,
                        multiprocessing_context="fork")
    batch = next(iter(loader))
    assert tuple(batch["images"].shape) == (2, 6, 2, 3, 128, 128)
    np.testing.assert_array_equal(batch["images"][0].numpy(), first["images"])


def test_lossless_video_keeps_every_pixel(tmp_path):
    from egovla.data.lerobot.video import FrameReader

    frames = np.random.default_rng(1).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    enc = Mp4Writer(tmp_path / "l.mp4", 10, 16, 16, crf=0, pix_fmt="yuv444p")
    enc.write(frames)
    enc.close()
    back = FrameReader().read(tmp_path / "l.mp4", list(range(6)), 10)
    err = np.abs(back.astype(int) - frames.astype(int))
    assert err.max() <= 3 and err.mean() < 1  # RGB <-> YUV rounding only, even for noise
    with pytest.raises(ValueError, match="yuv444p: full-resolution colour, h264 only"):
        Mp4Writer(tmp_path / "a.mp4", 10, 16, 16, codec="av1", pix_fmt="yuv444p")
