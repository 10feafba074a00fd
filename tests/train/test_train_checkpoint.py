import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from egovla.train import checkpoint as ckpt
from egovla.train.config import TrainConfig
from egovla.train.optim import build_optimizer, flatten_optimizer_state, load_optimizer, save_optimizer
from egovla.train.rng import capture_rng_state, restore_rng_state

from helpers.train_toys import ToyDataset, make_policy


def _stepped_policy_and_optimizer(seed=0, steps=2):
    policy = make_policy(seed)
    opt = build_optimizer(policy, TrainConfig(steps=10, batch_size=4))
    batch = {k: torch.stack([ToyDataset()[i][k] for i in range(4)]) for k in ("x", "y")}
    for _ in range(steps):
        loss, _ = policy(batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return policy, opt


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _save(root, step, policy, opt, keep_last=2):
    return ckpt.save_checkpoint(root, step, policy=policy, optimizer=opt, trainer_state={"note": "x"}, keep_last=keep_last)


def test_checkpoint_layout_is_safetensors_and_json_only(tmp_path):
    policy, opt = _stepped_policy_and_optimizer()
    folder = _save(tmp_path, 7, policy, opt)
    assert folder.name == "step-00000007"
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [
        "optimizer.json", "optimizer.safetensors", "policy/config.json", "policy/model.safetensors",
        "policy/stats.json", "rng/rank-0.json", "trainer_state.json",
    ]  # fmt: skip
    assert ckpt.read_trainer_state(folder) == {"note": "x", "step": 7}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_crash_inside_the_writer_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    policy, opt = _stepped_policy_and_optimizer()
    good = _save(tmp_path, 2, policy, opt)
    before = _tree_digest(good)

    class Exploding(type(policy)):
        def save_pretrained(self, directory):
            super().save_pretrained(directory)  # half of the checkpoint is on disk ...
            raise OSError("disk full (simulated)")  # ... when the writer dies

    bad_policy = Exploding()
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, 4, bad_policy, opt)
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000002"]  # no step-4, no temp folder
    assert ckpt.latest_checkpoint(tmp_path) == good
    assert _tree_digest(good) == before

    def broken_optimizer_writer(optimizer, folder):
        (folder / "optimizer.safetensors").write_bytes(b"partial")
        raise RuntimeError("killed mid-write (simulated)")

    monkeypatch.setattr(ckpt, "save_optimizer", broken_optimizer_writer)
    with pytest.raises(RuntimeError, match="mid-write"):
        _save(tmp_path, 4, policy, opt)
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000002"]
    assert _tree_digest(good) == before


def test_leftovers_of_a_killed_save_are_ignored_and_cleared(tmp_path):
    policy, opt = _stepped_policy_and_optimizer()
    good = _save(tmp_path, 2, policy, opt)
    tmp = tmp_path / ".tmp-step-00000004"
    (tmp / "policy").mkdir(parents=True)
    (tmp / "trainer_state.json").write_text("{}")
    (tmp_path / "step-00000006").mkdir()  # a step folder without trainer_state: not complete
    assert ckpt.latest_checkpoint(tmp_path) == good
    ckpt.clear_stale(tmp_path)
    assert not tmp.exists()


def test_rotation_keeps_the_last_n(tmp_path):
    policy, opt = _stepped_policy_and_optimizer()
    for step in range(1, 6):
        _save(tmp_path, step, policy, opt, keep_last=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000004", "step-00000005"]
    for step in range(6, 9):
        _save(tmp_path, step, policy, opt, keep_last=0)  # 0 keeps all
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [4, 5, 6, 7, 8]
    assert ckpt.rotate(tmp_path, 1) and [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [8]


def test_optimizer_state_round_trips_exactly(tmp_path):
    policy, opt = _stepped_policy_and_optimizer(steps=3)
    save_optimizer(opt, tmp_path)
    meta = json.loads((tmp_path / "optimizer.json").read_text())
    assert meta["param_groups"][0]["betas"] == [0.9, 0.95]
    fresh = build_optimizer(policy, TrainConfig(steps=10, batch_size=4))
    load_optimizer(fresh, tmp_path)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]  # betas come back as a tuple
    assert a["state"].keys() == b["state"].keys()
    for pid in a["state"]:
        for key, value in a["state"][pid].items():
            assert torch.equal(value, b["state"][pid][key]), (pid, key)
    tensors, _ = flatten_optimizer_state(a)
    assert {k.split(".")[2] for k in tensors} == {"step", "exp_avg", "exp_avg_sq"}


def test_policy_weights_load_back_strictly(tmp_path):
    policy, opt = _stepped_policy_and_optimizer()
    folder = _save(tmp_path, 1, policy, opt)
    other = make_policy(seed=99)
    ckpt.load_policy_weights(other, folder / "policy")
    for (n, p), (_, q) in zip(policy.state_dict().items(), other.state_dict().items()):
        assert torch.equal(p, q), n
    with pytest.raises(ckpt.CheckpointError, match="do not fit"):
        ckpt.load_policy_weights(make_policy(hidden=8), folder / "policy")


def test_rng_state_round_trips_through_json():
    random.random(), np.random.rand(), torch.rand(1), random.gauss(0, 1)  # noqa: B018 - advance them
    state = json.loads(json.dumps(capture_rng_state()))
    first = (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), np.random.randn(), torch.rand(4))
    restore_rng_state(state)
    second = (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), np.random.randn(), torch.rand(4))
    assert first[:4] == second[:4] and torch.equal(first[4], second[4])


def test_optimizer_is_fused_on_cpu_and_updates_as_plain_adamw():
    cfg = TrainConfig(steps=10, batch_size=4)
    x, y = torch.randn(8, 6, generator=torch.Generator().manual_seed(0)), torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    models = []
    for fused in (True, False):
        torch.manual_seed(3)
        model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.GELU(), torch.nn.Linear(16, 3))
        opt = build_optimizer(model, cfg)
        if not fused:
            groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in opt.param_groups]
            opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=False)
        assert opt.param_groups[0]["fused"] is fused
        for _ in range(5):
            (model(x) - y).square().mean().backward()
            opt.step()
            opt.zero_grad()
        models.append(model)
    for a, b in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
