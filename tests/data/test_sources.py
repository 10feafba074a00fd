"""`--dataset PATH[:WEIGHT]`: LeRobot datasets opened as train/held-out windows, mixed by weight."""

from __future__ import annotations

import pytest
from helpers.lerobot_files import write_dataset

from egovla.data.mixture import Mixture
from egovla.data.sources import open_sources, split_episodes
from egovla.data.windows import WindowConfig, WindowDataset


def test_split_holds_out_the_last_episodes():
    assert split_episodes(10, 0.1) == (list(range(9)), [9])
    assert split_episodes(10, 0.25) == (list(range(7)), [7, 8, 9])
    assert split_episodes(1, 0.5) == ([0], [])
    assert split_episodes(4, 0.0) == ([0, 1, 2, 3], [])


def test_two_rigs_mix_into_one_space(tmp_path):
    write_dataset(tmp_path / "a", lengths=(10, 10, 10), cameras=2, size=32)
    write_dataset(tmp_path / "b", lengths=(8, 8), cameras=1, size=16, tasks=("open the drawer",))
    train, held = open_sources([str(tmp_path / "a"), str(tmp_path / "b")], [3.0, 1.0], WindowConfig(chunk_len=4))
    assert isinstance(train, Mixture) and isinstance(held, Mixture)
    share = train.share()
    assert share[str(tmp_path / "a")] == pytest.approx(0.75, abs=0.15)
    shapes = {train[j]["images"].shape for j in range(0, len(train), 5)}
    assert shapes == {(1, 2, 3, 32, 32)}  # b's single 16-px view: resized and padded to a's rig
    b_samples = [train[j] for j in range(len(train)) if train.source[j] == 1][:3]
    assert all(s["image_mask"].tolist() == [[True, False]] for s in b_samples)
    assert all(s["instruction"] == "open the drawer" for s in b_samples)


def test_one_dataset_is_not_wrapped(tmp_path):
    write_dataset(tmp_path / "a", lengths=(6, 6))
    train, held = open_sources([str(tmp_path / "a")], [1.0], WindowConfig(chunk_len=2))
    assert isinstance(train, WindowDataset) and len(train) == 6 and len(held) == 6


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope: no such dataset folder"):
        open_sources([str(tmp_path / "nope")], [1.0], WindowConfig())
