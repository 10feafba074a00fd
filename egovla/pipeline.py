"""What `egovla train` and `egovla demo` do, as plain functions: build data, build policy, train, evaluate."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticConfig, SyntheticDataset
from egovla.model.backbone import BackboneConfig
from egovla.model.config import HeadConfig, PolicyConfig, apply_overrides
from egovla.model.policy import Policy
from egovla.train.config import TrainConfig

HELDOUT_SEED_OFFSET = 1_000_003  # the held-out split of the synthetic data uses seed + this


@dataclass
class DatasetSpec:
    name: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> "DatasetSpec":
        name, sep, weight = text.rpartition(":") if ":" in text else (text, "", "")
        if not sep:
            return cls(text)
        try:
            return cls(name, float(weight))
        except ValueError:
            return cls(text)  # a ':' that is part of a path, not a weight


@dataclass
class TrainJob:
    datasets: list[DatasetSpec] = field(default_factory=lambda: [DatasetSpec("synthetic")])
    model: str = "tiny"  # 'tiny' or a local folder (or hub id) of a Hugging Face VLM
    head: str = "regression"
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    policy_overrides: list[str] = field(default_factory=list)
    eval_samples: int = 256


def build_datasets(job: TrainJob) -> tuple[SyntheticDataset, SyntheticDataset]:
    """(train, held-out). Only the built-in synthetic dataset exists until the LeRobot reader lands."""
    if len(job.datasets) != 1 or job.datasets[0].name != "synthetic":
        names = ", ".join(d.name for d in job.datasets)
        raise ValueError(
            f"--dataset {names}: this version trains on the built-in 'synthetic' dataset only; "
            "LeRobot datasets and weighted mixtures are not supported yet"
        )
    train = SyntheticDataset(job.synthetic)
    heldout_cfg = SyntheticConfig(**{**job.synthetic.__dict__, "size": max(job.eval_samples, 1),
                                     "seed": job.synthetic.seed + HELDOUT_SEED_OFFSET})
    return train, SyntheticDataset(heldout_cfg)


def build_policy_config(job: TrainJob) -> PolicyConfig:
    s = job.synthetic
    backbone = BackboneConfig() if job.model == "tiny" else BackboneConfig(kind="hf", path=job.model)
    cfg = PolicyConfig(
        backbone=backbone,
        head=HeadConfig(kind=job.head),
        n_history=s.n_history,
        n_views=s.n_views,
        image_height=s.image_size,
        image_width=s.image_size,
        chunk_len=s.chunk_len,
    )
    apply_overrides(cfg, job.policy_overrides)
    return cfg


def run_training(job: TrainJob, train_cfg: TrainConfig, out: Path, resume: bool, progress: bool = True) -> dict:
    """Train, then (on the main process) measure held-out error; returns the summary dict."""
    from egovla.evaluate import offline_metrics
    from egovla.train.loop import train

    train_set, heldout = build_datasets(job)
    stats = compute_stats(train_set)
    torch.manual_seed(train_cfg.seed)  # the same initial weights on every rank and every resume
    policy = Policy(build_policy_config(job), stats)
    summary = train(policy, train_set, train_cfg, out, resume=resume, progress=progress)
    if int(os.environ.get("RANK", "0")) == 0 and job.eval_samples > 0:
        t0 = time.perf_counter()
        metrics = offline_metrics(policy, heldout, n=job.eval_samples)
        metrics["eval_seconds"] = time.perf_counter() - t0
        (Path(out) / "eval.json").write_text(json.dumps(metrics, indent=2))
        summary["eval"] = metrics
    return summary


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
