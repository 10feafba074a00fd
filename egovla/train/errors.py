"""Errors the trainer raises, each naming what went wrong and what to do about it."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """Base class of the trainer's errors."""


class DatasetTooSmallError(TrainingError, ValueError):
    """The dataset is empty, or smaller than one global batch."""


class ResumeMismatchError(TrainingError, ValueError):
    """A checkpoint cannot be continued with the given configuration (a field that matters differs)."""


class DivergenceError(TrainingError, FloatingPointError):
    """The loss (or the gradient norm) became NaN or infinite; `step` is the optimizer step that failed."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


class RanksOutOfSyncError(TrainingError):
    """The processes of a multi-process run finished with different parameters."""


class CheckpointError(TrainingError):
    """A checkpoint folder is missing files or cannot be read."""
