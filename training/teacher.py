"""MediaPipe teacher: soft person masks used as pseudo-labels for PortraitNet training data.

Runs only inside the separate teacher venv (see requirements-teacher.txt); MediaPipe is never a
dependency of the app.

    .venv-teacher/bin/python -m training.teacher photo.jpg --out photo_mask.png [--preview sheet.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from app.matting import guided_filter

# Selfie segmentation works on a 256x256 letterbox, so very large inputs only cost time.
MAX_TEACHER_SIDE = 1024


class Teacher:
    """Soft person mask for an RGB uint8 image, values in [0, 1].

    `selfie` is MediaPipe selfie segmentation (general 256x256 model, model_selection=0), averaged
    over a horizontal flip for stability. `pose` is the BlazePose segmentation output, which keeps
    legs and arms of full-body shots better but segments only the single most prominent person.
    `combined` takes the per-pixel maximum of the two when pose finds a person (each model misses
    different limbs; both rarely fire on background), then refines edges with a guided filter.
    """

    def __init__(self, use_pose: bool = True):
        import mediapipe as mp  # imported lazily so `--help` works without MediaPipe

        self._selfie = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self._pose = (
            mp.solutions.pose.Pose(
                static_image_mode=True, model_complexity=1, enable_segmentation=True
            )
            if use_pose
            else None
        )

    def close(self) -> None:
        self._selfie.close()
        if self._pose is not None:
            self._pose.close()

    def __enter__(self) -> "Teacher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _shrink(rgb: np.ndarray) -> np.ndarray:
        scale = MAX_TEACHER_SIDE / max(rgb.shape[:2])
        if scale >= 1.0:
            return rgb
        return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    def selfie_mask(self, rgb: np.ndarray) -> np.ndarray:
        small = np.ascontiguousarray(self._shrink(rgb))
        plain = self._selfie.process(small).segmentation_mask
        flipped = self._selfie.process(np.ascontiguousarray(small[:, ::-1])).segmentation_mask
        mask = 0.5 * (plain + flipped[:, ::-1])
        return cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)

    def pose_mask(self, rgb: np.ndarray) -> np.ndarray | None:
        if self._pose is None:
            return None
        small = np.ascontiguousarray(self._shrink(rgb))
        result = self._pose.process(small)
        if result.segmentation_mask is None:
            return None
        return cv2.resize(
            result.segmentation_mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR
        )

    def mask(self, rgb: np.ndarray, mode: str = "combined", refine: bool = True,
             isolate: bool = False) -> np.ndarray:
        """`isolate` keeps only the person that pose segmentation picked (the most prominent one):
        selfie segmentation marks every person, so in a crop from a group photo it would also keep
        the neighbours' shoulders."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 image, got shape {rgb.shape} dtype {rgb.dtype}")
        if mode not in ("selfie", "pose", "combined"):
            raise ValueError(f"unknown teacher mode {mode!r}")
        selfie = self.selfie_mask(rgb) if mode != "pose" else None
        pose = self.pose_mask(rgb) if mode != "selfie" else None
        if mode == "pose":
            mask = pose if pose is not None else np.zeros(rgb.shape[:2], np.float32)
        elif pose is None:
            mask = selfie
        elif isolate:
            mask = np.maximum(pose, selfie * near(pose > 0.5, reach=0.04))
        else:
            mask = np.maximum(selfie, pose)
        mask = mask.astype(np.float32)
        if refine:
            radius = max(2, round(max(rgb.shape[:2]) / 256))
            guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
            mask = np.clip(guided_filter(guide, mask, radius=radius, eps=1e-3), 0.0, 1.0)
        return mask

    def person_mask(self, rgb: np.ndarray, isolate: bool = False) -> np.ndarray:
        """The label used for the data set: combined teacher, edge-refined."""
        return self.mask(rgb, mode="combined", refine=True, isolate=isolate)


def near(core: np.ndarray, reach: float) -> np.ndarray:
    """Soft region within `reach` x image diagonal of `core` (a bool mask), 1 inside, fading to 0."""
    h, w = core.shape
    size = max(3, int(reach * (h * h + w * w) ** 0.5) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    region = cv2.dilate(core.astype(np.uint8), kernel).astype(np.float32)
    return cv2.GaussianBlur(region, (size, size), 0)


def preview(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Photo | mask | cutout over a checkerboard, BGR, for eyeballing teacher quality."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    checker = np.where(((yy // 16 + xx // 16) % 2)[..., None] == 0, 200, 120).astype(np.float32)
    alpha = mask[..., None]
    cutout = rgb.astype(np.float32) * alpha + checker * (1 - alpha)
    mask_rgb = np.repeat((mask * 255)[..., None], 3, axis=2)
    sheet = np.hstack([rgb.astype(np.float32), mask_rgb, cutout]).astype(np.uint8)
    return cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="8-bit soft mask PNG to write")
    parser.add_argument("--mode", choices=("selfie", "pose", "combined"), default="combined")
    parser.add_argument("--no-refine", action="store_true", help="skip guided-filter edge refinement")
    parser.add_argument("--preview", type=Path, help="also write photo|mask|cutout sheet")
    args = parser.parse_args(argv)

    bgr = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if bgr is None:
        print(f"error: cannot read image {args.image}", file=sys.stderr)
        return 2
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    with Teacher(use_pose=args.mode != "selfie") as teacher:
        mask = teacher.mask(rgb, mode=args.mode, refine=not args.no_refine)
    cv2.imwrite(str(args.out), np.round(mask * 255).astype(np.uint8))
    if args.preview:
        cv2.imwrite(str(args.preview), preview(rgb, mask))
    return 0


if __name__ == "__main__":
    sys.exit(main())
