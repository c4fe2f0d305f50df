"""MediaPipe teacher: soft person masks used as pseudo-labels for PortraitNet training data.

Runs only inside the separate teacher venv (see requirements-teacher.txt); MediaPipe is never a
dependency of the app.

    .venv-teacher/bin/python -m training.teacher photo.jpg --out photo_mask.png [--preview sheet.png]

The label is an ensemble, not one MediaPipe pass: MediaPipe selfie segmentation with test-time
augmentation (horizontal flips, the whole picture at two scales, and overlapping zoom-in crops around
the person at two margins plus head-and-shoulders and left/right parts, so that the person fills more
of the model input), each view mapped back to the full picture and averaged into a soft mask, blended
with BlazePose segmentation near the person pose finds, then edge-refined with a guided filter.
The selfie landscape model (144x256) is a member too (EnsembleConfig.landscape) but off by default:
on exact-alpha composites it lowered both IoU and boundary F at every weight tried.
`python -m training.teacher_check` measures it against a single selfie pass (models/MODEL_CARD.md,
"Teacher ensemble vs single pass").
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.composites import fit_long_side


# The models work on 256-px inputs, so very large pictures only cost time.
MAX_TEACHER_SIDE = 1024
# Views are resized to at most this long side before MediaPipe sees them (it resizes to 256 itself).
VIEW_SIDE = 512



def grey_guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide (H x W, 0..1), from box filters: the teacher's own
    edge refinement, the one every cached label was made with. (The app's matte moved to a colour
    guide, app/matting.guided_filter; the labels must not change with it.)"""
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(image: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(image, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    a = (box(guide * src) - mean_i * mean_p) / (box(guide * guide) - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)

@dataclass(frozen=True)
class EnsembleConfig:
    """What the ensemble runs. The defaults are what training/teacher_check.py measured best; its
    --variants flag scores the alternatives (landscape on, pose weights, max fusion, fewer views)."""
    general: float = 1.0      # weight of the selfie general model (model_selection=0)
    landscape: float = 0.0    # weight of the selfie landscape model (model_selection=1); 0: not loaded
    pose: float = 0.25        # weight of BlazePose segmentation (near the person it picked)
    flips: bool = True        # every view also runs mirrored
    zoom_out: tuple[float, ...] = (1.25,)   # whole picture, padded so the person looks smaller
    crops: bool = True        # zoom-in crops around the person found by the whole-picture pass
    crop_margins: tuple[float, ...] = (0.15, 0.3)  # whole-person crops, margin as a share of its box
    part_crops: bool = True   # also head-and-shoulders and left/right crops of the person box
    fusion: str = "mean"      # selfie models with pose: "mean" (weighted) or "max" (the old teacher)


# One plain pass of the general model (what training/peer.py runs, plus the guided filter).
SINGLE = EnsembleConfig(landscape=0.0, pose=0.0, flips=False, zoom_out=(), crops=False)


class Teacher:
    """Soft person mask for an RGB uint8 image, values in [0, 1].

    `selfie` is the selfie-model ensemble (every view averaged; the landscape model too when its
    weight is > 0). `pose` is BlazePose segmentation averaged over a flip; it keeps legs and arms of
    full-body shots better but segments only the single most prominent person. `combined` is the
    weighted mean of the two near the person pose found (elsewhere, e.g. other people in a group
    photo, the selfie ensemble alone decides), then refines edges with a guided filter. Masks stay
    soft (never binarised).
    """

    def __init__(self, use_pose: bool = True, config: EnsembleConfig | None = None):
        import mediapipe as mp  # imported lazily so `--help` works without MediaPipe

        self.config = config or EnsembleConfig()
        segmentation = mp.solutions.selfie_segmentation
        self._general = segmentation.SelfieSegmentation(model_selection=0)
        self._landscape = segmentation.SelfieSegmentation(model_selection=1) if self.config.landscape > 0 else None
        self._pose = (
            mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True)
            if use_pose and self.config.pose > 0
            else None
        )

    def close(self) -> None:
        for model in (self._general, self._landscape, self._pose):
            if model is not None:
                model.close()

    def __enter__(self) -> "Teacher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- views
    def _run(self, model, rgb: np.ndarray, box: tuple[int, int, int, int]) -> list[np.ndarray]:
        """Masks of one view (window `box` = x0, y0, x1, y1 in `rgb`, may reach outside it: padded
        with the replicated edge), plain and mirrored, each at the window's size."""
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = box
        pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
        view = rgb[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
        if any(pad):
            view = cv2.copyMakeBorder(view, *pad, cv2.BORDER_REPLICATE)
        view = np.ascontiguousarray(fit_long_side(view, VIEW_SIDE))
        out = []
        for flip in ((False, True) if self.config.flips else (False,)):
            image = np.ascontiguousarray(view[:, ::-1]) if flip else view
            mask = model.process(image).segmentation_mask
            if mask is None:
                continue
            mask = mask[:, ::-1] if flip else mask
            out.append(cv2.resize(np.ascontiguousarray(mask), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR))
        return out

    def _views(self, small: np.ndarray, person: np.ndarray | None) -> list[tuple[int, int, int, int]]:
        """Windows in `small`: the whole picture, zoomed-out versions of it, and (when a person was
        found) zoom-in crops around the person."""
        h, w = small.shape[:2]
        views = [(0, 0, w, h)]
        for zoom in self.config.zoom_out:
            dx, dy = round(w * (zoom - 1) / 2), round(h * (zoom - 1) / 2)
            views.append((-dx, -dy, w + dx, h + dy))
        if not self.config.crops or person is None or not (person > 0.5).any():
            return views
        ys, xs = np.nonzero(person > 0.5)
        px0, px1, py0, py1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        pw, ph = px1 - px0, py1 - py0

        def clip(x0, y0, x1, y1):
            return (max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1)))

        candidates = [clip(px0 - m * pw, py0 - m * ph, px1 + m * pw, py1 + m * ph)  # whole person
                      for m in self.config.crop_margins]
        if self.config.part_crops:
            m = self.config.crop_margins[0] if self.config.crop_margins else 0.15
            candidates += [
                clip(px0 - m * pw, py0 - m * ph, px1 + m * pw, py0 + 0.65 * ph),    # head and shoulders
                clip(px0 - m * pw, py0 - m * ph, px0 + 0.6 * pw, py1 + m * ph),     # left part
                clip(px1 - 0.6 * pw, py0 - m * ph, px1 + m * pw, py1 + m * ph),     # right part
            ]
        for x0, y0, x1, y1 in candidates:
            area = (x1 - x0) * (y1 - y0)
            # Skip windows that barely zoom (the whole view covers them) and slivers.
            if area < 0.8 * w * h and min(x1 - x0, y1 - y0) >= 32:
                views.append((x0, y0, x1, y1))
        return views

    @staticmethod
    def _weight(box, shape) -> np.ndarray:
        """Per-pixel weight of a window's mask: 1 inside, fading to ~0 towards window edges that lie
        inside the picture (a crop's border cuts the person, where its mask is least reliable)."""
        h, w = shape
        x0, y0, x1, y1 = box
        bw, bh = x1 - x0, y1 - y0
        ramp = max(4, round(0.1 * min(bw, bh)))

        def profile(n, lo_inside, hi_inside):
            t = np.ones(n, np.float32)
            r = np.linspace(0.05, 1.0, min(ramp, n), dtype=np.float32)
            if lo_inside:
                t[: len(r)] = np.minimum(t[: len(r)], r)
            if hi_inside:
                t[n - len(r):] = np.minimum(t[n - len(r):], r[::-1])
            return t

        return profile(bh, y0 > 0, y1 < h)[:, None] * profile(bw, x0 > 0, x1 < w)[None, :]

    def _ensemble(self, model, small: np.ndarray, person: np.ndarray | None) -> np.ndarray:
        """One model over all views, weighted average at `small`'s size. `person` (a soft mask)
        places the zoom-in crops; without it, the model's own whole-picture pass does."""
        h, w = small.shape[:2]
        total = np.zeros((h, w), np.float32)
        weight = np.zeros((h, w), np.float32)
        whole = (0, 0, w, h)
        done = []
        for stage in (0, 1):
            boxes = [whole] if stage == 0 else [b for b in self._views(small, person) if b != whole]
            for box in boxes:
                x0, y0, x1, y1 = box
                masks = self._run(model, small, box)
                if not masks:
                    continue
                mask = np.mean(masks, axis=0)
                if stage == 0 and person is None:
                    person = mask
                # Zoomed-out windows are cropped back to the picture.
                cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
                part = mask[cy0 - y0: cy1 - y0, cx0 - x0: cx1 - x0]
                wt = self._weight((cx0, cy0, cx1, cy1), (h, w))
                total[cy0:cy1, cx0:cx1] += wt * part
                weight[cy0:cy1, cx0:cx1] += wt
        return total / np.maximum(weight, 1e-6)

    # ---------------------------------------------------------------- members
    def selfie_mask(self, rgb: np.ndarray) -> np.ndarray:
        """Selfie general + landscape models, every view, averaged (soft), at `rgb`'s size."""
        small = fit_long_side(rgb, MAX_TEACHER_SIDE)
        general = self._ensemble(self._general, small, None)
        total, weight = self.config.general * general, self.config.general
        if self._landscape is not None:
            total = total + self.config.landscape * self._ensemble(self._landscape, small, general)
            weight += self.config.landscape
        mask = total / weight
        return cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)

    def pose_mask(self, rgb: np.ndarray) -> np.ndarray | None:
        """BlazePose segmentation averaged over a flip (None when it finds nobody)."""
        if self._pose is None:
            return None
        small = np.ascontiguousarray(fit_long_side(rgb, MAX_TEACHER_SIDE))
        masks = []
        for flip in ((False, True) if self.config.flips else (False,)):
            image = np.ascontiguousarray(small[:, ::-1]) if flip else small
            result = self._pose.process(image)
            if result.segmentation_mask is not None:
                masks.append(result.segmentation_mask[:, ::-1] if flip else result.segmentation_mask)
        if not masks:
            return None
        mask = np.ascontiguousarray(np.mean(masks, axis=0))
        return cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)

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
        else:
            selfie_weight = self.config.general + (self.config.landscape if self._landscape is not None else 0.0)
            if self.config.fusion == "max":
                fused = np.maximum(selfie, pose)
            else:
                fused = (selfie_weight * selfie + self.config.pose * pose) / (selfie_weight + self.config.pose)
            region = near(pose > 0.5, reach=0.04)
            if isolate:
                mask = fused * region
            else:
                mask = region * fused + (1 - region) * selfie
        mask = mask.astype(np.float32)
        if refine:
            radius = max(2, round(max(rgb.shape[:2]) / 256))
            guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
            mask = np.clip(grey_guided_filter(guide, mask, radius=radius, eps=1e-3), 0.0, 1.0)
        return mask

    def person_mask(self, rgb: np.ndarray, isolate: bool = False) -> np.ndarray:
        """The label used for the data set: combined teacher ensemble, edge-refined."""
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
