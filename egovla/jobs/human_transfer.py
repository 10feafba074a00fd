"""Does human video help a robot? The EgoVLA experiment on Meta-World, with human-proxy video.

For each robot-demonstration count N (per task) and seed, four policies, each evaluated closed loop on
unseen layouts with the same protocol:

- **robot only**: trained from scratch on the N robot demos per task, for `pretrain + finetune` steps;
- **human pretrained**: pretrained on the human-proxy video (`pretrain` steps; EgoDex-format pairs
  recorded by `egovla.sim.human_proxy` and converted by `egovla convert egodex`), then fine-tuned on
  the N robot demos (`finetune` steps; `--init`, the pretrained policy's statistics kept);
- **co-trained**: trained from scratch on human + robot data mixed half and half (`pretrain +
  finetune` steps);
- **zero-shot**: the pretrained policy itself, which never saw robot data.

Every condition gets the same number of optimizer steps (`pretrain + finetune`; zero-shot stops at
`pretrain`). Robot demos come from seed 0 (layouts 0..N-1, so the N = 2 demos are among the N = 5),
human-proxy episodes from seed 7, evaluation from seed 1000: three disjoint sets of layouts.
`results.json` holds per condition the success rate averaged over seeds, pooled Wilson 95%
intervals, per-seed and per-task figures, the settings and provenance; `transfer.png` plots success
against robot demos.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from egovla.jobs.demo import FULL, LoopConfig
from egovla.sim.tasks import ARTICULATED, parse_tasks

CONDITIONS = ("robot_only", "human_pretrained", "cotrained", "zero_shot")
LABELS = {"robot_only": "robot only", "human_pretrained": "human pretrained", "cotrained": "co-trained",
          "zero_shot": "zero-shot (human only)"}


#: The experiment's model and evaluation settings: the demo's, at batch 16. At 450 + 450 steps of batch 32 the
#: demo's gain was gone; 700 + 700 of batch 16 (half the samples, as many updates) kept it and halved the time.
LOOP = replace(FULL, batch_size=16)


def _f(default, help: str, **meta):
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class TransferConfig:
    tasks: tuple[str, ...] = _f(ARTICULATED, "Meta-World tasks", parse=parse_tasks, metavar="TASKS")
    robot_demos: tuple[int, ...] = _f((2, 5, 10), "robot demonstrations per task, one row each", metavar="N1,N2")
    seeds: tuple[int, ...] = _f((0, 1), "training seeds per cell")
    human_episodes: int = _f(50, "human-proxy episodes per task (tried; the expert's failures are left out)")
    pretrain: int = _f(700, "optimizer steps of human pretraining (and of zero-shot)")
    finetune: int = _f(700, "optimizer steps of fine-tuning on robot demos")
    eval_episodes: int = _f(20, "closed-loop episodes per task per policy")
    finetune_human: float = _f(0.0, "human pretrained: the human-proxy episodes' share of fine-tuning batches "
                                    "(EgoVLA fine-tunes on a human + robot mix); 0 fine-tunes on the robot demos only",
                               metavar="W")
    conditions: tuple[str, ...] = _f(CONDITIONS, "which policies to train: " + ", ".join(CONDITIONS))
    moving_camera: bool = _f(True, "human proxy: a swaying, drifting head camera (off: ablation)")
    label_frame: str = _f("camera", "human proxy: 'camera' labels in the moving camera's frame, 'world' in a fixed one",
                          choices=("camera", "world"))
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1), metadata={
        "help": "processes for collection, recording and evaluation", "metavar": "N"})
    loop: LoopConfig = field(default_factory=lambda: LOOP, metadata={"cli": False})


#: Measured on 2 CPU cores (~160 training samples/s at batch 16): the full table 4031 s (22,400 optimizer steps, 20
#: evaluations of 80 episodes), quick 705 s (N = 2, one seed: 4,200 steps, 4 evaluations of 40 episodes) and
#: `make demo-human` 527 s (quick's first two conditions).
PRESETS = {
    "full": TransferConfig(),
    "quick": TransferConfig(robot_demos=(2,), seeds=(0,), human_episodes=25, eval_episodes=10),
    "demo": TransferConfig(robot_demos=(2,), seeds=(0,), human_episodes=25, eval_episodes=10,
                           conditions=("robot_only", "human_pretrained")),
}


def _train(job, steps: int, loop: LoopConfig, seed: int, out: Path, progress: bool) -> dict:
    from egovla.jobs.train import run_training

    return run_training(job, loop.train_config(steps, seed), out, progress=progress)


def _evaluate(run: Path, cfg: TransferConfig, out: Path, progress: bool) -> dict:
    from egovla.sim.evaluate import EvalConfig, evaluate
    from egovla.sim.metaworld_env import EnvConfig

    loop = cfg.loop
    ev = EvalConfig(tasks=cfg.tasks, policy=str(run), episodes=cfg.eval_episodes,
                    env=EnvConfig(cameras=("corner",), size=loop.image_size), workers=cfg.workers,
                    max_steps=loop.max_steps, execute=loop.execute, ensemble_w=loop.ensemble_w, videos=0,
                    views=("corner",))  # a human-only policy knows its camera as the headset's
    return evaluate(ev, out, progress=progress)


def prepare_data(cfg: TransferConfig, out: Path, progress: bool = True, say=print) -> dict[str, Path]:
    """Robot demos per N (seed 0) and the converted human-proxy video (seed 7) under `out/data`."""
    from egovla.data.egodex.convert import ConvertConfig, convert_egodex
    from egovla.sim.collect import CollectConfig, collect
    from egovla.sim.human_proxy import HumanProxyConfig, record_human_proxy
    from egovla.sim.metaworld_env import EnvConfig

    data, loop, paths = out / "data", cfg.loop, {}
    env = EnvConfig(cameras=("corner",), size=loop.image_size)
    for n in sorted(set(cfg.robot_demos)):
        paths[f"robot{n}"] = data / f"robot-{n}"
        if not (paths[f"robot{n}"] / "meta" / "info.json").is_file():
            collect(CollectConfig(tasks=cfg.tasks, episodes=n, env=env, seed=0, workers=cfg.workers),
                    paths[f"robot{n}"], overwrite=True, progress=progress)
    tag = f"{'moving' if cfg.moving_camera else 'still'}-{cfg.label_frame}-{cfg.human_episodes}"
    raw, human = data / f"human-proxy-{tag}", data / f"human-{tag}"
    if not (human / "meta" / "info.json").is_file():
        t0 = time.perf_counter()
        record_human_proxy(HumanProxyConfig(tasks=cfg.tasks, episodes=cfg.human_episodes, seed=7,
                                            moving_camera=cfg.moving_camera, label_frame=cfg.label_frame,
                                            workers=cfg.workers), raw, overwrite=True, progress=progress)
        convert_egodex(raw, human, ConvertConfig(size=loop.image_size, horizon=loop.chunk_len, source_fps=80,
                                                 min_valid=0.5, crf=0, pix_fmt="yuv444p"), workers=cfg.workers,
                       overwrite=True,
                       progress=progress)
        from egovla.data.egodex.viz import render_converted

        render_converted(human, 0, data / f"human-{tag}-episode0.mp4")
        say(f"human-proxy video recorded and converted in {time.perf_counter() - t0:.0f} s -> {human}; labels drawn "
            f"over episode 0: {data / f'human-{tag}-episode0.mp4'} (+ .png sheet)")
    paths["human"] = human
    return paths


def mixture(robot: str, human: Path, w: float) -> tuple[str, ...]:
    """`--dataset` specs drawing a share w of each batch from the human-proxy data, the rest from the robot demos."""
    return (robot,) if w == 0 else (f"{robot}:{1 - w:g}", f"{human}:{w:g}")


def finetune_data(cfg: TransferConfig, robot: str, human: Path) -> tuple[str, ...]:
    """The fine-tuning datasets of the human-pretrained policy: the robot demos, or with `finetune_human` = w the
    mixture with that share of human-proxy data."""
    w = cfg.finetune_human
    if not 0.0 <= w < 1.0:
        raise ValueError(f"transfer.finetune_human={w}: give a share in [0, 1) (0: robot demos only)")
    return mixture(robot, human, w)


def run_transfer(cfg: TransferConfig, out: str | Path, progress: bool = True, say=print) -> dict:
    """The whole experiment under `out`; returns (and writes) results.json's content."""
    import torch

    from egovla.jobs.train import TrainJob
    from egovla.sim import report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start, prov = time.perf_counter(), report.provenance()  # the code that runs, not the tree at the end
    paths = prepare_data(cfg, out, progress, say)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    loop, total = cfg.loop, cfg.pretrain + cfg.finetune
    common = dict(head="regression", history=(0.0,), chunk_len=loop.chunk_len, holdout=0.0, eval_samples=0,
                  policy_overrides=loop.policy)
    cells: list[dict] = []

    def cell(condition: str, n: int | None, seed: int, run: Path, train_s: float) -> None:
        t0 = time.perf_counter()
        ev = _evaluate(run, cfg, run.parent / f"{run.name}-eval", progress)
        cells.append({"condition": condition, "robot_demos": n, "seed": seed, "run": str(run),
                      "success_rate": ev["mean_success_rate"], "successes": sum(t["successes"] for t in ev["tasks"].values()),
                      "episodes": ev["episodes"], "tasks": {t: r["success_rate"] for t, r in ev["tasks"].items()},
                      "train_seconds": train_s, "eval_seconds": time.perf_counter() - t0})
        say(f"{LABELS[condition]:<24} N={n if n is not None else '-'} seed {seed}: {100 * ev['mean_success_rate']:.0f}%")

    for seed in cfg.seeds:
        pre = out / f"seed{seed}" / "human-pretrained"
        t0 = time.perf_counter()
        if {"human_pretrained", "zero_shot"} & set(cfg.conditions):
            _train(TrainJob(datasets=(str(paths["human"]),), **common), cfg.pretrain, loop, seed, pre, progress)
        pre_s = time.perf_counter() - t0
        if "zero_shot" in cfg.conditions:
            cell("zero_shot", None, seed, pre, pre_s)
        for n in cfg.robot_demos:
            robot = str(paths[f"robot{n}"])
            base = out / f"seed{seed}" / f"n{n}"
            plans = {"robot_only": (TrainJob(datasets=(robot,), **common), total),
                     "human_pretrained": (TrainJob(datasets=finetune_data(cfg, robot, paths["human"]), init=str(pre),
                                                   **common), cfg.finetune),
                     "cotrained": (TrainJob(datasets=mixture(robot, paths["human"], 0.5), **common), total)}
            for condition, (job, steps) in plans.items():
                if condition not in cfg.conditions:
                    continue
                t0 = time.perf_counter()
                _train(job, steps, loop, seed, base / condition, progress)
                cell(condition, n, seed, base / condition, time.perf_counter() - t0 + (pre_s if job.init else 0))

    rows = []
    for n in cfg.robot_demos:
        row: dict = {"robot_demos": n}
        for condition in cfg.conditions:
            mine = [c for c in cells if c["condition"] == condition and c["robot_demos"] in (n, None)]
            if not mine:
                continue
            row[condition] = sum(c["success_rate"] for c in mine) / len(mine)
            s, e = sum(c["successes"] for c in mine), sum(c["episodes"] for c in mine)
            row[f"{condition}_wilson95"] = list(report.wilson(s, e))
            row[f"{condition}_per_seed"] = [c["success_rate"] for c in mine]
        rows.append(row)
    results = {"tasks": list(cfg.tasks), "rows": rows, "cells": cells,
               "steps": {"pretrain": cfg.pretrain, "finetune": cfg.finetune, "per_condition": total},
               "config": {**asdict(cfg), "loop": asdict(cfg.loop)}, "provenance": prov,
               "wall_seconds": time.perf_counter() - t_start}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot(results, out / "transfer.png")
    return results


def format_table(results: dict) -> str:
    conds = [c for c in CONDITIONS if any(c in r for r in results["rows"])]
    lines = ["| robot demos / task | " + " | ".join(LABELS[c] for c in conds) + " |",
             "|---|" + "---:|" * len(conds)]
    for r in results["rows"]:
        cells = []
        for c in conds:
            low, high = r[f"{c}_wilson95"]
            cells.append(f"{100 * r[c]:.0f}% [{100 * low:.0f}, {100 * high:.0f}]")
        lines.append(f"| {r['robot_demos']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ns = [r["robot_demos"] for r in results["rows"]]
    for c in CONDITIONS:
        if not all(c in r for r in results["rows"]):
            continue
        ys = [100 * r[c] for r in results["rows"]]
        err = [[100 * (r[c] - r[f"{c}_wilson95"][0]) for r in results["rows"]],
               [100 * (r[f"{c}_wilson95"][1] - r[c]) for r in results["rows"]]]
        ax.errorbar(ns, ys, yerr=[[max(0, e) for e in err[0]], [max(0, e) for e in err[1]]], marker="o", capsize=3,
                    label=LABELS[c], linestyle="--" if c == "zero_shot" else "-")
    ax.set_xlabel("robot demonstrations per task")
    ax.set_ylabel("success % (Wilson 95%)")
    ax.set_ylim(0, 105)
    ax.set_xticks(ns)
    ax.set_title(f"Meta-World, {len(results['tasks'])} tasks: does human video help?", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def with_loop(cfg: TransferConfig, loop: LoopConfig) -> TransferConfig:
    return replace(cfg, loop=loop)
