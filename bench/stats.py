"""Small statistics helpers shared by the workers and the report."""
from __future__ import annotations

import numpy as np


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
