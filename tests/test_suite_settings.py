"""The suite's own rules: hypothesis is derandomized without an example database, and every test
starts from seeded global RNGs."""

import random

import numpy as np
import torch
from hypothesis import settings


def test_hypothesis_is_derandomized_and_keeps_no_database():
    assert settings.default.derandomize is True
    assert settings.default.database is None


def test_each_test_starts_from_the_same_global_random_state():
    drawn = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    assert drawn == (random.random(), float(np.random.rand()), float(torch.rand(1)))
