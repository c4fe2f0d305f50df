"""Quality side of the speed options: how much each one changes the mask or the matte.

Not timed. References: the fp32 model's own masks (for int8/fp16 exports), the full-resolution,
every-frame matte (for matte scale, edge mode and model_every_n), and the sample portrait's reference mask
assets/samples/portrait_mask.png where it exists. IoU is taken at alpha/probability 0.5.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from app.compositing import Compositor
from app.matting import MatteRefiner
from app.pipeline import Pipeline
from app.segmentation import Segmenter
from app.settings import AppSettings
from bench.stats import edge_abs_diff, iou


def load_ground_truth(image_path: Path, mask_path: Path):
    """(image BGR, mask float 0..1) or None when the sample pair is not shipped."""
    if not (Path(image_path).is_file() and Path(mask_path).is_file()):
        return None
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    if image is None or mask is None:
        return None
    if mask.shape != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    return image, mask.astype(np.float32) / 255.0


def _full_size(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)


def model_quality(models: dict[str, str], frames: list[np.ndarray], ground_truth=None) -> dict[str, dict]:
    """Per model: IoU of its masks vs the first (reference) model's on the frames, and vs ground truth."""
    results: dict[str, dict] = {}
    reference_masks = None
    for name, path in models.items():
        segmenter = Segmenter(path, threads=1)
        masks = [segmenter.segment(frame) for frame in frames]
        entry: dict = {}
        if reference_masks is None:
            reference_masks = masks
        scores = [iou(m, r) for m, r in zip(masks, reference_masks)]
        entry["iou_vs_reference_mean"] = float(np.mean(scores))
        entry["iou_vs_reference_min"] = float(np.min(scores))
        entry["mean_abs_prob_diff"] = float(np.mean([np.abs(m - r).mean() for m, r in zip(masks, reference_masks)]))
        if ground_truth is not None:
            image, truth = ground_truth
            mask = _full_size(segmenter.segment(image), image.shape[1], image.shape[0])
            entry["iou_vs_ground_truth"] = iou(mask, truth)
        results[name] = entry
        del segmenter
    return results


def _pipeline(model: str, settings: AppSettings, overrides: dict) -> Pipeline:
    matte = settings.matte_settings()
    if overrides.get("work_height"):
        matte = dataclasses.replace(matte, work_height=int(overrides["work_height"]))
    if overrides.get("edge_mode"):
        matte = dataclasses.replace(matte, edge_mode=overrides["edge_mode"])
    compositor = Compositor()  # mode "none": only the alpha matters here
    segmenter = Segmenter(overrides.get("model") or model, threads=1)
    from bench.pipeline_worker import schedule_from_config
    return Pipeline(segmenter, MatteRefiner(matte), compositor, schedule=schedule_from_config(overrides, settings))


def _alphas(pipeline: Pipeline, frames: list[np.ndarray]) -> list[np.ndarray]:
    alphas = []
    for frame in frames:
        pipeline.process(frame)
        alphas.append(pipeline.last_alpha.astype(np.float32) / 255.0)
    return alphas


class MatteQuality:
    """Final alpha of a configuration (overrides of the app defaults) vs the reference matte.

    The reference is the app's defaults with the guided-filter matte at full frame resolution and the
    model on every frame, computed once. Ground truth: the sample portrait run as a still (a few frames, so
    smoothing has settled), alpha vs the reference mask.
    """

    # The best the refiner can do, whatever the defaults are: full-resolution guided-filter matte and
    # the model on every frame (work height is capped at the frame's).
    REFERENCE = {"work_height": 100000, "model_every_n": 1, "edge_mode": "guided"}

    def __init__(self, model: str, frames: list[np.ndarray], ground_truth=None) -> None:
        self.model, self.frames, self.ground_truth = model, frames, ground_truth
        self.settings = AppSettings()
        self.reference = _alphas(_pipeline(model, self.settings, self.REFERENCE), frames)

    def evaluate(self, overrides: dict) -> dict:
        alphas = _alphas(_pipeline(self.model, self.settings, overrides), self.frames)
        scores = [iou(a, r) for a, r in zip(alphas, self.reference)]
        entry = {"iou_vs_reference_mean": float(np.mean(scores)),
                 "iou_vs_reference_min": float(np.min(scores)),
                 "mean_abs_alpha_diff": float(np.mean([np.abs(a - r).mean() for a, r in zip(alphas, self.reference)])),
                 "edge_alpha_diff": float(np.mean([edge_abs_diff(a, r) for a, r in zip(alphas, self.reference)]))}
        if self.ground_truth is not None:
            image, truth = self.ground_truth
            alpha = _alphas(_pipeline(self.model, self.settings, overrides), [image] * 3)[-1]
            entry["iou_vs_ground_truth"] = iou(alpha, truth)
        return entry
