"""The trainer: `train(policy, dataset, TrainConfig(...), out_dir, resume=...)` on `accelerate`.

Modules: config (TrainConfig), loop (train), schedule (warm-up + cosine), sampler (sharded, resumable
data order), checkpoint (atomic save/load/rotate, safetensors + JSON), optim (AdamW and its state),
rng (capture/restore RNG), tracking (TensorBoard, metrics.jsonl, loss.png, summary.json),
distributed (collectives, rank checksums), errors.
"""

from egovla.train.config import TrainConfig
from egovla.train.errors import (
    CheckpointError,
    DatasetTooSmallError,
    DivergenceError,
    RanksOutOfSyncError,
    ResumeMismatchError,
    TrainingError,
)


def __getattr__(name: str):
    # `train` is imported on first use: egovla.train.loop pulls in accelerate, which the config alone
    # (`from egovla.train.config import TrainConfig`) should not pay for.
    if name == "train":
        from egovla.train.loop import train

        return train
    raise AttributeError(f"module 'egovla.train' has no attribute {name!r}")


__all__ = [
    "TrainConfig",
    "train",
    "TrainingError",
    "DatasetTooSmallError",
    "DivergenceError",
    "ResumeMismatchError",
    "RanksOutOfSyncError",
    "CheckpointError",
]
