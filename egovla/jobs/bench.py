"""`egovla bench`: latency of one predict_chunk per inference-lever set, side by side.

For a trained policy (a run folder) or a named architecture with random weights ('tiny', the
`egovla demo` model; 'smolvlm2-500m', a SmolVLM2-500M-shaped Idefics3 backbone with a ~100M head;
'smolvla' / 'smolvla-512', the SmolVLA-class preset (`SMOLVLA`: SmolVLM2-500M with its language model
cut to 16 of 32 layers, 2 views at 256 / 512 px, a ~100M flow head, chunk 50, 10 flow steps, state 8,
action 7); all built from configs without downloading anything; or a PolicyConfig JSON file, whose
'hf' backbone is built from its folder's config), each lever set runs in a fresh process: apply the
levers, one first call (compile / export happen here: "setup"), warm-up calls, then `runs` timed
calls on the same observation (random images, a state inside the policy's statistics). Reported per
set: latency p50/p90, chunks/s and actions/s (batch / mean latency, x chunk length), peak memory (CPU:
the process's peak resident set during the timed calls, weights included; CUDA: peak allocated), and
the chunk's largest deviation from the baseline's in normalized action units (`max_deviation`).
"""

from __future__ import annotations

import copy
import gc
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

SMOLVLA_SIZE = {"smolvla": 256, "smolvla-512": 512}  # camera image side (= the vision tower's input side)

ARCHS = ("tiny", "smolvlm2-500m", "smolvla", "smolvla-512")
INSTRUCTION = "push the red block to the goal"
CPU_SETS = ("cache", "prune=0.5", "int8", "bf16", "compile", "onnx", "cache,prune=0.5,int8")
CUDA_SETS = ("cache", "prune=0.5", "bf16", "fp16", "compile", "cache,prune=0.5,bf16,compile")


def parse_sets(text: str | None, device: str = "cpu") -> tuple[tuple[str, ...], ...]:
    """'cache;prune=0.5;cache,int8' -> (('cache',), ('prune=0.5',), ('cache', 'int8')); None: the device's defaults."""
    from egovla.model.levers import parse_levers

    groups = text.split(";") if text else list(CPU_SETS if device == "cpu" else CUDA_SETS)
    sets = [tuple(parse_levers(g)) for g in groups]
    return tuple(s for s in sets if s)


LEVERS_HELP = ("lever sets to measure beside the baseline, ';' between sets, ',' within one: e.g. "
               "'cache;prune=0.5;int8;cache,prune=0.5,int8'. Levers: cache, prune=R (fraction of visual tokens "
               "kept), int8 (CPU), bf16, fp16, compile, onnx (CPU). Default: each lever alone, then the CPU "
               "(cache,prune=0.5,int8) or CUDA (cache,prune=0.5,bf16,compile) combination")


def _f(default, help: str, **meta):
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class BenchConfig:
    policy: str | None = _f(None, "a run folder from `egovla train`, or its policy/ folder", one_of="source",
                            metavar="RUN_DIR")
    model: str | None = _f(None, "an architecture with random weights: " + ", ".join(ARCHS) + ", or a PolicyConfig "
                           "JSON file", one_of="source", metavar="NAME|CONFIG")
    head: str | None = _f(None, "the head of --model (default: the config's)", choices=("regression", "flow"))
    device: str = _f("cpu", "where to run", choices=("cpu", "cuda"))
    batch: int = _f(1, "observations per call", metavar="B")
    sets: tuple[tuple[str, ...], ...] | None = _f(None, LEVERS_HELP, flag="--levers", parse=parse_sets,
                                                  metavar="SETS")
    runs: int = _f(30, "timed calls per set", metavar="N")
    warmup: int = _f(3, "untimed calls before", metavar="N")
    threads: int = _f(0, "torch threads (0: torch's default)", metavar="N")
    image_size: int = _f(0, "smolvla presets: camera image side in pixels (0: the preset's, 256 for smolvla, 512 for "
                         "smolvla-512); the vision tower runs at that side", metavar="PX")
    seed: int = _f(0, "seed of the random weights and the observation")

    def __post_init__(self) -> None:
        if (self.policy is None) == (self.model is None):
            raise ValueError("give exactly one of --policy RUN_DIR or --model NAME|CONFIG.json")
        if self.batch < 1 or self.runs < 1 or self.warmup < 0:
            raise ValueError("batch and runs must be >= 1, warmup >= 0")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"--device {self.device!r}: expected cpu or cuda")
        if self.model is not None and self.model not in ARCHS and not Path(self.model).is_file():
            raise FileNotFoundError(f"--model {self.model}: not one of {', '.join(ARCHS)} nor a PolicyConfig JSON file")
        if self.policy is not None and not Path(self.policy).exists():
            raise FileNotFoundError(f"--policy {self.policy}: no such run or policy folder")
        if self.image_size and self.model not in SMOLVLA_SIZE:
            raise ValueError(f"--image-size applies to the smolvla presets ({', '.join(SMOLVLA_SIZE)}), not to "
                             f"{self.model or self.policy}")
        if self.sets is None:
            self.sets = parse_sets(None, self.device)


# ---- models -------------------------------------------------------------------------------------
def build_model(cfg: BenchConfig):
    """(Policy in eval mode, a description) for --policy or --model."""
    import torch

    from egovla.model.presets import smolvla_config, smolvlm2_500m_spec

    from egovla.model.backbone import BackboneConfig
    from egovla.model.config import HeadConfig, PolicyConfig
    from egovla.model.policy import Policy

    if cfg.policy is not None:
        from egovla.runs import load_run

        return load_run(cfg.policy).policy, f"trained policy {cfg.policy}"
    torch.manual_seed(cfg.seed)
    head = cfg.head or "regression"
    if cfg.model == "tiny":  # `egovla demo`'s model: tiny backbone, 64 px, chunk 16
        pc = PolicyConfig(head=HeadConfig(kind=head), chunk_len=16)
        return Policy(pc).eval(), f"tiny (egovla demo's model), {head} head, random weights"
    if cfg.model == "smolvlm2-500m":
        spec = smolvlm2_500m_spec(Path(tempfile.mkdtemp(prefix="egovla-smolvlm2-")))
        layers = 8 if head == "regression" else 6  # ~100M parameters either way (width 1024)
        pc = PolicyConfig(backbone=BackboneConfig(kind="hf", max_text_len=64),
                          head=HeadConfig(kind=head, width=1024, layers=layers, heads=16),
                          image_height=256, image_width=256, chunk_len=30, n_queries=8)
        return Policy(pc, None, backbone_spec_dir=spec).eval(), f"SmolVLM2-500M-shaped, {head} head, random weights"
    if cfg.model in SMOLVLA_SIZE:
        side = cfg.image_size or SMOLVLA_SIZE[cfg.model]
        spec = smolvlm2_500m_spec(Path(tempfile.mkdtemp(prefix="egovla-smolvla-")), image_size=side)
        pc = smolvla_config(spec, side)
        if cfg.head:
            pc.head.kind = cfg.head
        what = (f"SmolVLA-class: SmolVLM2-500M-shaped, text layers 16 of 32, {pc.n_views} views at {side} px, "
                f"{pc.head.kind} head {pc.head.width}x{pc.head.layers}, chunk {pc.chunk_len}, random weights")
        return Policy(pc, None, backbone_spec_dir=spec).eval(), what
    path = Path(str(cfg.model))
    if not path.is_file():
        raise FileNotFoundError(f"--model {cfg.model}: not one of {', '.join(ARCHS)} nor a PolicyConfig JSON file")
    raw = json.loads(path.read_text())
    raw.pop("format", None)
    pc = PolicyConfig.from_dict(raw)
    if cfg.head:
        pc.head.kind = cfg.head
    if pc.backbone.kind == "hf":  # the folder's architecture (config, tokenizer); any weights there are not read
        from egovla.model.backbones.hf import resolve_source

        spec = Path(resolve_source(pc.backbone.path))
        if not spec.is_dir():
            raise ValueError(f"--model {path}: backbone.path must be a local model folder to build from, got {spec}")
        return Policy(pc, None, backbone_spec_dir=spec).eval(), f"{path} (backbone {spec}), random weights"
    if pc.backbone.kind != "tiny":
        raise ValueError(f"--model {path}: backbone kind {pc.backbone.kind!r}; expected 'tiny' or 'hf'")
    return Policy(pc).eval(), f"{path}, random weights"


def observation(config, batch: int, seed: int, normalizer=None) -> dict[str, Any]:
    """Random images and instruction, and a state in the policy's training distribution: normalized, the state
    is 0.1 * N(0, 1) (`normalizer`: the policy's; without one, or without statistics, the raw state is that).

    A state drawn without the statistics would sit far outside them in every dim that was (nearly) constant
    in training (std 0 is clamped to 1e-6: a raw 0.1 there is 1e5 after normalization), where the chunk is
    ill-conditioned: float32 rounding alone then moves it by ~1e-4 (see `egovla.model.levers.check_state`),
    and the levers' deviations measure that instead of the levers."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(batch, *config.image_shape), dtype=np.uint8)
    z = rng.normal(size=(batch, config.state_dim)).astype(np.float32) * 0.1
    if normalizer is not None and normalizer.stats:
        shift = normalizer.state_shift.cpu().numpy()
        scale = normalizer.state_scale.cpu().numpy()
        z = (shift + scale * z).astype(np.float32)
    return {"images": images, "instruction": [INSTRUCTION] * batch, "state": z}


def max_deviation(chunk: np.ndarray, base: np.ndarray, normalizer) -> float:
    """Largest |chunk - base| in normalized action units, not counting a float32 ulp of the action itself: in a
    dim that hardly varied in training (tiny scale), one ulp of the shift divided by the scale would read as
    a large deviation between two chunks that are equal to float32 precision."""
    scale = normalizer.action_scale.cpu().numpy()
    ulp = np.spacing(np.maximum(np.abs(chunk), np.abs(base)).astype(np.float32))
    return float((np.maximum(np.abs(chunk - base) - ulp, 0.0) / scale).max())


# ---- measuring ----------------------------------------------------------------------------------
def _reset_peak() -> None:
    try:  # hand freed heap memory back to the OS first (glibc keeps it, and RSS would count it)
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: peak RSS := current RSS
    except OSError:
        pass


def _peak_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_calls(call, runs: int, warmup: int = 0, device: str = "cpu") -> dict:
    """`warmup` untimed calls, then `runs` timed calls of `call()`, which must finish its device work (e.g. return
    numpy). Returns p50/p90 (ms), mean (s) and the peak memory from just before the warm-up to the end (CPU: the
    process's peak resident set, weights included; CUDA: peak allocated). Stdlib + numpy here (torch only for
    CUDA), so a script run with another Python (benchmarks/lerobot_side.py) measures the same way."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    _reset_peak()
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        tic = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tic)
    t = np.array(times)
    return {"p50_ms": 1000 * float(np.percentile(t, 50)), "p90_ms": 1000 * float(np.percentile(t, 90)),
            "mean_s": float(t.mean()), "peak_mb": _peak_mb(device)}


def measure(cfg: BenchConfig, levers: list[str]) -> dict:
    """One lever set, in this process: setup, warm-up, timed calls."""
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    policy, what = build_model(cfg)
    policy.to(cfg.device)
    obs = observation(policy.config, cfg.batch, cfg.seed, policy.normalizer)
    held = [policy]
    del policy
    return {"model": what, **measure_policy(held, obs, levers, cfg.runs, cfg.warmup, cfg.device)}


def measure_policy(held: list, obs: dict, levers: list[str], runs: int, warmup: int, device: str = "cpu") -> dict:
    """One lever set on the policy in `held` (a one-item list, emptied here, so that once the levers have copied
    it the original is freed and the memory peak is the levered policy's) and the observation batch `obs`:
    the baseline chunk, the levers' setup and first call, then `warmup` + `runs` calls (`time_calls`)."""
    import torch

    from egovla.model.levers import apply_levers

    policy = held.pop()
    base = policy.predict_chunk(obs)
    normalizer = copy.deepcopy(policy.normalizer).cpu()
    params = sum(p.numel() for p in policy.parameters())
    t0 = time.perf_counter()
    fast = apply_levers(policy, levers)
    del policy
    gc.collect()
    first = fast.predict_chunk(obs)
    setup = time.perf_counter() - t0
    deviation = max_deviation(first, base, normalizer)
    timing = time_calls(lambda: fast.predict_chunk(obs), runs, warmup, device)  # numpy: the device work is done
    batch = first.shape[0]
    chunks_s = batch / timing["mean_s"]
    return {"levers": ",".join(levers) or "baseline", "params": params, "batch": batch,
            "device": device, "threads": torch.get_num_threads(), "runs": runs,
            "p50_ms": timing["p50_ms"], "p90_ms": timing["p90_ms"],
            "chunks_per_s": float(chunks_s), "actions_per_s": float(chunks_s * first.shape[-2]),
            "peak_mb": timing["peak_mb"], "setup_s": setup, "max_dev": deviation}


def _measure_child(cfg_dict: dict, levers: list[str]) -> dict:
    return measure(BenchConfig(**cfg_dict), levers)


def run_bench(cfg: BenchConfig, progress: bool = True) -> list[dict]:
    """The baseline, then every lever set, each in a fresh process (clean memory peak and caches)."""
    rows = []
    for levers in [[], *map(list, cfg.sets)]:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            try:
                row = pool.submit(_measure_child, asdict(cfg), levers).result()
            except Exception as err:  # one lever failing (e.g. no compiler) still reports the others
                row = {"levers": ",".join(levers) or "baseline", "error": f"{type(err).__name__}: {err}"}
        rows.append(row)
        if progress:
            print(format_row(row, rows[0]), flush=True)
    return rows


HEADER = (f"{'levers':<30} {'p50 ms':>9} {'p90 ms':>9} {'chunks/s':>9} {'actions/s':>10} {'peak MB':>8} "
          f"{'setup s':>8} {'max dev':>8} {'speed-up':>8}")


def format_row(row: dict, base: dict) -> str:
    if "error" in row:
        return f"{row['levers']:<30} failed: {row['error'][:200]}"
    speed = base["p50_ms"] / row["p50_ms"] if "p50_ms" in base else float("nan")
    return (f"{row['levers']:<30} {row['p50_ms']:>9.2f} {row['p90_ms']:>9.2f} {row['chunks_per_s']:>9.1f} "
            f"{row['actions_per_s']:>10.0f} {row['peak_mb']:>8.0f} {row['setup_s']:>8.1f} {row['max_dev']:>8.1e} "
            f"{speed:>7.2f}x")


def format_table(rows: list[dict]) -> str:
    return "\n".join([HEADER, *[format_row(r, rows[0]) for r in rows]])
