"""Serving fixtures: a tiny random policy saved as a run folder (see _serve_toys)."""

from __future__ import annotations

import pytest
import torch
from _serve_toys import tiny_policy, write_run

from egovla.serve.served import ServedPolicy


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("serve") / "run", tiny_policy())


@pytest.fixture(scope="session")
def served(tiny_run):
    torch.set_num_threads(1)
    return ServedPolicy.from_run(tiny_run)
