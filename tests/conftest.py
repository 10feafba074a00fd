"""Test-wide settings: never reach a model hub; one torch thread per test process; hypothesis is
derandomized.

`make test` runs two pytest workers on two cores; a second torch thread in each would fight
the other worker for a core, and contended CPU threads made training steps ~6x slower here.

Hypothesis draws its examples from a fixed seed (`derandomize`) and keeps no example database, so
every run of the suite tries the same inputs: a failure is reproducible, and a pass is not luck.
Every test starts with the global RNGs (python, numpy, torch) seeded, so what it draws does not
depend on which tests ran before it in the same worker process.
"""

import os
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

torch.set_num_threads(1)

settings.register_profile("egovla", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("egovla")


@pytest.fixture(autouse=True)
def _seeded_global_rngs():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny random policy saved as a run folder, as `egovla train` leaves one (see helpers.policies)."""
    from helpers.policies import tiny_policy, write_run

    return write_run(tmp_path_factory.mktemp("serve") / "run", tiny_policy())


@pytest.fixture(scope="session")
def served(tiny_run):
    """That run as the policy server holds it."""
    from egovla.serve.served import ServedPolicy

    torch.set_num_threads(1)
    return ServedPolicy.from_run(tiny_run)
