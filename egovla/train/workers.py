"""Starting DataLoader workers safely after video has been written or read in this process.

A forked worker inherits every Python object of the parent, garbage included. PyAV containers are
reference cycles, so a dropped encoder or decoder (the collector's MP4 writer, a stats pass's
reader) can still sit in the heap, uncollected, when the workers fork. If the worker's garbage
collector frees it there, FFmpeg joins its slice threads, which exist only in the parent, and the
worker hangs forever (`avpriv_slicethread_free` -> `pthread_cond_destroy`) with the trainer waiting
for its batch. Collecting the garbage in the parent first, where those threads exist, removes it.
"""

from __future__ import annotations

import gc
from typing import Iterator

from torch.utils.data import DataLoader


def start_batches(loader: DataLoader) -> Iterator:
    """`iter(loader)`, after freeing this process's garbage so that no forked worker inherits it."""
    if loader.num_workers > 0:
        gc.collect()
    return iter(loader)
