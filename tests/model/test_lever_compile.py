"""The compile lever: torch.compile (inductor) computes the eager chunk, to float rounding.

Tolerance 1e-5 (normalized action units): inductor fuses and reorders float32 reductions, nothing
else. Slow to compile on a CPU (~20 s), so it has a file of its own.
"""

from __future__ import annotations

import numpy as np
import torch

from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticDataset
from egovla.model.levers import apply_levers
from egovla.model.policy import Policy
from helpers.policies import CHUNK, tiny_config


def test_compiled_chunk_equals_eager():
    data = SyntheticDataset(size=8, seed=3, image_size=32, chunk_len=CHUNK, block=6)
    torch.manual_seed(0)
    policy = Policy(tiny_config("flow"), compute_stats(data)).eval()
    fast = apply_levers(policy, ["compile", "cache"])
    obs = {k: data[0][k] for k in ("images", "instruction", "state")}
    chunk = fast.predict_chunk(obs)  # the first call also checks itself against eager (CHECK_TOL)
    assert fast.check_error < 1e-5
    scale = policy.normalizer.action_scale.numpy()
    assert np.abs((chunk - policy.predict_chunk(obs)) / scale).max() < 1e-5
    assert fast._compiled is not None
