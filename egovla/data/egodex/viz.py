"""See the labels: projected future wrist trajectories and fingertips drawn over the video.

    render_converted("data/egodex-p1", episode=0, out="ep0.mp4")       # a converted human dataset
    render_pair("EgoDex/part1/open_drawer/3.hdf5", out="ep3.mp4")        # straight from an EgoDex pair

Every frame t shows, per hand (left cyan, right magenta), the wrist at t (a ring), its fingertips at
t (dots joined to the wrist), and the chunk of future wrist positions (a line with a dot per step,
fading with time), all projected with the intrinsic matrix of the stored image. The chunk is
expressed in the camera frame of frame t, so on frame t it must start at the drawn hand and follow
where the hand goes next; a trajectory that floats off the hand, mirrors it or lags it means wrong
camera-frame maths (axes, inverse, or time offset). Masked steps are not drawn. Writes an MP4 and a
PNG contact sheet of evenly spaced frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from egovla import spaces
from egovla.data.egodex.labels import project

COLOURS = {"left": (0, 230, 255), "right": (255, 40, 220)}
MIN_HEIGHT = 448  # frames are enlarged to at least this height so the marks can be seen
SHEET_FRAMES, SHEET_COLUMNS = 12, 4


def _points(vec: np.ndarray, mask: np.ndarray, side: str) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(wrist xyz or None, fingertip xyz (k, 3) in the camera frame, which of the 5 tips are there)."""
    pos = spaces.slot(side, "wrist_pos")
    if not mask[pos].all():
        return None, np.zeros((0, 3)), np.zeros(5, dtype=bool)
    wrist, R, tips = spaces.unpack_hand(vec[pos.start:pos.start + spaces.HAND_DIM].astype(np.float64))
    have = np.array([mask[spaces.fingertip_slot(side, f)].all() for f in spaces.FINGERS])
    return wrist, (R @ tips[have].T).T + wrist, have


def draw_labels(img: np.ndarray, K: np.ndarray, state: np.ndarray, state_mask: np.ndarray,
                chunk: np.ndarray, chunk_mask: np.ndarray) -> np.ndarray:
    """One frame (h, w, 3) uint8 with the labels of that frame drawn on it (a new, possibly larger image)."""
    scale = max(1, int(np.ceil(MIN_HEIGHT / img.shape[0])))
    im = Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST)
    Ks = np.array(K, dtype=np.float64) * [[scale], [scale], [1]]
    Ks[:2, 2] = (np.asarray(K)[:2, 2] + 0.5) * scale - 0.5
    d = ImageDraw.Draw(im)
    r = 3 * scale
    for side, colour in COLOURS.items():
        pos = spaces.slot(side, "wrist_pos")
        steps = [c[pos] for c, m in zip(chunk, chunk_mask) if m[pos].all() and c[pos][2] > 1e-3]
        if steps:
            uv = project(np.array(steps), Ks)
            for i in range(len(uv) - 1):
                fade = 1.0 - 0.6 * i / max(len(uv) - 1, 1)
                d.line([tuple(uv[i]), tuple(uv[i + 1])], fill=tuple(int(c * fade) for c in colour), width=max(1, scale))
            for i, (u, v) in enumerate(uv):
                rr = max(1, r // 2)
                d.ellipse([u - rr, v - rr, u + rr, v + rr], fill=colour if i % 5 == 4 else None, outline=colour)
        wrist, tips, _ = _points(state, state_mask, side)
        if wrist is not None and wrist[2] > 1e-3:
            (u, v), = project(wrist[None], Ks)
            for (tu, tv) in project(tips[tips[:, 2] > 1e-3], Ks):
                d.line([(u, v), (tu, tv)], fill=colour, width=max(1, scale // 2))
                d.ellipse([tu - r / 2, tv - r / 2, tu + r / 2, tv + r / 2], fill=colour)
            d.ellipse([u - 2 * r, v - 2 * r, u + 2 * r, v + 2 * r], outline=colour, width=max(2, scale))
    return np.asarray(im)


def _sheet(frames: list[np.ndarray], captions: list[str], path: Path) -> None:
    h, w = frames[0].shape[:2]
    cols = min(SHEET_COLUMNS, len(frames))
    rows = -(-len(frames) // cols)
    sheet = Image.new("RGB", (cols * w, rows * (h + 18)), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for i, (f, cap) in enumerate(zip(frames, captions)):
        x, y = (i % cols) * w, (i // cols) * (h + 18)
        sheet.paste(Image.fromarray(f), (x, y + 18))
        d.text((x + 4, y + 3), cap, fill=(0, 0, 0))
    sheet.save(path)


def render(frames: np.ndarray, K: np.ndarray, state, state_mask, action, action_mask, out: str | Path,
           sheet: str | Path | None = None, fps: int = 30, title: str = "") -> dict:
    """Draw every frame's labels; write `out` (MP4) and `sheet` (PNG, default: out with .png)."""
    from egovla.data.mp4 import Mp4Writer

    out = Path(out)
    sheet = Path(sheet) if sheet else out.with_suffix(".png")
    n = len(frames)
    if not (len(state) == len(state_mask) == len(action) == len(action_mask) == n) or n == 0:
        raise ValueError(f"render: {n} frames but {len(state)} states and {len(action)} chunks")
    picks = set(np.unique(np.linspace(0, n - 1, min(SHEET_FRAMES, n)).round().astype(int)).tolist())
    enc, shown, caps = None, [], []
    for t in range(n):
        img = draw_labels(frames[t], K, state[t], np.asarray(state_mask[t], bool), action[t],
                          np.asarray(action_mask[t], bool))
        if enc is None:
            h, w = img.shape[:2]
            out.parent.mkdir(parents=True, exist_ok=True)
            enc = Mp4Writer(out, fps, h - h % 2, w - w % 2)
        enc.write(np.ascontiguousarray(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])[None])
        if t in picks:
            shown.append(img)
            caps.append(f"{title} t={t}")
    enc.close()
    _sheet(shown, caps, sheet)
    return {"video": str(out), "sheet": str(sheet), "frames": n}


#: Sidecars of converted human video that hold the camera and intrinsics the labels project with.
HUMAN_SIDECARS = ("meta/egodex.json", "meta/hot3d.json")


def human_sidecar(root: str | Path) -> Path | None:
    """The sidecar of a dataset converted from human video (EgoDex, HOT3D), or None."""
    for name in HUMAN_SIDECARS:
        if (Path(root) / name).is_file():
            return Path(root) / name
    return None


def render_converted(root: str | Path, episode: int, out: str | Path, sheet: str | Path | None = None,
                     fps: int | None = None) -> dict:
    """The labels of one episode of a dataset written by `egovla convert egodex` (or `convert hot3d`)."""
    from egovla.data.lerobot.reader import LeRobotReader

    root = Path(root)
    meta_path = human_sidecar(root)
    if meta_path is None:
        raise ValueError(f"{root}: no {' or '.join(HUMAN_SIDECARS)}; trajectory overlays need a dataset written by "
                         "'egovla convert egodex' or 'convert hot3d' (or pass an EgoDex .hdf5 file)")
    meta = json.loads(meta_path.read_text())
    reader = LeRobotReader(root)
    pos = [e.index for e in reader.episodes]
    if episode not in pos:
        raise ValueError(f"{root}: no episode {episode}; it has {len(pos)} (0..{len(pos) - 1})")
    ep = reader.episodes[pos.index(episode)]
    rows = slice(ep.start, ep.start + ep.length)
    frames = reader.frames(meta["camera"], pos.index(episode), np.arange(ep.length))
    cols = {k: reader.column(k)[rows] for k in ("observation.state", "observation.state_mask", "action", "action_mask")}
    return render(frames, np.array(meta["intrinsic"]), cols["observation.state"], cols["observation.state_mask"],
                  cols["action"], cols["action_mask"], out, sheet, fps or reader.fps,
                  title=f"ep {episode}: {reader.task_at(ep.start)[:40]}")


def render_pair(hdf5: str | Path, out: str | Path, sheet: str | Path | None = None, cfg=None) -> dict:
    """The labels computed from an EgoDex pair directly (no conversion), as the converter would."""
    from egovla.data.egodex.convert import ConvertConfig, load_labelled

    cfg = cfg or ConvertConfig()
    le = load_labelled(hdf5, cfg)
    lab = le.labels
    return render(le.frames, le.intrinsic, lab.state, lab.state_mask, lab.action, lab.action_mask, out, sheet, cfg.out_fps,
                  title=f"{Path(hdf5).parent.name}/{Path(hdf5).stem}")
