"""The real CLI and tiny policy, in subprocesses: SIGKILL + --resume, and a 2-process (gloo DDP) run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# a tiny flow-head policy with dropout: forward draws noise and dropout masks, so exactness needs the RNG
TINY = [
    "train", "--dataset", "synthetic", "--model", "tiny", "--head", "flow", "--samples", "40", "--eval-samples", "0",
    "--batch-size", "2", "--grad-accum", "2", "--lr", "1e-3", "--seed", "3", "--no-progress",
    "--set", "head.dropout=0.1", "--set", "backbone.text_layers=1", "--set", "backbone.vision_layers=1",
]  # fmt: skip


def _env():
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _cli(*args):
    return [sys.executable, "-m", "egovla.cli", *TINY, *args]


def _run(cmd, timeout=600):  # a liveness bound (a loaded machine is several times slower), not a speed test
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "policy" / "model.safetensors"))


def _assert_identical(a: dict, b: dict):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    steps = ["--steps", "30", "--save-every", "2"]
    straight = tmp_path / "straight"
    _run(_cli(*steps, "--out", str(straight)))

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*steps, "--out", str(killed)), cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 480
    try:
        while not list((killed / "checkpoints").glob("step-*")):
            assert proc.poll() is None, f"the run ended before writing a checkpoint:\n{proc.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint appeared within 480 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; the test proves nothing"
    assert not (killed / "policy").exists()
    done = sorted(int(p.name.split("-")[1]) for p in (killed / "checkpoints").glob("step-*"))
    assert done and done[-1] < 30

    out = _run(_cli(*steps, "--out", str(killed), "--resume"))
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["start_step"] == done[-1] > 0, out.stderr[-2000:]
    _assert_identical(_weights(straight), _weights(killed))


def test_two_processes_stay_in_sync_and_resume_exactly(tmp_path):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "egovla.cli"]
    args = TINY + ["--steps", "6", "--save-every", "2", "--keep-last", "3"]
    first = tmp_path / "ddp"
    _run(launcher + args + ["--out", str(first)], timeout=600)
    summary = json.loads((first / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["batch_size_global"] == 2 * 2 * 2
    assert summary["ranks_in_sync"] is True
    a, b = summary["rank_checksums"]
    assert a == b and len(a) == 64
    ckpt = first / "checkpoints" / "step-00000004"
    assert sorted(p.name for p in (ckpt / "rng").iterdir()) == ["rank-0.json", "rank-1.json"]
    r0, r1 = (json.loads((ckpt / "rng" / f"rank-{r}.json").read_text()) for r in (0, 1))
    assert r0["torch"] != r1["torch"]  # each rank has its own RNG stream (dropout, flow noise)

    # resume a 2-process run from its step-4 checkpoint: the same final weights
    second = tmp_path / "ddp-resumed"
    (second / "checkpoints").mkdir(parents=True)
    shutil.copytree(ckpt, second / "checkpoints" / ckpt.name)
    _run(launcher + args + ["--out", str(second), "--resume"], timeout=600)
    resumed = json.loads((second / "summary.json").read_text())
    assert resumed["start_step"] == 4 and resumed["rank_checksums"] == summary["rank_checksums"]
    _assert_identical(_weights(first), _weights(second))
