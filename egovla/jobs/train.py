"""`egovla train` as a plain function: data sources -> policy -> trainer -> held-out check -> run folder.

`TrainJob` is what the command trains (the data, how samples are cut, the model); `TrainConfig`
(`egovla.train.config`) is how. `run_training(job, cfg, out)` builds the datasets (the built-in
synthetic task, or LeRobot datasets, a weighted mixture when several), sizes the policy from one
sample, trains it, writes the run record (`egovla.runs`) and, when asked, the held-out metrics.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from egovla.config import apply_overrides
from egovla.data.stats import compute_stats
from egovla.data.synthetic import SyntheticConfig, SyntheticDataset
from egovla.data.windows import AUX_DIMS, EGOVLA_HISTORY, WindowConfig
from egovla.model.backbone import BackboneConfig
from egovla.model.config import HeadConfig, PolicyConfig
from egovla.model.policy import HEADS, Policy
from egovla.runs import CAMERA_PREFIX, RunRecord, write_record
from egovla.train import launch
from egovla.train.config import TrainConfig

HELDOUT_SEED_OFFSET = 1_000_003  # the held-out split of the synthetic data uses seed + this
SYNTHETIC = "synthetic"


def parse_history(text: str) -> tuple[float, ...]:
    """'egovla' (EgoVLA's 6 frames 0.2 s apart) or seconds like '-0.4,-0.2,0'."""
    if text.strip().lower() == "egovla":
        return EGOVLA_HISTORY
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"give seconds like '-0.4,-0.2,0' or 'egovla', got {text!r}") from None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> "DatasetSpec":
        """'PATH', 'PATH:WEIGHT' (a ':' followed by something that is not a number is part of the path)."""
        name, sep, weight = text.rpartition(":")
        if not sep:
            return cls(text)
        try:
            return cls(name, float(weight))
        except ValueError:
            return cls(text)


def _f(default, help: str, group: str = "data", **meta):
    return field(default=default, metadata={"help": help, "group": group, **meta})


@dataclass(frozen=True)
class TrainJob:
    """What to train: the data, how samples are cut, the model. The defaults are `egovla train`'s."""

    datasets: tuple[str, ...] = _f((SYNTHETIC,), "a LeRobot dataset folder (v3.0 or v2.1) or 'synthetic' (the built-in "
                                   "learnable data); repeat for a weighted mixture, e.g. --dataset robot:3 --dataset "
                                   "human:1", flag="--dataset", repeat=True, metavar="PATH[:WEIGHT]")
    history: tuple[float, ...] = _f((0.0,), "LeRobot: history frames as seconds before now, oldest first, e.g. "
                                    "'-0.4,-0.2,0'; 'egovla' means EgoVLA's 6 frames 0.2 s apart",
                                    parse=parse_history, metavar="SECONDS")
    cameras: tuple[str, ...] | None = _f(None, "LeRobot: comma-separated camera features (default: all)",
                                         metavar="C1,C2")
    holdout: float = _f(0.1, "LeRobot: fraction of each dataset's episodes (the last ones) held out for evaluation")
    task_weights: tuple[str, ...] = _f((), "LeRobot: sample a task's windows WEIGHT times as often as its share of "
                                       "the frames gives (e.g. --task-weight 'push the puck to the goal=2')",
                                       flag="--task-weight", repeat=True, metavar="TASK=WEIGHT")
    aux_key: str | None = _f(None, "LeRobot: a per-frame vector feature whose --aux-dims the policy also learns to "
                             "predict from its action query tokens, during training only (e.g. "
                             "observation.environment_state: where Meta-World's object and goal are)", metavar="KEY")
    aux_dims: tuple[int, ...] = _f(AUX_DIMS, "LeRobot: the dims of --aux-key that are targets (default: Meta-World's "
                                   "first object and goal positions)", metavar="I,J,...")
    aux_weight: float = _f(1.0, "weight of the auxiliary loss against the action loss", group="model")
    samples: int = _f(20_000, "synthetic: number of training samples")
    image_size: int | None = _f(None, "square image side in pixels (synthetic: default 64; LeRobot: default the "
                                "stored size)", metavar="PX")
    objects: int = _f(1, "synthetic: blocks per image (more than 1 means finding the named colour among distractors)")
    chunk_len: int | None = _f(None, "future steps H per predicted chunk (default: 16 on synthetic data, 30 on "
                               "LeRobot data)", metavar="H")
    eval_samples: int = _f(256, "held-out samples measured after training (0: skip)")
    frame_cache_mb: float | None = _f(1024, "LeRobot: decoded, resized episodes kept in memory per loader process, "
                                      "in MiB (0: decode the video of every window; none: room for every frame of "
                                      "the datasets)", metavar="MIB")
    model: str = _f("tiny", "'tiny' (built-in toy Idefics3, random init) or a local folder of a Hugging Face VLM "
                    "(Idefics3/SmolVLM, Qwen2.5-VL, PaliGemma)", group="model", metavar="tiny|FOLDER")
    head: str = _f("regression", "action head", group="model", choices=tuple(HEADS))
    freeze_vision: bool = _f(False, "do not train the vision tower", group="model")
    lora_rank: int = _f(0, "train the language model with LoRA of this rank", group="model")
    init: str | None = _f(None, "start from this trained policy's weights (a run or policy folder): pretraining -> "
                          "fine-tuning. Its architecture (config; --set still applies), image size, chunk length, "
                          "history and head are the defaults; the data's shapes must match", group="model",
                          metavar="RUN")
    init_stats: str = _f("keep", "with --init: 'keep' normalizes with the initial policy's statistics (the pretrained "
                         "weights keep seeing inputs scaled as in pretraining); 'data' recomputes them on this run's "
                         "datasets", group="model", choices=("keep", "data"))
    policy_overrides: tuple[str, ...] = _f((), "PolicyConfig fields to set ('head.width=256')", cli=False)

    def sources(self) -> list[DatasetSpec]:
        return [DatasetSpec.parse(d) for d in self.datasets] or [DatasetSpec(SYNTHETIC)]

    def window(self) -> WindowConfig:
        """How LeRobot datasets are cut into samples."""
        size = self.image_size
        return WindowConfig(history=self.history, chunk_len=self.chunk_len or 30, cameras=self.cameras,
                            image_size=(size, size) if size else None, frame_cache_mb=self.frame_cache_mb,
                            task_weights=self.task_weights, aux_key=self.aux_key, aux_dims=self.aux_dims)

    def synthetic(self, seed: int) -> SyntheticConfig:
        return SyntheticConfig(size=self.samples, seed=seed, image_size=self.image_size or 64,
                               chunk_len=self.chunk_len or 16, n_objects=self.objects)


@dataclass(frozen=True)
class RunOptions:
    """Where a training run goes and how this process runs it."""

    out: Path = field(metadata={"help": "run folder: checkpoints/, policy/, tb/, loss.png, run.json, ...",
                                "required": True, "group": "run folder", "metavar": "DIR"})
    resume: bool = _f(False, "continue bit-exactly from the latest checkpoint in --out", group="run folder")
    threads: int = _f(0, "torch CPU threads per process (0: the CPU's cores divided by the number of processes; "
                      "more threads than free cores makes CPU training several times slower)", group="optimisation")
    progress: bool = _f(True, "progress bar", group="run folder")


def resolve_init(job: TrainJob) -> TrainJob:
    """With --init, the settings the data must be cut with default to the initial run's (a value given that
    differs from it is kept, and the weights check names what does not fit)."""
    if not job.init:
        return job
    from egovla.runs import policy_dir, read_record

    src = policy_dir(job.init)
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"--init {job.init}: not a run or policy folder (no config.json)")
    cfg = Policy.read_config(src)
    record = read_record(job.init, cfg.n_history)
    changes = {}
    if job.image_size is None:
        changes["image_size"] = cfg.image_height
    if job.chunk_len is None:
        changes["chunk_len"] = cfg.chunk_len
    if job.history == TrainJob.__dataclass_fields__["history"].default:
        changes["history"] = tuple(record.history_s)
    if job.head == TrainJob.__dataclass_fields__["head"].default:
        changes["head"] = cfg.head.kind
    return replace(job, **changes)


def initial_policy(job: TrainJob, train_set, seed: int) -> Policy:
    """The policy training starts from: fresh weights (seeded), or with --init that policy's architecture
    (its config, then --set overrides) and weights; the data's shapes must be the ones it was trained on."""
    torch.manual_seed(seed)  # the same initial weights on every rank and every resume
    fresh = build_policy_config(job, train_set[0], dataset_instructions(train_set))
    if not job.init:
        return Policy(fresh, compute_stats(train_set))
    from egovla.runs import policy_dir

    init = Policy.from_pretrained(policy_dir(job.init))
    data_fields = ("n_history", "n_views", "image_height", "image_width", "chunk_len", "state_dim", "action_dim",
                   "aux_dim")
    wrong = [f"{k} {getattr(fresh, k)} here, {getattr(init.config, k)} there" for k in data_fields
             if getattr(fresh, k) != getattr(init.config, k)]
    if wrong:
        raise ValueError(f"--init {job.init}: the data does not have the shapes the policy was trained on: "
                         f"{'; '.join(wrong)}")
    cfg = replace(init.config, head=replace(init.config.head, kind=job.head))
    cfg = apply_overrides(cfg, list(job.policy_overrides))
    cfg = replace(cfg, backbone=replace(cfg.backbone, max_text_len=max(cfg.backbone.max_text_len,
                                                                       fresh.backbone.max_text_len)))
    stats = init.normalizer.stats if job.init_stats == "keep" else compute_stats(train_set)
    policy = Policy(cfg, stats, backbone_spec_dir=policy_dir(job.init) / "backbone"
                    if (policy_dir(job.init) / "backbone").is_dir() else None)
    policy.load_weights_from(init, f"--init {job.init}")
    return policy


def build_datasets(job: TrainJob, seed: int = 0):
    """(train, held-out or None): the built-in synthetic data, or LeRobot datasets (a mixture if several)."""
    sources = job.sources()
    names = [d.name for d in sources]
    if SYNTHETIC not in names:
        from egovla.data.sources import open_sources

        return open_sources(names, [d.weight for d in sources], job.window(), job.holdout, seed)
    if len(names) != 1:
        raise ValueError(f"--dataset {', '.join(names)}: the built-in 'synthetic' dataset cannot be mixed with others")
    synthetic = job.synthetic(seed)
    heldout = SyntheticConfig(**{**synthetic.__dict__, "size": max(job.eval_samples, 1),
                                 "seed": seed + HELDOUT_SEED_OFFSET})
    return SyntheticDataset(synthetic), SyntheticDataset(heldout)


def build_policy_config(job: TrainJob, sample: dict | None = None, instructions: list[str] | None = None) -> PolicyConfig:
    """The policy's shapes from one training sample (default: the synthetic data's), then --set overrides.

    The tiny backbone's text budget grows to fit the longest of `instructions` (bytes + 2).
    """
    backbone = BackboneConfig() if job.model == "tiny" else BackboneConfig(kind="hf", path=job.model)
    backbone.freeze_vision, backbone.lora_rank = job.freeze_vision, job.lora_rank
    if sample is None:
        s = job.synthetic(0)
        t, v, h, w, chunk, s_dim, a_dim = s.n_history, s.n_views, s.image_size, s.image_size, s.chunk_len, 48, 48
    else:
        t, v, _, h, w = sample["images"].shape
        chunk, a_dim = sample["action"].shape
        s_dim = sample["state"].shape[0]
    aux_dim = int(sample["aux"].shape[0]) if sample is not None and "aux" in sample else 0
    if instructions and backbone.kind == "tiny":
        backbone.max_text_len = max(backbone.max_text_len, max(len(x.encode()) for x in instructions) + 2)
    cfg = PolicyConfig(backbone=backbone, head=HeadConfig(kind=job.head), n_history=int(t), n_views=int(v),
                       image_height=int(h), image_width=int(w), chunk_len=int(chunk), state_dim=int(s_dim),
                       action_dim=int(a_dim), aux_dim=aux_dim, aux_weight=job.aux_weight)
    return apply_overrides(cfg, list(job.policy_overrides))


def run_record(job: TrainJob, dataset) -> RunRecord:
    """What the policy was trained on and how samples were cut: enough to rebuild observations later."""
    specs = [{"name": d.name, "weight": d.weight} for d in job.sources()]
    parts = [d for d in getattr(dataset, "datasets", [dataset]) if hasattr(d, "reader")]
    if not parts:
        return RunRecord(datasets=tuple(specs))
    for spec, d in zip(specs, parts):
        spec.update({"fps": d.reader.fps, "cameras": d.cameras, "frames": len(d),
                     "state_key": d.cfg.state_key, "action_key": d.cfg.action_key})
        if d.cfg.task_weights:  # then "frames" counts the training windows as weighted
            spec["task_weights"] = list(d.cfg.task_weights)
        if d.cfg.aux_key:
            spec.update(aux_key=d.cfg.aux_key, aux_dims=list(d.cfg.aux_dims), has_aux=d.aux is not None)
    first = parts[0]
    return RunRecord(history_s=tuple(first.cfg.history),
                     cameras=tuple(c.removeprefix(CAMERA_PREFIX) for c in first.cameras),
                     fps=float(first.reader.fps), image_size=tuple(first.image_hw), n_views=first.n_views,
                     chunk_len=first.cfg.chunk_len, datasets=tuple(specs),
                     share=dataset.share() if len(parts) > 1 else None)


def dataset_instructions(dataset) -> list[str]:
    """Every task string a (mixture of) LeRobot window dataset(s) can yield; [] for other datasets."""
    parts = getattr(dataset, "datasets", [dataset])
    return [t for d in parts if hasattr(d, "reader") for t in d.reader.tasks]


def run_training(job: TrainJob, train_cfg: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> dict:
    """Train, then (on the main process) write the run record and measure held-out error; returns the summary."""
    from egovla.train.heldout import offline_metrics
    from egovla.train.loop import train

    job = resolve_init(job)
    train_set, heldout = build_datasets(job, train_cfg.seed)
    policy = initial_policy(job, train_set, train_cfg.seed)
    summary = train(policy, train_set, train_cfg, out, resume=resume, progress=progress)
    if launch.is_main():
        write_record(out, replace(run_record(job, train_set), init=str(job.init) if job.init else None))
    if launch.is_main() and job.eval_samples > 0 and heldout is not None:
        t0 = time.perf_counter()
        metrics = offline_metrics(policy, heldout, n=job.eval_samples)
        metrics["eval_seconds"] = time.perf_counter() - t0
        (Path(out) / "eval.json").write_text(json.dumps(metrics, indent=2))
        summary["eval"] = metrics
    return summary


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
