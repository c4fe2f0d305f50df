"""Wires the stages for one frame: segment (every Nth frame), refine the matte, composite.

Fails closed: when a stage fails for a frame (the model raises or answers NaN or a mask of the
wrong size, the frame is malformed), process() returns the last good composite, or the
background alone, never the camera frame, and says why in last_error.
"""
from __future__ import annotations

import time

import numpy as np

from app.compositing import BackgroundError, Compositor
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
        self.last_alpha: np.ndarray | None = None  # uint8, 0..255, frame-sized
        self.frames_processed = 0
        self.model_runs = 0
        self._frame_shape: tuple[int, ...] | None = None
        self.last_error: str | None = None   # why the last frame failed; None after a good one
        self.failures = 0
        self._last_good: np.ndarray | None = None

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
        self._last_good = None  # a new source's size and scene: the old picture no longer fits
        self.last_error = None
        self.refiner.reset()

    def process(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Composite one frame; returns it and the milliseconds each stage took.

        Between model runs the last mask is reused (preprocess/inference then report 0 ms);
        the matte is still refined on the current frame, so edges follow the picture.
        A BackgroundError (the background video stopped) is raised to the caller; any other
        failure gives the safe frame described in the module doc and sets last_error.
        """
        timings = dict.fromkeys(STAGES, 0.0)
        try:
            output = self._process(frame_bgr, timings)
        except BackgroundError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed, the raw frame must not go out
            self.failures += 1
            self.last_error = str(exc) or type(exc).__name__
            self.last_mask = None  # segment afresh on the next frame
            self.refiner.reset()
            return self._safe_output(frame_bgr), timings
        self.last_error = None
        self._last_good = output
        return output, timings

    def _process(self, frame_bgr: np.ndarray, timings: dict[str, float]) -> np.ndarray:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8 or not frame_bgr.size:
            raise ValueError(f"frame of shape {frame_bgr.shape} and type {frame_bgr.dtype} is not a "
                             "BGR picture")
        due = self.frames_processed % self._model_every_n == 0
        # A size change makes the old mask's geometry wrong, so segment again at once.
        if due or self.last_mask is None or frame_bgr.shape != self._frame_shape:
            start = time.perf_counter()
            tensor, rect = self.segmenter.preprocess(frame_bgr)
            mid = time.perf_counter()
            mask = self.segmenter.infer(tensor, rect)
            end = time.perf_counter()
            if mask.shape != (rect[3], rect[2]):
                raise ValueError(f"the model returned a mask of shape {mask.shape}, "
                                 f"expected {(rect[3], rect[2])}")
            if not np.isfinite(mask).all():
                raise ValueError("the model returned NaN or infinite values")
            self.last_mask = mask
            timings["preprocess"] = (mid - start) * 1000.0
            timings["inference"] = (end - mid) * 1000.0
            self.model_runs += 1
            self._frame_shape = frame_bgr.shape

        start = time.perf_counter()
        self.last_alpha = self.refiner.refine(self.last_mask, frame_bgr, np.uint8)  # 0..255
        mid = time.perf_counter()
        output = self.compositor.composite(frame_bgr, self.last_alpha)
        end = time.perf_counter()
        timings["matte"] = (mid - start) * 1000.0
        timings["composite"] = (end - mid) * 1000.0
        self.frames_processed += 1
        return output

    def _safe_output(self, frame_bgr: np.ndarray) -> np.ndarray:
        """What goes out when a frame failed: the last good composite, else the background alone
        (alpha 0: the chosen image, colour or a fully blurred frame), else black."""
        if self._last_good is not None:
            return self._last_good.copy()
        shape = frame_bgr.shape[:2] if frame_bgr.ndim >= 2 and frame_bgr.size else (720, 1280)
        try:
            if frame_bgr.ndim == 3 and frame_bgr.shape[2] == 3 and frame_bgr.dtype == np.uint8:
                return self.compositor.composite(frame_bgr, np.zeros(shape, np.float32))
        except Exception:  # noqa: BLE001 - even the background failed: black is still safe
            pass
        return np.zeros((*shape, 3), np.uint8)
