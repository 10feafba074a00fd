"""Training-window loading speed from a LeRobotDataset v3: the FrameReader beside the naive baseline.

    python benchmarks/dataloading.py [--quick] [--episodes N] [--frames T] [--codec h264|av1]
                                     [--batch 8 32] [--workers 0 1 2] [--root DIR] [--naive-all] [--profile N]

Writes (once; reused when `--root` already holds the same dataset) 2 cameras at 128x128, 30 fps,
48-d state/action in the unified slot names, with textured, noisy frames and moving shapes so the
codec has real work; one video file per camera, episodes back to back, as LeRobot v3 stores them.
Then, for every batch size x DataLoader worker count, it times EgoVLA training windows (6 history
frames 0.2 s apart, a chunk of 30 actions) drawn by a seeded RandomSampler and collated by
`egovla.data.sample.collate`:

- `default`: `LeRobotReader(root)`, the FrameReader that keeps files open and seeks;
- `naive`:   `FrameReader(naive=True)`, every frame decoded from the start of its file (baseline);
- `vectors`: `WindowDataset.vectors(i)` only, no image decoding (the ceiling).

Timing: `default` and `vectors` first take max(workers, 1) warm-up batches (worker start-up,
opening files), then time a fixed number of samples; `naive` times max(2, workers) batches from the
iterator's creation (start-up is < 1 % of a naive batch). A naive sample costs seconds (decoding
grows with the frames in its video file), so by default it runs at the smallest batch size only and
larger batches are compared with that rate at the same worker count (marked †; `--naive-all` runs
every batch size). The time to the first batch is printed apart. torch uses one thread in the main
process and in every worker. Prints one markdown table and the wall time.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from egovla import spaces
from egovla.data.sample import collate
from egovla.data.lerobot.format import INFO_PATH, video_feature, vector_feature
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.lerobot.video import FrameReader
from egovla.data.lerobot.writer import LeRobotWriter
from egovla.data.windows import EGOVLA_HISTORY, WindowConfig, WindowDataset

CAMERAS = ("observation.images.front", "observation.images.wrist")
FPS, SIZE, CHUNK_LEN, SEED = 30, 128, 30, 0


# ---------------------------------------------------------------------------------- the dataset
def _frames(rng: np.random.Generator, t: int, size: int) -> np.ndarray:
    """uint8 (t, size, size, 3): a fixed texture, moving shapes, and per-frame sensor noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    coarse = rng.uniform(0, 1, (size // 8, size // 8, 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((8, 8, 1), np.float32))  # blocky texture, like a cluttered table
    fine = rng.uniform(-0.15, 0.15, (size, size, 1)).astype(np.float32)  # grain
    base = 0.45 * texture + 0.35 * np.stack([xx, yy, 1 - xx], -1) + fine
    out = np.empty((t, size, size, 3), dtype=np.uint8)
    n_shapes = 4
    centre0 = rng.uniform(0.2, 0.8, (n_shapes, 2))
    vel = rng.uniform(-0.01, 0.01, (n_shapes, 2))
    radius = rng.uniform(0.06, 0.16, n_shapes)
    colour = rng.uniform(0, 1, (n_shapes, 3)).astype(np.float32)
    drift = rng.uniform(-1.0, 1.0, 2)  # camera pan, pixels per frame
    for k in range(t):
        dx, dy = (np.round(drift * k).astype(int)) % size
        img = np.roll(base, (dy, dx), axis=(0, 1)).copy()
        for s in range(n_shapes):
            cx, cy = (centre0[s] + vel[s] * k) % 1.0
            if s % 2:
                m = (np.abs(xx - cx) < radius[s]) & (np.abs(yy - cy) < radius[s] * 0.6)
            else:
                m = (xx - cx) ** 2 + (yy - cy) ** 2 < radius[s] ** 2
            img[m] = colour[s] * (0.8 + 0.2 * np.sin(10 * xx[m] + k * 0.1))[:, None]
        img += rng.normal(0, 0.03, img.shape).astype(np.float32)  # sensor noise
        out[k] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return out


def write_dataset(root: Path, episodes: int, frames: int, codec: str) -> float:
    """Write the benchmark dataset at root; returns seconds taken."""
    names = spaces.names()
    features = {c: video_feature(SIZE, SIZE) for c in CAMERAS}
    features["observation.state"] = vector_feature(len(names), names)
    features["action"] = vector_feature(len(names), names)
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    with LeRobotWriter(root, fps=FPS, features=features, robot_type="bench", codec=codec, overwrite=True) as w:
        for ep in range(episodes):
            phase = rng.uniform(0, 2 * np.pi, len(names))
            tt = np.arange(frames + 1, dtype=np.float32)[:, None] / FPS
            traj = (0.1 * np.sin(tt * 1.3 + phase) + 0.02 * rng.normal(size=(frames + 1, len(names)))).astype(np.float32)
            data = {c: _frames(rng, frames, SIZE) for c in CAMERAS}
            data["observation.state"], data["action"] = traj[:-1], traj[1:]
            w.add_episode(data, task=f"move the blocks, take {ep % 5}")
    return time.perf_counter() - t0


def dataset_matches(root: Path, episodes: int, frames: int, codec: str) -> bool:
    if not (root / INFO_PATH).is_file():
        return False
    import json

    info = json.loads((root / INFO_PATH).read_text())
    cams = [k for k, ft in info["features"].items() if ft.get("dtype") == "video"]
    return (info.get("total_episodes") == episodes and info.get("total_frames") == episodes * frames
            and cams == list(CAMERAS) and info["features"][cams[0]].get("info", {}).get("video.codec") == codec
            and info.get("fps") == FPS and info["features"][cams[0]]["shape"][:2] == [SIZE, SIZE])


def disk_mb(root: Path) -> tuple[float, float]:
    """(all files, video files) in MiB."""
    total = video = 0
    for p in root.rglob("*"):
        if p.is_file():
            total += p.stat().st_size
            if p.suffix == ".mp4":
                video += p.stat().st_size
    return total / 2**20, video / 2**20


# ---------------------------------------------------------------------------------- the loaders
class Vectors(Dataset):
    """WindowDataset.vectors(i): state, action and masks, no images."""

    def __init__(self, ds: WindowDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict:
        return self.ds.vectors(int(i))


class Windows(Dataset):
    def __init__(self, ds: WindowDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict:
        return self.ds[int(i)]


def make_dataset(root: Path, loader: str, frame_cache_mb: float | None = None) -> Dataset:
    """`frame_cache_mb`: WindowConfig's decoded-episode cache per process (None: its default)."""
    fr = FrameReader(naive=(loader == "naive"))
    cache = {} if frame_cache_mb is None else {"frame_cache_mb": frame_cache_mb}
    ds = WindowDataset(LeRobotReader(root, frame_reader=fr),
                       WindowConfig(history=EGOVLA_HISTORY, chunk_len=CHUNK_LEN, **cache))
    return Vectors(ds) if loader == "vectors" else Windows(ds)


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


def measure(root: Path, loader: str, batch: int, workers: int, samples: int, warm_batches: int | None = None,
            frame_cache_mb: float | None = None) -> dict:
    """Samples/s over ceil(samples / batch) batches, timed after `warm_batches` (default max(workers, 1))
    batches; with warm_batches=0 the time runs from the iterator's creation (worker start-up included)."""
    # PyAV objects left over from earlier runs must be freed here, not by the garbage collector of a
    # forked worker: freeing a decoder whose threads live only in the parent deadlocks the worker
    gc.collect()
    ds = make_dataset(root, loader, frame_cache_mb)
    warm = max(workers, 1) if warm_batches is None else warm_batches
    timed = max(1, math.ceil(samples / batch))
    need = (warm + timed) * batch
    # the same seeded order in every run; with replacement only when a run needs more than one epoch
    sampler = RandomSampler(ds, replacement=need > len(ds), num_samples=need if need > len(ds) else None,
                            generator=torch.Generator().manual_seed(SEED))
    dl = DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate,
                    worker_init_fn=_one_thread if workers else None, drop_last=True)
    t0 = time.perf_counter()
    it = iter(dl)
    first = None
    for _ in range(warm):
        next(it)
        first = time.perf_counter() - t0 if first is None else first
    t1 = time.perf_counter()
    n = 0
    for _ in range(timed):
        n += len(next(it)["instruction"])
        first = time.perf_counter() - t0 if first is None else first
    dt = time.perf_counter() - t1
    del it, dl
    ds.ds.reader.frame_reader.close()
    return {"loader": loader, "batch": batch, "workers": workers, "samples": n, "seconds": dt,
            "rate": n / dt, "first": first, "warm": warm}


def profile(root: Path, samples: int, batch: int, top: int) -> None:
    """cProfile the default reader in this process (no workers): where a training window's time goes."""
    import cProfile
    import pstats

    ds = make_dataset(root, "default")
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(SEED)).tolist()[:samples]
    collate([ds[i] for i in order[:batch]])  # warm-up: open the files
    prof = cProfile.Profile()
    prof.enable()
    for k in range(0, len(order), batch):
        collate([ds[i] for i in order[k:k + batch]])
    prof.disable()
    print(f"\ncProfile of the default reader, {len(order)} samples, batch {batch}, no workers:")
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)
    ds.ds.reader.frame_reader.close()


# ---------------------------------------------------------------------------------- main
def _num(x: float) -> str:
    """Three significant digits or so: 0.412, 21.1, 18360."""
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=None,
                    help="dataset folder, written if missing or different (default: a temp dir, removed at the end)")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--frames", type=int, default=150, help="frames per episode")
    ap.add_argument("--codec", choices=("h264", "av1"), default="h264")
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=None, help="timed samples per default-reader run (256; quick 64)")
    ap.add_argument("--vector-samples", type=int, default=None, help="timed samples per vectors-only run (2048; quick 512)")
    ap.add_argument("--naive-batches", type=int, default=2,
                    help="timed batches per naive run (at least one per worker)")
    ap.add_argument("--naive-all", action="store_true",
                    help="run the naive baseline at every batch size (default: the smallest only; it takes seconds per sample)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also cProfile the default reader over N samples (no workers) and print the top functions")
    ap.add_argument("--quick", action="store_true",
                    help="~30 s: 4 episodes x 60 frames, batch 8, workers 0 and 2, fewer samples")
    args = ap.parse_args()
    if args.quick:
        args.episodes, args.frames = min(args.episodes, 4), min(args.frames, 60)
        args.batch = [min(args.batch)]
        args.workers = sorted({min(args.workers), max(args.workers)})
    samples = args.samples or (64 if args.quick else 256)
    vector_samples = args.vector_samples or (512 if args.quick else 2048)
    naive_batch_sizes = sorted(set(args.batch)) if args.naive_all else [min(args.batch)]

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    tmp = None
    if args.root is None:
        tmp = Path(tempfile.mkdtemp(prefix="egovla-dataloading-"))
        root = tmp / "ds"
    else:
        root = args.root
    rows = []
    try:
        if dataset_matches(root, args.episodes, args.frames, args.codec):
            print(f"dataset: reusing {root}")
        else:
            secs = write_dataset(root, args.episodes, args.frames, args.codec)
            print(f"dataset: wrote {root} in {secs:.1f} s")
        total_mb, video_mb = disk_mb(root)
        n_frames = args.episodes * args.frames
        print(f"  {args.episodes} episodes x {args.frames} frames = {n_frames} frames; {len(CAMERAS)} cameras "
              f"{SIZE}x{SIZE} @ {FPS} fps, {args.codec}, one video file per camera; {total_mb:.2f} MiB on disk "
              f"({video_mb:.2f} MiB video, {video_mb * 2**20 / (n_frames * len(CAMERAS)) / 1024:.1f} KiB/frame)")
        print(f"  windows: {len(EGOVLA_HISTORY)} history frames at {EGOVLA_HISTORY} s, chunk_len {CHUNK_LEN}; "
              f"{os.cpu_count()} CPUs, torch threads 1 (main and workers); load average {load0:.2f}")
        for batch in args.batch:
            for workers in args.workers:
                plan = [("default", samples, None), ("vectors", vector_samples, None)]
                if batch in naive_batch_sizes:
                    # no warm-up: a naive batch takes seconds, start-up (< 0.5 s) is timed with it
                    plan.insert(0, ("naive", max(args.naive_batches, workers) * batch, 0))
                for loader, n, warm in plan:
                    r = measure(root, loader, batch, workers, n, warm)
                    rows.append(r)
                    print(f"  .. {loader:<8} batch {batch:>3} workers {workers}: {_num(r['rate']):>8} samples/s "
                          f"({r['samples']} samples in {r['seconds']:.2f} s after {r['warm']} warm-up batches; "
                          f"first batch after {r['first']:.2f} s)", flush=True)
        if args.profile:
            profile(root, args.profile, min(args.batch), 15)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    naive = {(r["batch"], r["workers"]): r["rate"] for r in rows if r["loader"] == "naive"}
    order = {"naive": 0, "default": 1, "vectors": 2}
    rows.sort(key=lambda r: (r["batch"], r["workers"], order[r["loader"]]))
    dagger = False
    print()
    print("| loader | batch | workers | samples/s | samples/s per worker | speed-up vs naive |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        base, mark = naive.get((r["batch"], r["workers"])), ""
        if base is None:  # naive not run at this batch size: its rate at the largest measured batch, same workers
            measured = [b for (b, w) in naive if w == r["workers"] and b <= r["batch"]]
            if measured:
                base, mark, dagger = naive[(max(measured), r["workers"])], "†", True
        speed = f"{_num(r['rate'] / base)}x{mark}" if base else "-"
        print(f"| {r['loader']} | {r['batch']} | {r['workers']} | {_num(r['rate'])} | "
              f"{_num(r['rate'] / max(r['workers'], 1))} | {speed} |")
    print()
    print(f"default and vectors: timed over {samples} / {vector_samples} samples after max(workers, 1) warm-up "
          f"batches (worker start-up, file opening excluded); naive: max({args.naive_batches}, workers) batches "
          f"timed from the iterator's creation, start-up included.")
    if dagger:
        print(f"† naive was run at batch {', '.join(map(str, naive_batch_sizes))} only (--naive-all runs every "
              "batch size); these compare with its rate at the same workers: a naive sample costs seconds of "
              "decoding, so its rate hardly depends on the batch size.")
    print("time to first batch, s (start-up included): " + ", ".join(
        f"{r['loader']} b{r['batch']}/w{r['workers']} {r['first']:.2f}" for r in rows))
    print(f"wall time {time.perf_counter() - t_start:.1f} s; load average {load0:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
