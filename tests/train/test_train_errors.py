import hashlib

import pytest
import torch

from egovla.train import DatasetTooSmallError, DivergenceError, TrainConfig, train
from egovla.train.checkpoint import list_checkpoints

from helpers.train_toys import ToyDataset, make_policy


def _cfg(**kw):
    return TrainConfig(**{"steps": 8, "batch_size": 4, "grad_accum": 2, "save_every": 2, "log_every": 1, "precision": "no", **kw})


def _digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(out):
    # forward call 9 is step 5's first micro-batch (grad_accum=2); checkpoints exist at steps 2 and 4
    policy = make_policy(nan_at_call=9)
    saved = {}

    import egovla.train.checkpoint as ckpt

    real_save = ckpt.save_checkpoint

    def spy(root, step, **kw):
        folder = real_save(root, step, **kw)
        saved[step] = _digest(folder)
        return folder

    ckpt.save_checkpoint = spy
    try:
        with pytest.raises(DivergenceError, match=r"loss is nan at step 5\b") as info:
            train(policy, ToyDataset(), _cfg(), out, progress=False)
    finally:
        ckpt.save_checkpoint = real_save
    assert info.value.step == 5
    assert "step-00000004" in str(info.value) and "intact" in str(info.value)
    ckpts = list_checkpoints(out / "checkpoints")
    assert [s for s, _ in ckpts] == [2, 4]
    assert _digest(ckpts[-1][1]) == saved[4]
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]
    assert not (out / "policy").exists()
    assert all(torch.isfinite(p).all() for p in policy.parameters())  # the NaN step was not applied


def test_empty_dataset_is_a_clear_error(out):
    with pytest.raises(DatasetTooSmallError, match="empty"):
        train(make_policy(), ToyDataset(size=0), _cfg(), out, progress=False)


def test_batch_larger_than_dataset_is_a_clear_error(out):
    with pytest.raises(DatasetTooSmallError, match="batch_size 16 .* only 10"):
        train(make_policy(), ToyDataset(size=10), _cfg(batch_size=16), out, progress=False)


def test_bad_config_values_are_named():
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(steps=1, precision="fp16")
    with pytest.raises(ValueError, match="grad_accum"):
        TrainConfig(steps=1, grad_accum=0)
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)


def test_ranks_out_of_sync_are_recorded_and_raised(out, monkeypatch):
    import json

    import egovla.train.loop as loop
    from egovla.train import RanksOutOfSyncError

    monkeypatch.setattr(loop, "gather_checksums", lambda accelerator, checksum: [checksum, "0" * 64])
    with pytest.raises(RanksOutOfSyncError, match="different parameters"):
        train(make_policy(), ToyDataset(), _cfg(steps=2, save_every=0), out, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ranks_in_sync"] is False and len(set(summary["rank_checksums"])) == 2
