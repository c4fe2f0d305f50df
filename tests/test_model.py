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
from training.edge_check import DOOR_WEDGE, door_wedge_reference, sample_clip_frames, sample_clip_wall

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "assets" / "samples" / "portrait.jpg"
PORTRAIT_MASK = ROOT / "assets" / "samples" / "portrait_mask.png"
CHECKPOINT = ROOT / "models" / "portraitnet.pt"
# The shipped model is int8 (training/quantize.py: ONNX Runtime QDQ, the encoder's stride-4 stem in
# float); this is its float export, which the checkpoint must match to float precision.
FLOAT_MODEL = ROOT / "models" / "portraitnet_fp32.onnx"
# Person IoU of the shipped model on the held-out portrait against its stored mask: measured 0.969 for
# v2 (v1: 0.68; models/MODEL_CARD.md). The person covers 59 % of this photo, so a mask that is
# foreground everywhere scores 0.59, far below the bound.
MIN_PORTRAIT_IOU = 0.94
# The portrait's problem spots in the app's matte (v4 with its 16-px input margin: 100 % of the
# jacket corner kept, 0.1 % of the flag strip leaked; v3: 93.7 % and 25 %).
JACKET_KEPT, FLAG_LEAKED = 0.98, 0.05
# A soft hole is a hole too: on a plain background a patch of alpha 0.5-0.9 inside the dark jacket
# shows the new colour through it, and alpha > 0.5 does not see it. Share of the body's interior
# (the stored mask eroded by 4 px, rows 400 and below) under 0.9: v4.4 0.87 % on both paths; a
# candidate (v4.5, session 15) 6.1 % with a photo's looks, a green blob under the ribbons, and one
# at 1.5 % already showed a faint green tint there.
JACKET_SOFT = 0.012
# Share of the door-wedge box's room (RVM's reference) that the app's matte calls person, mean over
# every 10th frame and worst frame: v3 3.6 % / 7.2 % (the grey wedge), v4 0.4 % / 0.6 %.
WEDGE_MEAN, WEDGE_WORST = 0.015, 0.03


def full_resolution_mask(segmenter: Segmenter, frame: np.ndarray) -> np.ndarray:
    small = segmenter.segment(frame)
    return cv2.resize(small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR) > 0.5


@pytest.mark.parametrize("height, width", [(224, 224), (128, 224), (224, 128)])
def test_model_contract(height, width):
    # 1x3x224x224 always works; height and width are dynamic so the app can feed only the content.
    session = ort.InferenceSession(str(DEFAULT_MODEL_PATH), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1]) == ("image", "tensor(float)", 3)
    assert all(isinstance(d, str) for d in inp.shape[2:]), "height and width are dynamic"
    assert (out.name, out.shape[1]) == ("mask", 1)
    images = np.random.default_rng(0).random((2, 3, height, width), dtype=np.float32)
    probabilities = session.run(None, {"image": images})[0]
    assert probabilities.shape == (2, 1, height, width)
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
    tensor, _ = Segmenter().preprocess(cv2.resize(frame, (640, 360)))  # a 16:9 frame's own input
    noise = np.random.default_rng(1).random((1, 3, 224, 224), dtype=np.float32)
    square = np.concatenate([Segmenter().preprocess(cv2.resize(frame, (224, 224)))[0], noise])
    net = load_checkpoint(CHECKPOINT)
    assert max_abs_difference(net, FLOAT_MODEL, square) < 1e-4
    assert tensor.shape[2:] != (224, 224)  # a content-only input, too
    assert max_abs_difference(net, FLOAT_MODEL, tensor) < 1e-4


def test_the_shipped_int8_model_answers_like_its_float_export():
    import onnx

    nodes = onnx.load(str(DEFAULT_MODEL_PATH)).graph.node
    assert any(n.op_type == "QuantizeLinear" for n in nodes)  # int8, as the card says
    stem = [n for n in nodes if n.op_type == "Conv" and n.name.startswith("/encoder/to_stride4/")]
    quantized_inputs = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    assert stem and not any(set(n.input) & quantized_inputs for n in stem)  # the stem stays float
    frame = cv2.imread(str(PORTRAIT))
    shipped = full_resolution_mask(Segmenter(DEFAULT_MODEL_PATH), frame)
    float_mask = full_resolution_mask(Segmenter(FLOAT_MODEL), frame)
    assert iou(shipped, float_mask) > 0.98


def test_no_stage_of_the_shipped_network_is_dead():
    # v1 shipped with its whole stride-32 path decayed to zero (BN weights ~0): every encoder stage
    # and decoder block must still answer an input.
    if not os.environ.get("CI"):
        pytest.importorskip("torch", reason="PyTorch is a training dependency (requirements-training.txt)")
    import torch

    from training.export import load_checkpoint
    from training.train import dead_stages, stage_activity

    net = load_checkpoint(CHECKPOINT)
    tensor, _ = Segmenter().preprocess(cv2.imread(str(PORTRAIT)))
    activity = stage_activity(net, torch.from_numpy(tensor))
    assert len(activity) == 9 and dead_stages(activity) == []


def test_no_strip_at_the_bottom_of_the_sample_clip():
    # The person in the sample clip reaches the bottom of the frame. Where the picture met black
    # letterbox bars, the first model's confidence on the last rows of the shirt fell to ~0.35-0.5 and
    # a strip of background showed through; with edge padding (and a model trained with it) it stays high.
    segmenter = Segmenter()
    confidences = []
    for frame in sample_clip_frames():
        mask = segmenter.segment(frame)
        person_columns = mask[-12] > 0.5
        assert person_columns.sum() > mask.shape[1] // 5, "the person reaches the bottom of the frame"
        confidences.append(float(mask[-2:, person_columns].mean()))
    assert len(confidences) >= 10
    assert min(confidences) > 0.85, confidences


def test_the_wall_at_the_left_edge_of_the_sample_clip_stays_background():
    # The leftmost tenth of the sample clip, above the shoulder, is a yellow wall and a lamp. v2's
    # decoder sat half a cell off its Keras-padded encoder's grid, so the left edge of every picture was
    # extrapolated: up to 0.93 person there (worst frame: mean 0.24, 99th percentile 0.72) and room
    # patches showed through the new background. The shipped v3 (aligned upsampling): 0.06 / 0.26.
    means, p99s = sample_clip_wall(Segmenter())
    assert len(means) >= 10
    assert max(means) < 0.1 and max(p99s) < 0.5, (max(means), max(p99s))


def app_alpha(frame: np.ndarray, segmenter: Segmenter) -> np.ndarray:
    """The app's matte at the frame's size (defaults of the window: the model on its crop around
    the person, the matte refiner), as a user sees it on a first frame; float, 0..1."""
    from app.compositing import Compositor
    from app.matting import MatteRefiner
    from app.pipeline import Pipeline
    from app.settings import AppSettings

    settings = AppSettings()
    pipeline = Pipeline(segmenter, MatteRefiner(settings.matte_settings()), Compositor(),
                        schedule=settings.schedule_settings())
    pipeline.process(frame)
    return pipeline.last_alpha.astype(np.float32) / 255.0


@pytest.mark.parametrize("photo_looks", [False, True], ids=["video path", "photo path"])
def test_the_portraits_dark_jacket_has_no_hole_and_the_flag_strip_stays_background(photo_looks):
    # v3 on the whole frame gave the dark jacket's lower right corner to the background (a hole: 7 %
    # of the jacket there) and the flag at the picture's left edge to the person (25 % of that
    # strip); the app now also looks at the person's crop, where even v3 keeps both right. A photo
    # gets more looks (mirrored, a second size): they must keep both right too.
    frame = cv2.imread(str(PORTRAIT))
    expected = cv2.imread(str(PORTRAIT_MASK), cv2.IMREAD_GRAYSCALE) > 127
    segmenter = Segmenter()
    segmenter.use_photo_looks(photo_looks)
    alpha = app_alpha(frame, segmenter)
    assert iou(alpha > 0.5, expected) >= MIN_PORTRAIT_IOU
    jacket = expected[440:, 360:]
    kept = (alpha[440:, 360:] > 0.5)[jacket].mean()
    strip = ~expected[300:, :40]
    leaked = (alpha[300:, :40] > 0.5)[strip].mean()
    assert kept > JACKET_KEPT and leaked < FLAG_LEAKED, (kept, leaked)
    interior = cv2.erode(expected.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    interior[:400] = False
    soft = (alpha[interior] < 0.9).mean()
    assert soft < JACKET_SOFT, soft


def test_the_door_wedge_beside_the_sample_clips_shoulder_stays_background():
    # The shadowed corner of the door above the left shoulder came through v3's matte as a grey
    # wedge that changed shape from frame to frame. Reference: RVM's alpha in that box on every
    # 10th frame (tests/fixtures, written by `python -m training.edge_check --write-wedge-reference`).
    x, y, w, h = DOOR_WEDGE
    segmenter = Segmenter()
    leaks = []
    for frame, reference in zip(sample_clip_frames(), door_wedge_reference(), strict=True):
        box = app_alpha(frame, segmenter)[y:y + h, x:x + w]
        room = reference < 0.5
        leaks.append(float((box > 0.5)[room].mean()))
    assert len(leaks) >= 10
    assert np.mean(leaks) < WEDGE_MEAN and max(leaks) < WEDGE_WORST, (np.mean(leaks), max(leaks))
