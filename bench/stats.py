"""Small statistics helpers shared by the workers and the report."""
from __future__ import annotations

import cv2
import numpy as np

BOUNDARY_TOLERANCE_PX = 3


def summarise(values_ms) -> dict[str, float | int]:
    """Median and 95th percentile (ms) of a list of samples; empty lists give NaN."""
    values = np.asarray(list(values_ms), dtype=np.float64)
    if values.size == 0:
        return {"median": float("nan"), "p95": float("nan"), "n": 0}
    return {"median": float(np.median(values)), "p95": float(np.percentile(values, 95)),
            "n": int(values.size)}


def iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of two soft masks thresholded at `threshold` (1.0 when both empty)."""
    fa, fb = np.asarray(a) >= threshold, np.asarray(b) >= threshold
    union = np.logical_or(fa, fb).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(fa, fb).sum() / union)


def edge_abs_diff(a: np.ndarray, b: np.ndarray, soft: float = 0.02, radius: int = 2) -> float:
    """Mean |a - b| over the soft edge band of either matte (where alpha is strictly between
    `soft` and 1 - `soft`, widened by `radius` px): what feathering and matte scale change, which
    IoU at 0.5 barely sees. 0.0 when neither matte has a soft edge."""
    import cv2

    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    band = ((a > soft) & (a < 1 - soft)) | ((b > soft) & (b < 1 - soft))
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        band = cv2.dilate(band.astype(np.uint8), kernel) > 0
    if not band.any():
        return 0.0
    return float(np.abs(a - b)[band].mean())


def boundary(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary band of a boolean mask (morphological gradient)."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0


def boundary_f_score(pred: np.ndarray, gt: np.ndarray, tolerance: int = BOUNDARY_TOLERANCE_PX) -> float:
    """F-score of two boolean masks' boundaries, a boundary pixel matching within `tolerance` px."""
    pb, gb = boundary(pred), boundary(gt)
    if not pb.any() and not gb.any():
        return 1.0
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    precision = (pb & (cv2.dilate(gb.astype(np.uint8), kernel) > 0)).sum() / max(pb.sum(), 1)
    recall = (gb & (cv2.dilate(pb.astype(np.uint8), kernel) > 0)).sum() / max(gb.sum(), 1)
    return float(2 * precision * recall / max(precision + recall, 1e-9))
