"""The onnx lever: the exported chunk graph, run by onnxruntime, computes the eager chunk.

Tolerance 1e-4 (normalized action units): onnxruntime's kernels sum in other orders, and the
exported graph pads the instruction to the full text budget (masked tokens) so that one graph per
batch size serves every instruction. Measured: ~1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egovla.data.sample import collate
from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticDataset
from egovla.model.levers import apply_levers
from egovla.model.policy import Policy
from helpers.policies import CHUNK, tiny_config

TOL = 1e-4


@pytest.mark.parametrize("head, levers", [("flow", ["onnx", "cache"]), ("regression", ["onnx", "prune=0.5"])])
def test_onnx_chunk_matches_the_torch_chunk(head, levers):
    data = SyntheticDataset(size=8, seed=3, image_size=32, chunk_len=CHUNK, block=6)
    torch.manual_seed(0)
    policy = Policy(tiny_config(head), compute_stats(data)).eval()
    fast = apply_levers(policy, levers)
    reference = apply_levers(policy, [x for x in levers if x != "onnx"])
    scale = policy.normalizer.action_scale.numpy()
    one = {k: data[0][k] for k in ("images", "instruction", "state")}
    chunk = fast.predict_chunk(one)
    assert chunk.shape == (CHUNK, 48) and chunk.dtype == np.float32
    assert np.abs((chunk - reference.predict_chunk(one)) / scale).max() < TOL
    other = {**one, "instruction": "a different and longer instruction"}  # same graph, other text
    assert np.abs((fast.predict_chunk(other) - reference.predict_chunk(other)) / scale).max() < TOL
    batch = {k: v for k, v in collate([data[i] for i in range(2)]).items() if k in one}
    assert np.abs((fast.predict_chunk(batch) - reference.predict_chunk(batch)) / scale).max() < TOL
    assert sorted(fast._sessions) == [1, 2]
