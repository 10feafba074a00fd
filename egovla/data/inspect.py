"""Describe a LeRobot dataset for a person (`describe`) or a program (`describe_json`).

    print(describe(LeRobotReader("path/to/ds")))

Sections: the header (path, format, robot, episodes, frames, fps, duration), the features, the
tasks with how many episodes use each, the episodes (the first 10 and the last 3 when there are
many), and the stats: per dim mean/std/min/max of every vector feature (a wide vector folds its
constant dims, e.g. the unused slots of a unified action space, into one line) and per channel
mean/std of every camera.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from egovla.data.lerobot.format import INDEX_FEATURES, is_video

HEAD, TAIL = 10, 3  # episodes listed at the start and the end of a long dataset
WIDE = 16  # vectors with more dims than this fold their constant dims into one line
TEXT_MAX = 60  # characters of a task shown in tables


def dim_names(feature: dict, size: int) -> list[str] | None:
    """The feature's per-dim names when it has exactly `size` of them (a list, or LeRobot's {"axes": [...]})."""
    names = feature.get("names")
    if isinstance(names, dict):
        names = next((v for v in names.values() if isinstance(v, list)), None)
    if isinstance(names, list) and len(names) == size and all(isinstance(n, str) for n in names):
        return list(names)
    return None


def _codec(feature: dict) -> str | None:
    info = feature.get("info") or feature.get("video_info") or {}
    return info.get("video.codec")


def _kind(key: str, feature: dict) -> str:
    if is_video(feature):
        return "camera"
    if key in INDEX_FEATURES:
        return "index"
    return "vector" if feature["dtype"] not in ("image", "string") else feature["dtype"]


def describe_json(reader) -> dict[str, Any]:
    """Everything `describe` prints, as plain JSON-able data."""
    features = []
    for key, ft in reader.features.items():
        size = int(ft["shape"][-1])  # names describe the last axis (a chunk (H, D) names its D dims)
        row = {"name": key, "kind": _kind(key, ft), "dtype": ft["dtype"], "shape": [int(s) for s in ft["shape"]]}
        if is_video(ft):
            row["codec"] = _codec(ft)
        else:
            row["names"] = dim_names(ft, size)
        features.append(row)
    uses = Counter(t for e in reader.episodes for t in dict.fromkeys(e.tasks))
    stats = {}
    for key in reader.vector_keys() + reader.cameras:
        s = reader.stats.get(key)
        if s is not None:
            stats[key] = {k: np.asarray(s[k], dtype=float).reshape(-1).tolist()
                          for k in ("mean", "std", "min", "max") if k in s}
    return {
        "path": str(reader.root), "version": reader.version, "robot_type": reader.info.get("robot_type"),
        "total_episodes": len(reader.episodes), "total_frames": reader.total_frames, "fps": reader.fps,
        "duration_s": reader.total_frames / reader.fps,
        "features": features,
        "tasks": [{"index": i, "text": t, "episodes": uses.get(t, 0)} for i, t in enumerate(reader.tasks)],
        "episodes": [{"index": e.index, "length": e.length, "tasks": list(e.tasks)} for e in reader.episodes],
        "stats": stats,
    }


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{seconds:.0f} s ({h}:{m:02d}:{s:02d})"


def _short(text: str, n: int = TEXT_MAX) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def _shape(shape: list[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _table(rows: list[list[str]], indent: str = "  ", right: tuple[int, ...] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]


def _feature_rows(d: dict) -> list[str]:
    rows = [["name", "dtype", "shape", "details"]]
    for f in d["features"]:
        if f["kind"] == "camera":
            detail = "camera" + (f", {f['codec']}" if f.get("codec") else "")
        elif f["kind"] == "index":
            detail = "(index column)"
        elif f.get("names"):
            names = f["names"]
            detail = f"{len(names)} names: " + ", ".join(names[:2]) + (", ..." if len(names) > 2 else "")
        else:
            detail = "no dim names"
        rows.append([f["name"], f["dtype"], _shape(f["shape"]), detail])
    return _table(rows)


def _episode_rows(d: dict) -> list[str]:
    eps = d["episodes"]
    shown = eps if len(eps) <= HEAD + TAIL + 1 else eps[:HEAD] + [None] + eps[-TAIL:]
    rows = [["index", "length", "tasks"]]
    for e in shown:
        if e is None:
            rows.append(["...", "", f"({len(eps) - HEAD - TAIL} more episodes)"])
        else:
            rows.append([str(e["index"]), str(e["length"]), _short("; ".join(e["tasks"]) or "-")])
    return _table(rows, right=(0, 1))


def _num(v: float) -> str:
    return f"{v:.4g}"


def _vector_stats(key: str, s: dict, names: list[str] | None) -> list[str]:
    """One aligned row per dim; a wide vector folds its constant dims into one line."""
    n = len(s["mean"])
    names = names or [f"dim {i}" for i in range(n)]
    cols = ("mean", "std", "min", "max")
    const = [i for i in range(n) if s["min"][i] == s["max"][i]] if n > WIDE else []
    rows = [["dim", *cols]] + [[names[i], *(_num(s[c][i]) for c in cols)] for i in range(n) if i not in const]
    out = [f"  {key} ({n} dims)"] + (_table(rows, indent="    ", right=(1, 2, 3, 4)) if len(rows) > 1 else [])
    if const:
        values = sorted({_num(s["mean"][i]) for i in const})
        shown = ", ".join(names[i] for i in const[:6]) + (", ..." if len(const) > 6 else "")
        vals = ", ".join(values[:4]) + (", ..." if len(values) > 4 else "")
        out.append(f"    {len(const)} constant dims (value {vals}): {shown}")
    return out


def _camera_stats(key: str, s: dict) -> list[str]:
    def rgb(v):
        return " ".join(f"{c}={x:.3f}" for c, x in zip("RGB", v))
    return [f"  {key}  mean {rgb(s['mean'])}   std {rgb(s['std'])}  (pixels in [0, 1])"]


def describe(reader) -> str:
    """A multi-section, terminal-sized description of the dataset."""
    d = describe_json(reader)
    lines = _table([["dataset", d["path"]], ["format", f"LeRobotDataset {d['version']}"],
                    ["robot", str(d["robot_type"] or "-")], ["episodes", str(d["total_episodes"])],
                    ["frames", str(d["total_frames"])], ["fps", str(d["fps"])],
                    ["duration", _duration(d["duration_s"])]], indent="")
    lines += ["", f"features ({len(d['features'])})", *_feature_rows(d)]
    lines += ["", f"tasks ({len(d['tasks'])})"]
    if d["tasks"]:
        rows = [["index", "episodes", "task"]] + [[str(t["index"]), str(t["episodes"]), _short(t["text"])]
                                                  for t in d["tasks"]]
        lines += _table(rows, right=(0, 1))
    lines += ["", f"episodes ({len(d['episodes'])})", *_episode_rows(d)]
    lines += ["", "stats"]
    if not d["stats"]:
        lines.append("  none (no meta/stats.json)")
    for key, s in d["stats"].items():
        if key in reader.cameras:
            lines += _camera_stats(key, s)
        else:
            lines += _vector_stats(key, s, dim_names(reader.features[key], len(s["mean"])))
    return "\n".join(lines) + "\n"
