"""DataLoader workers start safely after this process has dropped PyAV containers: garbage it leaves
uncollected is freed before the fork, never in the worker (where freeing it hangs on FFmpeg threads
that only the parent has)."""

from __future__ import annotations

import gc

import av
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from egovla.data.mp4 import write_mp4
from egovla.train.workers import start_batches


class CollectsGarbage(Dataset):
    """Each item runs the worker's garbage collector, as any allocation may."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        gc.collect()
        return torch.tensor(i)


def test_workers_start_after_decoders_were_dropped_uncollected(tmp_path):
    path = tmp_path / "clip.mp4"
    write_mp4(path, np.zeros((8, 64, 64, 3), np.uint8), fps=10)
    gc.disable()  # keep the dropped containers (reference cycles) in the heap, as a busy trainer may
    try:
        for _ in range(3):
            container = av.open(str(path))
            container.streams.video[0].thread_type = "AUTO"  # decoder threads in this process
            next(container.decode(video=0))
            del container
        loader = DataLoader(CollectsGarbage(), batch_size=1, num_workers=1, timeout=60,
                            multiprocessing_context="fork")
        assert [int(b) for b in start_batches(loader)] == [0, 1]
    finally:
        gc.enable()
