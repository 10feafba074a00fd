"""Shared simulation fixtures: one small Meta-World dataset, collected once per test process."""

from __future__ import annotations

from pathlib import Path

import pytest

from egovla.sim.collect import CollectConfig, collect
from egovla.sim.metaworld_env import EnvConfig


@pytest.fixture(scope="session")
def reach_dataset(tmp_path_factory):
    """2 expert episodes of reach-v3 at 32 px (seed 0, layouts 0 and 1): (dataset folder, summary)."""
    root = tmp_path_factory.mktemp("sim") / "reach"
    summary = collect(CollectConfig(tasks=("reach-v3",), episodes=2, env=EnvConfig(size=32), workers=1),
                      root, progress=False)
    return root, summary


def pytest_collection_modifyitems(config, items):
    """Meta-World's experts warn on every clipped action; the package silences that at import, but
    pytest restores the warning filters per test."""
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings(r"ignore:Constant\(s\) may be too high"))
