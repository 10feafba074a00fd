"""`train()`: the training loop, on `accelerate` (single process, DDP over gloo/NCCL, bf16 autocast).

The policy contract: `policy(batch) -> (loss scalar tensor, metrics dict[str, float])`,
`policy.save_pretrained(folder)` writing `model.safetensors` (loaded back strictly on resume).
The dataset is map-style and yields sample dicts (see egovla.data.sample); it is batched with
`collate` in a DataLoader driven by our own sharded sampler — never through `accelerator.prepare`,
whose RNG synchronisation would break exact resume.
"""

from __future__ import annotations

import math
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedDataParallelKwargs
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from egovla.data.sample import collate
from egovla.train import checkpoint as ckpt
from egovla.train import launch
from egovla.train.config import TrainConfig, check_resume_compatible, resolve_precision
from egovla.train.distributed import comm_for, gather_checksums, mean_across, state_checksum
from egovla.train.ema import WeightAverage
from egovla.train.errors import DivergenceError, RanksOutOfSyncError, ResumeMismatchError, TrainingError
from egovla.train.optim import build_optimizer, load_optimizer
from egovla.train.rng import restore_rng_state, seed_all
from egovla.train.sampler import DataPlan, ShardedBatchSampler
from egovla.train.schedule import lr_at, set_lr
from egovla.train.tracking import CURVE_FILE, METRICS_FILE, TrainLogger, plot_loss_curve, write_summary
from egovla.train.workers import start_batches

STATE_FORMAT = 1


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def _multi_process_cpu() -> bool:
    """Launched as several processes (torchrun / accelerate launch --multi_gpu) on a machine without CUDA:
    accelerate only sets up gloo DDP over CPU processes when told cpu=True."""
    return launch.world_size() > 1 and not torch.cuda.is_available()


def _make_accelerator(precision: str, cfg: TrainConfig) -> Accelerator:
    # accelerate keeps one process-wide state; a single-process caller that trains again with another
    # precision (tests, notebooks) would get "AcceleratorState has already been initialized", so
    # forget the old precision there. Multi-process runs keep their state (one train() per launch).
    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision", precision) != precision and launch.world_size() == 1:
        AcceleratorState._reset_state()
    ddp = DistributedDataParallelKwargs(find_unused_parameters=cfg.find_unused_parameters)
    return Accelerator(mixed_precision=precision, cpu=_multi_process_cpu(), kwargs_handlers=[ddp])


def _say(accelerator: Accelerator, msg: str) -> None:
    if accelerator.is_main_process:
        tqdm.write(f"[egovla.train] {msg}")


def _find_resume_point(accelerator, ckpt_root: Path, cfg: TrainConfig, plan: DataPlan, precision: str, resume: bool):
    """The checkpoint to continue from (and its trainer state), or (None, None) for a fresh start."""
    latest = ckpt.latest_checkpoint(ckpt_root)
    if not resume:
        if latest is not None:
            raise TrainingError(
                f"{ckpt_root.parent} already holds checkpoints of an earlier run (latest {latest.name}); "
                f"pass resume=True (--resume) to continue it, or train into a new output folder"
            )
        return None, None
    if latest is None:
        _say(accelerator, f"resume requested but no checkpoint in {ckpt_root}: starting fresh")
        return None, None
    state = ckpt.read_trainer_state(latest)
    where = str(latest)
    if state.get("format") != STATE_FORMAT:
        raise ResumeMismatchError(f"{where}: unknown trainer state format {state.get('format')!r}")
    check_resume_compatible(state["config"], cfg, state["step"], where)
    for field, now in (("num_processes", plan.num_processes), ("dataset_len", plan.dataset_len), ("precision", precision)):
        if state[field] != now:
            raise ResumeMismatchError(
                f"cannot resume from {where}: {field} was {state[field]!r}, now {now!r}; an exact continuation "
                f"needs the same number of processes, dataset and precision"
            )
    if state["micro_batches"] != state["step"] * cfg.grad_accum:
        raise ResumeMismatchError(f"{where}: trainer state is inconsistent (micro_batches vs step x grad_accum)")
    return latest, state


def _forward_backward(accelerator: Accelerator, model, batches, ga: int) -> tuple[float, dict[str, float]]:
    """Run `ga` micro-batches (gradients synchronised on the last only); return the loss and the policy's
    metrics, averaged over micro-batches and processes (the same numbers on every process)."""
    loss_sum, metric_sums = 0.0, {}
    for micro in range(ga):
        batch = _to_device(next(batches), accelerator.device)
        with accelerator.no_sync(model) if micro < ga - 1 else nullcontext():
            loss, metrics = model(batch)
            accelerator.backward(loss / ga if ga > 1 else loss)
        loss_sum += float(loss.detach().float())
        for k, v in (metrics or {}).items():
            metric_sums[k] = metric_sums.get(k, 0.0) + float(v)
    names = sorted(metric_sums)
    means = mean_across(accelerator, [loss_sum / ga] + [metric_sums[k] / ga for k in names])
    return means[0], dict(zip(names, means[1:]))


def _trainer_state(step: int, plan: DataPlan, cfg: TrainConfig, precision: str, loss: float | None) -> dict[str, Any]:
    micro = step * cfg.grad_accum
    epoch, position = plan.position(micro)
    return {
        "format": STATE_FORMAT, "step": step, "epoch": epoch, "position": position, "micro_batches": micro,
        "batches_per_epoch": plan.batches_per_epoch, "dataset_len": plan.dataset_len,
        "num_processes": plan.num_processes, "precision": precision, "loss": loss, "config": cfg.to_dict(),
    }  # fmt: skip


def train(policy: torch.nn.Module, dataset, cfg: TrainConfig, out_dir, resume: bool = False, progress: bool = True) -> dict:
    """Train `policy` on `dataset` for `cfg.steps` optimizer steps; write checkpoints, logs and the final
    policy under `out_dir`; return the summary (also written to out_dir/summary.json).

    With resume=True, continue bit-exactly from the latest complete checkpoint in out_dir (or start
    fresh, saying so, when there is none). Works unchanged under `accelerate launch` / `torchrun`.
    """
    wall0 = time.perf_counter()
    cfg.validate()
    out_dir = Path(out_dir)
    precision = resolve_precision(cfg.precision)
    accelerator = _make_accelerator(precision, cfg)
    rank, world, is_main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    comm = comm_for(accelerator)
    plan = DataPlan(len(dataset), cfg.batch_size, world, cfg.seed)
    ckpt_root = out_dir / "checkpoints"
    if is_main:
        ckpt_root.mkdir(parents=True, exist_ok=True)
        ckpt.clear_stale(ckpt_root)
    accelerator.wait_for_everyone()

    resume_dir, state = _find_resume_point(accelerator, ckpt_root, cfg, plan, precision, resume)
    start_step = state["step"] if state else 0
    was_training = policy.training
    if resume_dir is not None:
        ckpt.load_policy_weights(policy, resume_dir / ckpt.POLICY_DIR)
    optimizer = build_optimizer(policy, cfg)
    model, optimizer = accelerator.prepare(policy, optimizer)
    if resume_dir is not None:
        load_optimizer(optimizer, resume_dir)
        restore_rng_state(ckpt.read_rng_state(resume_dir, rank))
        _say(accelerator, f"resuming from {resume_dir.name} (step {start_step}, epoch {state['epoch']}, batch {state['position']})")
    else:
        seed_all(cfg.seed + rank)
    ema = WeightAverage(accelerator.unwrap_model(model), cfg.ema_decay) if cfg.ema_decay else None
    if ema is not None and resume_dir is not None:
        ema.load(resume_dir)

    ga = cfg.grad_accum
    sampler = ShardedBatchSampler(plan, rank, start=start_step * ga, count=(cfg.steps - start_step) * ga)
    loader_seed = int(np.random.SeedSequence([cfg.seed, rank, start_step]).generate_state(1)[0])
    loader = DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(loader_seed),
    )  # fmt: skip
    logger = TrainLogger(out_dir, start_step=start_step, enabled=is_main)
    bar = tqdm(total=cfg.steps, initial=start_step, disable=not (progress and is_main), desc="train", unit="step", dynamic_ncols=True)
    global_batch = cfg.batch_size * ga * world
    clip = cfg.clip_norm if cfg.clip_norm is not None and cfg.clip_norm > 0 else math.inf
    last_loss = state.get("loss") if state else None
    t_start = t_window = time.perf_counter()
    window_steps = 0
    model.train()
    try:
        batches = start_batches(loader)
        for step in range(start_step, cfg.steps):
            lr = lr_at(step, peak_lr=cfg.lr, total_steps=cfg.steps, warmup_steps=cfg.warmup_steps, min_lr_ratio=cfg.min_lr_ratio)
            set_lr(optimizer, lr)
            step_loss, step_metrics = _forward_backward(accelerator, model, batches, ga)
            if not math.isfinite(step_loss):
                raise DivergenceError(_diverged("loss", step_loss, step + 1, plan, ga, ckpt_root), step + 1)
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), clip)
            grad_norm = float(grad_norm) if grad_norm is not None else None
            if grad_norm is not None and not math.isfinite(grad_norm):
                raise DivergenceError(_diverged("gradient norm", grad_norm, step + 1, plan, ga, ckpt_root), step + 1)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done, last_loss = step + 1, step_loss
            if ema is not None:
                ema.update(done)
            window_steps += 1
            now = time.perf_counter()
            if done % cfg.log_every == 0 or done == cfg.steps:
                rate = window_steps * global_batch / max(now - t_window, 1e-9)
                epoch = done * ga / plan.batches_per_epoch
                logger.log(done, {"loss": step_loss, "lr": lr, "grad_norm": grad_norm, "samples_per_s": rate, "epoch": epoch}, step_metrics)
                t_window, window_steps = now, 0
            overall = (done - start_step) * global_batch / max(now - t_start, 1e-9)
            bar.set_postfix(loss=f"{step_loss:.4g}", samples_s=f"{overall:.1f}", refresh=False)
            bar.update(1)
            if cfg.save_every > 0 and (done % cfg.save_every == 0 or done == cfg.steps):
                logger.flush()
                ckpt.save_checkpoint(
                    ckpt_root, done, policy=accelerator.unwrap_model(model), optimizer=optimizer,
                    trainer_state=_trainer_state(done, plan, cfg, precision, step_loss), keep_last=cfg.keep_last, comm=comm,
                    ema=ema,
                )  # fmt: skip
    finally:
        bar.close()
        logger.close()
    train_time = time.perf_counter() - t_start
    steps_run = cfg.steps - start_step
    unwrapped = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    unwrapped.train(was_training)
    if ema is not None:
        ema.copy_to_model()  # the saved policy is the average; the last checkpoint keeps the live weights
    checksums = gather_checksums(accelerator, state_checksum(unwrapped))
    in_sync = len(set(checksums)) == 1
    summary = {
        "steps": cfg.steps, "start_step": start_step, "steps_run": steps_run,
        "resumed_from": str(resume_dir) if resume_dir is not None else None,
        "final_loss": last_loss, "samples_seen": cfg.steps * global_batch,
        "epochs": cfg.steps * ga / plan.batches_per_epoch,
        "samples_per_s": steps_run * global_batch / train_time if steps_run and train_time > 0 else None,
        "train_time_s": train_time, "wall_time_s": time.perf_counter() - wall0,
        "num_processes": world, "batch_size_global": global_batch, "precision": precision,
        "ema_decay": cfg.ema_decay,
        "rank_checksums": checksums, "ranks_in_sync": in_sync,
        "policy_dir": str(out_dir / "policy"), "out_dir": str(out_dir),
    }  # fmt: skip
    if is_main:
        tmp = out_dir / ".tmp-policy"
        shutil.rmtree(tmp, ignore_errors=True)
        unwrapped.save_pretrained(tmp)
        ckpt.replace_dir_atomically(tmp, out_dir / "policy")
        plot_loss_curve(out_dir / METRICS_FILE, out_dir / CURVE_FILE)
        summary["wall_time_s"] = time.perf_counter() - wall0
        write_summary(out_dir, summary)
    accelerator.wait_for_everyone()
    if not in_sync:
        raise RanksOutOfSyncError(f"the processes finished with different parameters: checksums {checksums}")
    return summary


def _diverged(what: str, value: float, step: int, plan: DataPlan, ga: int, ckpt_root: Path) -> str:
    epoch, pos = plan.position((step - 1) * ga)
    last = ckpt.latest_checkpoint(ckpt_root)
    kept = f"the last good checkpoint, {last}, is intact" if last else "no checkpoint had been written yet"
    return (
        f"training diverged: the {what} is {value} at step {step} (epoch {epoch}, batch {pos}); stopped before "
        f"the optimizer update, {kept}. Lower the learning rate or check the data of that batch."
    )
