"""FISHEYE624 projection (Aria / Quest 3 cameras) and its undistortion into a pinhole view, numpy only.

Facts (facebookresearch/hand_tracking_toolkit `camera.py` / `camera_distortion.py`, projectaria_tools
`FisheyeRadTanThinPrism.h`): camera axes are OpenCV's (x right, y down, z forward); pixel coordinates
have integer values at pixel centres. A camera-frame point (x, y, z) projects as
1. r = |(x, y)|, theta = atan2(r, z), (u, v) = (x, y) * theta / r;
2. radial: rho2 = u^2 + v^2 (clipped to pi^2), (u, v) *= 1 + k0 rho2 + k1 rho2^2 + ... + k5 rho2^6;
3. tangential, on those (u, v) with r2 = u^2 + v^2: u += p0 (r2 + 2u^2) + 2 p1 u v, v += p1 (r2 + 2v^2) + 2 p0 u v;
4. thin prism (same r2): u += s0 r2 + s1 r2^2, v += s2 r2 + s3 r2^2;
5. pixel = (fx u + cx, fy v + cy).
`projection_params` hold 15 values for Aria, [f, cx, cy, k0..k5, p0, p1, s0..s3] (fx = fy = f), or 16,
[fx, fy, cx, cy, k0..k5, p0, p1, s0..s3]. Unprojection inverts steps 2-4 by Newton's method.

`PinholeView` is the undistorted image the converter writes: a virtual pinhole camera at the
fisheye's centre, looking along its optical axis, `size` pixels, focal length `focal` pixels,
principal point at the image centre, turned by `rot90` quarter turns counter-clockwise about the
optical axis (np.rot90's sense: rot90=3 shows Aria RGB upright, as HOT3D's vis_clips.py displays it).
Its pixels are sampled from the fisheye image by bilinear interpolation (rays the fisheye cannot see,
or that fall outside it, are black).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUARTER = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # R_fisheye_view for one CCW quarter turn


class CalibrationError(ValueError):
    pass


@dataclass(frozen=True)
class Fisheye624:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    k: tuple[float, ...]  # 6 radial
    p: tuple[float, float]  # 2 tangential
    s: tuple[float, ...]  # 4 thin prism

    @classmethod
    def from_params(cls, params, width: int, height: int, where: str = "calibration") -> "Fisheye624":
        v = [float(x) for x in params]
        if len(v) == 15:
            f, cx, cy, rest = v[0], v[1], v[2], v[3:]
            fx = fy = f
        elif len(v) == 16:
            fx, fy, cx, cy, rest = v[0], v[1], v[2], v[3], v[4:]
        else:
            raise CalibrationError(f"{where}: FISHEYE624 needs 15 (Aria) or 16 projection_params, got {len(v)}")
        if not (np.all(np.isfinite(v)) and fx > 0 and fy > 0):
            raise CalibrationError(f"{where}: projection_params must be finite with positive focal lengths, got {v[:4]}")
        return cls(int(width), int(height), fx, fy, cx, cy, tuple(rest[:6]), tuple(rest[6:8]), tuple(rest[8:12]))

    @classmethod
    def from_calibration(cls, calib: dict, where: str = "calibration") -> "Fisheye624":
        model = str(calib.get("projection_model_type", ""))
        if "FISHEYE624" not in model.upper():
            raise CalibrationError(f"{where}: projection_model_type {model!r} is not FISHEYE624")
        try:
            return cls.from_params(calib["projection_params"], calib["image_width"], calib["image_height"], where)
        except KeyError as e:
            raise CalibrationError(f"{where}: calibration lacks {e}") from None

    def scaled(self, sx: float, sy: float | None = None) -> "Fisheye624":
        """The same camera for the image resized by (sx, sy) (pixel centres stay pixel centres)."""
        sy = sx if sy is None else sy
        return Fisheye624(int(round(self.width * sx)), int(round(self.height * sy)), self.fx * sx, self.fy * sy,
                          (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, self.k, self.p, self.s)

    def distort(self, uv: np.ndarray) -> np.ndarray:
        """Steps 2-4 on (..., 2) arctan-projected coordinates."""
        u, v = uv[..., 0], uv[..., 1]
        rho2 = np.minimum(u * u + v * v, np.pi ** 2)
        radial = 1.0 + sum(kk * rho2 ** (i + 1) for i, kk in enumerate(self.k))
        u, v = u * radial, v * radial
        r2 = u * u + v * v
        p0, p1 = self.p
        ut = u + p0 * (r2 + 2 * u * u) + 2 * p1 * u * v
        vt = v + p1 * (r2 + 2 * v * v) + 2 * p0 * u * v
        s0, s1, s2, s3 = self.s
        return np.stack([ut + s0 * r2 + s1 * r2 * r2, vt + s2 * r2 + s3 * r2 * r2], -1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 2) pixels (meaningful for z > 0 only)."""
        p = np.asarray(points, dtype=np.float64)
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        r = np.hypot(x, y)
        theta = np.arctan2(r, z)
        scale = np.where(r > 1e-12, theta / np.where(r > 1e-12, r, 1.0), 1.0 / np.where(np.abs(z) > 1e-12, z, 1e-12))
        q = self.distort(np.stack([x * scale, y * scale], -1))
        return np.stack([self.fx * q[..., 0] + self.cx, self.fy * q[..., 1] + self.cy], -1)

    def unproject(self, pixels: np.ndarray, iters: int = 30) -> np.ndarray:
        """(..., 2) pixels -> (..., 3) unit rays in the camera frame (Newton on the distortion)."""
        w = np.asarray(pixels, dtype=np.float64)
        target = np.stack([(w[..., 0] - self.cx) / self.fx, (w[..., 1] - self.cy) / self.fy], -1)
        q = target.copy()
        eps = 1e-7
        for _ in range(iters):
            f = self.distort(q) - target
            ju = (self.distort(q + [eps, 0.0]) - self.distort(q - [eps, 0.0])) / (2 * eps)
            jv = (self.distort(q + [0.0, eps]) - self.distort(q - [0.0, eps])) / (2 * eps)
            det = ju[..., 0] * jv[..., 1] - jv[..., 0] * ju[..., 1]
            det = np.where(np.abs(det) < 1e-12, 1e-12, det)
            du = (jv[..., 1] * f[..., 0] - jv[..., 0] * f[..., 1]) / det
            dv = (-ju[..., 1] * f[..., 0] + ju[..., 0] * f[..., 1]) / det
            q = q - np.stack([du, dv], -1)
            if np.nanmax(np.abs(f)) < 1e-12:
                break
        theta = np.linalg.norm(q, axis=-1)
        direction = q / np.where(theta > 1e-12, theta, 1.0)[..., None]
        return np.concatenate([direction * np.sin(theta)[..., None], np.cos(theta)[..., None]], -1)


@dataclass(frozen=True)
class PinholeView:
    height: int
    width: int
    focal: float
    rot90: int = 0

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.focal, 0.0, (self.width - 1) / 2], [0.0, self.focal, (self.height - 1) / 2], [0.0, 0.0, 1.0]])

    @property
    def R_camera_view(self) -> np.ndarray:
        """Rotation taking view-frame vectors to fisheye-camera-frame vectors."""
        return np.linalg.matrix_power(QUARTER, self.rot90 % 4)

    @property
    def T_camera_view(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = self.R_camera_view
        return T

    def source_pixels(self, cam: Fisheye624) -> tuple[np.ndarray, np.ndarray]:
        """(h, w, 2) fisheye pixel of every view pixel, and (h, w) whether it is seen (in front, inside)."""
        v, u = np.mgrid[0:self.height, 0:self.width].astype(np.float64)
        K = self.K
        rays = np.stack([(u - K[0, 2]) / self.focal, (v - K[1, 2]) / self.focal, np.ones_like(u)], -1)
        rays = rays @ self.R_camera_view.T
        px = cam.project(rays)
        theta = np.arctan2(np.hypot(rays[..., 0], rays[..., 1]), rays[..., 2])
        ok = (theta < np.pi / 2) & np.all(np.isfinite(px), -1)
        ok &= (px[..., 0] >= -0.5) & (px[..., 0] <= cam.width - 0.5) & (px[..., 1] >= -0.5) & (px[..., 1] <= cam.height - 0.5)
        return px, ok


class Remap:
    """Bilinear sampling of (H, W[, C]) images at fixed float pixel positions px (h, w, 2), precomputed
    once (four source indices and weights per output pixel); pixels not `ok` come out 0 (black)."""

    def __init__(self, px: np.ndarray, ok: np.ndarray, src_hw: tuple[int, int]):
        H, W = src_hw
        x = np.clip(px[..., 0], 0, W - 1).reshape(-1)
        y = np.clip(px[..., 1], 0, H - 1).reshape(-1)
        x0 = np.minimum(np.floor(x).astype(np.int64), max(W - 2, 0))
        y0 = np.minimum(np.floor(y).astype(np.int64), max(H - 2, 0))
        x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
        fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
        keep = ok.reshape(-1).astype(np.float32)
        self.index = np.stack([y0 * W + x0, y0 * W + x1, y1 * W + x0, y1 * W + x1])
        self.weight = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]) * keep
        self.shape, self.src_hw = ok.shape, (H, W)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if img.shape[:2] != self.src_hw:
            raise ValueError(f"remap built for {self.src_hw} images, got {img.shape[:2]}")
        flat = img.reshape(self.src_hw[0] * self.src_hw[1], -1)
        acc = flat[self.index[0]] * self.weight[0][:, None]
        for k in range(1, 4):
            acc += flat[self.index[k]] * self.weight[k][:, None]
        out = np.minimum(acc + 0.5, 255).astype(np.uint8).reshape(self.shape + (flat.shape[1],))
        return out if img.ndim == 3 else out[..., 0]


def remap_bilinear(img: np.ndarray, px: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Sample img (H, W[, C]) at float pixel positions px (h, w, 2) bilinearly; not-ok pixels are 0."""
    return Remap(px, ok, img.shape[:2])(img)
