"""An exponential moving average of the trained weights (Diffusion Policy, ACT and most BC recipes evaluate it).

`WeightAverage` keeps a float32 copy of every trainable parameter and, after each optimizer step t (1-based),
moves it toward the live weights by 1 - d_t with d_t = min(decay, (1 + t) / (10 + t)): the warm-up keeps the
first steps' random weights from dominating. The live weights keep training; `copy_to_model` writes the average
into them once training is done, so the policy saved is the average. Its state is one safetensors file in a checkpoint, so a resumed run continues
the same average bit-exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from egovla.train.errors import CheckpointError

EMA_FILE = "ema.safetensors"


def ema_rate(decay: float, step: int) -> float:
    """d_t for the update after optimizer step `step` (1-based)."""
    return min(decay, (1.0 + step) / (10.0 + step))


class WeightAverage:
    """The average of `model`'s trainable parameters, which it holds by reference (the optimizer's tensors)."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) to average (0 turns it off), got {decay}")
        self.decay = decay
        tracked = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in tracked]
        self.params = [p for _, p in tracked]
        self.shadow = {n: p.detach().float().clone() for n, p in tracked}

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimizer step `step` (1-based)."""
        shadow = [self.shadow[n] for n in self.names]
        torch._foreach_lerp_(shadow, [p.float() for p in self.params], 1.0 - ema_rate(self.decay, step))

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Write the averaged weights into the tracked parameters (in their own dtype)."""
        for n, p in zip(self.names, self.params):
            p.copy_(self.shadow[n].to(p.dtype))

    def save(self, folder: Path) -> Path:
        path = Path(folder) / EMA_FILE
        save_file({n: t.contiguous() for n, t in self.shadow.items()}, str(path),
                  metadata={"format": "egovla-ema-1", "decay": repr(self.decay)})
        return path

    def load(self, folder: Path) -> None:
        path = Path(folder) / EMA_FILE
        if not path.is_file():
            raise CheckpointError(f"{path} is missing: the run averages its weights (ema_decay={self.decay}) but "
                                  "this checkpoint holds no average")
        saved = load_file(str(path))
        if sorted(saved) != sorted(self.names):
            raise CheckpointError(f"the weight average in {path} tracks other parameters than the policy's "
                                  "trainable ones")
        for n in self.names:
            if saved[n].shape != self.shadow[n].shape:
                raise CheckpointError(f"{path}: {n} has shape {tuple(saved[n].shape)}, the policy's "
                                      f"{tuple(self.shadow[n].shape)}")
            self.shadow[n] = saved[n].to(self.shadow[n].device, torch.float32)
