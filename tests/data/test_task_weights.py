"""Per-task sampling weights: a task of weight w is listed w times as often in the training windows."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.lerobot_files import write_dataset

from egovla.data.sources import open_sources
from egovla.data.task_weights import parse_task_weight, repeat_counts, task_weight_map, weight_frames
from egovla.data.windows import WindowConfig

PICK, PUSH = "pick up the red block", "push the button"  # write_dataset's tasks, alternating by episode


@pytest.mark.parametrize("n, w, total", [(10, 1.0, 10), (10, 2.0, 20), (10, 1.5, 15), (7, 0.5, 3), (9, 0.0, 0),
                                         (3, 2.34, 7)])
def test_repeat_counts_fill_weight_times_the_frames(n, w, total):
    c = repeat_counts(n, w)
    assert c.shape == (n,) and c.sum() == total
    assert c.max() - c.min() <= 1  # the extra copies are spread, not heaped on a few frames


def test_weighting_repeats_only_the_named_task():
    frames = np.arange(6)
    tasks = np.array(["a", "b", "a", "b", "a", "b"], dtype=object)
    out = weight_frames(frames, tasks, {"b": 2.0})
    assert out.tolist() == [0, 1, 1, 2, 3, 3, 4, 5, 5]
    assert weight_frames(frames, tasks, {"a": 0.0}).tolist() == [1, 3, 5]


@pytest.mark.parametrize("text", ["push", "push=", "=2", "push=-1", "push=nan", "push=two"])
def test_a_malformed_weight_is_named(text):
    with pytest.raises(ValueError, match="TASK=WEIGHT"):
        parse_task_weight(text)


def test_the_task_is_everything_before_the_last_equals_sign():
    assert parse_task_weight("reach a=b=1.5") == ("reach a=b", 1.5)
    with pytest.raises(ValueError, match="given twice"):
        task_weight_map(["a=1", "a=2"])


def test_training_windows_follow_the_weights_and_held_out_ones_do_not(tmp_path):
    write_dataset(tmp_path / "d", lengths=(12, 9, 15, 8))  # pick: episodes 0, 2 (27 frames); push: 1, 3 (17)
    cfg = WindowConfig(chunk_len=2, task_weights=(f"{PUSH}=3",))
    train, held = open_sources([str(tmp_path / "d")], [1.0], cfg, holdout=0.25)  # episode 3 held out
    tasks = [train.vectors(j)["instruction"] for j in range(len(train))]
    assert tasks.count(PICK) == 27 and tasks.count(PUSH) == 3 * 9
    assert len(held) == 8  # held-out error is measured on the data as recorded


def test_a_weight_for_a_task_no_dataset_has_is_named(tmp_path):
    write_dataset(tmp_path / "d", lengths=(5, 5))
    with pytest.raises(ValueError, match="no such task"):
        open_sources([str(tmp_path / "d")], [1.0], WindowConfig(chunk_len=2, task_weights=("reach the goal=2",)))
