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
from egovla.data.windows import WindowConfig
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
    window: WindowConfig = field(default_factory=WindowConfig)  # how LeRobot datasets are cut into samples
    holdout: float = 0.1  # fraction of each LeRobot dataset's episodes (the last ones) kept for evaluation
    policy_overrides: list[str] = field(default_factory=list)
    eval_samples: int = 256


def build_datasets(job: TrainJob):
    """(train, held-out or None): the built-in synthetic data, or LeRobot datasets (a mixture if several)."""
    names = [d.name for d in job.datasets]
    if "synthetic" not in names:
        from egovla.data.sources import open_sources

        return open_sources(names, [d.weight for d in job.datasets], job.window, job.holdout, job.synthetic.seed)
    if len(names) != 1:
        raise ValueError(f"--dataset {', '.join(names)}: the built-in 'synthetic' dataset cannot be mixed with others")
    train = SyntheticDataset(job.synthetic)
    heldout_cfg = SyntheticConfig(**{**job.synthetic.__dict__, "size": max(job.eval_samples, 1),
                                     "seed": job.synthetic.seed + HELDOUT_SEED_OFFSET})
    return train, SyntheticDataset(heldout_cfg)


def build_policy_config(job: TrainJob, sample: dict | None = None, instructions: list[str] | None = None) -> PolicyConfig:
    """The policy's shapes from one training sample (default: the synthetic data's), then --set overrides.

    The tiny backbone's text budget grows to fit the longest of `instructions` (bytes + 2).
    """
    backbone = BackboneConfig() if job.model == "tiny" else BackboneConfig(kind="hf", path=job.model)
    if sample is None:
        s = job.synthetic
        t, v, h, w, chunk, s_dim, a_dim = s.n_history, s.n_views, s.image_size, s.image_size, s.chunk_len, 48, 48
    else:
        t, v, _, h, w = sample["images"].shape
        chunk, a_dim = sample["action"].shape
        s_dim = sample["state"].shape[0]
    if instructions and backbone.kind == "tiny":
        backbone.max_text_len = max(backbone.max_text_len, max(len(x.encode()) for x in instructions) + 2)
    cfg = PolicyConfig(backbone=backbone, head=HeadConfig(kind=job.head), n_history=int(t), n_views=int(v),
                       image_height=int(h), image_width=int(w), chunk_len=int(chunk), state_dim=int(s_dim),
                       action_dim=int(a_dim))
    apply_overrides(cfg, job.policy_overrides)
    return cfg


def describe_data(job: TrainJob, dataset) -> dict:
    """What the policy was trained on and how samples were cut: enough to rebuild observations later."""
    out: dict = {"datasets": [{"name": d.name, "weight": d.weight} for d in job.datasets]}
    parts = [d for d in getattr(dataset, "datasets", [dataset]) if hasattr(d, "reader")]
    if parts:
        first = parts[0]
        out["window"] = {"history_s": list(first.cfg.history), "chunk_len": first.cfg.chunk_len,
                         "image_size": list(first.image_hw), "n_views": first.n_views}
        for spec, d in zip(out["datasets"], parts):
            spec.update({"fps": d.reader.fps, "cameras": d.cameras, "frames": len(d),
                         "state_key": d.cfg.state_key, "action_key": d.cfg.action_key})
        if len(parts) > 1:
            out["share"] = dataset.share()
    return out


def dataset_instructions(dataset) -> list[str]:
    """Every task string a (mixture of) LeRobot window dataset(s) can yield; [] for other datasets."""
    parts = getattr(dataset, "datasets", [dataset])
    return [t for d in parts if hasattr(d, "reader") for t in d.reader.tasks]


def run_training(job: TrainJob, train_cfg: TrainConfig, out: Path, resume: bool, progress: bool = True) -> dict:
    """Train, then (on the main process) measure held-out error; returns the summary dict."""
    from egovla.evaluate import offline_metrics
    from egovla.train.loop import train

    train_set, heldout = build_datasets(job)
    stats = compute_stats(train_set)
    torch.manual_seed(train_cfg.seed)  # the same initial weights on every rank and every resume
    policy = Policy(build_policy_config(job, train_set[0], dataset_instructions(train_set)), stats)
    summary = train(policy, train_set, train_cfg, out, resume=resume, progress=progress)
    if int(os.environ.get("RANK", "0")) == 0:
        (Path(out) / "data.json").write_text(json.dumps(describe_data(job, train_set), indent=2))
    if int(os.environ.get("RANK", "0")) == 0 and job.eval_samples > 0 and heldout is not None:
        t0 = time.perf_counter()
        metrics = offline_metrics(policy, heldout, n=job.eval_samples)
        metrics["eval_seconds"] = time.perf_counter() - t0
        (Path(out) / "eval.json").write_text(json.dumps(metrics, indent=2))
        summary["eval"] = metrics
    return summary


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
