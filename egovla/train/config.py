"""`TrainConfig`: every knob of the trainer, and which of them a resumed run must keep."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from egovla.train.errors import ResumeMismatchError

PRECISIONS = ("auto", "native", "no", "bf16")
#: CPU flags (/proc/cpuinfo) of instructions that multiply bf16 matrices in hardware
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

# Fields a resumed run may change freely: they do not touch the weights' trajectory. `steps` may be
# raised (not lowered below the checkpoint's step) to continue training; the cosine schedule then
# stretches to the new horizon for the remaining steps. (`precision` is compared after resolving
# 'auto', by the trainer, against the precision the checkpoint was trained in.)
RESUME_FREE_FIELDS = ("steps", "save_every", "keep_last", "log_every", "num_workers", "find_unused_parameters",
                      "fused_optimizer")
_CHECKED_ELSEWHERE = ("precision",)


def _f(default, help: str, **meta):
    return field(default=default, metadata={"help": help, "group": "optimisation", **meta})


@dataclass
class TrainConfig:
    """How to train. `batch_size` is per process; the global batch per optimizer step is
    batch_size x grad_accum x num_processes. The defaults are `egovla train`'s."""

    steps: int = _f(1000, "optimizer steps in total (a resumed run counts the steps already done)")
    batch_size: int = _f(32, "samples per micro-batch, per process")
    grad_accum: int = _f(1, "micro-batches per optimizer step")
    lr: float = _f(1e-3, "peak learning rate (AdamW)")
    weight_decay: float = _f(0.01, "AdamW decay of matrices (biases, norms and 1-D parameters get none)")
    betas: tuple[float, float] = _f((0.9, 0.95), "AdamW betas")
    eps: float = _f(1e-8, "AdamW epsilon")
    warmup_steps: int = _f(30, "linear warm-up steps before the cosine decay", flag="--warmup")
    min_lr_ratio: float = _f(0.1, "the cosine decays to lr x this at the last step")
    ema_decay: float = _f(0.0, "the saved policy is an exponential moving average of the weights with this decay "
                          "(warmed up as (1 + t) / (10 + t)); 0: the last weights")
    clip_norm: float | None = _f(1.0, "global gradient-norm clip ('none' or <= 0: no clipping)")
    seed: int = _f(0, "seeds initial weights, data order and the synthetic data")
    precision: str = _f("auto", "'auto' uses bf16 where the device supports it (CUDA), else float32; 'native' "
                        "also on a CPU that computes bf16 in hardware (AVX512-BF16, AMX); 'no': float32",
                        choices=PRECISIONS)
    save_every: int = _f(0, "checkpoint every N steps (and at the end; 0: only the final policy)", group="run folder")
    keep_last: int = _f(2, "checkpoints to keep (<= 0 keeps all)", group="run folder")
    log_every: int = _f(10, "log scalars (TensorBoard, metrics.jsonl) every N steps", group="run folder")
    num_workers: int = _f(0, "DataLoader worker processes", flag="--workers")
    fused_optimizer: bool = _f(True, "AdamW's fused kernel where torch has it for the parameters (CPU, CUDA); the "
                               "same update, faster")
    find_unused_parameters: bool = _f(False, "DDP: set when some parameters get no gradient in a step")

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        self.validate()

    def validate(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"TrainConfig: {what}")

        need(isinstance(self.steps, int) and self.steps >= 1, f"steps must be an int >= 1, got {self.steps!r}")
        need(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        need(self.grad_accum >= 1, f"grad_accum must be >= 1, got {self.grad_accum}")
        need(self.lr > 0, f"lr must be > 0, got {self.lr}")
        need(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        need(0.0 <= self.ema_decay < 1.0, f"ema_decay must be in [0, 1) (0: off), got {self.ema_decay}")
        need(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        need(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        need(0 <= self.seed < 2**32, f"seed must be in [0, 2**32), got {self.seed}")
        need(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        need(self.save_every >= 0, f"save_every must be >= 0, got {self.save_every}")
        need(self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}")
        need(self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {unknown}")
        return cls(**d)


def cpu_computes_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX512-BF16 or AMX); False where it cannot be read.
    Elsewhere bf16 autocast on the CPU is emulated and many times slower than float32."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(precision: str, cuda: bool | None = None, cpu_bf16: bool | None = None) -> str:
    """The precision a run trains in: 'auto' -> 'bf16' on a CUDA device that supports it, else 'no';
    'native' -> 'bf16' there or on a CPU that computes bf16 in hardware, else 'no'. 'bf16' is honoured on
    any CPU. `cuda` and `cpu_bf16` say what the machine has (None: ask torch and /proc/cpuinfo)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision not in ("auto", "native"):
        return precision
    if cuda is None:
        cuda = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if cuda:
        return "bf16"
    if precision == "native" and (cpu_computes_bf16() if cpu_bf16 is None else cpu_bf16):
        return "bf16"
    return "no"


def check_resume_compatible(saved: dict[str, Any], cfg: TrainConfig, checkpoint_step: int, where: str) -> None:
    """Raise ResumeMismatchError naming every field of `cfg` that differs from the checkpoint's config
    and matters for an exact continuation."""
    current = cfg.to_dict()
    diffs = []
    for name, value in current.items():
        if name in RESUME_FREE_FIELDS or name in _CHECKED_ELSEWHERE or name not in saved:
            continue
        if _normalise(saved[name]) != _normalise(value):
            diffs.append(f"{name} (checkpoint {saved[name]!r}, now {value!r})")
    if diffs:
        raise ResumeMismatchError(
            f"cannot resume from {where}: the training config differs in {', '.join(diffs)}. "
            f"Resume with the same values, or start a new run in a fresh output folder "
            f"(only {', '.join(RESUME_FREE_FIELDS)} may change on resume)."
        )
    if cfg.steps < checkpoint_step:
        raise ResumeMismatchError(
            f"cannot resume from {where}: it is at step {checkpoint_step} but steps={cfg.steps}; "
            f"steps may be raised to continue training, not lowered below the checkpoint"
        )


def _normalise(v: Any) -> Any:
    return list(v) if isinstance(v, (tuple, list)) else v
