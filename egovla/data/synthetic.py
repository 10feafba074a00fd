"""A learnable synthetic dataset that stands in for real demonstrations.

Each sample draws a few coloured blocks in random cells of a grid on a grey table seen from above, and
an instruction such as "grasp the blue block with your left hand". The target chunk is a
deterministic function of the image and the words: the named hand's wrist moves (smoothstep)
from where it is now to the named block's 3-D position in the camera frame (the block's pixel
back-projected at a fixed depth); "grasp" closes the fingertips on the way, "reach" keeps them
open; the other hand stays put. Solving it needs the image (where is the block), the words
(which colour, which hand, which verb) and the state (where the wrist starts).

Samples follow the contract in `egovla.data.sample`; sample i is the same for every run with
the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

from egovla import geometry, spaces

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 80, 230),
    "yellow": (230, 210, 40),
}
VERBS = ("reach", "grasp")
BACKGROUND = (96, 96, 96)
DEPTH = 0.5  # metres from the camera to the table plane

# fingertips in the wrist frame (x right, y down towards the fingers, z forward), metres
OPEN_HAND = np.array(
    [[-0.05, 0.03, 0.02], [-0.02, 0.09, 0.0], [0.0, 0.1, 0.0], [0.02, 0.09, 0.0], [0.04, 0.07, 0.0]],
    dtype=np.float32,
)
CLOSED_HAND = np.array(
    [[-0.015, 0.04, 0.03], [-0.01, 0.04, 0.04], [0.0, 0.04, 0.045], [0.01, 0.04, 0.04], [0.02, 0.035, 0.035]],
    dtype=np.float32,
)


@dataclass
class SyntheticConfig:
    size: int = 10_000  # samples in the dataset
    seed: int = 0
    image_size: int = 64
    n_history: int = 1
    n_views: int = 1
    chunk_len: int = 16
    n_objects: int = 1  # blocks per image; with 3, the named colour must be found among distractors
    grid: int = 4  # blocks sit in distinct cells of a grid x grid layout
    block: int = 0  # block side in pixels; 0 = 5/8 of a cell (10 px at 64 px, grid 4)


def intrinsics(image_size: int) -> np.ndarray:
    f = float(image_size)
    c = image_size / 2.0
    return np.array([[f, 0, c], [0, f, c], [0, 0, 1]], dtype=np.float32)


def back_project(u: float, v: float, depth: float, K: np.ndarray) -> np.ndarray:
    return np.array([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], dtype=np.float32)


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float32)


class SyntheticDataset(Dataset):
    def __init__(self, config: SyntheticConfig | None = None, **overrides):
        self.config = config or SyntheticConfig(**overrides)
        c = self.config
        if c.n_objects > len(COLOURS):
            raise ValueError(f"n_objects={c.n_objects}: at most {len(COLOURS)} colours exist")
        if c.n_objects > c.grid * c.grid:
            raise ValueError(f"n_objects={c.n_objects} do not fit in a {c.grid}x{c.grid} grid")
        self.block = c.block or max(2, c.image_size * 5 // (8 * c.grid))
        if self.block > c.image_size // c.grid:
            raise ValueError(f"block={self.block} px is wider than a grid cell ({c.image_size // c.grid} px)")
        self.K = intrinsics(c.image_size)

    def __len__(self) -> int:
        return self.config.size

    def _scene(self, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
        """Blocks of distinct colours in distinct cells of a grid x grid layout; returns their centres."""
        c = self.config
        img = np.empty((c.image_size, c.image_size, 3), dtype=np.uint8)
        img[:] = BACKGROUND
        colours = rng.choice(list(COLOURS), size=c.n_objects, replace=False)
        cells = rng.choice(c.grid * c.grid, size=c.n_objects, replace=False)
        cell, half = c.image_size / c.grid, self.block / 2
        objects = []
        for name, k in zip(colours, cells):
            u, v = (k % c.grid + 0.5) * cell, (k // c.grid + 0.5) * cell
            x0, y0 = int(round(u - half)), int(round(v - half))
            img[y0 : y0 + self.block, x0 : x0 + self.block] = COLOURS[str(name)]
            objects.append((str(name), x0 + half, y0 + half))
        return img, objects

    def __getitem__(self, index: int) -> dict:
        c = self.config
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        rng = np.random.default_rng([c.seed, index])
        img, objects = self._scene(rng)
        target_name, u, v = objects[int(rng.integers(len(objects)))]
        hand = spaces.HANDS[int(rng.integers(2))]
        verb = VERBS[int(rng.integers(2))]

        state = np.zeros(spaces.ACTION_DIM, dtype=np.float32)
        for h, side in zip(spaces.HANDS, (-1.0, 1.0)):
            pos = np.array([side * rng.uniform(0.05, 0.2), rng.uniform(0.1, 0.2), rng.uniform(0.45, 0.55)])
            state[spaces.slot(h, "wrist_pos")] = pos
            state[spaces.slot(h, "wrist_rot")] = geometry.rot6d_from_matrix(_yaw(rng.uniform(-0.3, 0.3)))
            state[spaces.slot(h, "fingertips")] = OPEN_HAND.reshape(-1)

        alpha = np.linspace(1.0 / c.chunk_len, 1.0, c.chunk_len, dtype=np.float32)
        alpha = alpha * alpha * (3 - 2 * alpha)  # smoothstep
        action = np.repeat(state[None], c.chunk_len, axis=0)
        start = state[spaces.slot(hand, "wrist_pos")]
        goal = back_project(u, v, DEPTH, self.K)
        action[:, spaces.slot(hand, "wrist_pos")] = start + alpha[:, None] * (goal - start)
        if verb == "grasp":
            tips = OPEN_HAND[None] + alpha[:, None, None] * (CLOSED_HAND - OPEN_HAND)[None]
            action[:, spaces.slot(hand, "fingertips")] = tips.reshape(c.chunk_len, -1)

        frame = img.transpose(2, 0, 1)
        images = np.broadcast_to(frame, (c.n_history, c.n_views, *frame.shape)).copy()
        return {
            "images": images,
            "image_mask": np.ones((c.n_history, c.n_views), dtype=bool),
            "instruction": f"{verb} the {target_name} block with your {hand} hand",
            "state": state,
            "state_mask": np.ones(spaces.ACTION_DIM, dtype=bool),
            "action": action,
            "action_mask": np.ones_like(action, dtype=bool),
        }


def blind_final_error(data: SyntheticDataset, n: int) -> float:
    """The best a policy can do without the image: the mean distance of the named hand's goal from
    that hand's average goal, over the first n samples (metres)."""
    goals: dict[str, list[np.ndarray]] = {hand: [] for hand in spaces.HANDS}
    for i in range(min(n, len(data))):
        s = data[i]
        hand = s["instruction"].split()[-2]
        goals[hand].append(s["action"][-1, spaces.slot(hand, "wrist_pos")])
    dists = [np.linalg.norm(np.stack(g) - np.mean(g, axis=0), axis=-1) for g in goals.values() if g]
    return float(np.concatenate(dists).mean())
