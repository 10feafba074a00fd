"""Where this process sits in a multi-process launch (torchrun / accelerate launch), read in one place.

The launchers set RANK and WORLD_SIZE in the environment before the process starts; these are the
values before `accelerate` is set up (the trainer then uses its own Accelerator's view, which agrees).
"""

from __future__ import annotations

import os


def rank() -> int:
    """This process's rank (0 when not launched as several processes)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes the launch has (1 when not launched as several processes)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def threads_per_process(cores: int | None = None) -> int:
    """CPU threads each process should use: the machine's cores shared among the processes."""
    return max(1, (cores or os.cpu_count() or 1) // world_size())
