"""Toy policy and dataset with the trainer's interface, for fast in-process trainer tests.

The policy draws from every global RNG in forward (dropout, torch noise, python random, numpy), and
the dataset draws numpy noise in __getitem__, so an exact resume has to restore all of them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_model
from torch import nn
from torch.utils.data import Dataset


class SimulatedCrash(RuntimeError):
    pass


class ToyPolicy(nn.Module):
    def __init__(
        self, in_dim: int = 6, out_dim: int = 3, hidden: int = 16, nan_at_call: int | None = None, crash_at_call: int | None = None
    ):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(0.3), nn.Linear(hidden, out_dim))
        self.scale = nn.Parameter(torch.ones(out_dim))
        self.nan_at_call = nan_at_call  # forward call number (1-based) that returns a NaN loss
        self.crash_at_call = crash_at_call  # forward call number (1-based) that raises, like a crash
        self.calls = 0

    def forward(self, batch):
        self.calls += 1
        if self.crash_at_call is not None and self.calls >= self.crash_at_call:
            raise SimulatedCrash(f"simulated crash in forward call {self.calls}")
        x = batch["x"] + 0.01 * torch.randn_like(batch["x"])
        pred = self.net(x) * self.scale
        jitter = 1.0 + 0.01 * random.random() + 0.01 * float(np.random.rand())
        loss = ((pred - batch["y"]) ** 2).mean() * jitter
        if self.nan_at_call is not None and self.calls >= self.nan_at_call:
            loss = loss * float("nan")
        return loss, {"mse": float(loss.detach()), "jitter": jitter}

    def save_pretrained(self, directory) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"kind": "toy"}))
        save_model(self, str(out / "model.safetensors"))
        (out / "stats.json").write_text("{}")
        return out


class ToyDataset(Dataset):
    def __init__(self, size: int = 40, in_dim: int = 6, out_dim: int = 3, seed: int = 0, noise: bool = True):
        self.noise = noise  # False: sample i is a pure function of i (what worker processes need for exactness)
        g = np.random.default_rng(seed)
        self.x = g.normal(size=(size, in_dim)).astype(np.float32)
        w = g.normal(size=(in_dim, out_dim)).astype(np.float32)
        self.y = (self.x @ w).astype(np.float32)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        shape = self.x[i].shape
        noise = np.random.normal(scale=0.01, size=shape).astype(np.float32) if self.noise else np.zeros(shape, np.float32)
        return {"x": torch.from_numpy(self.x[i] + noise), "y": torch.from_numpy(self.y[i]), "instruction": f"sample {i}"}


def make_policy(seed: int = 123, **kw) -> ToyPolicy:
    torch.manual_seed(seed)
    return ToyPolicy(**kw)
