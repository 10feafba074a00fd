"""What a closed-loop result needs to be reproduced and compared: provenance, intervals, difficulty groups.

- `provenance()`: the egovla commit (and whether the tree had local changes), the versions of the
  packages that decide the numbers (metaworld, mujoco, torch, numpy, gymnasium), the machine.
- `wilson(successes, n)`: the Wilson score 95% interval of a success rate, which stays inside
  [0, 1] and is sensible at 0/n and n/n, unlike the normal approximation.
- `by_difficulty(tasks)`: MT50 success grouped as LeRobot and SmolVLA report it (easy 28, medium
  11, hard 6, very hard 5 tasks; `egovla.sim.tasks.DIFFICULTY`), so a table can sit beside theirs.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from egovla.sim.tasks import DIFFICULTY

PACKAGES = ("egovla", "metaworld", "mujoco", "torch", "numpy", "gymnasium", "transformers")
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (low, high) of successes / n; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # rounding never excludes p


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def commit() -> dict:
    """{"commit": sha or None, "dirty": local changes?} of the egovla checkout (None outside git)."""
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if sha else None
    return {"commit": sha, "dirty": bool(status) if status is not None else None}


def versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "gpu": None}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def provenance() -> dict:
    return {**commit(), "versions": versions(), "machine": machine()}


def rate_with_interval(successes: int, n: int) -> dict:
    low, high = wilson(successes, n)
    return {"success_rate": successes / n if n else 0.0, "successes": successes, "episodes": n,
            "wilson95": [low, high]}


def by_difficulty(tasks: dict[str, dict]) -> dict[str, dict]:
    """{group: pooled success, interval, mean of per-task rates, tasks present} over MT50's groups."""
    out = {}
    for group, names in DIFFICULTY.items():
        present = [t for t in names if t in tasks]
        if not present:
            continue
        s = sum(tasks[t]["successes"] for t in present)
        n = sum(tasks[t]["episodes"] for t in present)
        out[group] = {**rate_with_interval(s, n), "tasks": len(present), "of": len(names),
                      "mean_task_rate": sum(tasks[t]["success_rate"] for t in present) / len(present)}
    return out


def format_table(summary: dict) -> str:
    """Per task (and per difficulty group when there are any): success % with its Wilson 95% interval, and
    for a task with failures how far they ended from the goal (median, cm)."""
    def row(name: str, r: dict) -> str:
        low, high = r["wilson95"]
        missed = r.get("failed_median_goal_distance_m")
        return (f"{name:<28} {100 * r['success_rate']:>7.0f}% {r['successes']:>4}/{r['episodes']:<4} "
                f"[{100 * low:3.0f}, {100 * high:3.0f}]" + (f" {100 * missed:9.1f} cm" if missed is not None else ""))

    lines = [f"{'task':<28} {'success':>8} {'n':>9} {'95% CI':>10} {'failures end':>12}"]
    lines += [row(task, r) for task, r in summary["tasks"].items()]
    groups = summary.get("difficulty") or {}
    if groups:
        lines.append("")
        lines += [row(f"{g} ({r['tasks']}/{r['of']} tasks)", r) for g, r in groups.items()]
    lines.append(f"{'mean':<28} {100 * summary['mean_success_rate']:>7.0f}%")
    return "\n".join(lines)
