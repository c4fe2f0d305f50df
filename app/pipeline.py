"""Wires the stages for one frame: segment (every Nth frame), refine the matte, composite."""
from __future__ import annotations

import time

import numpy as np

from app.compositing import Compositor
from app.matting import MatteRefiner
from app.segmentation import Segmenter

STAGES = ("preprocess", "inference", "matte", "composite")


class Pipeline:
    def __init__(self, segmenter: Segmenter, refiner: MatteRefiner, compositor: Compositor,
                 model_every_n: int = 1) -> None:
        self.segmenter = segmenter
        self.refiner = refiner
        self.compositor = compositor
        self.model_every_n = model_every_n
        self.last_mask: np.ndarray | None = None
        self.last_alpha: np.ndarray | None = None
        self.frames_processed = 0
        self.model_runs = 0
        self._frame_shape: tuple[int, ...] | None = None

    @property
    def model_every_n(self) -> int:
        return self._model_every_n

    @model_every_n.setter
    def model_every_n(self, value: int) -> None:
        self._model_every_n = max(1, int(value))

    def reset(self) -> None:
        """Drop the mask and temporal state (call when the source changes)."""
        self.last_mask = None
        self.last_alpha = None
        self.frames_processed = 0
        self._frame_shape = None
        self.refiner.reset()

    def process(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Composite one frame; returns it and the milliseconds each stage took.

        Between model runs the last mask is reused (preprocess/inference then report 0 ms);
        the matte is still refined on the current frame, so edges follow the picture.
        """
        timings = dict.fromkeys(STAGES, 0.0)
        due = self.frames_processed % self._model_every_n == 0
        # A size change makes the old mask's geometry wrong, so segment again at once.
        if due or self.last_mask is None or frame_bgr.shape != self._frame_shape:
            start = time.perf_counter()
            tensor, rect = self.segmenter.preprocess(frame_bgr)
            mid = time.perf_counter()
            self.last_mask = self.segmenter.infer(tensor, rect)
            end = time.perf_counter()
            timings["preprocess"] = (mid - start) * 1000.0
            timings["inference"] = (end - mid) * 1000.0
            self.model_runs += 1
            self._frame_shape = frame_bgr.shape

        start = time.perf_counter()
        self.last_alpha = self.refiner.refine(self.last_mask, frame_bgr)
        mid = time.perf_counter()
        output = self.compositor.composite(frame_bgr, self.last_alpha)
        end = time.perf_counter()
        timings["matte"] = (mid - start) * 1000.0
        timings["composite"] = (end - mid) * 1000.0
        self.frames_processed += 1
        return output, timings
