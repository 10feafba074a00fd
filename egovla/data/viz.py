"""Render one episode of a LeRobot dataset as an MP4: camera views side by side, curves beneath.

    render_episode(LeRobotReader("path/to/ds"), episode=3, out_path="ep3.mp4")

Each output frame has a header line (dataset, episode, task, frame counter), every camera view of
that frame scaled to one height (small cameras are enlarged, at least 240 px, so they can be
seen), and under them one plot per vector feature (`observation.state` and `action` by default)
over the whole episode, at most 8 curves each (the dims that vary most in the episode). The plots
are drawn once per episode with matplotlib's Agg canvas; each frame only paints a cursor line at
its time into a copy of that image, so rendering costs about as much as decoding and encoding.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from egovla.data.inspect import dim_names
from egovla.data.mp4 import Mp4Writer

MIN_VIEW_H, MAX_VIEW_H = 240, 480  # camera views are scaled to a height in this range
MIN_WIDTH, MAX_WIDTH = 400, 1920  # output width when none is asked for
PLOT_H, HEADER_H, DPI = 200, 24, 100
MAX_CURVES = 8
DEFAULT_PLOTS = ("observation.state", "action")
CHUNK = 64  # frames decoded per camera at a time
CURSOR = (220, 30, 30)


def _even(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def _position(reader, episode: int) -> int:
    """The list position of the episode whose episode_index is `episode`."""
    idx = [e.index for e in reader.episodes]
    if episode in idx:
        return idx.index(episode)
    if not idx:
        raise ValueError(f"{reader.root}: the dataset has no episodes")
    contiguous = idx == list(range(len(idx)))
    valid = f"0..{len(idx) - 1}" if contiguous else f"{len(idx)} indices from {min(idx)} to {max(idx)}"
    raise ValueError(f"{reader.root}: no episode {episode}; the episodes are {valid}")


def _select(reader, keys) -> tuple[list[str], list[str]]:
    """(cameras to show, vector features to plot)."""
    vectors = reader.vector_keys()
    if keys is None:
        return list(reader.cameras), [k for k in DEFAULT_PLOTS if k in vectors] or vectors[:2]
    unknown = [k for k in keys if k not in reader.cameras and k not in vectors]
    if unknown:
        raise ValueError(f"{reader.root}: no camera or vector feature {unknown}; "
                         f"cameras: {reader.cameras}, vector features: {vectors}")
    return [k for k in keys if k in reader.cameras], [k for k in keys if k in vectors]


def _layout(reader, cameras: list[str], width: int | None) -> tuple[int, list[int], int]:
    """(view height, view widths, frame width): views keep their aspect ratio and share a height."""
    if not cameras:
        return 0, [], _even(width or 640)
    shapes = [list(reader.camera_hw(k)) for k in cameras]
    vh = min(max(MIN_VIEW_H, max(h for h, _ in shapes)), MAX_VIEW_H)
    row = sum(w * vh / h for h, w in shapes)
    scale = width / row if width else min(1.0, MAX_WIDTH / row)
    ws = [max(2, int(w * vh / h * scale)) for h, w in shapes]
    return _even(vh * scale), ws, _even(width or max(sum(ws), MIN_WIDTH))


def _pick_dims(values: np.ndarray) -> tuple[list[int], str]:
    d = values.shape[1]
    if d <= MAX_CURVES:
        return list(range(d)), ""
    top = np.argsort(-np.nan_to_num(values.var(0)), kind="stable")[:MAX_CURVES]
    return sorted(int(i) for i in top), f" ({MAX_CURVES} of {d} dims, largest variance)"


def _plots(reader, ep, plots: list[str], width: int) -> tuple[np.ndarray, list[tuple[int, int, np.ndarray]]]:
    """The plots as an RGB image, and per plot (top row, bottom row, cursor x per frame)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n, height = ep.length, PLOT_H * len(plots)
    t = np.arange(n) / reader.fps
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(len(plots), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, plots):
        values = np.asarray(reader.column(key)[ep.start:ep.start + n], dtype=np.float64).reshape(n, -1)
        dims, note = _pick_dims(values)
        names = dim_names(reader.features[key], values.shape[1])
        for i in dims:
            ax.plot(t, values[:, i], lw=1, label=names[i] if names else f"dim {i}")
        ax.set_title(key + note, fontsize=8, loc="left")
        ax.legend(fontsize=6, ncol=max(1, min(len(dims), width // 140)), loc="upper left", framealpha=0.8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_xlim(0, max(t[-1], 1 / reader.fps))
    axes[-1].set_xlabel("time (s)", fontsize=7)
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    if img.shape[:2] != (height, width):  # never expected: the figure is sized in whole pixels
        raise RuntimeError(f"plot image is {img.shape[:2]}, expected {(height, width)}")
    cursors = []
    for ax in axes:
        xs = ax.transData.transform(np.stack([t, np.zeros(n)], 1))[:, 0]
        box = ax.bbox
        xs = np.clip(np.round(xs).astype(int) // 2 * 2, 0, width - 2)  # even: 2-px lines stay sharp in yuv420p
        cursors.append((int(height - box.y1), int(height - box.y0), xs))
    return img, cursors


def _font(size: int = 13):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _counter(i: int, n: int, fps: int) -> str:
    return f"frame {i}/{n - 1}  t={i / fps:.2f} s"


def _header(text: str, width: int, n: int, fps: int):
    """A function frame i -> the header strip (text cut to fit, with a frame counter on the right)."""
    font = _font()
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    room = width - draw.textlength(_counter(n - 1, n, fps), font=font) - 24
    while text and draw.textlength(text, font=font) > room:
        text = text[:-4] + "..." if len(text) > 4 else ""
    base = Image.new("RGB", (width, HEADER_H), (255, 255, 255))
    ImageDraw.Draw(base).text((6, 4), text, fill=(0, 0, 0), font=font)

    def strip(i: int) -> np.ndarray:
        img = base.copy()
        label = _counter(i, n, fps)
        x = width - 6 - draw.textlength(label, font=font)
        ImageDraw.Draw(img).text((x, 4), label, fill=(90, 90, 90), font=font)
        return np.asarray(img)
    return strip


def render_episode(reader, episode: int, out_path: str | Path, fps: int | None = None,
                   keys: list[str] | None = None, width: int | None = None) -> dict:
    """Write episode `episode` (its episode_index) as an H.264 MP4; returns what was written.

    keys: the cameras and vector features to show (default: every camera, and
    `observation.state` and `action`); width: the output width in pixels (default: the views'
    width, at least 400). fps: the video's frame rate (default: the dataset's).
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".mp4":
        raise ValueError(f"{out_path}: the output must be an .mp4 file")
    fps = int(fps or reader.fps)
    if fps <= 0 or (width is not None and width < 16):
        raise ValueError(f"fps must be positive and width at least 16 pixels, got fps={fps} width={width}")
    pos = _position(reader, episode)
    ep = reader.episodes[pos]
    cameras, plots = _select(reader, keys)
    if not cameras and not plots:
        raise ValueError(f"{reader.root}: nothing to show: no cameras and no vector features")
    if ep.length == 0:
        raise ValueError(f"{reader.root}: episode {episode} has no frames")
    vh, ws, W = _layout(reader, cameras, width)
    panel, cursors = _plots(reader, ep, plots, W) if plots else (np.zeros((0, W, 3), np.uint8), [])
    task = "; ".join(ep.tasks) or reader.task_at(ep.start)
    header = _header(f"{reader.root.name}  ·  episode {episode}  ·  {task}", W, ep.length, reader.fps)
    H, top = HEADER_H + vh + panel.shape[0], HEADER_H + vh
    frame = np.zeros((H, W, 3), np.uint8)
    x0 = (W - sum(ws)) // 2
    tmp = out_path.with_name(f".{out_path.stem}.partial.mp4")
    enc = Mp4Writer(tmp, fps, H, W)
    try:
        for start in range(0, ep.length, CHUNK):
            idx = list(range(start, min(ep.length, start + CHUNK)))
            views = {k: reader.frames(k, pos, idx) for k in cameras}
            batch = []
            for j, i in enumerate(idx):
                frame[:HEADER_H] = header(i)
                x = x0
                for k, w in zip(cameras, ws):
                    img = Image.fromarray(views[k][j])
                    big = img.width * 2 <= w
                    frame[HEADER_H:top, x:x + w] = np.asarray(
                        img.resize((w, vh), Image.NEAREST if big else Image.BILINEAR))
                    x += w
                frame[top:] = panel
                for r0, r1, xs in cursors:
                    frame[top + r0:top + r1, xs[i]:xs[i] + 2] = CURSOR
                batch.append(frame.copy())
            enc.write(np.stack(batch))
        enc.close()
        os.replace(tmp, out_path)
    except BaseException:
        enc.close()
        tmp.unlink(missing_ok=True)
        raise
    return {"path": str(out_path), "frames": ep.length, "width": W, "height": H, "fps": fps,
            "episode": episode, "cameras": cameras, "plots": plots}
