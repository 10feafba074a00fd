"""`egovla demo`: the whole loop a researcher runs, on Meta-World, sized for a 2-core CPU.

collect (scripted experts -> LeRobot v3 dataset) -> train (tiny VLA, unified action space) ->
evaluate closed loop on unseen object layouts -> success table, bar chart, rollout videos.

The default task set (`egovla.sim.tasks.DEMO_TASKS`) holds tasks where the object or goal is placed
at random and only the image tells where it is, so proprioception alone cannot succeed; their scenes
differ, so the image also tells which task it is: four with a large articulated object, and push and
pick-place, whose puck and goal marker are a few pixels. See the README for the settings tried.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from egovla.sim.experts import EXPERTS
from egovla.sim.tasks import ARTICULATED, DEMO_TASKS, MT10, MT10_PRECISE, parse_tasks


def _f(default, help: str, **meta):
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class LoopConfig:
    """One collect -> train -> evaluate loop on Meta-World, sized for a machine. `PRESETS` names some."""

    episodes: int = _f(25, "expert episodes collected per task")
    task_episodes: tuple[str, ...] = _f((), "expert episodes for some tasks instead of `episodes`, TASK=N,... "
                                        "(e.g. reach-v3=100)", metavar="TASK=N")
    expert: str = _f("tcp", "scripted expert: 'tcp' (reach aimed by the fingertip centre it is scored at) or "
                     "'metaworld' (Meta-World's policies as shipped; reach stalls 4.5 cm off its goal)",
                     choices=EXPERTS)
    settle_steps: int = _f(10, "steps recorded after the expert's first success (reach's expert then closes the "
                           "last 3 cm to the goal in about 30 more)")
    steps: int = _f(2200, "optimizer steps")
    batch_size: int = _f(32, "samples per optimizer step")
    eval_episodes: int = _f(20, "closed-loop episodes per task, on unseen layouts")
    max_steps: int = _f(200, "step limit per evaluation episode")
    tasks: tuple[str, ...] | None = _f(None, "task names (None: DEMO_TASKS, the demo's six)")
    image_size: int = _f(64, "rendered = trained image size")
    cameras: tuple[str, ...] = _f(("corner",), "Meta-World cameras rendered, collected and fed to the policy as its "
                                  "views, in this order (the first defines the action frame)", metavar="CAMS")
    history: tuple[float, ...] = _f((0.0,), "frames the policy reads, as seconds before now, oldest first (e.g. "
                                    "-0.5,0: also the frame 0.5 s ago)", metavar="SECONDS")
    chunk_len: int = _f(16, "predicted steps per chunk (0.2 s at 80 Hz)")
    execute: int = _f(2, "steps of each chunk executed before predicting again")
    ensemble_w: float | None = _f(0.1, "temporal ensembling of overlapping chunks (None: off)")
    horizon: int | None = _f(None, "steps of each predicted chunk used in closed loop (None: all of it)")
    damping: float = _f(2.0, "closed-loop controller damping (the replay check's; 0: the plain P controller)")
    lookahead: int = _f(2, "aim this many steps ahead within the chunk (cancels the damping's lag)")
    lr: float = _f(1e-3, "peak learning rate")
    ema_decay: float = _f(0.0, "evaluate an exponential moving average of the weights with this decay (0: the last "
                          "weights)")
    precision: str = _f("no", "training precision: 'no' (float32), 'bf16' (autocast; faster only where the CPU computes "
                        "bf16 natively, AVX512-BF16 or AMX), 'auto' (bf16 on CUDA), 'native' (bf16 on CUDA or such a "
                        "CPU, else float32)")
    loader_workers: int = _f(1, "DataLoader worker processes while training (0: load in the training process, which "
                             "leaves both cores of a 2-core machine to the model when decoded episodes are cached)")
    seed: int = _f(0, "training seed: the model's initial weights, the order of the data and its augmentation "
                   "(collection and evaluation layouts do not depend on it)")
    task_weights: tuple[str, ...] = _f((), "sample a task's training windows WEIGHT times as often as its share of "
                                       "the frames gives, TASK=WEIGHT,... (e.g. push-v3=2,reach-v3=3); others 1",
                                       metavar="WEIGHTS")
    aux_weight: float = _f(0.0, "also train the policy to tell, from its action query tokens, where the task's "
                           "object and goal are (Meta-World's recorded positions; training only), with this weight "
                           "against the action loss (0: off)")
    shift_px: int = _f(0, "random-shift augmentation while training, up to this many pixels, with the state and "
                       "action labels turned by the camera turn the shift amounts to (so they stay true to the "
                       "shifted image; 0: off)")
    holdout_samples: int = _f(256, "offline held-out check after training (0: none)")
    frame_cache_mb: float | None = _f(None, "decoded frames kept in memory while training, in MiB per loading "
                                      "process (None: room for every collected frame, so none is decoded twice)",
                                      metavar="MIB")
    policy: tuple[str, ...] = _f((), "PolicyConfig overrides of the trained model, FIELD=VALUE,... (e.g. "
                                 "backbone.text_layers=1); none: the tiny VLA's defaults", metavar="OVERRIDES")

    def train_config(self, steps: int | None = None, seed: int | None = None):
        """The trainer's settings for this loop (`steps` or `seed` other than the loop's, e.g. one stage of two)."""
        from egovla.train.config import TrainConfig

        steps = self.steps if steps is None else steps
        seed = self.seed if seed is None else seed
        return TrainConfig(steps=steps, batch_size=self.batch_size, lr=self.lr, warmup_steps=min(50, steps // 4),
                           min_lr_ratio=0.1, seed=seed, num_workers=self.loader_workers, ema_decay=self.ema_decay,
                           precision=self.precision)

    def augmentation(self) -> tuple[str, ...]:
        """The PolicyConfig overrides of `shift_px`: the shift and the first view's focal length in pixels."""
        if not self.shift_px:
            return ()
        from egovla.sim.metaworld_env import EnvConfig, focal_length_px

        focal = focal_length_px(EnvConfig().fovy, self.image_size)  # the loop renders at the default view
        return (f"shift_px={self.shift_px}", f"shift_focal_px={focal:.4f}")

    def instruction_weights(self, tasks: tuple[str, ...]) -> tuple[str, ...]:
        """`task_weights` keyed by the tasks' instructions, as the training data names them."""
        from egovla.data.task_weights import parse_task_weight
        from egovla.sim.tasks import INSTRUCTIONS

        out = []
        for text in self.task_weights:
            task, w = parse_task_weight(text)
            if task not in tasks:
                raise ValueError(f"loop.task_weights: {task!r} is not one of the loop's tasks {list(tasks)}")
            out.append(f"{INSTRUCTIONS[task]}={w:g}")
        return tuple(out)

    def eval_config(self, tasks: tuple[str, ...], policy: str, env, workers: int, **changes):
        """The closed-loop evaluation of this loop (its episodes, step limit and controller) on `env`'s views;
        `changes` set other EvalConfig fields (seed, videos, ...)."""
        from egovla.sim.evaluate import EvalConfig

        return EvalConfig(tasks=tasks, policy=policy, episodes=self.eval_episodes, env=env, workers=workers,
                          max_steps=self.max_steps, execute=self.execute, ensemble_w=self.ensemble_w,
                          horizon=self.horizon, damping=self.damping, lookahead=self.lookahead, **changes)


#: The lean tiny VLA: one language-model layer and one head layer (which then runs at the step tokens only) instead
#: of two each. `make demo` trains it: the same 79/80 on the demo's tasks as the two-layer model, at 1.65-1.85x
#: the samples/s (README: "The demo's default and what was tried").
LEAN = ("backbone.text_layers=1", "head.layers=1")
#: 128 px frames cut into 16 px patches: the 64 image tokens of 64 px frames cut into 8 px ones, four times the
#: pixels behind each, at 8-11% fewer samples/s (decoding and resizing the larger frames; the reduced MT10 preset).
PX128 = ("backbone.image_size=128", "backbone.patch_size=16")
#: The loop the other presets, the human-transfer experiment and the push ablation start from (the two-layer model).
FULL = LoopConfig()
#: The four articulated tasks (`make demo` until the harder set below): the lean model, loaded in the training
#: process, in bf16 where the machine computes it natively (the same 79/80 in float32 and bf16; README: "Training
#: throughput"), 25 demonstrations per task at 64 px, 2200 steps; 99% in about 4 minutes. The training-speed
#: benchmark and the push ablation's `demo` recipe measure this loop.
DEMO_EASY = replace(FULL, tasks=ARTICULATED, policy=LEAN, precision="native", loader_workers=0)
#: What the precise tasks (a puck or goal marker a few pixels wide) learn with, on top of DEMO_EASY: 128 px frames in
#: 16 px patches (PX128), the auxiliary object and goal targets, and chunks of 48 steps of which the first 32 run,
#: blended with weight 0.6 towards the older predictions (README: "MT10 benchmark"). `make demo` and the reduced
#: MT10 benchmark both train it; they differ in tasks, demonstrations and steps.
PRECISE = replace(DEMO_EASY, aux_weight=1.0, chunk_len=48, horizon=32, ensemble_w=0.6, image_size=128,
                  policy=LEAN + PX128)
#: `make demo`: the four articulated tasks with push and pick-place (`DEMO_TASKS`), in under 10 minutes on 2 cores:
#: the PRECISE recipe with 100 demonstrations of push and of pick-place (25 of the others), 7000 steps (README:
#: "make demo").
DEMO = replace(PRECISE, tasks=DEMO_TASKS, task_episodes=("push-v3=100", "pick-place-v3=100"), steps=7000)
QUICK = LoopConfig(episodes=3, steps=40, batch_size=16, eval_episodes=2, max_steps=60,
                   tasks=("reach-v3", "button-press-topdown-v3"), holdout_samples=0, policy=LEAN)
#: The CPU MT10 benchmark (benchmarks/metaworld_mt10.py --reduced) and its full-size setting for a GPU.
#: The reduced one trains the PRECISE recipe and spends the time the lean model saves on more steps and more
#: demonstrations: 50 of each task, 100 of the four precise ones (reach, push, pick-place, peg-insert-side), which
#: learn with the layouts they have seen. The long blended chunks keep a plan made while reach's goal was in view
#: once the hand hides it, and commit peg-insert-side's grasp; the finer pixels helped the grasps of pick-place and
#: peg-insert-side and push's puck most (README: "MT10 benchmark").
MT10_REDUCED = replace(PRECISE, episodes=50, task_episodes=tuple(f"{t}=100" for t in MT10_PRECISE), steps=35000,
                       tasks=MT10)
#: The full-size one, as run on an H200: the two-layer model with the auxiliary targets, 50 demonstrations of every
#: task, 10000 steps of batch 64 (bf16 on CUDA) with 4 loader processes, chunks of 16 used whole, 50 layouts per task.
MT10_FULL = replace(MT10_REDUCED, policy=(), task_episodes=(), steps=10000, batch_size=64, eval_episodes=50,
                    loader_workers=4, chunk_len=16, horizon=None, image_size=64)
PRESETS = {"demo": DEMO, "demo-easy": DEMO_EASY, "demo-quick": QUICK, "mt10-reduced": MT10_REDUCED, "mt10": MT10_FULL}


def collect_train_eval(out: Path, tasks: tuple[str, ...], size: LoopConfig, head: str = "regression",
                       workers: int | None = None, progress: bool = True, say=print,
                       policy_overrides: tuple[str, ...] = ()) -> dict:
    """collect -> train -> evaluate under `out` (data/, run/, eval/); returns what each stage reported.
    `policy_overrides` set PolicyConfig fields of the trained model ('shift_px=4', 'backbone.patch_size=16') after
    the loop's own (`size.policy`)."""
    import torch

    from egovla.jobs.train import TrainJob, run_training
    from egovla.sim.collect import ENVIRONMENT_STATE, CollectConfig, collect
    from egovla.sim.evaluate import evaluate
    from egovla.sim.metaworld_env import EnvConfig

    workers = workers or max(1, os.cpu_count() or 1)
    env = EnvConfig(cameras=size.cameras, size=size.image_size)
    run = out / "run"
    eval_cfg = size.eval_config(tasks, str(run), env, workers)  # checked before anything runs
    wall = {}
    t0 = time.perf_counter()
    data = out / "data"
    col = collect(CollectConfig(tasks=tasks, episodes=size.episodes, env=env, workers=workers,
                                task_episodes=size.task_episodes, settle_steps=size.settle_steps,
                                expert=size.expert), data,
                  overwrite=True, progress=progress)
    wall["collect"] = time.perf_counter() - t0
    say(f"collected {sum(col['episodes_kept'].values())} episodes ({col['steps']} steps) in "
        f"{wall['collect']:.0f} s -> {data}")

    t0 = time.perf_counter()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    job = TrainJob(datasets=(str(data),), head=head, eval_samples=size.holdout_samples, history=size.history,
                   chunk_len=size.chunk_len, holdout=0.05 if size.holdout_samples else 0.0,
                   task_weights=size.instruction_weights(tasks), frame_cache_mb=size.frame_cache_mb,
                   aux_key=ENVIRONMENT_STATE if size.aux_weight else None, aux_weight=size.aux_weight or 1.0,
                   policy_overrides=(*size.policy, *size.augmentation(), *policy_overrides))
    train = run_training(job, size.train_config(), run, resume=False, progress=progress)
    wall["train"] = time.perf_counter() - t0
    say(f"trained {size.steps} steps in {wall['train']:.0f} s ({train['samples_per_s']:.0f} samples/s) -> {run}")

    t0 = time.perf_counter()
    ev = evaluate(eval_cfg, out / "eval", progress=progress)
    wall["eval"] = time.perf_counter() - t0
    wall["total"] = sum(wall.values())
    return {"wall": wall, "collect": col, "train": train, "eval": ev, "data": data, "run": run}


@dataclass(frozen=True)
class DemoConfig:
    """`egovla demo`: which loop (a preset, optionally with other tasks or head) and where it goes."""

    out: Path = _f(Path("runs/demo"), "output folder (replaced if it exists)")
    preset: str = _f("demo", "the loop's size: " + ", ".join(PRESETS), choices=tuple(PRESETS))
    quick: bool = _f(False, "a ~2-minute smoke run (the demo-quick preset: 2 easy tasks, few steps)")
    head: str = _f("regression", "action head", choices=("regression", "flow"))
    tasks: tuple[str, ...] | None = _f(None, "task set instead of the preset's (mt10, demo, articulated, or names "
                                       "like push-v3,reach-v3)", parse=parse_tasks, metavar="TASKS")
    workers: int | None = _f(None, "processes for collection and evaluation (default: one per CPU core)",
                             metavar="N")
    progress: bool = _f(True, "progress bars")

    def loop(self) -> LoopConfig:
        return PRESETS["demo-quick" if self.quick else self.preset]


def run_demo(cfg: DemoConfig, loop: LoopConfig | None = None) -> int:
    """The demo: `loop` (default: the config's preset) collected, trained and evaluated under `cfg.out`."""
    from egovla.sim.evaluate import format_success_table

    size = loop or cfg.loop()
    tasks = cfg.tasks or size.tasks or DEMO_TASKS
    head, quick, out = cfg.head, cfg.quick, Path(cfg.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model = ", ".join((f"{head} head", f"{size.steps} steps", *size.policy))
    own = f" ({', '.join(size.task_episodes)})" if size.task_episodes else ""
    print(f"egovla demo ({'quick' if quick else cfg.preset}) on Meta-World: {', '.join(tasks)}\n"
          f"collect {size.episodes} expert demonstrations per task{own} -> train the tiny VLA ({model}) -> evaluate "
          f"{size.eval_episodes} closed-loop episodes per task on unseen layouts", flush=True)
    r = collect_train_eval(out, tasks, size, head, cfg.workers, cfg.progress, say=lambda m: print(m, flush=True))
    wall, ev = r["wall"], r["eval"]
    print()
    print(format_success_table(ev))
    print(f"\nwall time: collect {wall['collect']:.0f} s, train {wall['train']:.0f} s, eval {wall['eval']:.0f} s "
          f"({ev['steps_per_s']:.0f} steps/s), total {wall['total']:.0f} s")
    print(f"dataset:  {r['data']}\npolicy:   {r['run'] / 'policy'}\nloss:     {r['run'] / 'loss.png'}\n"
          f"results:  {out / 'eval' / 'results.json'}\nplot:     {out / 'eval' / 'success.png'}\n"
          f"videos:   {out / 'eval' / 'videos'}")
    (out / "demo.json").write_text(json.dumps({
        "quick": quick, "head": head, "tasks": list(tasks), "size": asdict(size) | {"tasks": list(tasks)},
        "wall_seconds": wall, "expert_success": r["collect"]["success_rate"],
        "success_rate": {t: x["success_rate"] for t, x in ev["tasks"].items()},
        "mean_success_rate": ev["mean_success_rate"],
        "train": {k: r["train"][k] for k in ("samples_per_s", "final_loss")},
    }, indent=2))
    return 0
