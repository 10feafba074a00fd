"""Offline evaluation: how far predicted chunks are from held-out targets, in metres.

For the unified layout the headline figure is the wrist position error: the Euclidean distance
between predicted and target wrist positions, averaged over supervised hands and steps, and at
the chunk's last step. The same figures for "hold still" (every future step = the current
state) give the baseline a learned policy must beat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from egovla import spaces
from egovla.data.sample import collate


def wrist_errors(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """pred/target/mask (N, H, 48) -> (mean error over steps, mean error at the last step), metres."""
    errs, finals = [], []
    for hand in spaces.HANDS:
        s = spaces.slot(hand, "wrist_pos")
        valid = mask[..., s].all(-1)  # (N, H)
        d = np.linalg.norm(pred[..., s] - target[..., s], axis=-1)
        errs.append(d[valid])
        finals.append(d[:, -1][valid[:, -1]])
    all_err, final = np.concatenate(errs), np.concatenate(finals)
    return float(all_err.mean()) if all_err.size else float("nan"), float(final.mean()) if final.size else float("nan")


@torch.no_grad()
def offline_metrics(policy, dataset: Sequence, n: int = 256, batch_size: int = 32) -> dict[str, float]:
    """Errors on `n` samples spread evenly over `dataset`; wrist figures for the unified 48-dim space."""
    policy.eval()
    idx = np.unique(np.linspace(0, len(dataset) - 1, min(n, len(dataset))).round().astype(int)).tolist()
    preds, targets, masks, holds = [], [], [], []
    for start in range(0, len(idx), batch_size):
        samples = [dataset[i] for i in idx[start:start + batch_size]]
        batch = collate(samples)
        preds.append(policy.predict_chunk({k: batch[k] for k in ("images", "image_mask", "instruction", "state", "state_mask")}))
        targets.append(batch["action"].numpy())
        masks.append(batch["action_mask"].numpy())
        holds.append(np.repeat(batch["state"].numpy()[:, None], targets[-1].shape[1], axis=1))
    pred, target, mask, hold = map(np.concatenate, (preds, targets, masks, holds))
    out = {"samples": int(pred.shape[0]), "action_mse": float(np.mean(((pred - target) ** 2)[mask]))}
    if pred.shape[-1] == spaces.ACTION_DIM and hold.shape[-1] == spaces.ACTION_DIM:
        err, final = wrist_errors(pred, target, mask)
        base_err, base_final = wrist_errors(hold, target, mask)
        out.update({"wrist_error_m": err, "final_wrist_error_m": final,
                    "hold_still_wrist_error_m": base_err, "hold_still_final_wrist_error_m": base_final})
    return out
