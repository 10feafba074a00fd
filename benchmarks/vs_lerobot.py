"""egovla side by side with LeRobot on the same work: SmolVLA-shaped inference, data loading, training.

    python benchmarks/vs_lerobot.py --lerobot-python LEROBOT_PY [--jobs inference,loading,training]
        [--threads 2] [--device cpu|cuda] [--sizes 512 256] [--levers "cache;compile;onnx;int8;cache,int8"]
        [--runs 10] [--warmup 2] [--train-batch 4] [--out runs/vs_lerobot]

LEROBOT_PY is a Python with lerobot installed; egovla never imports lerobot, everything that does is in
benchmarks/lerobot_side.py and runs in that Python. A scratch venv for it (several GB: it pulls a CUDA build
of torch, which also runs on CPU):

    python3.11 -m venv /tmp/lerobot-venv
    /tmp/lerobot-venv/bin/pip install "lerobot==0.4.4" "transformers>=4.52,<5" num2words av
    python benchmarks/vs_lerobot.py --lerobot-python /tmp/lerobot-venv/bin/python

Nothing is downloaded: SmolVLA needs a local SmolVLM2-500M folder, and both sides are built from the same
offline stand-in (`egovla.model.presets.smolvlm2_500m_spec`: the real config, a tokenizer of the real size with
SmolVLM2's special tokens, the processor files; no weights), one folder per image side. Both sides run with
random weights. Every measurement runs in a fresh process (clean memory peak), with the same torch thread
count, on the same inputs (one .npz per image side, written here from `egovla.jobs.bench.observation`).

- inference: LeRobot `SmolVLAPolicy.predict_action_chunk` (VLM cut to 16 layers, prefix K/V cached, 10 flow
  steps, chunk 50) vs egovla's `smolvla` preset (`egovla bench --model smolvla`: the same SmolVLM2-500M cut to
  16 layers, 2 views, a ~100M flow head, chunk 50, 10 flow steps, state 8, action 7): p50 / p90 latency and
  peak memory, at each image side (512 px is LeRobot's default resize), egovla baseline and each lever set
  (exact: cache, compile, onnx; approximate: int8).
- loading: a dataset written by LeRobot itself (`LeRobotDataset.create`, its default AV1 video, 2 cameras at
  128 px, state 8, action 7, 10 episodes of 100 frames), read as training windows of 6 frames 0.2 s apart from
  both cameras + 30 future actions, batch 32, 0 and 2 workers: `LeRobotDataset(delta_timestamps)` with the
  pyav backend vs egovla's `WindowDataset` (without and with its decoded-frame cache), the same seeded sampler.
- training: one forward + backward (no optimizer step) on the same batch: SmolVLA with its default
  train_expert_only (VLM frozen) vs egovla with the VLM's weights frozen (freeze_vision + freeze_text: the
  queries, projector and head train); and both with the language model training (vision frozen).

Prints one markdown table per job; writes OUT/results.json (every row, versions, machine) and OUT/latency.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

SEED = 0
CHUNK, ACTION_DIM = 50, 7
DATASET = {"episodes": 10, "frames": 100, "size": 128}
LOAD_BATCH, LOAD_SAMPLES, LOAD_WORKERS = 32, 256, (0, 2)


# ---- the shared inputs --------------------------------------------------------------------------
def spec_folder(out: Path, side: int) -> Path:
    from egovla.model.presets import smolvlm2_500m_spec

    folder = out / f"smolvlm2-500m-{side}px"
    if not (folder / "config.json").exists():
        smolvlm2_500m_spec(folder, image_size=side)
    return folder


def write_inputs(out: Path, spec: Path, side: int, batch: int) -> Path:
    """images (B, 1, 2, 3, side, side) uint8, state (B, 8), instruction (B,), actions (B, 50, 7): one file that
    both sides read."""
    from egovla.jobs.bench import observation
    from egovla.model.presets import smolvla_config

    obs = observation(smolvla_config(spec, side), batch, SEED)
    rng = np.random.default_rng(SEED + 1)
    path = out / f"inputs-{side}px-b{batch}.npz"
    np.savez(path, images=obs["images"], state=obs["state"], instruction=np.array(obs["instruction"]),
             actions=rng.normal(0, 0.1, (batch, CHUNK, ACTION_DIM)).astype(np.float32))
    return path


def read_inputs(path: str) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ---- egovla's side (each a fresh process: `vs_lerobot.py --child JOB ...`) ------------------------
def smolvla_policy(spec: str, side: int, device: str, freeze: str | None = None):
    import torch

    from egovla.model.presets import smolvla_config
    from egovla.model.policy import Policy

    pc = smolvla_config(spec, side)
    if freeze in ("vision", "vlm"):
        pc.backbone.freeze_vision = True
    if freeze == "vlm":
        pc.backbone.freeze_text = True
    torch.manual_seed(SEED)
    return Policy(pc, None, backbone_spec_dir=Path(spec)).to(device)


def child_inference(a) -> dict:
    import torch

    from egovla.jobs.bench import measure_policy
    from egovla.model.levers import parse_levers

    torch.set_num_threads(a.threads)
    inputs = read_inputs(a.inputs)
    side = int(inputs["images"].shape[-1])
    held = [smolvla_policy(a.spec, side, a.device).eval()]  # measure_policy takes it: the copy levers make frees it
    obs = {"images": inputs["images"], "instruction": [str(t) for t in inputs["instruction"]], "state": inputs["state"]}
    row = measure_policy(held, obs, parse_levers(a.levers), a.runs, a.warmup, a.device)
    return {"job": "inference", "side": "egovla", "image_px": side, **row}


def child_training(a) -> dict:
    import torch

    from egovla.jobs.bench import time_calls

    torch.set_num_threads(a.threads)
    inputs = read_inputs(a.inputs)
    images = torch.from_numpy(inputs["images"])
    b, t, v = images.shape[:3]
    side = int(images.shape[-1])
    policy = smolvla_policy(a.spec, side, a.device, freeze="vlm" if a.train == "expert" else "vision").train()
    batch = {"images": images, "image_mask": torch.ones(b, t, v, dtype=torch.bool),
             "instruction": [str(s) for s in inputs["instruction"]], "state": torch.from_numpy(inputs["state"]),
             "state_mask": torch.ones(b, inputs["state"].shape[-1], dtype=torch.bool),
             "action": torch.from_numpy(inputs["actions"]), "action_mask": torch.ones(b, CHUNK, ACTION_DIM, dtype=torch.bool)}

    def step():
        policy.zero_grad(set_to_none=True)
        loss, _ = policy(batch)
        loss.backward()

    t0 = time.perf_counter()
    step()  # the first step allocates the gradients
    first = time.perf_counter() - t0
    timing = time_calls(step, a.runs, a.warmup, a.device)
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad) / 1e6
    setting = ("VLM weights frozen (freeze_vision + freeze_text; queries, projector, head train)" if a.train == "expert"
               else "freeze_vision: language model, queries, projector, head train")
    return {"job": "training", "side": "egovla", "setting": setting, "train": a.train, "image_px": side, "batch": b,
            "threads": torch.get_num_threads(), "device": a.device, "runs": a.runs, **timing,
            "samples_per_s": b / timing["mean_s"], "first_step_s": first,
            "params_m": {"total": sum(p.numel() for p in policy.parameters()) / 1e6, "trainable": trainable}}


def child_loading(a) -> dict:
    import torch

    from dataloading import measure  # benchmarks/dataloading.py: the same protocol as lerobot_side's

    torch.set_num_threads(a.threads)
    r = measure(Path(a.root), "default", a.batch, a.workers, a.samples, frame_cache_mb=a.cache_mb)
    setting = "WindowDataset, frame cache" if a.cache_mb else "WindowDataset, no frame cache"
    return {"job": "dataloading", "side": "egovla", "setting": setting, "batch": a.batch, "workers": a.workers,
            "samples": r["samples"], "seconds": r["seconds"], "samples_per_s": r["rate"], "first_batch_s": r["first"],
            "warm_batches": r["warm"], "frame_cache_mb": a.cache_mb, "threads": torch.get_num_threads()}


CHILDREN = {"inference": child_inference, "training": child_training, "dataloading": child_loading}


# ---- running the two sides ----------------------------------------------------------------------
def run_json(cmd: list[str], what: str, timeout: float) -> dict:
    """Run `cmd` (a fresh process) and return the JSON object on its last stdout line; a failure is a row with
    the error, so one failing measurement still reports the others."""
    print(f"  {what} ...", end="", flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        print(f" timed out after {timeout:.0f} s")
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print(f" failed (exit {proc.returncode})")
        return {"error": f"exit {proc.returncode}: {' | '.join(tail)[:400]}"}
    row = json.loads(lines[-1])
    print(f" {time.perf_counter() - t0:.0f} s", flush=True)
    return row


class Sides:
    def __init__(self, args):
        self.a = args
        self.common = ["--threads", str(args.threads), "--device", args.device]

    def lerobot(self, job: str, *extra: str, timeout: float = 1800) -> dict:
        cmd = [self.a.lerobot_python, str(HERE / "lerobot_side.py"), job, *self.common, *extra]
        return {"side": "lerobot", **run_json(cmd, f"lerobot {job} {' '.join(extra[-4:])}", timeout)}

    def egovla(self, job: str, *extra: str, timeout: float = 1800) -> dict:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", job, *self.common, *extra]
        return {"side": "egovla", **run_json(cmd, f"egovla {job} {' '.join(extra[-4:])}", timeout)}


def job_inference(sides: Sides, out: Path) -> list[dict]:
    a, rows = sides.a, []
    timing = ["--runs", str(a.runs), "--warmup", str(a.warmup)]
    for side in a.sizes:
        spec = spec_folder(out, side)
        inputs = write_inputs(out, spec, side, 1)
        io = ["--spec", str(spec), "--inputs", str(inputs), *timing]
        rows.append({**sides.lerobot("inference", *io), "image_px": side, "setting": "SmolVLA predict_action_chunk"})
        for levers in ["", *a.levers.split(";")]:
            row = sides.egovla("inference", *io, "--levers", levers)
            rows.append({**row, "image_px": side, "setting": f"egovla {levers or 'baseline'}"})
    return rows


def job_training(sides: Sides, out: Path) -> list[dict]:
    a, rows = sides.a, []
    side = a.sizes[-1]
    spec = spec_folder(out, side)
    inputs = write_inputs(out, spec, side, a.train_batch)
    io = ["--spec", str(spec), "--inputs", str(inputs), "--runs", str(a.train_runs), "--warmup", "1"]
    for train in ("expert", "vlm"):
        rows.append({**sides.lerobot("training", *io, "--train", train), "train": train})
        rows.append({**sides.egovla("training", *io, "--train", train), "train": train})
    return rows


def job_loading(sides: Sides, out: Path) -> list[dict]:
    root = out / "lerobot-dataset"
    if not (root / "meta" / "info.json").exists():
        sizes = [f"--{k}={v}" for k, v in DATASET.items()]
        made = sides.lerobot("write-dataset", "--root", str(root), *sizes)
        if "error" in made:
            return [made]
    rows = []
    base = ["--root", str(root), "--batch", str(LOAD_BATCH), "--samples", str(LOAD_SAMPLES)]
    for w in LOAD_WORKERS:
        rows.append(sides.lerobot("dataloading", *base, "--workers", str(w)))
        for cache in (0, 1024):
            rows.append(sides.egovla("dataloading", *base, "--workers", str(w), "--cache-mb", str(cache)))
    return rows


# ---- tables ---------------------------------------------------------------------------------------
def _ratio(x: float | None, ref: float | None) -> str:
    return f"{x / ref:.2f}x" if x and ref else "–"


def table_inference(rows: list[dict]) -> str:
    out = ["| image | setting | p50 ms | p90 ms | peak MB | max dev | latency vs LeRobot |", "|---|---|---:|---:|---:|---:|---:|"]
    for side in sorted({r["image_px"] for r in rows}, reverse=True):
        group = [r for r in rows if r["image_px"] == side]
        ref = next((r.get("p50_ms") for r in group if r["side"] == "lerobot"), None)
        for r in group:
            if "error" in r:
                out.append(f"| {side} px | {r['setting']} | failed: {r['error'][:120]} | | | | |")
                continue
            dev = f"{r['max_dev']:.1e}" if "max_dev" in r else "–"
            out.append(f"| {side} px | {r['setting']} | {r['p50_ms']:.0f} | {r['p90_ms']:.0f} | {r['peak_mb']:.0f} | "
                       f"{dev} | {_ratio(r['p50_ms'], ref)} |")
    return "\n".join(out)


def table_loading(rows: list[dict]) -> str:
    out = ["| workers | loader | samples/s | first batch s | vs LeRobot |", "|---:|---|---:|---:|---:|"]
    for w in sorted({r.get("workers", -1) for r in rows}):
        group = [r for r in rows if r.get("workers", -1) == w]
        ref = next((r.get("samples_per_s") for r in group if r["side"] == "lerobot"), None)
        for r in group:
            if "error" in r:
                out.append(f"| {w} | {r['side']} | failed: {r['error'][:120]} | | |")
                continue
            name = "LeRobotDataset (pyav)" if r["side"] == "lerobot" else f"egovla {r['setting'].split(', ', 1)[1]}"
            out.append(f"| {w} | {name} | {r['samples_per_s']:.0f} | {r['first_batch_s']:.1f} | "
                       f"{_ratio(r['samples_per_s'], ref)} |")
    return "\n".join(out)


def table_training(rows: list[dict]) -> str:
    out = ["| trains | side | batch | s/step p50 | samples/s | trainable M | peak MB | vs LeRobot |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for train in ("expert", "vlm"):
        group = [r for r in rows if r.get("train") == train]
        ref = next((r.get("samples_per_s") for r in group if r["side"] == "lerobot"), None)
        what = "expert only (VLM frozen)" if train == "expert" else "language model too (vision frozen)"
        for r in group:
            if "error" in r:
                out.append(f"| {what} | {r['side']} | failed: {r['error'][:120]} | | | | | |")
                continue
            out.append(f"| {what} | {r['side']} | {r['batch']} | {r['p50_ms'] / 1000:.2f} | {r['samples_per_s']:.2f} | "
                       f"{r['params_m']['trainable']:.1f} | {r['peak_mb']:.0f} | {_ratio(r['samples_per_s'], ref)} |")
    return "\n".join(out)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = [r for r in rows if "p50_ms" in r]
    sizes = sorted({r["image_px"] for r in good}, reverse=True)
    if not sizes:
        return
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 3.6), squeeze=False)
    for ax, side in zip(axes[0], sizes):
        group = [r for r in good if r["image_px"] == side]
        names = ["LeRobot SmolVLA" if r["side"] == "lerobot" else r["setting"] for r in group]
        colours = ["#888888" if r["side"] == "lerobot" else "#2a7ab9" for r in group]
        ax.barh(names[::-1], [r["p50_ms"] / 1000 for r in group][::-1], color=colours[::-1])
        ax.set_xlabel("p50 seconds per chunk")
        ax.set_title(f"{side} px, 2 views, chunk 50")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine(threads: int) -> dict:
    import torch

    from egovla.sim.report import provenance

    return {**provenance(), "cpu_count": os.cpu_count(), "threads": threads, "platform": platform.platform(),
            "egovla_torch": torch.__version__}


JOBS = {"inference": (job_inference, table_inference), "loading": (job_loading, table_loading),
        "training": (job_training, table_training)}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lerobot-python", default=os.environ.get("LEROBOT_PY"),
                    help="a Python with lerobot installed (default: $LEROBOT_PY)")
    ap.add_argument("--jobs", default="inference,loading,training", help="which jobs, comma-separated")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on both sides (workers use 1 each)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 256], help="camera image sides for inference "
                    "(the last is also training's)")
    ap.add_argument("--levers", default="cache;compile;onnx;int8;cache,int8",
                    help="egovla lever sets beside its baseline, ';' between sets (onnx and int8 are CPU only)")
    ap.add_argument("--runs", type=int, default=10, help="timed inference calls per setting")
    ap.add_argument("--warmup", type=int, default=2, help="untimed inference calls before")
    ap.add_argument("--train-batch", type=int, default=4, help="training batch, both sides")
    ap.add_argument("--train-runs", type=int, default=3, help="timed training steps per setting")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "vs_lerobot")
    # a child measurement of egovla's side (internal)
    ap.add_argument("--child", choices=tuple(CHILDREN), help=argparse.SUPPRESS)
    for name in ("--spec", "--inputs", "--root", "--train"):
        ap.add_argument(name, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=LOAD_BATCH, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--samples", type=int, default=LOAD_SAMPLES, help=argparse.SUPPRESS)
    ap.add_argument("--cache-mb", type=float, default=0, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = parse(argv)
    if a.child:
        print(json.dumps(CHILDREN[a.child](a)), flush=True)
        return 0
    if not a.lerobot_python or not Path(a.lerobot_python).exists():
        raise SystemExit("vs_lerobot: give --lerobot-python PATH (or set LEROBOT_PY): a Python with lerobot "
                         "installed; the module docstring (--help) says how to make one")
    jobs = [j.strip() for j in a.jobs.split(",") if j.strip()]
    unknown = set(jobs) - set(JOBS)
    if unknown:
        raise SystemExit(f"vs_lerobot: unknown jobs {sorted(unknown)}; known: {', '.join(JOBS)}")
    a.out.mkdir(parents=True, exist_ok=True)
    sides = Sides(a)
    t0 = time.perf_counter()
    info = sides.lerobot("info", timeout=300)
    if "error" in info:
        raise SystemExit(f"vs_lerobot: {a.lerobot_python} cannot import lerobot: {info['error']}")
    result = {"lerobot": info, "machine": machine(a.threads), "settings": {k: v for k, v in vars(a).items()
              if k in ("threads", "device", "sizes", "levers", "runs", "warmup", "train_batch", "train_runs")},
              "jobs": {}}
    tables = []
    for name in jobs:
        run, table = JOBS[name]
        print(f"{name}:", flush=True)
        rows = run(sides, a.out)
        result["jobs"][name] = rows
        tables.append(f"### {name}\n\n{table(rows)}")
        (a.out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    if "inference" in result["jobs"]:
        plot(result["jobs"]["inference"], a.out / "latency.png")
    print(f"\negovla {result['machine'].get('commit', '?')} vs lerobot {info.get('lerobot')} "
          f"(torch {info.get('torch')}, transformers {info.get('transformers')}), {a.threads} threads, {a.device}\n")
    print("\n\n".join(tables))
    print(f"\n{time.perf_counter() - t0:.0f} s; {a.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
