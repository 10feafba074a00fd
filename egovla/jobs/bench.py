"""`egovla bench`: latency of one predict_chunk per inference-lever set, side by side.

For a trained policy (a run folder) or a named architecture with random weights ('tiny', the
`egovla demo` model; 'smolvlm2-500m', a SmolVLM2-500M-shaped Idefics3 backbone with a ~100M head,
built from a config without downloading anything; or a PolicyConfig JSON file), each lever set runs
in a fresh process: apply the levers, one first call (compile / export happen here: "setup"),
warm-up calls, then `runs` timed calls on the same observation. Reported per set: latency p50/p90,
chunks/s and actions/s (batch / mean latency, x chunk length), peak memory (CPU: the process's peak
resident set during the timed calls, weights included; CUDA: peak allocated), and the chunk's
largest deviation from the baseline's in normalized action units.
"""

from __future__ import annotations

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

ARCHS = ("tiny", "smolvlm2-500m")
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
        if self.sets is None:
            self.sets = parse_sets(None, self.device)


# ---- models -------------------------------------------------------------------------------------
def smolvlm2_500m_spec(folder: Path) -> Path:
    """A SmolVLM2-500M-shaped model folder (config.json + a byte-level BPE tokenizer), no weights.

    Sizes as HuggingFaceTB/SmolVLM2-500M-Video-Instruct: SigLIP-B/16 at 512 px (12 layers, 768 wide),
    pixel shuffle x4 (64 tokens per image), SmolLM2-360M (32 layers, 960 wide, 15 heads, 5 KV heads).
    The tokenizer is a stand-in (one token per byte), so instructions are ~4x more tokens than with
    SmolVLM's own BPE: text costs are, if anything, overstated.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, SmolVLMConfig

    folder.mkdir(parents=True, exist_ok=True)
    text = dict(model_type="llama", vocab_size=49280, hidden_size=960, intermediate_size=2560,
                num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5, max_position_embeddings=8192,
                rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True, pad_token_id=2)
    vision = dict(model_type="smolvlm_vision", hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                  num_attention_heads=12, image_size=512, patch_size=16)
    SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=4, image_token_id=49190,
                  pad_token_id=2).save_pretrained(folder)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    vocab.update({ch: i + 3 for i, ch in enumerate(sorted(alphabet))})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|endoftext|>",
                            pad_token="<|im_end|>").save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    return folder


def build_model(cfg: BenchConfig):
    """(Policy in eval mode, a description) for --policy or --model."""
    import torch

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
    path = Path(str(cfg.model))
    if not path.is_file():
        raise FileNotFoundError(f"--model {cfg.model}: not one of {', '.join(ARCHS)} nor a PolicyConfig JSON file")
    raw = json.loads(path.read_text())
    raw.pop("format", None)
    pc = PolicyConfig.from_dict(raw)
    if cfg.head:
        pc.head.kind = cfg.head
    if pc.backbone.kind != "tiny":
        raise ValueError(f"--model {path}: only tiny-backbone configs build without weights; use --model smolvlm2-500m")
    return Policy(pc).eval(), f"{path}, random weights"


def observation(config, batch: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(batch, *config.image_shape), dtype=np.uint8)
    state = rng.normal(size=(batch, config.state_dim)).astype(np.float32) * 0.1
    return {"images": images, "instruction": [INSTRUCTION] * batch, "state": state}


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


def measure(cfg: BenchConfig, levers: list[str]) -> dict:
    """One lever set, in this process: setup, warm-up, timed calls."""
    import torch

    from egovla.model.levers import apply_levers

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    policy, what = build_model(cfg)
    policy.to(cfg.device)
    obs = observation(policy.config, cfg.batch, cfg.seed)
    base = policy.predict_chunk(obs)
    scale = policy.normalizer.action_scale.cpu().numpy()
    params = sum(p.numel() for p in policy.parameters())
    t0 = time.perf_counter()
    fast = apply_levers(policy, levers)
    del policy
    gc.collect()
    first = fast.predict_chunk(obs)
    setup = time.perf_counter() - t0
    deviation = float(np.abs((first - base) / scale).max())
    if cfg.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    _reset_peak()
    for _ in range(cfg.warmup):
        fast.predict_chunk(obs)
    times = []
    for _ in range(cfg.runs):
        tic = time.perf_counter()
        fast.predict_chunk(obs)  # returns numpy: the device work is finished
        times.append(time.perf_counter() - tic)
    t = np.array(times)
    chunks_s = cfg.batch / t.mean()
    return {"levers": ",".join(levers) or "baseline", "model": what, "params": params, "batch": cfg.batch,
            "device": cfg.device, "threads": torch.get_num_threads(), "runs": cfg.runs,
            "p50_ms": 1000 * float(np.percentile(t, 50)), "p90_ms": 1000 * float(np.percentile(t, 90)),
            "chunks_per_s": float(chunks_s), "actions_per_s": float(chunks_s * first.shape[-2]),
            "peak_mb": _peak_mb(cfg.device), "setup_s": setup, "max_dev": deviation}


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
