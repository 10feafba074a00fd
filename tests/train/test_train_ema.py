"""The weight average (TrainConfig.ema_decay): what the saved policy is, and an exact resume with it."""

import copy

import pytest
import torch
from safetensors.torch import load_file

from egovla.train import TrainConfig, train
from egovla.train.errors import CheckpointError
from egovla.train.ema import EMA_FILE, WeightAverage, ema_rate

from helpers.train_toys import SimulatedCrash, ToyDataset, make_policy

BASE = dict(batch_size=4, lr=3e-2, warmup_steps=2, save_every=3, log_every=1, precision="no", seed=7)


def run(out, steps=6, resume=False, policy=None, **kw):
    policy = policy if policy is not None else make_policy()
    summary = train(policy, ToyDataset(size=22), TrainConfig(steps=steps, **{**BASE, **kw}), out, resume=resume,
                    progress=False)
    return policy, summary


def test_rate_warms_up_then_holds():
    assert ema_rate(0.999, 1) == pytest.approx(2 / 11)
    assert ema_rate(0.999, 90) == pytest.approx(91 / 100)
    assert ema_rate(0.999, 10**6) == 0.999


def test_average_is_the_recurrence_over_the_trained_weights():
    model = torch.nn.Linear(3, 2)
    avg = WeightAverage(model, 0.9)
    expected = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.manual_seed(0)
    for t in range(1, 30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        avg.update(t)
        d = ema_rate(0.9, t)
        for n, p in model.named_parameters():
            expected[n] = d * expected[n] + (1 - d) * p.detach()
    live = copy.deepcopy(model.state_dict())
    avg.copy_to_model()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p, expected[n])
        assert not torch.equal(p, live[n])


def test_decay_outside_its_range_is_refused():
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverage(torch.nn.Linear(2, 2), 0.0)


def test_saved_policy_is_the_average_and_the_checkpoint_keeps_the_live_weights(tmp_path):
    plain, _ = run(tmp_path / "plain")
    averaged, summary = run(tmp_path / "ema", ema_decay=0.5)
    assert summary["ema_decay"] == 0.5
    live = load_file(str(tmp_path / "ema" / "checkpoints" / "step-00000006" / "policy" / "model.safetensors"))
    saved = load_file(str(tmp_path / "ema" / "policy" / "model.safetensors"))
    ema = load_file(str(tmp_path / "ema" / "checkpoints" / "step-00000006" / EMA_FILE))
    for name, p in plain.state_dict().items():
        assert torch.equal(live[name], p), f"{name}: the average must not change the training itself"
        if name in ema:
            assert torch.equal(saved[name], ema[name])
            assert torch.equal(averaged.state_dict()[name], ema[name])
    assert any(not torch.equal(saved[n], live[n]) for n in ema)


def test_interrupted_and_resumed_average_equals_uninterrupted(tmp_path):
    straight, _ = run(tmp_path / "a", ema_decay=0.8)
    with pytest.raises(SimulatedCrash):  # the 5th forward crashes: checkpoint 3 is the last one written
        run(tmp_path / "b", policy=make_policy(crash_at_call=5), ema_decay=0.8)
    resumed, s = run(tmp_path / "b", resume=True, policy=make_policy(seed=555), ema_decay=0.8)
    assert s["start_step"] == 3
    for (name, p), (_, q) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(p, q), f"{name} differs after resume"


def test_resume_of_an_averaging_run_needs_the_average_in_the_checkpoint(tmp_path):
    with pytest.raises(SimulatedCrash):
        run(tmp_path / "b", policy=make_policy(crash_at_call=5), ema_decay=0.8)
    (tmp_path / "b" / "checkpoints" / "step-00000003" / EMA_FILE).unlink()
    with pytest.raises(CheckpointError, match="holds no average"):
        run(tmp_path / "b", resume=True, ema_decay=0.8)
