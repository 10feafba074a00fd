import json

import pytest
import torch
from safetensors.torch import load_file

from egovla.train import TrainConfig, train
from egovla.train.config import resolve_precision

from helpers.train_toys import ToyDataset, make_policy


def test_run_writes_logs_curve_summary_and_policy(out, monkeypatch):
    def no_pickle(*a, **k):
        raise AssertionError("the trainer must not pickle (torch.save / torch.load)")

    monkeypatch.setattr(torch, "save", no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
    cfg = TrainConfig(steps=7, batch_size=4, grad_accum=1, log_every=3, save_every=3, keep_last=1, precision="auto")
    policy = make_policy()
    summary = train(policy, ToyDataset(), cfg, out, progress=True)

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6, 7]  # every log_every steps and the last
    assert {"loss", "lr", "grad_norm", "samples_per_s", "epoch"} <= rows[0].keys()
    assert set(rows[0]["metrics"]) == {"mse", "jitter"}  # the policy's own metrics
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    assert summary["steps"] == 7 and summary["final_loss"] == pytest.approx(rows[-1]["loss"])
    assert summary["samples_per_s"] > 0 and summary["wall_time_s"] > 0
    assert summary["precision"] == resolve_precision("auto") == "no"  # CPU
    assert summary["ranks_in_sync"] is True and len(summary["rank_checksums"]) == 1

    weights = load_file(str(out / "policy" / "model.safetensors"))
    for name, p in policy.state_dict().items():
        assert torch.equal(weights[name], p), name
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000007"]  # keep_last=1, final saved
    suffixes = {p.suffix for p in out.rglob("*") if p.is_file() and "tb" not in p.parts}
    assert suffixes <= {".json", ".jsonl", ".safetensors", ".png"}


def test_training_reduces_the_loss(out):
    cfg = TrainConfig(steps=60, batch_size=8, lr=3e-2, warmup_steps=5, log_every=1, precision="no")
    train(make_policy(), ToyDataset(size=64), cfg, out, progress=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows]
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:5]) / 5
    assert rows[4]["lr"] == pytest.approx(3e-2)  # step 5 = end of warm-up
    assert rows[-1]["lr"] == pytest.approx(3e-3)  # the cosine floor at the last step


def test_bf16_autocast_runs_on_cpu_and_back_to_float32(tmp_path):
    policies, seen = {}, []
    for precision in ("bf16", "no"):  # one process may switch precision between runs
        policy = policies[precision] = make_policy()
        seen.clear()
        policy.net[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        cfg = TrainConfig(steps=3, batch_size=4, precision=precision, log_every=1)
        summary = train(policy, ToyDataset(), cfg, tmp_path / precision, progress=False)
        assert summary["precision"] == precision and summary["final_loss"] is not None
        assert seen and set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
        assert all(p.dtype == torch.float32 for p in policy.parameters())  # master weights stay float32
    seen.clear()
    policies["bf16"]({k: torch.stack([ToyDataset()[i][k] for i in range(2)]) for k in ("x", "y")})
    assert seen == [torch.float32]  # the autocast wrapper is removed from the caller's policy after training
