"""Efficient-inference levers: switches applied to a trained Policy, each off unless asked for.

    fast = apply_levers(policy, parse_levers("cache,prune=0.5,int8"))
    chunk = fast.predict_chunk(observation)        # the Policy.predict_chunk contract

| lever       | what it does                                                             | vs. the baseline chunk      |
|-------------|--------------------------------------------------------------------------|-----------------------------|
| `cache`     | flow head: the memory's cross-attention K/V computed once per chunk,     | identical                   |
|             | not at every Euler step (regression head: nothing is recomputed anyway)  |                             |
| `prune=R`   | keep the fraction R of each frame's visual tokens, those most similar to | approximate (fewer tokens)  |
|             | the instruction and query tokens, before the language model              |                             |
| `int8`      | dynamic int8 quantization of every nn.Linear (CPU)                       | approximate                 |
| `bf16`/`fp16` | weights in half precision, run under autocast (meant for CUDA)         | approximate                 |
| `compile`   | torch.compile of the whole chunk computation (CUDA: with CUDA graphs)    | equal to float rounding     |
| `onnx`      | ONNX export of the chunk computation, run with onnxruntime (CPU)         | equal to float rounding     |

`compile` and `onnx` check their first call against the eager model (the same policy and other levers,
run without compile / onnx) and raise if the chunks differ by more than `CHECK_TOL`: compared in
normalized action units before the unnormalization, at the call's own images, tokens and noise with an
in-distribution state (`check_state` says why). `apply_levers(policy, [])` returns the policy itself;
otherwise the policy is copied and left as it was.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import tempfile
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from egovla.model.policy import ChunkPredictor, Policy

LEVERS = ("cache", "prune=R", "int8", "bf16", "fp16", "compile", "onnx")
# the first-call check of compile / onnx: max |chunk - eager chunk| in normalized action units (the model's own
# output, before unnormalization), at an in-distribution state; combined with an approximate lever, that
# lever's tolerance applies (compiled half precision vs eager half precision)
CHECK_TOL = {"compile": 1e-4, "onnx": 1e-4, "int8": 0.15, "bf16": 0.05, "fp16": 0.01}


@dataclass(frozen=True)
class LeverConfig:
    """Which levers are on. The default (all off) is the baseline policy."""

    cache: bool = False
    keep_visual: float = 1.0  # prune=R: fraction of visual tokens kept
    int8: bool = False
    dtype: str | None = None  # "bf16" or "fp16"
    compile: bool = False
    onnx: bool = False

    @classmethod
    def from_levers(cls, levers: Sequence[str]) -> "LeverConfig":
        kw: dict[str, Any] = {}
        for spec in levers:
            name, sep, value = str(spec).strip().partition("=")
            name = name.strip().lower()
            if name in ("cache", "int8", "compile", "onnx") and not sep:
                kw[name] = True
            elif name in ("bf16", "fp16") and not sep:
                if kw.get("dtype", name) != name:
                    raise ValueError(f"lever {spec!r}: bf16 and fp16 exclude each other")
                kw["dtype"] = name
            elif name == "prune":
                try:
                    ratio = float(value)
                except ValueError:
                    raise ValueError(f"lever {spec!r}: give the fraction of visual tokens kept, e.g. prune=0.5") from None
                if not 0.0 < ratio <= 1.0:
                    raise ValueError(f"lever {spec!r}: the fraction kept must be in (0, 1]")
                kw["keep_visual"] = ratio
            else:
                raise ValueError(f"unknown lever {spec!r}; valid levers: {', '.join(LEVERS)}")
        cfg = cls(**kw)
        if cfg.int8 and cfg.dtype:
            raise ValueError(f"levers int8 and {cfg.dtype} exclude each other")
        if cfg.onnx and (cfg.compile or cfg.int8 or cfg.dtype):
            raise ValueError("lever onnx runs the float32 model in onnxruntime; it excludes compile, int8, bf16, fp16")
        return cfg

    def names(self) -> list[str]:
        out = ["cache"] * self.cache + [f"prune={self.keep_visual:g}"] * (self.keep_visual < 1.0)
        out += ["int8"] * self.int8 + [self.dtype] * bool(self.dtype)
        return out + ["compile"] * self.compile + ["onnx"] * self.onnx


def parse_levers(text: str | Sequence[str] | None) -> list[str]:
    """'cache,prune=0.5' -> ['cache', 'prune=0.5'] (validated); '' / 'none' / None -> []."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    items = [s.strip() for s in items if s.strip() and s.strip().lower() not in ("none", "baseline")]
    LeverConfig.from_levers(items)
    return items


class ChunkGraph(nn.Module):
    """`Policy.chunk_normalized` (the chunk before its unnormalization) as a module (what compile and onnx take):
    forward(images, image_mask, ids, text_mask, state, state_mask[, noise]) -> (B, H, D) *normalized* actions.

    The unnormalization (`x * scale + shift`) stays outside, in eager torch, for every lever: it is one
    rounding that every path then does identically, and what the first-call check compares is the model's
    own output (in a dim whose training data hardly varies, scale is tiny and one float32 ulp of the
    shift, divided by the scale, reads as a large normalized deviation when it is none)."""

    def __init__(self, policy: Policy):
        super().__init__()
        self.policy = policy

    def forward(self, images, image_mask, ids, text_mask, state, state_mask, noise=None):
        return self.policy.chunk_normalized(images, image_mask, ids, text_mask, state, state_mask, noise)


def check_state(policy: Policy, state: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The raw state the first-call check uses: `state`'s shape, drawn in distribution (normalized ~ N(0, 1)).

    Why not the caller's state: the eager float32 chunk is itself only as exact as its input is well
    conditioned. A state outside the training statistics (e.g. 0.1 in a dim that was constant in training:
    std 0, clamped to 1e-6, so 1e5 after normalization) gives proprio tokens of ~1e4-1e5, and the head's
    attention over them turns float32's relative rounding (6e-8) into absolute errors of ~1e-4 in the chunk,
    in eager as much as in any other implementation (measured: eager float32 vs float64, 1.9e-4 on the
    bench's old observation; compile and onnx vs eager there, 7.6e-5 and 4.2e-4). A check at such an input
    measures that conditioning, not the graph; at an in-distribution state the same graphs agree to ~1e-6.
    """
    z = torch.randn(state.shape, generator=torch.Generator().manual_seed(seed))
    n = policy.normalizer
    return (n.state_shift.cpu() + n.state_scale.cpu() * z).to(state.dtype)


class LeveredPolicy(ChunkPredictor):
    """A policy with levers on; `predict_chunk` keeps Policy.predict_chunk's contract (one check,
    then `Policy.chunk` run eagerly, compiled or exported)."""

    def __init__(self, policy: Policy, levers: LeverConfig):
        self.policy, self.levers = policy, levers
        self.config = policy.config
        self.observation_spec = policy.observation_spec
        self.graph = ChunkGraph(policy).eval()
        self._check_pending = levers.compile or levers.onnx  # the first call checks the graph against eager
        self.check_error: float | None = None
        self._compiled = None
        self._sessions: dict[int, Any] = {}
        self._onnx_dir: Path | None = None

    @property
    def device(self) -> torch.device:
        return self.policy.device

    def __repr__(self) -> str:
        return f"LeveredPolicy({', '.join(self.levers.names())})"

    # ---- running ------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_checked(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> np.ndarray:
        # onnx: one exported graph per batch size, so the text is padded to the full budget
        text_len = self.policy.backbone.max_text_len if self.levers.onnx else None
        args = self.policy.chunk_inputs(batch, generator, text_len=text_len)
        if self._check_pending:
            self._check(args)
        chunk = self.policy.decode(self._normalized(args), args[4], args[5])
        return chunk.cpu().numpy()

    def _normalized(self, args: tuple, eager: bool = False) -> torch.Tensor:
        """The (B, H, D) float32 chunk in normalized units, from the exported / compiled / eager graph."""
        if self.levers.onnx and not eager:
            return torch.from_numpy(self._run_onnx(args))
        return self._run_torch(args, eager).float()

    def _run_torch(self, args: tuple, eager: bool = False) -> torch.Tensor:
        fn = self.graph
        if self.levers.compile and not eager:
            if self._compiled is None:
                mode = "reduce-overhead" if self.device.type == "cuda" else None  # CUDA graphs on GPU
                self._compiled = torch.compile(self.graph, mode=mode, dynamic=None)
            fn = self._compiled
        if self.levers.dtype:
            dtype = torch.bfloat16 if self.levers.dtype == "bf16" else torch.float16
            with torch.autocast(self.device.type, dtype=dtype):
                return fn(*args)
        return fn(*args)

    def check_tolerance(self) -> float:
        """The check's tolerance: that of compile / onnx, or of the approximate lever it is combined with
        (compiled bf16 equals eager bf16 only to bf16's rounding)."""
        on = [k for k in ("compile", "onnx", "int8") if getattr(self.levers, k)] + [self.levers.dtype] * bool(self.levers.dtype)
        return max(CHECK_TOL[k] for k in on)

    def _check(self, args: tuple) -> None:
        """compile / onnx, first call: the graph's chunk must equal the eager graph's (the same policy, the same
        other levers, run without compile / onnx) within `check_tolerance()`, in normalized action units.

        Both run on the call's own images, tokens and noise, with an in-distribution state (`check_state`):
        the comparison then measures the graph, not how well conditioned the caller's state is. The eager
        chunk is computed first, before the graph is compiled or exported."""
        probe = (*args[:4], check_state(self.policy, args[4]), *args[5:])
        ref = self._normalized(probe, eager=True).cpu()
        got = self._normalized(probe).cpu()
        err = float((got - ref).abs().max())
        tol = self.check_tolerance()
        if not err <= tol:
            raise RuntimeError(f"levers {self.levers.names()}: the chunk differs from the eager model's by {err:.2e} "
                               f"(normalized action units, at an in-distribution state), more than the tolerance "
                               f"{tol:g}: the compiled / exported graph does not compute the eager model")
        self.check_error = err
        self._check_pending = False

    def _run_onnx(self, args: tuple) -> np.ndarray:
        b = args[0].shape[0]
        if b not in self._sessions:
            self._sessions[b] = self._export(args)
        session, feed_index = self._sessions[b]
        return session.run(None, {name: args[i].numpy() for name, i in feed_index.items()})[0]

    def _export(self, args: tuple):
        import onnxruntime as ort

        names = ["images", "image_mask", "ids", "text_mask", "state", "state_mask", "noise"]
        used = [a for a in args if a is not None]
        if self._onnx_dir is None:
            self._onnx_dir = Path(tempfile.mkdtemp(prefix="egovla-onnx-"))
            weakref.finalize(self, shutil.rmtree, self._onnx_dir, True)  # the graphs go with this object
        path = self._onnx_dir / f"chunk_b{args[0].shape[0]}.onnx"
        export_onnx(self.graph, tuple(used), path, names[: len(used)])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inputs = [i.name for i in session.get_inputs()]  # the exporter drops inputs the graph does not use
        unknown = [n for n in inputs if n not in names[: len(used)]]
        if unknown:
            raise RuntimeError(f"onnx export: unexpected graph inputs {unknown}")
        return session, {n: names.index(n) for n in inputs}


def export_onnx(graph: nn.Module, args: tuple, path: str | Path, names: list[str]) -> Path:
    """ONNX export (torch.export based) of `graph` at these inputs' shapes, quietly."""
    import contextlib
    import io
    import logging

    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, args, str(path), input_names=names, output_names=["chunk"], dynamo=True,
                              external_data=True, optimize=True, verbose=False)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    return Path(path)


def _no_op(module: nn.Module, args: tuple) -> None:
    return None


def apply_levers(policy: Policy, levers: Sequence[str]) -> Policy | LeveredPolicy:
    """The policy with these levers on (see the module's table); [] returns `policy` itself.

    The policy is copied (deep) before anything changes, so the caller's stays the baseline.
    """
    if isinstance(levers, str):
        raise TypeError("apply_levers takes a list of lever names; use parse_levers('cache,prune=0.5')")
    cfg = LeverConfig.from_levers(list(levers))
    if cfg == LeverConfig():
        return policy
    device = policy.device
    if cfg.int8 and device.type != "cpu":
        raise ValueError("lever int8 (dynamic quantization) runs on CPU only; use bf16 or fp16 on cuda")
    if cfg.onnx and device.type != "cpu":
        raise ValueError("lever onnx runs with onnxruntime's CPU provider; move the policy to cpu")
    base = copy.deepcopy(policy).eval()
    if cfg.keep_visual < 1.0:
        base.config = dataclasses.replace(
            base.config, backbone=dataclasses.replace(base.config.backbone, keep_visual=cfg.keep_visual))
        base.backbone.keep_visual = cfg.keep_visual
    if cfg.cache:  # a head that repeats nothing within a chunk (regression) has nothing to cache
        base.head.set_cache(True)
    if cfg.int8:
        with warnings.catch_warnings():  # "quantized tensor creation functions are deprecated"
            warnings.simplefilter("ignore")
            base = torch.ao.quantization.quantize_dynamic(base, {nn.Linear}, dtype=torch.qint8)
        for module in base.modules():
            # the encoder layer's fused fast path reads linear.weight as a tensor; a quantized Linear's
            # is a method. Any hook makes the layer take its plain path (which calls the int8 Linears).
            if isinstance(module, nn.TransformerEncoderLayer):
                module.register_forward_pre_hook(_no_op)
    if cfg.dtype:
        normalizer = copy.deepcopy(base.normalizer)
        base = base.to(torch.bfloat16 if cfg.dtype == "bf16" else torch.float16)
        base.normalizer = normalizer  # the statistics stay float32 (a std of 1e-6 does not survive bf16)
    return LeveredPolicy(base, cfg)
