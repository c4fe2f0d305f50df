"""The shipped PortraitNet ONNX model: its contract, its fidelity to the checkpoint, and that it segments people."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from app.segmentation import DEFAULT_MODEL_PATH, Segmenter
from bench.stats import iou

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "assets" / "samples" / "portrait.jpg"
PORTRAIT_MASK = ROOT / "assets" / "samples" / "portrait_mask.png"
CHECKPOINT = ROOT / "models" / "portraitnet.pt"
# Person IoU of the shipped model on the held-out portrait against its stored mask: measured 0.68
# (models/MODEL_CARD.md). The person covers 59 % of this photo, so a mask that is foreground everywhere
# scores 0.59: below the bound, and the plain-background tests below fail it too.
MIN_PORTRAIT_IOU = 0.6


def full_resolution_mask(segmenter: Segmenter, frame: np.ndarray) -> np.ndarray:
    small = segmenter.segment(frame)
    return cv2.resize(small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR) > 0.5


def test_model_contract():
    session = ort.InferenceSession(str(DEFAULT_MODEL_PATH), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("image", "tensor(float)", [3, 224, 224])
    assert (out.name, out.shape[1:]) == ("mask", [1, 224, 224])
    probabilities = session.run(None, {"image": np.random.default_rng(0).random((2, 3, 224, 224), dtype=np.float32)})[0]
    assert probabilities.shape == (2, 1, 224, 224)
    assert probabilities.min() >= 0.0 and probabilities.max() <= 1.0


def test_person_is_foreground_on_held_out_portrait():
    frame = cv2.imread(str(PORTRAIT))
    expected = cv2.imread(str(PORTRAIT_MASK), cv2.IMREAD_GRAYSCALE) > 127
    predicted = full_resolution_mask(Segmenter(), frame)
    assert iou(predicted, expected) >= MIN_PORTRAIT_IOU


@pytest.mark.parametrize("colour", [(40, 40, 40), (200, 180, 150), (30, 120, 30)])
def test_plain_background_is_not_foreground(colour):
    frame = np.full((480, 640, 3), colour, np.uint8)
    assert full_resolution_mask(Segmenter(), frame).mean() < 0.02


def test_background_photo_without_person_is_mostly_background():
    backgrounds = sorted((ROOT / "assets" / "backgrounds").glob("*.jpg"))
    assert backgrounds, "assets/backgrounds ships the default backgrounds"
    fractions = [full_resolution_mask(Segmenter(), cv2.imread(str(p))).mean() for p in backgrounds]
    assert np.median(fractions) < 0.1


def test_onnx_matches_pytorch_checkpoint():
    if not os.environ.get("CI"):  # CI installs requirements-training.txt, so there this must run, not skip
        pytest.importorskip("torch", reason="PyTorch is a training dependency (requirements-training.txt)")
    from training.export import load_checkpoint, max_abs_difference

    frame = cv2.imread(str(PORTRAIT))
    tensor, _ = Segmenter().preprocess(frame)
    noise = np.random.default_rng(1).random((1, 3, 224, 224), dtype=np.float32)
    images = np.concatenate([tensor, noise])
    assert max_abs_difference(load_checkpoint(CHECKPOINT), DEFAULT_MODEL_PATH, images) < 1e-4
