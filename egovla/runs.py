"""The run folder: what `egovla train` writes, and how evaluation, serving, benchmarks and agents read it.

    RUN/
      policy/          the Policy (config.json, model.safetensors, stats.json; `Policy.save_pretrained`)
      run.json         the RunRecord: how observations were cut for training (cameras, history
                       offsets, fps, image size, chunk length) and what the policy was trained on
      checkpoints/, summary.json, metrics.jsonl, loss.png, tb/, eval.json   (the trainer's outputs)

`load_run(run, levers=())` is the one way to get a ready policy: the Policy in eval mode with the
inference levers applied, plus its RunRecord. A bare policy folder loads too; its record then falls
back to the policy config (one frame per view, no camera names, fps unknown). Runs written before
`run.json` existed kept the same facts in `data.json`, which is read the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

FORMAT = "egovla-run/1"
RECORD_FILE = "run.json"
LEGACY_RECORD_FILE = "data.json"
POLICY_DIR = "policy"
CAMERA_PREFIX = "observation.images."


@dataclass(frozen=True)
class RunRecord:
    """How a policy's training observations were made, so that inference can make the same ones."""

    history_s: tuple[float, ...] = (0.0,)       # frame offsets in seconds, oldest first, 0.0 = now
    cameras: tuple[str, ...] | None = None      # camera names (without "observation.images."); None: unnamed
    fps: float | None = None                    # the training data's frame rate
    image_size: tuple[int, int] | None = None   # (height, width) of the training windows
    n_views: int | None = None
    chunk_len: int | None = None
    datasets: tuple[dict, ...] = ()             # per dataset: name, weight, fps, cameras, frames, keys
    share: dict[str, float] | None = None       # realised mixture shares
    init: str | None = None                     # the policy whose weights training started from
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, d: dict, where: str = "run record") -> "RunRecord":
        if d.get("format") not in (None, FORMAT):
            raise ValueError(f"{where}: unknown format {d.get('format')!r} (expected {FORMAT})")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known - {"format"})
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}")
        d = {k: v for k, v in d.items() if k != "format"}
        for key in ("history_s", "cameras", "image_size", "datasets"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    @classmethod
    def from_legacy(cls, d: dict) -> "RunRecord":
        """The `data.json` of runs written before run.json: {datasets: [...], window: {...}, share}."""
        spec = (d.get("datasets") or [{}])[0]
        window = d.get("window", {})
        cameras = tuple(c.removeprefix(CAMERA_PREFIX) for c in spec.get("cameras", [])) or None
        return cls(history_s=tuple(float(h) for h in window.get("history_s", [0.0])), cameras=cameras,
                   fps=float(spec["fps"]) if spec.get("fps") else None,
                   image_size=tuple(window["image_size"]) if window.get("image_size") else None,
                   n_views=window.get("n_views"), chunk_len=window.get("chunk_len"),
                   datasets=tuple(d.get("datasets", ())), share=d.get("share"))


def policy_dir(path: str | Path) -> Path:
    """RUN/policy for a run folder; the folder itself for a bare policy folder."""
    path = Path(path)
    return path / POLICY_DIR if (path / POLICY_DIR / "config.json").exists() else path


def write_record(run_dir: str | Path, record: RunRecord) -> Path:
    path = Path(run_dir) / RECORD_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record.to_json(), indent=2))
    tmp.replace(path)
    return path


def read_record(run: str | Path, n_history: int | None = None) -> RunRecord:
    """The run's record (run.json, else an older run's data.json, else defaults for `n_history` frames)."""
    run = Path(run)
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such run or policy folder")
    if (run / RECORD_FILE).is_file():
        record = RunRecord.from_json(json.loads((run / RECORD_FILE).read_text()), str(run / RECORD_FILE))
        where = run / RECORD_FILE
    elif (run / LEGACY_RECORD_FILE).is_file():
        record = RunRecord.from_legacy(json.loads((run / LEGACY_RECORD_FILE).read_text()))
        where = run / LEGACY_RECORD_FILE
    else:
        return RunRecord(history_s=(0.0,) * (n_history or 1))
    if n_history is not None and len(record.history_s) != n_history:
        raise ValueError(f"{where}: {len(record.history_s)} history offsets for a policy with n_history={n_history}")
    return record


@dataclass
class LoadedRun:
    """A ready policy (`predict_chunk`, in eval mode, levers applied) and the record it was trained with."""

    policy: Any
    record: RunRecord
    path: Path

    @property
    def name(self) -> str:
        return self.path.resolve().name


def load_run(run: str | Path, levers: Sequence[str] = ()) -> LoadedRun:
    """The policy of a run (or policy) folder with `levers` on (`egovla.model.levers`), and its record."""
    from egovla.model.policy import Policy

    run = Path(run)
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such run or policy folder")
    policy = Policy.from_pretrained(policy_dir(run))
    policy.eval()
    record = read_record(run, policy.config.n_history)
    if levers:
        from egovla.model.levers import apply_levers

        policy = apply_levers(policy, list(levers))
    return LoadedRun(policy, record, run)
