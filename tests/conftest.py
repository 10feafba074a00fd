"""Test-wide settings: never reach a model hub; one torch thread per test process.

`make test` runs two pytest workers on two cores; a second torch thread in each would fight
the other worker for a core, and contended CPU threads made training steps ~6x slower here.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

torch.set_num_threads(1)
