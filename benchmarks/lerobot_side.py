"""LeRobot's side of `benchmarks/vs_lerobot.py`: every job that imports lerobot, run with a Python that has
lerobot installed (vs_lerobot.py's docstring says how to make one). egovla itself never imports lerobot;
this script imports only egovla's stdlib + numpy timing helper (`egovla.jobs.bench.time_calls`), so both
sides time calls and read peak memory the same way.

    LEROBOT_PY benchmarks/lerobot_side.py info
    LEROBOT_PY benchmarks/lerobot_side.py write-dataset --root DIR [--episodes 10 --frames 100 --size 128]
    LEROBOT_PY benchmarks/lerobot_side.py inference --spec DIR --inputs NPZ [--runs 30 --warmup 3]
    LEROBOT_PY benchmarks/lerobot_side.py training --spec DIR --inputs NPZ [--train expert|vlm --runs 10]
    LEROBOT_PY benchmarks/lerobot_side.py dataloading --root DIR [--batch 32 --workers 0 --samples 256]

Common options: --threads N (torch threads; DataLoader workers use 1 each), --device cpu|cuda,
--vlm-layers N (SmolVLA's num_vlm_layers, 16). Each job prints one JSON object as its last line.

- inference: `SmolVLAPolicy.predict_action_chunk` on the inputs' batch (images as float [0, 1] per camera,
  the state, the instruction tokenized by SmolVLA's tokenizer step settings: newline appended, padding to
  the longest, at most 48 tokens), random weights from the SmolVLM2 folder's config (load_vlm_weights=False,
  as when training the expert from scratch), images resized with padding to the inputs' side.
- training: one forward + backward of `SmolVLAPolicy.forward` (flow-matching loss) on the inputs' batch with
  their actions; `--train expert` is SmolVLA's default (train_expert_only: the VLM frozen, the expert and
  projections train), `--train vlm` also trains the VLM's language model (vision frozen either way).
- dataloading: `LeRobotDataset(root, delta_timestamps=...)` with 6 frames 0.2 s apart from each camera, the
  state, 30 future actions, the pyav video backend, read by a DataLoader with the same seeded RandomSampler
  and warm-up / timed-batch protocol as benchmarks/dataloading.py's `measure`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from egovla.jobs.bench import time_calls  # noqa: E402  (stdlib + numpy: the same measure as egovla bench)

CAMERAS = ("observation.images.front", "observation.images.wrist")
STATE_DIM, ACTION_DIM, FPS = 8, 7, 30
HISTORY = (-1.0, -0.8, -0.6, -0.4, -0.2, 0.0)  # EgoVLA's 6 frames 0.2 s apart (egovla.data.windows.EGOVLA_HISTORY)
CHUNK_LEN = 30  # future actions per data-loading sample
SEED = 0


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def setup_torch(threads: int):
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch


def versions() -> dict:
    import platform

    import lerobot
    import torch
    import transformers

    out = {"lerobot": lerobot.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
           "python": platform.python_version()}
    try:
        import av

        out["av"] = av.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


# ---- the policy ---------------------------------------------------------------------------------
def make_policy(spec: str, side: int, device: str, vlm_layers: int, train: str = "expert"):
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    inputs = {c: PolicyFeature(type=FeatureType.VISUAL, shape=(3, side, side)) for c in CAMERAS}
    inputs["observation.state"] = PolicyFeature(type=FeatureType.STATE, shape=(STATE_DIM,))
    cfg = SmolVLAConfig(vlm_model_name=spec, load_vlm_weights=False, resize_imgs_with_padding=(side, side),
                        num_vlm_layers=vlm_layers, device=device, push_to_hub=False, input_features=inputs,
                        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(ACTION_DIM,))},
                        train_expert_only=(train == "expert"), freeze_vision_encoder=True)
    return SmolVLAPolicy(cfg).to(device)


def param_counts(policy) -> dict:
    """Parameters per part, in millions (the VLM as built: all its text layers before the cut are gone)."""
    vwe = policy.model.vlm_with_expert
    vlm = vwe.get_vlm_model()
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    parts = {"vision": count(vlm.vision_model), "connector": count(vlm.connector),
             "text_embeddings": count(vlm.text_model.get_input_embeddings()),
             "text_layers": count(vlm.text_model.layers), "lm_head": count(vwe.vlm.lm_head),
             "expert": count(vwe.lm_expert)}
    total = count(policy)
    parts["projections"] = total - sum(parts.values())  # state/action/time projections (+ the text model's norm)
    parts["total"] = total
    parts["trainable"] = sum(p.numel() for p in policy.parameters() if p.requires_grad) / 1e6
    return parts


def make_batch(policy, inputs: dict, device: str, with_actions: bool = False) -> dict:
    import torch
    from lerobot.utils.constants import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS

    images = torch.from_numpy(inputs["images"])  # (B, 1, V, 3, H, W) uint8
    batch = {c: images[:, -1, v].float().div(255).to(device) for v, c in enumerate(CAMERAS)}
    batch["observation.state"] = torch.from_numpy(inputs["state"]).to(device)
    tokenizer = policy.model.vlm_with_expert.processor.tokenizer
    text = [str(t) if str(t).endswith("\n") else f"{t}\n" for t in inputs["instruction"]]  # SmolVLANewLineProcessor
    tok = tokenizer(text, padding="longest", padding_side="right", max_length=policy.config.tokenizer_max_length,
                    truncation=True, return_tensors="pt")
    batch[OBS_LANGUAGE_TOKENS] = tok["input_ids"].to(device)
    batch[OBS_LANGUAGE_ATTENTION_MASK] = tok["attention_mask"].bool().to(device)
    if with_actions:
        batch["action"] = torch.from_numpy(inputs["actions"]).to(device)
    return batch


def load_inputs(path: str) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def job_inference(args) -> dict:
    torch = setup_torch(args.threads)
    inputs = load_inputs(args.inputs)
    side = int(inputs["images"].shape[-1])
    torch.manual_seed(SEED)
    t0 = time.perf_counter()
    policy = make_policy(args.spec, side, args.device, args.vlm_layers).eval()
    build_s = time.perf_counter() - t0
    batch = make_batch(policy, inputs, args.device)
    with torch.no_grad():
        t0 = time.perf_counter()
        first = policy.predict_action_chunk(batch).cpu().numpy()
        first_s = time.perf_counter() - t0

        def call():
            policy.predict_action_chunk(batch).cpu().numpy()

        timing = time_calls(call, args.runs, args.warmup, args.device)
    return {"job": "inference", "side": "lerobot", "setting": "SmolVLAPolicy.predict_action_chunk",
            "image_px": side, "batch": int(first.shape[0]), "chunk": list(first.shape[1:]),
            "threads": torch.get_num_threads(), "device": args.device, "runs": args.runs, **timing,
            "setup_s": first_s, "build_s": build_s, "text_tokens": int(batch["observation.language.tokens"].shape[1]),
            "params_m": param_counts(policy)}


def job_training(args) -> dict:
    torch = setup_torch(args.threads)
    inputs = load_inputs(args.inputs)
    side = int(inputs["images"].shape[-1])
    torch.manual_seed(SEED)
    policy = make_policy(args.spec, side, args.device, args.vlm_layers, train=args.train)
    policy.train()
    batch = make_batch(policy, inputs, args.device, with_actions=True)

    def step():
        policy.zero_grad(set_to_none=True)
        loss, _ = policy.forward(batch)
        loss.backward()

    t0 = time.perf_counter()
    step()  # the first step allocates the gradients
    first_s = time.perf_counter() - t0
    timing = time_calls(step, args.runs, args.warmup, args.device)
    b = int(inputs["images"].shape[0])
    setting = ("train_expert_only (SmolVLA's default): VLM frozen" if args.train == "expert"
               else "train_expert_only=False: language model trains, vision frozen")
    return {"job": "training", "side": "lerobot", "setting": setting, "train": args.train, "image_px": side,
            "batch": b, "threads": torch.get_num_threads(), "device": args.device, "runs": args.runs, **timing,
            "samples_per_s": b / timing["mean_s"], "first_step_s": first_s, "params_m": param_counts(policy)}


# ---- the dataset --------------------------------------------------------------------------------
def _frames(rng: np.random.Generator, t: int, size: int) -> np.ndarray:
    """uint8 (t, size, size, 3): a textured table, a few moving shapes, sensor noise (the codec has work)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    coarse = rng.uniform(0, 1, (max(1, size // 8), max(1, size // 8), 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((8, 8, 1), np.float32))[:size, :size]
    base = 0.5 * texture + 0.4 * np.stack([xx, yy, 1 - xx], -1)
    centre, vel = rng.uniform(0.2, 0.8, (3, 2)), rng.uniform(-0.01, 0.01, (3, 2))
    colour = rng.uniform(0, 1, (3, 3)).astype(np.float32)
    out = np.empty((t, size, size, 3), dtype=np.uint8)
    for k in range(t):
        img = base.copy()
        for s in range(3):
            cx, cy = (centre[s] + vel[s] * k) % 1.0
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < 0.01 + 0.005 * s] = colour[s]
        img += rng.normal(0, 0.03, img.shape).astype(np.float32)
        out[k] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return out


def job_write_dataset(args) -> dict:
    setup_torch(args.threads)
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = Path(args.root)
    features = {c: {"dtype": "video", "shape": (args.size, args.size, 3), "names": ["height", "width", "channels"]}
                for c in CAMERAS}
    features["observation.state"] = {"dtype": "float32", "shape": (STATE_DIM,),
                                     "names": [f"joint_{i}" for i in range(STATE_DIM)]}
    features["action"] = {"dtype": "float32", "shape": (ACTION_DIM,), "names": [f"joint_{i}" for i in range(ACTION_DIM)]}
    t0 = time.perf_counter()
    ds = LeRobotDataset.create(repo_id="bench/vs_egovla", fps=FPS, features=features, root=root,
                               robot_type="bench", use_videos=True)  # video codec: LeRobot's default (AV1)
    rng = np.random.default_rng(SEED)
    for ep in range(args.episodes):
        frames = {c: _frames(rng, args.frames, args.size) for c in CAMERAS}
        tt = np.arange(args.frames + 1, dtype=np.float32)[:, None] / FPS
        traj = (0.1 * np.sin(tt * 1.3 + rng.uniform(0, 6.3, STATE_DIM))).astype(np.float32)
        for k in range(args.frames):
            frame = {c: frames[c][k] for c in CAMERAS}
            frame["observation.state"] = traj[k]
            frame["action"] = traj[k + 1, :ACTION_DIM]
            frame["task"] = f"move the blocks, take {ep % 5}"
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    info = json.loads((root / "meta" / "info.json").read_text())
    codec = info["features"][CAMERAS[0]].get("info", {}).get("video.codec")
    return {"job": "write-dataset", "side": "lerobot", "root": str(root), "episodes": args.episodes,
            "frames": args.frames, "size": args.size, "codec": codec, "seconds": time.perf_counter() - t0,
            "codebase_version": info.get("codebase_version")}


def _one_thread(_worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)


def job_dataloading(args) -> dict:
    """The protocol of benchmarks/dataloading.py `measure`: the same seeded RandomSampler, max(workers, 1)
    warm-up batches (worker start-up, opening files), then ceil(samples / batch) timed batches."""
    import gc

    torch = setup_torch(args.threads)
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from torch.utils.data import DataLoader, RandomSampler

    gc.collect()
    delta = {c: list(HISTORY) for c in CAMERAS}
    delta["observation.state"] = [0.0]
    delta["action"] = [k / FPS for k in range(CHUNK_LEN)]
    ds = LeRobotDataset("bench/vs_egovla", root=args.root, delta_timestamps=delta, video_backend="pyav")
    warm, timed = max(args.workers, 1), max(1, math.ceil(args.samples / args.batch))
    need = (warm + timed) * args.batch
    sampler = RandomSampler(ds, replacement=need > len(ds), num_samples=need if need > len(ds) else None,
                            generator=torch.Generator().manual_seed(SEED))
    dl = DataLoader(ds, batch_size=args.batch, sampler=sampler, num_workers=args.workers,
                    worker_init_fn=_one_thread if args.workers else None, drop_last=True)
    t0 = time.perf_counter()
    it = iter(dl)
    first = None
    for _ in range(warm):
        b = next(it)
        first = time.perf_counter() - t0 if first is None else first
    shapes = {k: list(v.shape) for k, v in b.items() if hasattr(v, "shape") and k in (*CAMERAS, "action")}
    t1 = time.perf_counter()
    n = 0
    for _ in range(timed):
        n += len(next(it)["action"])
    dt = time.perf_counter() - t1
    del it, dl
    return {"job": "dataloading", "side": "lerobot", "setting": "LeRobotDataset(delta_timestamps), pyav",
            "batch": args.batch, "workers": args.workers, "samples": n, "seconds": dt, "samples_per_s": n / dt,
            "first_batch_s": first, "warm_batches": warm, "shapes": shapes, "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("job", choices=("info", "write-dataset", "inference", "training", "dataloading"))
    ap.add_argument("--spec", help="SmolVLM2-shaped model folder (configs, tokenizer, processor; no weights)")
    ap.add_argument("--inputs", help="the .npz of inputs both sides use (images, state, instruction, actions)")
    ap.add_argument("--root", help="the dataset folder")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--vlm-layers", type=int, default=16, help="SmolVLA's num_vlm_layers")
    ap.add_argument("--train", choices=("expert", "vlm"), default="expert")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.job == "info":
        emit({"job": "info", "side": "lerobot", **versions()})
        return
    run = {"write-dataset": job_write_dataset, "inference": job_inference, "training": job_training,
           "dataloading": job_dataloading}[args.job]
    emit(run(args))


if __name__ == "__main__":
    main()
