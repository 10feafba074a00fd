"""Checkpoints: written atomically, found, loaded and rotated. No pickle: safetensors + JSON only.

Layout of `<out>/checkpoints/step-XXXXXXXX/`:

    policy/               policy.save_pretrained (config.json, model.safetensors, stats.json)
    optimizer.safetensors optimizer tensors (AdamW moments, step counts)
    optimizer.json        param groups and non-tensor optimizer values
    trainer_state.json    step, epoch, position in epoch, data plan, TrainConfig
    rng/rank-<r>.json     every RNG state of process r

Every process writes into one temp folder `.tmp-step-XXXXXXXX` beside the final one; once all have
written, the main process fsyncs the files and renames the folder into place, so a folder named
`step-*` is always complete. A crash leaves at most a `.tmp-*` folder, which is ignored and cleared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model
from torch import nn

from egovla.train.errors import CheckpointError
from egovla.train.optim import save_optimizer
from egovla.train.rng import capture_rng_state

_NAME = re.compile(r"^step-(\d{8,})$")
TRAINER_STATE = "trainer_state.json"
POLICY_DIR = "policy"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class Comm:
    """What a multi-process save needs: this process's rank, a barrier and an all-ranks-agree vote."""

    rank: int = 0
    barrier: Callable[[], None] = lambda: None
    all_ok: Callable[[bool], bool] = lambda ok: ok

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(root: Path | str) -> list[tuple[int, Path]]:
    """The complete checkpoints under `root`, oldest first, as (step, folder)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _NAME.match(child.name)
        if m and child.is_dir() and (child / TRAINER_STATE).is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(root: Path | str) -> Path | None:
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def clear_stale(root: Path | str) -> None:
    """Remove temp/trash folders left behind by an interrupted save or rotation."""
    root = Path(root)
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(child, ignore_errors=True)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder` (and `folder` itself)."""
    for dirpath, _, files in os.walk(folder):
        for f in files:
            _fsync_path(Path(dirpath) / f)
        _fsync_path(Path(dirpath))


def write_json(path: Path, obj: Any) -> None:
    with open(path, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())


def _remove(folder: Path) -> None:
    """Delete a folder by first renaming it out of sight, so a crash never leaves half of a `step-*`."""
    trash = folder.with_name(f".trash-{folder.name}")
    shutil.rmtree(trash, ignore_errors=True)
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def replace_dir_atomically(tmp: Path, final: Path) -> None:
    """fsync `tmp` and rename it to `final` (an existing `final` is moved aside first)."""
    fsync_tree(tmp)
    if final.exists():
        _remove(final)
    os.rename(tmp, final)
    _fsync_path(final.parent)


def rotate(root: Path | str, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` checkpoints (keep_last <= 0 keeps all); return the deleted."""
    found = list_checkpoints(root)
    if keep_last <= 0 or len(found) <= keep_last:
        return []
    doomed = [p for _, p in found[: len(found) - keep_last]]
    for p in doomed:
        _remove(p)
    return doomed


def save_checkpoint(
    root: Path | str,
    step: int,
    *,
    policy: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    keep_last: int = 2,
    comm: Comm | None = None,
    ema=None,
) -> Path:
    """Write checkpoint `step` atomically (collective: every process must call it), then rotate.

    `policy` must be the unwrapped module (not the DDP wrapper); `ema`, the run's weight average (anything with
    `save(folder)`), is written beside it when given. Returns the final folder.
    """
    comm = comm or Comm()
    root = Path(root)
    name = checkpoint_name(step)
    final, tmp = root / name, root / f".tmp-{name}"
    if comm.is_main:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "rng").mkdir(parents=True)
    comm.barrier()
    error: BaseException | None = None
    try:
        write_json(tmp / "rng" / f"rank-{comm.rank}.json", capture_rng_state())
        if comm.is_main:
            policy.save_pretrained(tmp / POLICY_DIR)
            save_optimizer(optimizer, tmp)
            if ema is not None:
                ema.save(tmp)
            write_json(tmp / TRAINER_STATE, dict(trainer_state, step=step))
    except BaseException as e:  # noqa: BLE001 - re-raised below, after every rank has voted
        error = e
    if not comm.all_ok(error is None):
        if comm.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        comm.barrier()
        if error is not None:
            raise error
        raise CheckpointError(f"another process failed while writing checkpoint {name}; nothing was saved")
    if comm.is_main:
        try:
            replace_dir_atomically(tmp, final)
            rotate(root, keep_last)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    comm.barrier()
    return final


def read_trainer_state(folder: Path | str) -> dict[str, Any]:
    path = Path(folder) / TRAINER_STATE
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a complete checkpoint: {TRAINER_STATE} is missing")
    return json.loads(path.read_text())


def read_rng_state(folder: Path | str, rank: int) -> dict[str, Any]:
    path = Path(folder) / "rng" / f"rank-{rank}.json"
    if not path.is_file():
        raise CheckpointError(f"{folder} holds no RNG state for process {rank} ({path.name} is missing)")
    return json.loads(path.read_text())


def load_policy_weights(policy: nn.Module, folder: Path | str) -> None:
    """Load `folder/model.safetensors` (as written by save_pretrained) into `policy`, strictly."""
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint's policy cannot be restored")
    first = next(iter(policy.parameters()), None)
    device = str(first.device) if first is not None else "cpu"
    try:
        load_model(policy, str(path), strict=True, device=device)
    except RuntimeError as e:
        raise CheckpointError(f"the weights in {path} do not fit the policy: {e}") from e

