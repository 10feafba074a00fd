"""Small collectives over `accelerate`: mean of scalars, an all-ranks vote, parameter checksums; the
process group's orderly end."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.distributed as dist
from accelerate import Accelerator
from torch import nn

from egovla.train.checkpoint import Comm


def comm_for(accelerator: Accelerator) -> Comm:
    return Comm(rank=accelerator.process_index, barrier=accelerator.wait_for_everyone, all_ok=lambda ok: all_ok(accelerator, ok))


def all_ok(accelerator: Accelerator, ok: bool) -> bool:
    """True on every process iff `ok` is true on every process."""
    if accelerator.num_processes == 1:
        return ok
    flag = torch.tensor([1.0 if ok else 0.0], device=accelerator.device)
    return bool(accelerator.gather(flag).min().item() > 0.5)


def mean_across(accelerator: Accelerator, values: list[float]) -> list[float]:
    """Element-wise mean of a list of floats over the processes (every process passes the same length)."""
    if accelerator.num_processes == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=accelerator.device)
    return accelerator.reduce(t, reduction="mean").tolist()


def state_checksum(module: nn.Module) -> str:
    """sha256 over the names, dtypes, shapes and exact bytes of every tensor in the state dict."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def gather_checksums(accelerator: Accelerator, checksum: str) -> list[str]:
    """Every process's checksum, in rank order (a collective)."""
    if accelerator.num_processes == 1:
        return [checksum]
    words = torch.from_numpy(np.frombuffer(bytes.fromhex(checksum), dtype=np.int64).copy()).to(accelerator.device)
    gathered = accelerator.gather(words).cpu().numpy().reshape(accelerator.num_processes, -1)
    return [row.astype(np.int64).tobytes().hex() for row in gathered]


def close_process_group() -> None:
    """End a multi-process run in order: wait until every rank is done, then take the process group down.

    A rank that simply exits while the group is up tears down gloo's connection threads under the other
    ranks' feet; now and then (about 1 run in 20 on a loaded 2-core machine) a rank then aborts at exit
    with "terminate called without an active exception", failing a run whose work was all done.
    A no-op in a single process.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
