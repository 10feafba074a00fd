"""Capture and restore every random-number generator a training step may draw from, as plain JSON.

Covered: Python's `random`, numpy's legacy global RNG, torch's CPU generator and, when present, every
CUDA device's generator. Dataset code should draw from these (or from a per-index generator) for a
resumed run to replay exactly.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

FORMAT = 1


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every CUDA device) with `seed` (0 <= seed < 2**32)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _tensor_to_list(t: torch.Tensor) -> list[int]:
    return t.to(torch.uint8).cpu().tolist()


def _list_to_tensor(v: list[int]) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.uint8)


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG state, as a JSON-serialisable dict."""
    version, internal, gauss_next = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "format": FORMAT,
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": {
            "name": np_name,
            "keys": np.asarray(np_keys).tolist(),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached),
        },
        "torch": _tensor_to_list(torch.get_rng_state()),
        "cuda": None,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_tensor_to_list(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what `capture_rng_state` captured."""
    if state.get("format") != FORMAT:
        raise ValueError(f"unknown RNG state format {state.get('format')!r} (expected {FORMAT})")
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    nps = state["numpy"]
    np.random.set_state(
        (nps["name"], np.asarray(nps["keys"], dtype=np.uint32), nps["pos"], nps["has_gauss"], nps["cached_gaussian"])
    )
    torch.set_rng_state(_list_to_tensor(state["torch"]))
    cuda = state.get("cuda")
    if cuda is not None:
        if not torch.cuda.is_available() or torch.cuda.device_count() != len(cuda):
            raise ValueError(
                f"the checkpoint holds RNG states of {len(cuda)} CUDA device(s), this process sees "
                f"{torch.cuda.device_count() if torch.cuda.is_available() else 0}"
            )
        torch.cuda.set_rng_state_all([_list_to_tensor(s) for s in cuda])
