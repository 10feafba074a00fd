"""The AdamW optimizer, and its state dict as safetensors (tensors) + JSON (everything else)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from egovla.train.config import TrainConfig
from egovla.train.errors import CheckpointError

TENSORS_FILE = "optimizer.safetensors"
META_FILE = "optimizer.json"


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; matrices (ndim >= 2) decay, biases/norms/1-D params do not.

    The fused implementation (one kernel over all parameters instead of a dozen small ops per tensor)
    where torch has it for these parameters (float tensors on CPU or CUDA): the same update, faster.
    """
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    if not decay and not no_decay:
        raise ValueError("the policy has no trainable parameters (all have requires_grad=False)")
    groups = [g for g in ({"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    params = decay + no_decay
    fused = cfg.fused_optimizer and all(p.dtype.is_floating_point and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=fused or None)


def flatten_optimizer_state(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into safetensors-ready tensors ('state.<param>.<key>') and the
    JSON-able rest (param groups, non-tensor per-parameter values)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in state_dict["state"].items():
        for key, value in pstate.items():
            if "." in str(key):
                raise ValueError(f"optimizer state key {key!r} contains '.', cannot flatten it")
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    groups = []
    for g in state_dict["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
    meta = {"param_groups": groups, "scalars": scalars, "tuple_keys": _tuple_keys(state_dict["param_groups"])}
    json.dumps(meta)  # fail here, by name, if something is not JSON-able
    return tensors, meta


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, t in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = t
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    tuple_keys = set(meta.get("tuple_keys", []))
    groups = [{k: (tuple(v) if k in tuple_keys and isinstance(v, list) else v) for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def _tuple_keys(groups: list[dict[str, Any]]) -> list[str]:
    return sorted({k for g in groups for k, v in g.items() if isinstance(v, tuple)})


def save_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> list[Path]:
    tensors, meta = flatten_optimizer_state(optimizer.state_dict())
    save_file(tensors, str(folder / TENSORS_FILE), metadata={"format": "egovla-optimizer-1"})
    (folder / META_FILE).write_text(json.dumps(meta))
    return [folder / TENSORS_FILE, folder / META_FILE]


def load_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    tfile, mfile = folder / TENSORS_FILE, folder / META_FILE
    if not tfile.is_file() or not mfile.is_file():
        raise CheckpointError(f"{folder} lacks {TENSORS_FILE} or {META_FILE}")
    state = unflatten_optimizer_state(load_file(str(tfile)), json.loads(mfile.read_text()))
    saved, current = state["param_groups"], optimizer.param_groups
    if [len(g["params"]) for g in saved] != [len(g["params"]) for g in current]:
        raise CheckpointError(
            f"the optimizer in {folder} has parameter groups of sizes {[len(g['params']) for g in saved]}, "
            f"the policy now gives {[len(g['params']) for g in current]}: the trainable parameters changed"
        )
    optimizer.load_state_dict(state)
