"""Pretraining -> fine-tuning: `egovla train --init RUN` starts bit-identically from that policy's weights
(and, by default, its normalization statistics), and a policy that does not fit names what differs."""

from __future__ import annotations

import pytest
import torch

from egovla.cli import main
from egovla.jobs.train import TrainJob, build_datasets, initial_policy, resolve_init
from egovla.model.policy import Policy
from egovla.runs import read_record

TINY = ["--samples", "64", "--image-size", "32", "--chunk-len", "4", "--batch-size", "4", "--eval-samples", "0",
        "--set", "backbone.image_size=32", "--set", "backbone.text_layers=1", "--set", "backbone.vision_layers=1",
        "--set", "head.layers=1", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    run = tmp_path_factory.mktemp("init") / "pre"
    assert main(["train", "--steps", "3", "--seed", "5", "--out", str(run), *TINY]) == 0
    return run


def test_fine_tuning_starts_from_the_same_weights_and_statistics(pretrained):
    source = Policy.from_pretrained(pretrained / "policy")
    job = resolve_init(TrainJob(init=str(pretrained), samples=64, objects=1))
    assert (job.image_size, job.chunk_len, job.head) == (32, 4, "regression")  # taken from the initial run
    train_set, _ = build_datasets(job, seed=9)  # other data than pretraining's (seed 5)
    policy = initial_policy(job, train_set, seed=123)
    for k, v in source.state_dict().items():
        assert torch.equal(policy.state_dict()[k], v), k
    assert policy.normalizer.stats == source.normalizer.stats
    recomputed = initial_policy(TrainJob(**{**job.__dict__, "init_stats": "data"}), train_set, seed=123)
    assert recomputed.normalizer.stats != source.normalizer.stats
    assert torch.equal(recomputed.queries, source.queries)


def test_the_run_records_where_it_started(pretrained, tmp_path):
    out = tmp_path / "fine"
    assert main(["train", "--init", str(pretrained), "--steps", "2", "--seed", "6", "--out", str(out), *TINY]) == 0
    assert read_record(out).init == str(pretrained)


def test_a_policy_that_does_not_fit_names_what_differs(pretrained, tmp_path, capsys):
    assert main(["train", "--init", str(pretrained), "--steps", "1", "--out", str(tmp_path / "a"), *TINY,
                 "--set", "n_queries=3"]) == 2
    assert "does not fit this policy's shapes: queries: (8, 128) there, (3, 128) here" in capsys.readouterr().err
    assert main(["train", "--init", str(pretrained), "--steps", "1", "--out", str(tmp_path / "b"), *TINY,
                 "--head", "flow"]) == 2
    assert "has another architecture" in capsys.readouterr().err
    args = [a if a != "32" else "16" for a in TINY]
    assert main(["train", "--init", str(pretrained), "--steps", "1", "--out", str(tmp_path / "c"), *args]) == 2
    assert "image_height 16 here, 32 there" in capsys.readouterr().err
    assert main(["train", "--init", str(tmp_path / "nowhere"), "--steps", "1", "--out", str(tmp_path / "d"),
                 *TINY]) == 2


def test_auxiliary_targets_the_initial_policy_was_not_built_for_are_named(pretrained, tmp_path, capsys):
    from helpers.lerobot_files import ENV_STATE, write_dataset

    write_dataset(tmp_path / "ds", lengths=(8, 8), env_dim=39)
    assert main(["train", "--init", str(pretrained), "--dataset", str(tmp_path / "ds"), "--aux-key", ENV_STATE,
                 "--steps", "1", "--out", str(tmp_path / "a"), *TINY]) == 2
    assert "aux_dim 6 here, 0 there" in capsys.readouterr().err
