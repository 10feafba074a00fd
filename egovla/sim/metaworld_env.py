"""Meta-World (v3, gymnasium API) as egovla sees it: fast RGB views, camera poses in OpenCV axes,
and proprioception in the unified 48-slot layout (the end-effector is the right "wrist").

Rendering goes through one `mujoco.Renderer` per environment with multisampling, shadows and
reflections off (about 7 ms per 128 px frame here, against ~75 ms for `env.render()`). The corner
cameras of Meta-World's scene are mounted upside down; their images are turned 180 degrees and their
camera frame with them, so the pinhole maths below matches the pixels that the policy sees.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

# Meta-World's experts warn on every action whose gains exceed the action range (they are clipped).
warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high")
# Headless rendering; must be set before mujoco is first imported (metaworld imports it).
os.environ.setdefault("MUJOCO_GL", "egl")

from egovla.sim.embodiment import GripperEmbodiment
from egovla.sim.tasks import INSTRUCTIONS

#: Object layouts per seed (Meta-World's MT1 makes 50).
LAYOUTS = 50
#: Meta-World's step limit (stepping past it raises inside metaworld).
MAX_STEPS = 500
#: MuJoCo camera axes (x right, y up, looking down -z) -> OpenCV axes (x right, y down, z forward).
_MJ_TO_CV = np.diag([1.0, -1.0, -1.0])
#: The same for a camera whose image is turned 180 degrees (x left, y up in MuJoCo terms).
_MJ_TO_CV_TURNED = np.diag([-1.0, 1.0, -1.0])
#: Vertical field of view (degrees) given to the chosen cameras: at 64-128 px the scene's default
#: 45-60 degrees leave the objects a few pixels wide.
DEFAULT_FOVY = 32.0


@dataclass(frozen=True)
class EnvConfig:
    """How the simulator is looked at. `cameras[0]` defines the unified (camera) frame."""

    cameras: tuple[str, ...] = field(default=("corner",), metadata={
        "help": "views to render (topview, corner, corner2, corner3, corner4, behindGripper, gripperPOV); the first "
                "one is the camera frame of states and actions", "metavar": "C1,C2"})
    size: int = field(default=128, metadata={"help": "image height (and width, unless --width) in pixels",
                                             "metavar": "PX"})
    width: int | None = field(default=None, metadata={"help": "image width in pixels (default: square)",
                                                      "metavar": "PX"})
    fovy: float | None = field(default=DEFAULT_FOVY, metadata={
        "help": "vertical field of view given to the chosen cameras; 0 keeps Meta-World's", "metavar": "DEG",
        "parse": lambda raw: None if raw.strip().lower() in ("0", "0.0", "none") else float(raw)})
    camera_pos: tuple[float, float, float] | None = field(default=None, metadata={
        "help": "move the first camera to this world position (x,y,z metres), keeping its orientation; LeRobot's "
                "Meta-World data moves corner2 to 0.75,0.075,0.7", "metavar": "X,Y,Z"})

    def __post_init__(self) -> None:
        if not self.cameras:
            raise ValueError("cameras: need at least one camera")
        if self.fovy is not None and not 0 < self.fovy < 180:
            raise ValueError(f"fovy: expected degrees in (0, 180), got {self.fovy}")
        if self.size < 8 or (self.width is not None and self.width < 8):
            raise ValueError(f"size and width: expected >= 8 pixels, got {self.size}, {self.width}")
        if self.camera_pos is not None and len(self.camera_pos) != 3:
            raise ValueError(f"camera_pos: expected 3 numbers (x, y, z), got {self.camera_pos}")

    @property
    def hw(self) -> tuple[int, int]:
        """(height, width) of rendered images."""
        return self.size, self.width or self.size


#: The view of LeRobot's Meta-World data (`lerobot/metaworld_mt50`, its `metaworld` env): camera corner2
#: moved to (0.75, 0.075, 0.7), Meta-World's own field of view, 480 px, turned upright.
LEROBOT_VIEW = EnvConfig(cameras=("corner2",), size=480, fovy=None, camera_pos=(0.75, 0.075, 0.7))


def focal_length_px(fovy_deg: float, height: int) -> float:
    """A pinhole's focal length in pixels from MuJoCo's vertical field of view (degrees) and the image height
    (pixels are square)."""
    return 0.5 * height / float(np.tan(np.deg2rad(fovy_deg) / 2))


class MetaWorldEnv:
    """One Meta-World task at one seed. The seed makes `LAYOUTS` object layouts (Meta-World's 50
    "tasks" of MT1); `reset(layout)` starts an episode on one of them, the same one every time.

    `reset()` and `step(action)` return an observation dict:
    `images` {camera: (size, size, 3) uint8}, `state` (48,) float32 and `state_mask` (48,) bool in the
    unified layout, `raw` (39,) Meta-World's own observation, `hand` (3,) end-effector position and
    `grip` the fingertip distance in metres (both world frame). `step` also returns `success`, and sets
    `goal_distance`: Meta-World's `obj_to_target` after the step, the distance its success test reads (hand or
    object to the goal, in metres; NaN before the first step).
    """

    def __init__(self, task: str, seed: int, config: EnvConfig = EnvConfig(), embodiment=None):
        if task not in INSTRUCTIONS:
            raise ValueError(f"task: unknown Meta-World task {task!r}")
        import gymnasium as gym
        import metaworld  # noqa: F401  (registers the Meta-World environments)
        import mujoco

        self.task, self.seed, self.config = task, int(seed), config
        self.embodiment = embodiment if embodiment is not None else GripperEmbodiment()
        self.instruction = INSTRUCTIONS[task]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._env = gym.make("Meta-World/MT1", env_name=task, seed=self.seed, disable_env_checker=True)
        self._sim = self._env.unwrapped
        self._layouts = self._find_layouts()
        model = self._sim.model
        names = [model.camera(i).name for i in range(model.ncam)]
        unknown = [c for c in config.cameras if c not in names]
        if unknown:
            self._env.close()
            raise ValueError(f"cameras: unknown camera(s) {unknown}; Meta-World has {names}")
        self._cam_ids = {c: names.index(c) for c in config.cameras}
        frame_cam = self._cam_ids[config.cameras[0]]
        if model.cam_bodyid[frame_cam] != 0:
            self._env.close()
            fixed = [n for i, n in enumerate(names) if model.cam_bodyid[i] == 0]
            raise ValueError(f"cameras: the first camera defines the frame of states and actions and must be fixed "
                             f"in the world; {config.cameras[0]!r} moves with the arm (fixed: {fixed}; moving "
                             f"cameras may come after one of those)")
        if config.fovy is not None:
            for i in self._cam_ids.values():
                model.cam_fovy[i] = config.fovy
        model.vis.quality.offsamples = 0  # before the renderer exists: no multisampling buffer
        if config.camera_pos is not None:
            model.cam_pos[frame_cam] = config.camera_pos
        height, width = config.hw
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self._renderer = mujoco.Renderer(model, height, width)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self._turned = {c: c.startswith("corner") for c in config.cameras}
        self._hand = model.body("hand").id
        self._pads = (model.body("rightpad").id, model.body("leftpad").id)  # thumb, index
        self.steps = 0
        self.success = False
        self.goal_distance = float("nan")
        self._raw: np.ndarray | None = None

    def _find_layouts(self) -> list:
        wrapper = self._env
        while not hasattr(wrapper, "tasks") and hasattr(wrapper, "env"):
            wrapper = wrapper.env
        if not hasattr(wrapper, "toggle_sample_tasks_on_reset"):
            raise RuntimeError("metaworld: MT1 environment without a task-select wrapper; expected metaworld 3.x")
        wrapper.toggle_sample_tasks_on_reset(False)  # layouts are chosen explicitly in reset()
        return list(wrapper.tasks)

    # ---- episode ---------------------------------------------------------------------------------
    def reset(self, layout: int = 0) -> dict:
        """Start an episode on object layout `layout` (0 .. LAYOUTS-1) of this seed."""
        if not 0 <= layout < len(self._layouts):
            raise ValueError(f"layout: expected 0..{len(self._layouts) - 1}, got {layout}")
        self._sim.set_task(self._layouts[layout])
        self.layout = layout
        self._raw, _ = self._env.reset(seed=self.seed)
        self.steps, self.success, self.goal_distance = 0, False, float("nan")
        return self.observe()

    def step(self, action: np.ndarray, render: bool = True) -> tuple[dict, bool]:
        """One control step (12.5 ms of simulated time). Returns (observation, success so far); with
        `render=False` the observation's images are None (rendering is most of a step's cost)."""
        if self._raw is None:
            raise RuntimeError("step() before reset()")
        if self.steps >= MAX_STEPS:
            raise RuntimeError(f"{self.task}: Meta-World episodes end after {MAX_STEPS} steps")
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        if action.shape != (4,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action: expected 4 finite numbers (dx, dy, dz, grip), got {action}")
        self._raw, _, _, _, info = self._env.step(np.clip(action, -1.0, 1.0))
        self.steps += 1
        self.success = self.success or bool(info["success"])
        self.goal_distance = float(info.get("obj_to_target", float("nan")))
        return self.observe(render), self.success

    def observe(self, render: bool = True) -> dict:
        hand, pads = self.hand_pose(), self.pads()
        state, state_mask = self.embodiment.observe(self)
        return {
            "images": {c: self.render(c) for c in self.config.cameras} if render else None,
            "state": state,
            "state_mask": state_mask,
            "raw": np.asarray(self._raw, dtype=np.float32),
            "hand": hand[:3, 3].copy(),
            "grip": float(np.linalg.norm(pads[0] - pads[1])),
        }

    @property
    def fps(self) -> float:
        return 1.0 / float(self._sim.dt)

    @property
    def raw_observation(self) -> np.ndarray:
        """Meta-World's own 39-D observation of now."""
        return np.asarray(self._raw, dtype=np.float32)

    @property
    def sim_model(self):
        """MuJoCo's model: what rendering reads (colours, cameras, lights); physics is not changed through it."""
        return self._sim.model

    @property
    def sim_data(self):
        return self._sim.data

    def camera_id(self, camera: str) -> int:
        if camera not in self._cam_ids:
            raise ValueError(f"camera {camera!r} is not rendered here; rendered: {list(self._cam_ids)}")
        return self._cam_ids[camera]

    # ---- geometry --------------------------------------------------------------------------------
    def camera_pose(self, camera: str) -> np.ndarray:
        """T_world_camera (4, 4) in OpenCV axes (x right, y down, z forward) for the image as rendered."""
        i = self._cam_ids[camera]
        data = self._sim.data
        T = np.eye(4)
        T[:3, :3] = data.cam_xmat[i].reshape(3, 3) @ (_MJ_TO_CV_TURNED if self._turned[camera] else _MJ_TO_CV)
        T[:3, 3] = data.cam_xpos[i]
        return T

    def intrinsics(self, camera: str) -> np.ndarray:
        """Pinhole K (3, 3) in pixels for the rendered size (square pixels; pixel centres at +0.5)."""
        height, width = self.config.hw
        f = focal_length_px(float(self._sim.model.cam_fovy[self._cam_ids[camera]]), height)
        return np.array([[f, 0.0, 0.5 * width], [0.0, f, 0.5 * height], [0.0, 0.0, 1.0]])

    def hand_pose(self) -> np.ndarray:
        """T_world_hand (4, 4): the end-effector body Meta-World's own observation reports."""
        data = self._sim.data
        T = np.eye(4)
        T[:3, :3] = data.xmat[self._hand].reshape(3, 3)
        T[:3, 3] = data.xpos[self._hand]
        return T

    def goal_position(self) -> np.ndarray:
        """(3,) world position of this layout's goal (Meta-World's target: reach's red sphere, push's marker)."""
        return np.array(self._sim._target_pos, dtype=float)

    def tcp_position(self) -> np.ndarray:
        """(3,) world position of the point between the fingertips that Meta-World measures reaching with."""
        return np.array(self._sim.tcp_center, dtype=float)

    def object_position(self) -> np.ndarray:
        """(3,) world position of the task's (first) object: push's puck, pick-place's block."""
        return np.array(self._sim._get_pos_objects()[:3], dtype=float)

    def pads(self) -> np.ndarray:
        """(2, 3) world positions of the two finger pads, the "thumb" then the "index" tip."""
        return np.stack([self._sim.data.xpos[i] for i in self._pads])

    # ---- rendering -------------------------------------------------------------------------------
    def render(self, camera: str) -> np.ndarray:
        self._renderer.update_scene(self._sim.data, camera=self._cam_ids[camera])
        image = self._renderer.render()
        return np.ascontiguousarray(image[::-1, ::-1]) if self._turned[camera] else image.copy()

    def segmentation(self, camera: str) -> np.ndarray:
        """(size, size) geom id per pixel (-1 for background), aligned with `render(camera)`."""
        self._renderer.enable_segmentation_rendering()
        try:
            self._renderer.update_scene(self._sim.data, camera=self._cam_ids[camera])
            seg = self._renderer.render()[..., 0]
        finally:
            self._renderer.disable_segmentation_rendering()
        return np.ascontiguousarray(seg[::-1, ::-1]) if self._turned[camera] else seg.copy()

    def close(self) -> None:
        """Free the GL context now (left to the garbage collector it complains at exit)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()

    def __enter__(self) -> MetaWorldEnv:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
