"""Person segmentation with the PortraitNet ONNX model (see the model contract in the README).

The frame is letterboxed into the model's square input; the mask is cropped back to the
content rectangle so later stages never see the padding.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from app.resources import resource_root

INPUT_NAME = "image"
OUTPUT_NAME = "mask"


DEFAULT_MODEL_PATH = resource_root() / "models" / "portraitnet.onnx"

_GRAPH_OPTIMIZATION = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def default_threads() -> int:
    """Half the cores (at least 1, at most 4): leaves room for capture, the GUI and the call app."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def letterbox_rect(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """Where a width x height frame lands in a size x size letterbox: long side scaled to size,
    centred. Training uses the same function, so the model sees the bars it will see here."""
    scale = size / max(width, height)
    content_w = min(size, max(1, round(width * scale)))
    content_h = min(size, max(1, round(height * scale)))
    return (size - content_w) // 2, (size - content_h) // 2, content_w, content_h


class ModelError(RuntimeError):
    """The segmentation model is missing, unreadable or does not match the contract."""


def _dim_matches(actual, expected: int) -> bool:
    # Symbolic (str) or unknown (None) dims are dynamic and accept any size.
    return not isinstance(actual, int) or actual == expected


class Segmenter:
    """Runs the ONNX model on CPU. Raises ModelError naming the file when it cannot be used."""

    input_size = 224

    def __init__(self, model_path: str | os.PathLike = DEFAULT_MODEL_PATH,
                 threads: int | None = None, graph_optimization: str = "all") -> None:
        self.model_path = Path(model_path)
        self.threads = int(threads) if threads else default_threads()
        if graph_optimization not in _GRAPH_OPTIMIZATION:
            raise ValueError(f"graph_optimization must be one of {sorted(_GRAPH_OPTIMIZATION)}")
        if not self.model_path.is_file():
            raise ModelError(f"Model file not found: {self.model_path}")

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = _GRAPH_OPTIMIZATION[graph_optimization]
        options.log_severity_level = 3  # errors only; ModelError carries the explanation
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"Model file {self.model_path} is not a usable ONNX model (truncated or corrupt): {reason}"
            ) from exc
        self._check_signature()
        # One run at start-up validates the output shape and takes the first-call cost now.
        probe = np.zeros((1, 3, self.input_size, self.input_size), np.float32)
        try:
            output = self._session.run([OUTPUT_NAME], {INPUT_NAME: probe})[0]
        except Exception as exc:
            raise ModelError(f"Model file {self.model_path} failed on a test input: {exc}") from exc
        expected = (1, 1, self.input_size, self.input_size)
        if output.shape != expected:
            raise ModelError(
                f"Model file {self.model_path} returns mask shape {output.shape}, expected {expected}")

    def _check_signature(self) -> None:
        size = self.input_size
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            names = [i.name for i in inputs]
            raise ModelError(
                f"Model file {self.model_path} has inputs {names}, expected one input '{INPUT_NAME}'")
        shape = inputs[0].shape
        if len(shape) != 4 or not all(_dim_matches(a, e) for a, e in zip(shape[1:], (3, size, size))):
            raise ModelError(
                f"Model file {self.model_path} has input shape {shape}, expected [N, 3, {size}, {size}]")
        if OUTPUT_NAME not in [o.name for o in outputs]:
            names = [o.name for o in outputs]
            raise ModelError(
                f"Model file {self.model_path} has outputs {names}, expected an output '{OUTPUT_NAME}'")

    def letterbox_geometry(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Content rectangle (x, y, w, h) of a width x height frame inside the square input."""
        return letterbox_rect(width, height, self.input_size)

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """Letterbox into a 1x3xSxS float32 RGB tensor in [0,1]; returns it and the content rect."""
        height, width = frame_bgr.shape[:2]
        x, y, w, h = self.letterbox_geometry(width, height)
        canvas = np.zeros((self.input_size, self.input_size, 3), np.uint8)
        interpolation = cv2.INTER_AREA if w < width else cv2.INTER_LINEAR
        canvas[y:y + h, x:x + w] = cv2.resize(frame_bgr, (w, h), interpolation=interpolation)
        tensor = cv2.dnn.blobFromImage(canvas, scalefactor=1.0 / 255.0, swapRB=True)
        return tensor, (x, y, w, h)

    def infer(self, tensor: np.ndarray, content_rect: tuple[int, int, int, int]) -> np.ndarray:
        """Run the model on a preprocessed tensor and crop the mask to the content rect."""
        x, y, w, h = content_rect
        mask = self._session.run([OUTPUT_NAME], {INPUT_NAME: tensor})[0][0, 0]
        return np.clip(mask[y:y + h, x:x + w], 0.0, 1.0).astype(np.float32, copy=False)

    def segment(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Foreground probability (float32, 0..1) at model resolution, cropped to the content."""
        tensor, rect = self.preprocess(frame_bgr)
        return self.infer(tensor, rect)
