"""Exact resume, in process: an interrupted + resumed run ends bit-identical to an uninterrupted one."""

import json

import pytest
import torch
from safetensors.torch import load_file

from egovla.train import ResumeMismatchError, TrainConfig, TrainingError, train
from egovla.train.checkpoint import list_checkpoints
from egovla.train.tracking import read_metrics

from helpers.train_toys import SimulatedCrash, ToyDataset, make_policy

BASE = dict(batch_size=4, grad_accum=2, lr=3e-2, warmup_steps=2, save_every=3, log_every=1, precision="no", seed=7)


def cfg(steps=6, **kw):
    return TrainConfig(steps=steps, **{**BASE, **kw})


def run(out, steps=6, resume=False, policy=None, dataset_size=22, noise=True, **kw):
    # 22 samples / 4 per micro-batch = 5 micro-batches per epoch: steps cross epoch boundaries mid-step
    policy = policy if policy is not None else make_policy()
    dataset = ToyDataset(size=dataset_size, noise=noise)
    summary = train(policy, dataset, cfg(steps, **kw), out, resume=resume, progress=False)
    return policy, summary


def _optimizer_state(folder):
    return load_file(str(folder / "optimizer.safetensors")), json.loads((folder / "optimizer.json").read_text())


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    straight, s1 = run(tmp_path / "a")

    with pytest.raises(SimulatedCrash):  # step 5's first forward (call 9 with grad_accum=2) crashes
        run(tmp_path / "b", policy=make_policy(crash_at_call=9))
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [3]
    assert [r["step"] for r in read_metrics(tmp_path / "b" / "metrics.jsonl")] == [1, 2, 3, 4]  # step 4 not saved
    assert not (tmp_path / "b" / "policy").exists()

    resumed, s2 = run(tmp_path / "b", resume=True, policy=make_policy(seed=555))  # other init: weights must load
    assert s2["start_step"] == 3 and s2["steps_run"] == 3 and s2["resumed_from"].endswith("step-00000003")

    for (name, p), (_, q) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(p, q), f"{name} differs after resume"
    assert s1["rank_checksums"] == s2["rank_checksums"]
    final_a, final_b = (tmp_path / d / "checkpoints" / "step-00000006" for d in "ab")
    (ta, ma), (tb, mb) = _optimizer_state(final_a), _optimizer_state(final_b)
    assert ma == mb and ta.keys() == tb.keys()
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    ra, rb = (json.loads((f / "trainer_state.json").read_text()) for f in (final_a, final_b))
    assert ra == rb and ra["epoch"] == 2 and ra["position"] == 2  # 12 micro-batches, 5 per epoch
    # the logged curve is the same too, each step once
    la, lb = read_metrics(tmp_path / "a" / "metrics.jsonl"), read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert [r["step"] for r in lb] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in la] == [r["loss"] for r in lb]


def test_without_restoring_rng_the_resume_would_differ(tmp_path, monkeypatch):
    """The exact-resume test above can fail: break one ingredient and the weights differ."""
    straight, _ = run(tmp_path / "a")
    with pytest.raises(SimulatedCrash):
        run(tmp_path / "b", policy=make_policy(crash_at_call=7))
    import egovla.train.loop as loop

    monkeypatch.setattr(loop, "restore_rng_state", lambda state: None)
    resumed, _ = run(tmp_path / "b", resume=True)
    assert not all(torch.equal(p, q) for p, q in zip(straight.state_dict().values(), resumed.state_dict().values()))


def test_resume_checks_the_config_and_allows_more_steps(tmp_path):
    out = tmp_path / "r"
    run(out, steps=3)
    for field, value in (("batch_size", 2), ("lr", 1e-3), ("grad_accum", 1), ("seed", 8), ("warmup_steps", 0)):
        with pytest.raises(ResumeMismatchError, match=field):
            run(out, steps=6, resume=True, **{field: value})
    with pytest.raises(ResumeMismatchError, match="dataset_len"):
        run(out, steps=6, resume=True, dataset_size=30)
    with pytest.raises(ResumeMismatchError, match="precision was 'no', now 'bf16'"):
        run(out, steps=6, resume=True, precision="bf16")
    # free fields; precision 'auto' resolves to 'no' on CPU, the precision the checkpoint trained in
    _, summary = run(out, steps=5, resume=True, save_every=1, keep_last=3, log_every=2, precision="auto")
    assert summary["start_step"] == 3 and summary["steps"] == 5
    with pytest.raises(ResumeMismatchError, match="steps=4"):
        run(out, steps=4, resume=True)  # below the checkpoint at step 5
    _, summary = run(out, steps=5, resume=True)  # already done: nothing to run, final policy rewritten
    assert summary["steps_run"] == 0 and (out / "policy" / "model.safetensors").is_file()


def test_resume_without_checkpoint_starts_fresh_and_fresh_start_refuses_old_run(tmp_path, capsys):
    out = tmp_path / "f"
    _, summary = run(out, steps=3, resume=True)
    assert summary["start_step"] == 0 and summary["resumed_from"] is None
    assert "no checkpoint" in capsys.readouterr().out
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        run(out, steps=3)


def test_exact_resume_with_dataloader_workers(tmp_path):
    straight, _ = run(tmp_path / "a", noise=False, num_workers=2)
    with pytest.raises(SimulatedCrash):
        run(tmp_path / "b", policy=make_policy(crash_at_call=7), noise=False, num_workers=2)
    resumed, _ = run(tmp_path / "b", resume=True, noise=False, num_workers=1)  # num_workers may change
    for (name, p), (_, q) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(p, q), name
