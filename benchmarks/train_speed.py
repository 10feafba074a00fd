"""Training throughput of the demo's model, lever by lever, in one run on the same data.

    python benchmarks/train_speed.py [--data DIR] [--steps 300] [--repeats 3] [--batch-size 32]
                                     [--out runs/bench/train_speed]

Each row trains the demo's policy (tiny VLA, regression head, one 64 px view, chunk 16) through the
real training loop (`run_training`: DataLoader, AdamW, clipping, logging) for the same steps on the
same dataset, adding one lever to the row before (the lean model builds on head tail, not on bf16):

    before        the configuration at the start of this work: every window decodes its video in one
                  DataLoader worker, SDPA attention in the tiny backbone, per-tensor AdamW, the head's last
                  layer computed at every position
    frame cache   decoded, resized episodes kept in memory (TrainJob.frame_cache_mb)
    eager attn    matmul-softmax attention (BackboneConfig.attention='eager')
    fused AdamW   one optimizer kernel over all parameters (TrainConfig.fused_optimizer)
    head tail     the regression head's last layer only at the step tokens it reads out (the tiny VLA's
                  defaults: the two-layer model)
    bf16          the two-layer model trained under bf16 autocast (TrainConfig.precision='bf16'): the same
                  model and parameters in float32, its matrix products rounded to bf16; its success is
                  measured by benchmarks/push_ablation.py --rows bf16. Run only on a CPU that computes bf16
                  natively (AVX512-BF16, AMX): elsewhere it is emulated, ~15x slower than float32
    lean model    a smaller model in float32: one language-model layer instead of two and one head layer
                  instead of two (which then runs at the step tokens only); not the same function, its
                  success is measured by benchmarks/push_ablation.py --rows lean and the demo
    in-process    the lean model loaded in the training process (no DataLoader worker): with the episodes
                  cached a batch costs ~1.4 ms, and a worker would take a core from the model's 2 threads
    demo          exactly what the four-task demo trains (egovla.jobs.demo.DEMO_EASY, `egovla demo --preset
                  demo-easy`; `make demo`'s model at 64 px): the row above in the precision 'native' resolves
                  to on this machine (bf16 where it computes bf16 natively, else float32)

Without --data it first records 3 expert episodes of each of the four articulated demo tasks (lossless, as
`egovla demo`).
The rows run in turn `--repeats` times (before, ..., demo, before, ...) so that a machine whose speed
drifts affects every row alike; each row reports the median. The default 300 steps (about 5 epochs
of that data) leave the frame cache's first fill a small part of each row, as in the demo's 2200.
Prints samples/s per row and the speed-up over `before`; writes results.json and speed.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from egovla.jobs.demo import DEMO_EASY, FULL, LEAN  # LEAN: one language-model layer and one head layer
from egovla.train.config import cpu_computes_bf16, resolve_precision

LEVERS = ("before", "frame cache", "eager attn", "fused AdamW", "head tail", "bf16", "lean model", "in-process", "demo")


@contextlib.contextmanager
def full_last_layer(on: bool):
    """The regression head as it was: the whole encoder, then the step tokens read out."""
    import egovla.model.heads.regression as regression

    kept = regression.encode_tail
    if on:
        regression.encode_tail = lambda enc, seq, pad, n: enc(seq, src_key_padding_mask=pad)[:, -n:]
    try:
        yield
    finally:
        regression.encode_tail = kept


def settings(row: int) -> dict:
    """The levers on in row `row` (0 = before, 4 = the tiny VLA's defaults, 8 = what the four-task demo trains)."""
    lever = LEVERS[row]
    if lever == "demo":  # the row above, with what DEMO_EASY sets on top of FULL
        return {**settings(row - 1), "policy": DEMO_EASY.policy,
                "precision": resolve_precision(DEMO_EASY.precision), "num_workers": DEMO_EASY.loader_workers}
    return {"frame_cache_mb": 1024 if row >= 1 else 0, "attention": "eager" if row >= 2 else "sdpa",
            "fused_optimizer": row >= 3, "head_tail": row >= 4, "policy": LEAN if row >= 6 else (),
            "precision": "bf16" if lever == "bf16" else "no", "num_workers": 0 if row >= 7 else FULL.loader_workers}


def train_once(data: Path, row: int, steps: int, batch: int, out: Path) -> dict:
    from egovla.jobs.train import TrainJob, run_training

    s = settings(row)
    job = TrainJob(datasets=(str(data),), head="regression", eval_samples=0, history=(0.0,), chunk_len=16,
                   holdout=0.0, frame_cache_mb=s["frame_cache_mb"],
                   policy_overrides=(f"backbone.attention={s['attention']}", *s["policy"]))
    cfg = replace(FULL.train_config(steps), batch_size=batch,
                  fused_optimizer=s["fused_optimizer"], log_every=max(1, steps // 4), precision=s["precision"],
                  num_workers=s["num_workers"])
    with full_last_layer(not s["head_tail"]):
        t0 = time.perf_counter()
        summary = run_training(job, cfg, out, resume=False, progress=False)
    return {"lever": LEVERS[row], **s, "policy": list(s["policy"]), "samples_per_s": summary["samples_per_s"],
            "wall_s": time.perf_counter() - t0, "final_loss": summary["final_loss"]}


def record_data(out: Path) -> Path:
    from egovla.sim.collect import CollectConfig, collect
    from egovla.sim.metaworld_env import EnvConfig
    from egovla.sim.tasks import ARTICULATED

    data = out / "data"
    collect(CollectConfig(tasks=ARTICULATED, episodes=3, env=EnvConfig(cameras=("corner",), size=64)), data,
            overwrite=True, progress=False)
    return data


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.bar([r["lever"] for r in rows], [r["samples_per_s"] for r in rows], color="#4c72b0")
    for i, r in enumerate(rows):
        ax.text(i, r["samples_per_s"], f"{r['samples_per_s'] / rows[0]['samples_per_s']:.2f}x", ha="center",
                va="bottom")
    ax.set_ylabel("training samples/s")
    ax.set_title("demo policy training throughput, levers added left to right (from 'lean model': a smaller model)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--data", type=Path, default=None, help="a LeRobot dataset (default: record a small one)")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps per row")
    p.add_argument("--repeats", type=int, default=3, help="times each row runs (the median is reported)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    p.add_argument("--out", type=Path, default=Path("runs/bench/train_speed"))
    args = p.parse_args()
    import torch

    from egovla.sim.report import provenance

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.data or record_data(args.out)
    native = cpu_computes_bf16()
    todo = [row for row, lever in enumerate(LEVERS) if native or lever != "bf16"]
    if not native:
        print("this CPU does not compute bf16 natively: the bf16 row is skipped and the demo trains in float32")
    runs: dict[int, list[dict]] = {row: [] for row in todo}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for row in todo:
                r = train_once(data, row, args.steps, args.batch_size, Path(tmp) / f"run{rep}-{row}")
                runs[row].append(r)
                print(f"[{rep + 1}/{args.repeats}] {r['lever']:<12} {r['samples_per_s']:7.1f} samples/s "
                      f"({r['wall_s']:.0f} s)", flush=True)
    rows = []
    for rs in runs.values():
        rates = sorted(r["samples_per_s"] for r in rs)
        rows.append({**rs[0], "samples_per_s": float(np.median(rates)), "all_samples_per_s": rates})
    print()
    for r in rows:
        print(f"{r['lever']:<12} {r['samples_per_s']:7.1f} samples/s  {r['samples_per_s'] / rows[0]['samples_per_s']:.2f}x"
              f"  (runs: {', '.join(f'{x:.0f}' for x in r['all_samples_per_s'])})")
    result = {"data": str(data), "steps": args.steps, "repeats": args.repeats, "batch_size": args.batch_size,
              "threads": args.threads,
              "native_bf16": native, "demo_precision": resolve_precision(DEMO_EASY.precision), "rows": rows,
              "speedup": {r["lever"]: r["samples_per_s"] / rows[0]["samples_per_s"] for r in rows}, **provenance()}
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    plot(rows, args.out / "speed.png")
    x = result["speedup"]
    bf16 = f"-> bf16 (same model): {x['bf16']:.2f}x; " if "bf16" in x else ""
    print(f"before -> the two-layer model's defaults (same function): {x['head tail']:.2f}x; {bf16}-> lean model: "
          f"{x['lean model']:.2f}x; -> in-process: {x['in-process']:.2f}x; -> the demo "
          f"({'bf16' if result['demo_precision'] == 'bf16' else 'float32'} here): {x['demo']:.2f}x; "
          f"{args.out / 'results.json'}, {args.out / 'speed.png'}")


if __name__ == "__main__":
    main()
