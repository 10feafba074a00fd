"""What the main process records: TensorBoard scalars, metrics.jsonl, the PNG loss curve, summary.json.

(Named `tracking` rather than `logging` so it never shadows the standard library module.)
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
TB_DIR = "tb"
CURVE_FILE = "loss.png"
SUMMARY_FILE = "summary.json"


def _finite_or_none(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


class TrainLogger:
    """Records one row per log step. Only the main process should pass enabled=True.

    On a resumed run (start_step > 0) rows logged after the checkpoint by the interrupted run are
    dropped from metrics.jsonl and purged from TensorBoard, so each step appears once.
    """

    def __init__(self, out_dir: Path | str, *, start_step: int = 0, enabled: bool = True):
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self.writer = None
        if not enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / METRICS_FILE
        kept = [r for r in read_metrics(path) if r.get("step", 0) <= start_step] if start_step > 0 else []
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
        from torch.utils.tensorboard import SummaryWriter  # lazy: tensorboard import is slowish

        self.writer = SummaryWriter(log_dir=str(self.out_dir / TB_DIR), purge_step=start_step if start_step > 0 else None)

    def log(self, step: int, scalars: dict[str, float], policy_metrics: dict[str, float] | None = None) -> None:
        if not self.enabled:
            return
        policy_metrics = policy_metrics or {}
        for k, v in scalars.items():
            if v is not None:
                self.writer.add_scalar(f"train/{k}", v, step)
        for k, v in policy_metrics.items():
            self.writer.add_scalar(f"policy/{k}", v, step)
        row = {"step": step, **{k: _finite_or_none(v) for k, v in scalars.items()}}
        if policy_metrics:
            row["metrics"] = {k: _finite_or_none(v) for k, v in policy_metrics.items()}
        with open(self.out_dir / METRICS_FILE, "a") as f:
            f.write(json.dumps(row) + "\n")

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_metrics(path: Path | str) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl (a torn last line, from a killed run, is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_loss_curve(metrics_path: Path | str, png_path: Path | str) -> bool:
    """Draw loss (and lr) against step from metrics.jsonl into a PNG; False when there is nothing to plot."""
    rows = [r for r in read_metrics(metrics_path) if r.get("loss") is not None]
    if not rows:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: leaves the process's backend alone

    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(steps, [r["loss"] for r in rows], color="tab:blue", label="loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    if all(r["loss"] > 0 for r in rows) and max(r["loss"] for r in rows) / min(r["loss"] for r in rows) > 100:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if any(r.get("lr") is not None for r in rows):
        ax2 = ax.twinx()
        ax2.plot(steps, [r.get("lr") for r in rows], color="tab:orange", alpha=0.6, label="lr")
        ax2.set_ylabel("learning rate", color="tab:orange")
    ax.set_title("training loss")
    fig.tight_layout()
    tmp = Path(png_path).with_suffix(".png.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, png_path)
    return True


def write_summary(out_dir: Path | str, summary: dict[str, Any]) -> Path:
    path = Path(out_dir) / SUMMARY_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, path)
    return path
