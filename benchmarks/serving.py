"""Serving figures: (a) throughput and latency of `egovla serve` with 1, 4 and 16 robots, batching on
and off; (b) control at 30 Hz through a link with 0-200 ms round trips, synchronous vs asynchronous
chunk scheduling: the share of control steps that had a fresh action, and Meta-World success.

    python benchmarks/serving.py [--policy runs/demo/run] [--part a|b|both] [--seconds 8]
                                 [--episodes 5] [--rtts 0,50,100,200] [--threads 1]

The policy is a trained run folder (`make demo` leaves one at runs/demo/run). The server runs as its
own `egovla serve` process on loopback; the robots are asyncio clients in this process (a) or one
real-time Meta-World robot at a time (b, `egovla.sim.realtime`), on the demo's default tasks and
seeds (from 1000). Each table is measured in one run, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from egovla.client.client import AsyncPolicyClient
from egovla.client.link import Link


@contextmanager
def server(policy: Path, port: int, max_batch: int, threads: int):
    cmd = [sys.executable, "-m", "egovla.cli", "serve", "--policy", str(policy), "--port", str(port),
           "--max-batch", str(max_batch), "--threads", str(threads), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env={**os.environ, "EGOVLA_TOKEN": ""})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {' '.join(cmd)}")
                time.sleep(0.2)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def observation(meta: dict, i: int) -> dict:
    rng = np.random.default_rng(i)
    return {"images": rng.integers(0, 256, meta["image_shape"], dtype=np.uint8),
            "state": rng.normal(size=meta["state_dim"]).astype(np.float32), "instruction": "open the drawer"}


async def load(url: str, n_clients: int, seconds: float) -> dict:
    clients = [await AsyncPolicyClient.connect(url) for _ in range(n_clients)]
    latencies, sizes = [], []
    obs = [observation(clients[0].metadata, i) for i in range(n_clients)]

    async def robot(c, o, stop_at):
        while time.perf_counter() < stop_at:
            tic = time.perf_counter()
            reply = await c.infer(o)
            latencies.append(time.perf_counter() - tic)
            sizes.append(reply["timing"]["batch_size"])

    for c, o in zip(clients, obs):  # warm-up
        await c.infer(o)
    start = time.perf_counter()
    await asyncio.gather(*(robot(c, o, start + seconds) for c, o in zip(clients, obs)))
    wall = time.perf_counter() - start
    for c in clients:
        await c.close()
    ms = 1000 * np.array(latencies)
    return {"requests_per_s": len(ms) / wall, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_batch": float(np.mean(sizes)), "requests": len(ms)}


def part_a(args) -> list[dict]:
    rows = []
    for batching, max_batch in (("off", 1), ("on", 16)):
        with server(args.policy, args.port, max_batch, args.threads) as url:
            for n in (1, 4, 16):
                r = {"batching": batching, "clients": n, **asyncio.run(load(url, n, args.seconds))}
                rows.append(r)
                print(f"  batching {batching:>3}, {n:>2} clients: {r['requests_per_s']:7.1f} req/s  "
                      f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  mean batch {r['mean_batch']:.1f}",
                      flush=True)
    print("\n| batching | clients | requests/s | p50 ms | p99 ms | mean batch |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batching']} | {r['clients']} | {r['requests_per_s']:.1f} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} | {r['mean_batch']:.1f} |")
    return rows


def part_b(args) -> list[dict]:
    from egovla.sim.metaworld_env import EnvConfig
    from egovla.sim.realtime import ControlConfig, run_control
    from egovla.sim.tasks import ARTICULATED

    data = json.loads((args.policy / "data.json").read_text()) if (args.policy / "data.json").exists() else {}
    size = (data.get("window", {}).get("image_size") or [64])[0]
    rows = []
    with server(args.policy, args.port, 8, args.threads) as url:
        for rtt in args.rtts:
            for mode in ("sync", "async"):
                cfg = ControlConfig(mode=mode, hz=args.hz, threshold=args.threshold, max_steps=args.max_steps)
                tic = time.perf_counter()
                eps = run_control(url, ARTICULATED, args.episodes, cfg, EnvConfig(size=size),
                                  link=Link(rtt_ms=rtt, jitter_ms=0.1 * rtt, seed=rtt))
                steps = sum(e["steps"] for e in eps)
                r = {"rtt_ms": rtt, "mode": mode, "fed": sum(e["fed"] for e in eps) / steps,
                     "success": float(np.mean([e["success"] for e in eps])), "episodes": len(eps),
                     "mean_steps": steps / len(eps), "mean_wait_ms": float(np.mean([e["mean_wait_ms"] for e in eps]))}
                rows.append(r)
                print(f"  rtt {rtt:>3} ms {mode:>5}: fed {100 * r['fed']:5.1f}%  success {100 * r['success']:5.1f}%  "
                      f"steps {r['mean_steps']:5.1f}  wait {r['mean_wait_ms']:5.1f} ms  "
                      f"({time.perf_counter() - tic:.0f} s)", flush=True)
    print("\n| round trip | fed steps sync | fed steps async | success sync | success async |\n|---|---|---|---|---|")
    for rtt in args.rtts:
        s, a = [next(r for r in rows if r["rtt_ms"] == rtt and r["mode"] == m) for m in ("sync", "async")]
        print(f"| {rtt} ms | {100 * s['fed']:.0f}% | {100 * a['fed']:.0f}% | {100 * s['success']:.0f}% | "
              f"{100 * a['success']:.0f}% |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--policy", type=Path, default=Path("runs/demo/run"), help="trained run folder")
    p.add_argument("--part", choices=("a", "b", "both"), default="both")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the server (default 1)")
    p.add_argument("--seconds", type=float, default=8.0, help="(a) load per setting (default 8)")
    p.add_argument("--episodes", type=int, default=5, help="(b) episodes per task and setting (default 5)")
    p.add_argument("--rtts", type=lambda s: [int(x) for x in s.split(",")], default=[0, 50, 100, 200])
    p.add_argument("--hz", type=float, default=30.0)
    p.add_argument("--threshold", type=int, default=8, help="(b) ask for a chunk when this many steps are left")
    p.add_argument("--max-steps", type=int, default=200)
    args = p.parse_args()
    if not (args.policy / "policy").is_dir() and not (args.policy / "config.json").exists():
        sys.exit(f"{args.policy}: no trained policy; run `make demo` first or pass --policy RUN_DIR")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; policy {args.policy}; "
          f"server threads {args.threads}")
    if args.part in ("a", "both"):
        print(f"\n(a) throughput, {args.seconds:g} s per setting")
        part_a(args)
    if args.part in ("b", "both"):
        print(f"\n(b) control at {args.hz:g} Hz, threshold {args.threshold}, {args.episodes} episodes per task")
        part_b(args)


if __name__ == "__main__":
    main()
