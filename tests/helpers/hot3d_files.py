"""Write small HOT3D-Clips tars in the real layout, with known poses and the hands drawn in the images.

A clip tar holds, per frame `<FRAME>` (6 digits): `image_214-1.jpg` (Aria RGB fisheye; Quest 3 clips
have only the mono `image_1201-1.jpg` / `image_1201-2.jpg`), `cameras.json` (FISHEYE624 calibration:
15 params for Aria, 16 for Quest 3; `T_world_from_camera` as translation_xyz + quaternion_wxyz),
`hands.json` (`umetrack_pose` {joint_angles (22), T_world_from_wrist} per side, `mano_pose`,
boxes/visibilities), `hand_crops.json`, `objects.json`, `info.json`; and one `__hand_shapes.json__`
with a small but structurally real UmeTrack profile (22 joints, 21 landmarks, 3 bone weights each,
mesh fields) and MANO betas.

The images are drawn through this file's own FISHEYE624 projection and UmeTrack FK (written from
the format description, with scipy rotations, independently of egovla's): a dark background and per
hand a bright disc at the projected wrist (RIGHT / LEFT colour, drawn last) and smaller discs at the
fingertips. The camera sways, the hands drift and curl; the left hand is not annotated on frames in
`left_gap` (absent from hands.json or null); `wrist_xform=True` writes the README's older
`wrist_xform` 4x4 matrix instead of `T_world_from_wrist`.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.spatial.transform import Rotation

RIGHT, LEFT, TIP = (235, 40, 40), (40, 220, 60), (250, 230, 60)
ARIA_PARAMS = [305.0, 351.2, 352.9, 0.35, -0.25, 0.05, 0.4, -0.6, 0.25, 2e-4, -1e-4, 1e-4, 0.0, -1e-4, 0.0]
QUEST_PARAMS = [60.0, 60.5, 79.4, 63.8, 0.2, -0.1, 0.0, 0.0, 0.0, 0.0, 1e-4, 0.0, 0.0, 0.0, 0.0, 0.0]


# ---------------------------------------------------------------- independent projection and FK
def fisheye_project(params, p_cam: np.ndarray) -> np.ndarray:
    if len(params) == 15:
        fx = fy = params[0]
        cx, cy, d = params[1], params[2], params[3:]
    else:
        fx, fy, cx, cy, d = params[0], params[1], params[2], params[3], params[4:]
    x, y, z = p_cam
    r = np.hypot(x, y)
    th = np.arctan2(r, z)
    u, v = (x * th / r, y * th / r) if r > 0 else (0.0, 0.0)
    rho2 = min(u * u + v * v, np.pi ** 2)
    rad = 1 + sum(d[i] * rho2 ** (i + 1) for i in range(6))
    u, v = u * rad, v * rad
    r2 = u * u + v * v
    u2 = u + d[6] * (r2 + 2 * u * u) + 2 * d[7] * u * v + d[8] * r2 + d[9] * r2 * r2
    v2 = v + d[7] * (r2 + 2 * v * v) + 2 * d[6] * u * v + d[10] * r2 + d[11] * r2 * r2
    return np.array([fx * u2 + cx, fy * v2 + cy])


def hand_profile() -> dict:
    """A 22-joint UmeTrack profile (mm): fingers along the wrist's +x, spread along y."""
    spread = [-32.0, -16.0, 0.0, 14.0, 28.0]
    joints, axes = [], []
    for f in range(5):
        for j, x in enumerate((28.0, 52.0, 72.0, 88.0)):
            joints.append([x if f else x * 0.7, spread[f], -4.0 if f == 0 else 0.0])
            axes.append([0.0, 0.0, 1.0] if j == 0 else [0.0, 1.0, 0.0] if f else [0.3, 0.95, 0.0])
    joints += [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]
    axes += [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    lm, w, idx = [], [], []
    for f in range(5):  # 0-4 tips, bound to the distal frames 4, 7, 10, 13, 16
        lm.append([104.0 if f else 80.0, spread[f], 0.0]); w.append([1.0, 0.0, 0.0]); idx.append([4 + 3 * f, 0, 0])
    lm.append([0.0, 0.0, 0.0]); w.append([1.0, 0.0, 0.0]); idx.append([1, 0, 0])  # 5 wrist
    for f in range(5):  # 6-19 joints (thumb 2, others 3), some blended between two frames
        for j in ((1, 2) if f == 0 else (0, 1, 2)):
            fr = 2 + 3 * f + j
            lm.append(joints[4 * f + j + 1]); w.append([0.7, 0.3, 0.0]); idx.append([fr, max(fr - 1, 1), 0])
    lm.append([40.0, 0.0, -8.0]); w.append([0.5, 0.25, 0.25]); idx.append([1, 5, 8])  # 20 palm
    rng = np.random.default_rng(1)
    return {"joint_rotation_axes": axes, "joint_rest_positions": joints,
            "joint_frame_index": list(range(22)), "joint_parent": [-1] + list(range(21)),
            "joint_first_child": list(range(1, 22)) + [-1], "joint_next_sibling": [-1] * 22,
            "landmark_rest_positions": lm, "landmark_rest_bone_weights": w, "landmark_rest_bone_indices": idx,
            "hand_scale": 1.0, "mesh_vertices": rng.normal(0, 30, (8, 3)).tolist(),
            "mesh_triangles": [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 0]],
            "dense_bone_weights": np.full((8, 17), 1 / 17).tolist(), "joint_limits": [[-0.5, 1.6]] * 22}


def fk_tips(profile: dict, angles, W: np.ndarray, side: str) -> np.ndarray:
    """(5, 3) fingertips in the world, by the UmeTrack FK as described (independent implementation)."""
    W = np.array(W, dtype=float)
    if side == "right":
        W[:, 0] *= -1
    axes = np.array(profile["joint_rotation_axes"]) * 1.0
    rest = np.array(profile["joint_rest_positions"]) * 0.001

    def local(j):
        R = Rotation.from_rotvec(axes[j] * angles[j]).as_matrix()
        L = np.eye(4)
        L[:3, :3], L[:3, 3] = R, rest[j] - R @ rest[j]
        return L

    frames = [W, W]
    for f in range(5):
        chain = W @ local(4 * f) @ local(4 * f + 1)
        frames += [chain, chain @ local(4 * f + 2), chain @ local(4 * f + 2) @ local(4 * f + 3)]
    out = []
    for l in range(5):
        p = np.array(profile["landmark_rest_positions"][l] + [1000.0]) * 0.001
        out.append(sum(wt * (frames[i] @ p)[:3] for wt, i in zip(profile["landmark_rest_bone_weights"][l],
                                                                 profile["landmark_rest_bone_indices"][l])))
    return np.array(out)


# ---------------------------------------------------------------- poses
def pose_json(T: np.ndarray) -> dict:
    q = Rotation.from_matrix(T[:3, :3]).as_quat()  # x, y, z, w
    return {"translation_xyz": T[:3, 3].tolist(), "quaternion_wxyz": [q[3], q[0], q[1], q[2]]}


def make_pose(rotvec, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def clip_truth(frames: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    T_world_origin = make_pose(rng.normal(0, 0.5, 3), rng.normal(0, 1.0, 3))
    out = {"camera": [], "wrist": {"left": [], "right": []}, "angles": {"left": [], "right": []}}
    ph = rng.uniform(0, 2 * np.pi, 8)
    for t in range(frames):
        s = t / max(frames - 1, 1)
        cam = T_world_origin @ make_pose([0.05 * np.sin(2 * s + ph[0]), 0.12 * s, 0.03 * np.sin(3 * s + ph[1])],
                                         [0.03 * s, 0.01 * np.sin(4 * s), 0.02 * s])
        out["camera"].append(cam)
        for side, x0 in (("left", -0.11), ("right", 0.11)):
            # wrist in the camera frame: in front, fingers pointing up-ish in the image (+x of wrist -> -y cam)
            p = [x0 + 0.02 * np.sin(3 * s + ph[2]), 0.06 + 0.03 * np.sin(2 * s + ph[3]), 0.36 + 0.04 * s]
            R_cam_wrist = Rotation.from_euler("xyz", [0.2 * np.sin(s + ph[4]), 0.3, -1.57]).as_matrix()
            T_cam_wrist = np.eye(4)
            T_cam_wrist[:3, :3], T_cam_wrist[:3, 3] = R_cam_wrist, p
            out["wrist"][side].append(cam @ T_cam_wrist)
            a = np.zeros(22)
            a[:20] = 0.15 + 0.4 * (0.5 + 0.5 * np.sin(4 * s + ph[5 + (side == "right")])) * np.tile([0.2, 1, 0.8, 0.6], 5)
            out["angles"][side].append(a)
    return out


def _calib(stream: str, params, w: int, h: int, label: str) -> dict:
    return {"label": label, "stream_id": stream, "serial_number": "0450577b730901234", "image_width": w,
            "image_height": h, "projection_model_type": "CameraModelType.FISHEYE624", "projection_params": list(params),
            "T_device_from_camera": pose_json(make_pose([0.0, 0.0, 0.3], [0.01, 0.0, 0.0])), "max_solid_angle": 1.7}


def _jpeg(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _draw(size, params, truth, profile, t, gap, mode="RGB") -> np.ndarray:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = (30 + 30 * xx / w + 10 * yy / h).astype(np.uint8)
    im = Image.fromarray(np.stack([base] * 3, -1))
    d = ImageDraw.Draw(im)
    inv = np.linalg.inv(truth["camera"][t])
    rw, rt = 0.035 * w, 0.014 * w
    for side, colour in (("left", LEFT), ("right", RIGHT)):
        if side == "left" and t in gap:
            continue
        W = truth["wrist"][side][t]
        tips = fk_tips(profile, truth["angles"][side][t], W, side)
        for p in tips:
            u, v = fisheye_project(params, (inv @ np.append(p, 1))[:3])
            d.ellipse([u - rt, v - rt, u + rt, v + rt], fill=TIP)
        u, v = fisheye_project(params, (inv @ W[:, 3])[:3])
        d.ellipse([u - rw, v - rw, u + rw, v + rw], fill=colour)
    arr = np.asarray(im)
    return arr if mode == "RGB" else arr.mean(-1).astype(np.uint8)


def write_clip(path: Path, clip_id: int = 1849, device: str = "Aria", frames: int = 12, seed: int = 0,
               rgb_size: int = 704, left_gap=(5, 6, 7), wrist_xform: bool = False) -> dict:
    """Write `path` (a clip tar); returns the truth (poses, angles, profile, params, streams)."""
    truth = clip_truth(frames, seed)
    profile = hand_profile()
    gap = set(left_gap)
    members: dict[str, bytes] = {"__hand_shapes.json__": json.dumps({"mano": [0.1] * 10, "umetrack": profile}).encode()}
    if device == "Aria":
        scale = rgb_size / 704
        params = [ARIA_PARAMS[0] * scale, (ARIA_PARAMS[1] + 0.5) * scale - 0.5, (ARIA_PARAMS[2] + 0.5) * scale - 0.5] + ARIA_PARAMS[3:]
        streams = {"214-1": (params, (rgb_size, rgb_size), "camera-rgb", "RGB"),
                   "1201-1": (QUEST_PARAMS, (160, 128), "camera-slam-left", "L")}
    else:
        streams = {"1201-1": (QUEST_PARAMS, (160, 128), "camera-slam-left", "L"),
                   "1201-2": (QUEST_PARAMS, (160, 128), "camera-slam-right", "L")}
    for t in range(frames):
        fid = f"{t:06d}"
        cams = {}
        for sid, (params, size, label, mode) in streams.items():
            T = truth["camera"][t] if sid == next(iter(streams)) else truth["camera"][t] @ make_pose([0, 0.2, 0], [0.05, 0, 0])
            cams[sid] = {"calibration": _calib(sid, params, *size, label), "T_world_from_camera": pose_json(T)}
            if sid == next(iter(streams)):
                members[f"{fid}.image_{sid}.jpg"] = _jpeg(_draw(size, params, truth, profile, t, gap, mode))
            else:
                members[f"{fid}.image_{sid}.jpg"] = _jpeg(np.full((size[1], size[0]), 90, np.uint8))
        members[f"{fid}.cameras.json"] = json.dumps(cams).encode()
        hands = {}
        for side in ("left", "right"):
            if side == "left" and t in gap:
                if t % 2:
                    hands[side] = None
                continue
            W = truth["wrist"][side][t]
            wrist = {"wrist_xform": W.tolist()} if wrist_xform else {"T_world_from_wrist": pose_json(W)}
            hands[side] = {"umetrack_pose": {"joint_angles": truth["angles"][side][t].tolist(), **wrist},
                           "mano_pose": {"thetas": [0.0] * 15, "wrist_xform": [0.0] * 6},
                           "boxes_amodal": {sid: [10, 10, 50, 60] for sid in streams},
                           "visibilities_modeled": {sid: 0.9 for sid in streams}}
        members[f"{fid}.hands.json"] = json.dumps(hands).encode()
        members[f"{fid}.hand_crops.json"] = json.dumps({}).encode()
        members[f"{fid}.objects.json"] = json.dumps({"3": [{"object_bop_id": 3, "object_name": "mug", "object_uid": "1",
                                                             "T_world_from_object": pose_json(np.eye(4))}]}).encode()
        members[f"{fid}.info.json"] = json.dumps({
            "device": device, "image_timestamps_ns": {sid: 10_000_000_000 + 33_333_333 * t for sid in streams},
            "participant_id": "P0003", "ref_timestamp_ns": 10_000_000_000 + 33_333_333 * t,
            "sequence_id": "P0003_c701bd11"}).encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))
    return {**truth, "profile": profile, "streams": streams, "frames": frames, "gap": gap, "clip_id": clip_id}
