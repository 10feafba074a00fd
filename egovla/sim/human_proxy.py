"""Meta-World recorded as a person would be: EgoDex-format pairs from a head camera, no robot anywhere.

Real egocentric human video cannot be downloaded here, so this is its analogue in simulation. The
scripted experts run as in `egovla.sim.collect`, but what is written is what EgoDex holds:

- the **video** from a head camera (16:9, like the Vision Pro's) with the Sawyer arm and its stand
  hidden, the end effector drawn as a skin-coloured hand, warmer light and a pale table, so the
  pixels differ from the robot data's;
- the head camera **moves**: around the robot camera's pose it sways (each axis a sum of slow
  sines, `sway_cm` centimetres and `sway_deg` degrees at most) and drifts (a straight line of up to
  `drift_cm` over the episode), with the per-frame pose recorded as `transforms/camera` (OpenCV
  axes, as EgoDex's own tools project);
- the **hand** as EgoDex stores joints, in world coordinates: `rightHand` (the end effector's pose)
  and the two pads as `rightThumbTip` / `rightIndexFingerTip`; the left hand and the other three
  fingers are written with confidence 0 (untracked). Nothing from the robot's action space.

`egovla convert egodex OUT data/human` turns the pairs into camera-frame chunk labels exactly as
it does real EgoDex. Two switches make ablations: `moving_camera=False` holds the head still, and
`label_frame="world"` writes a fixed camera pose (the first frame's) while the video still moves,
so the labels are in a fixed world frame instead of the moving camera's.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from egovla import geometry
from egovla.sim.collect import episode_groups, map_units
from egovla.sim.metaworld_env import MAX_STEPS, EnvConfig, MetaWorldEnv
from egovla.sim.tasks import INSTRUCTIONS, parse_tasks

#: Bodies of the Sawyer arm and its stand, hidden from the human view (METAWORLD.md).
ARM_BODIES = ("base", "controller_box", "pedestal_feet", "torso", "pedestal", "right_arm_base_link", "right_l0",
              "right_l1", "right_l2", "right_l3", "right_l4", "right_l5", "right_l6", "right_l1_2", "right_l2_2",
              "right_l4_2", "head", "screen", "right_torso_itb", "right_arm_itb", "right_wrist", "right_hand_camera")
#: The end effector, drawn as the hand.
HAND_BODIES = ("right_hand", "hand", "rightclaw", "rightpad", "leftclaw", "leftpad")
SKIN = (0.87, 0.67, 0.55, 1.0)
TABLE_RGBA = (0.55, 0.62, 0.70, 1.0)  # a cool grey-blue, far from the skin tone
LIGHT_DIFFUSE = (0.45, 0.40, 0.33)
#: EgoDex joint names the pads are written as: the robot's thumb is its right pad (see embodiment).
PAD_JOINTS = ("rightThumbTip", "rightIndexFingerTip")
UNTRACKED = ("leftHand", "leftThumbTip", "leftIndexFingerTip", "leftMiddleFingerTip", "leftRingFingerTip",
             "leftLittleFingerTip", "rightMiddleFingerTip", "rightRingFingerTip", "rightLittleFingerTip")


def _f(default, help: str, **meta):
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class HumanProxyConfig:
    tasks: tuple[str, ...] = field(metadata={"help": "Meta-World tasks (mt10, demo or names)", "parse": parse_tasks,
                                             "required": True, "metavar": "TASKS"})
    episodes: int = _f(50, "expert episodes tried per task (failures are left out)", metavar="N")
    seed: int = _f(7, "first environment seed (robot collection uses 0 and evaluation 1000: other layouts)")
    camera: str = _f("corner", "the fixed camera whose pose the head camera moves around")
    height: int = _f(108, "video height in pixels", metavar="PX")
    width: int = _f(192, "video width in pixels (16:9 as EgoDex's 1920x1080)", metavar="PX")
    fovy: float = _f(32.0, "vertical field of view in degrees (the robot data's zoomed view)", metavar="DEG")
    moving_camera: bool = _f(True, "sway and drift the head camera (off: a still head)")
    sway_cm: float = _f(2.0, "largest sway of the head camera's position, per axis, in cm")
    sway_deg: float = _f(2.0, "largest sway of its orientation, per axis, in degrees")
    drift_cm: float = _f(3.0, "length of its straight drift over an episode, in cm")
    sway_hz: float = _f(0.5, "frequency of the sway's slowest component, in Hz")
    label_frame: str = _f("camera", "'camera': transforms/camera is the moving head camera (EgoDex); 'world': a fixed "
                          "pose (the first frame's) while the video moves (ablation)", choices=("camera", "world"))
    look: str = _f("human", "'human': arm hidden, skin-coloured hand, other light and table; 'robot': the robot "
                   "data's look (ablation)", choices=("human", "robot"))
    settle_steps: int = _f(10, "steps recorded after the first success")
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1), metadata={
        "help": "processes running episodes (default: one per CPU core)", "metavar": "N"})


def dress_as_human(model) -> None:
    """Hide the arm, draw the end effector as a hand, warm the light and lighten the table (in place)."""
    bodies = {model.body(i).name: i for i in range(model.nbody)}
    arm = {bodies[b] for b in ARM_BODIES if b in bodies}
    hand = {bodies[b] for b in HAND_BODIES if b in bodies}
    for g in range(model.ngeom):
        b = int(model.geom_bodyid[g])
        if b in arm:
            model.geom_rgba[g, 3] = 0.0
        elif b in hand and model.geom_rgba[g, 3] > 0:
            model.geom_rgba[g] = SKIN
            model.geom_matid[g] = -1
        elif model.body(b).name == "tablelink" and model.geom_group[g] == 1:
            model.geom_rgba[g] = TABLE_RGBA
            model.geom_matid[g] = -1
    model.light_diffuse[:] = LIGHT_DIFFUSE


def head_motion(cfg: HumanProxyConfig, steps: int, fps: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per step: camera-frame offsets (steps, 3) in metres and small rotation vectors (steps, 3) in radians."""
    if not cfg.moving_camera:
        return np.zeros((steps, 3)), np.zeros((steps, 3))
    t = np.arange(steps) / fps
    freqs = cfg.sway_hz * np.array([1.0, 1.7, 2.9])
    def sway(amplitude: float) -> np.ndarray:
        phases = rng.uniform(0, 2 * np.pi, size=(3, 3))
        weights = rng.dirichlet(np.ones(3), size=3)  # per axis, the components sum to the amplitude at most
        waves = np.sin(2 * np.pi * freqs[None, :, None] * t[None, None, :] + phases[:, :, None])
        return amplitude * np.einsum("ak,akt->ta", weights, waves)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    drift = (t / max(t[-1], 1e-9))[:, None] * direction * cfg.drift_cm / 100
    return sway(cfg.sway_cm / 100) + drift, sway(np.deg2rad(cfg.sway_deg))


def run_human_episode(env: MetaWorldEnv, layout: int, cfg: HumanProxyConfig, rng: np.random.Generator) -> dict:
    """One expert episode seen from the moving head camera; EgoDex-shaped arrays and whether it succeeded."""
    import mujoco
    from egovla.sim.experts import scripted_expert

    obs = env.reset(layout)
    expert = scripted_expert(env)
    model, data, cam = env.sim_model, env.sim_data, env.camera_id(cfg.camera)
    pos0, quat0 = model.cam_pos[cam].copy(), model.cam_quat[cam].copy()
    R0 = geometry.matrix_from_quat(quat0)
    offsets, rotvecs = head_motion(cfg, MAX_STEPS + 1, env.fps, rng)
    frames, camera, hand, pads, success_at = [], [], [], [], None
    try:
        while True:
            i = env.steps
            model.cam_pos[cam] = pos0 + R0 @ offsets[i]
            model.cam_quat[cam] = geometry.quat_from_matrix(R0 @ geometry.matrix_from_axis_angle(rotvecs[i]))
            mujoco.mj_camlight(model, data)
            frames.append(env.render(cfg.camera))
            camera.append(env.camera_pose(cfg.camera))
            hand.append(env.hand_pose())
            pads.append(env.pads())
            if env.steps >= MAX_STEPS or (success_at is not None and env.steps >= success_at + cfg.settle_steps):
                break
            obs, success = env.step(np.clip(expert.get_action(obs["raw"]), -1, 1).astype(np.float32))
            if success and success_at is None:
                success_at = env.steps
    finally:
        model.cam_pos[cam], model.cam_quat[cam] = pos0, quat0
        mujoco.mj_camlight(model, data)
    camera = np.stack(camera)
    if cfg.label_frame == "world":
        camera = np.repeat(camera[:1], len(camera), axis=0)
    return {"frames": np.stack(frames), "camera": camera, "hand": np.stack(hand), "pads": np.stack(pads),
            "K": env.intrinsics(cfg.camera), "success": success_at is not None, "success_step": success_at}


def egodex_arrays(ep: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(transforms, confidences) as EgoDex names them, from one recorded episode."""
    n = len(ep["camera"])
    transforms = {"camera": ep["camera"], "rightHand": ep["hand"]}
    for j, name in enumerate(PAD_JOINTS):
        T = ep["hand"].copy()
        T[:, :3, 3] = ep["pads"][:, j]
        transforms[name] = T
    confidences = {name: np.ones(n) for name in ("rightHand", *PAD_JOINTS)}
    for name in UNTRACKED:
        transforms[name] = ep["hand"]  # untracked: a finite placeholder pose with confidence 0
        confidences[name] = np.zeros(n)
    return transforms, confidences


def task_folder(task: str) -> str:
    return task.removesuffix("-v3").replace("-", "_")


def _work(unit: tuple) -> list[dict]:
    task, seed, episodes, cfg = unit
    import torch

    torch.set_num_threads(1)
    env_cfg = EnvConfig(cameras=(cfg.camera,), size=cfg.height, width=cfg.width, fovy=cfg.fovy)
    out = []
    with MetaWorldEnv(task, seed, env_cfg) as env:
        if cfg.look == "human":
            dress_as_human(env.sim_model)
        for e, layout in episodes:
            rng = np.random.default_rng([cfg.seed, seed, layout, 101])
            ep = run_human_episode(env, layout, cfg, rng)
            ep.update(task=task, episode=e, seed=seed, layout=layout, fps=env.fps)
            out.append(ep)
    return out


def record_human_proxy(cfg: HumanProxyConfig, out: str | Path, overwrite: bool = False, progress: bool = True) -> dict:
    """Record every task's episodes under `out` as `<task>/<i>.hdf5 + <i>.mp4`; returns the summary."""
    import shutil

    from egovla.data.egodex.write import write_pair

    out = Path(out)
    if out.exists():
        if not overwrite:
            raise FileExistsError(f"{out}: already exists; choose another folder or pass --overwrite")
        shutil.rmtree(out)
    units = [(task, s, eps, cfg) for task, s, eps in episode_groups(cfg.tasks, cfg.episodes, cfg.seed)]
    kept, tried, t0 = {t: 0 for t in cfg.tasks}, {t: 0 for t in cfg.tasks}, time.perf_counter()
    episodes = []
    bar = tqdm(total=cfg.episodes * len(cfg.tasks), desc="human proxy", unit="ep", disable=not progress)
    for batch in map_units(_work, units, min(cfg.workers, len(units))):
        for ep in batch:
            tried[ep["task"]] += 1
            bar.update(1)
            if not ep["success"]:
                continue
            folder = out / task_folder(ep["task"])
            i = kept[ep["task"]]
            transforms, confidences = egodex_arrays(ep)
            attrs = {"llm_description": INSTRUCTIONS[ep["task"]], "llm_type": "static", "task": task_folder(ep["task"]),
                     "environment": "metaworld", "session_name": f"proxy_s{ep['seed']}_{ep['task']}_{ep['layout']:02d}"}
            write_pair(folder / f"{i}.hdf5", ep["frames"], round(ep["fps"]), ep["K"], transforms, confidences, attrs)
            kept[ep["task"]] += 1
            episodes.append({"task": ep["task"], "file": f"{task_folder(ep['task'])}/{i}.hdf5", "seed": ep["seed"],
                             "layout": ep["layout"], "frames": len(ep["frames"])})
    bar.close()
    if not episodes:
        raise RuntimeError("human proxy: the experts succeeded in no episode; nothing was written")
    summary = {"config": {**asdict(cfg), "tasks": list(cfg.tasks)}, "episodes_kept": kept, "episodes_tried": tried,
               "seconds": time.perf_counter() - t0, "episodes": episodes}
    (out / "recording.json").write_text(json.dumps(summary, indent=1))
    return summary
