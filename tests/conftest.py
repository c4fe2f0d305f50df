"""Shared fixtures: synthetic videos/images made in tmp_path and tiny contract-shaped ONNX models."""
import os

# Before anything imports Qt: tests run without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def write_video(path, frames, fps=15.0):
    """Write BGR uint8 frames to path (codec by extension: mp4 -> mp4v, avi -> MJPG, any size)."""
    path = Path(path)
    height, width = frames[0].shape[:2]
    fourcc = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"
    # .avi through OpenCV's own MJPEG writer, which keeps odd sizes (FFmpeg's crops them to even).
    api = cv2.CAP_OPENCV_MJPEG if path.suffix.lower() == ".avi" else cv2.CAP_FFMPEG
    writer = cv2.VideoWriter(str(path), api, cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"test setup: cannot write {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def count_frames(path):
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"cannot open {path}"
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames, size


def read_frames(path):
    """Every frame of a video file, decoded."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def level_frames(count, width=160, height=120):
    """Solid grey frames whose level encodes the index (20 + 20*index), easy to identify after lossy coding."""
    return [np.full((height, width, 3), 20 + 20 * i, np.uint8) for i in range(count)]


def person_frames(count, width=160, height=120):
    """A bright moving disc (the 'person') on a dark background."""
    frames = []
    for i in range(count):
        frame = np.full((height, width, 3), 30, np.uint8)
        cv2.circle(frame, (width // 2 + i, height // 2), height // 3, (230, 230, 230), -1)
        frames.append(frame)
    return frames


def make_onnx_model(path, input_name="image", input_shape=("N", 3, 224, 224),
                    output_shape=("N", 1, 224, 224), op="mean"):
    """A tiny ONNX model. op='mean': mask = mean of the RGB channels (bright = person), which
    follows the model contract; op='identity': returns the input unchanged under the name 'mask'."""
    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))
    out = helper.make_tensor_value_info("mask", TensorProto.FLOAT, list(output_shape))
    initializers = []
    if op == "mean":
        initializers.append(helper.make_tensor("axes", TensorProto.INT64, [1], [1]))
        nodes = [helper.make_node("ReduceMean", [input_name, "axes"], ["mask"], keepdims=1)]
    else:
        nodes = [helper.make_node("Identity", [input_name], ["mask"])]
    graph = helper.make_graph(nodes, "test_model", [inp], [out], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


@pytest.fixture(scope="session")
def mean_model(tmp_path_factory):
    """Contract-compatible model whose mask is the mean brightness: deterministic and exact."""
    return make_onnx_model(tmp_path_factory.mktemp("models") / "mean.onnx")


@pytest.fixture
def clip_path(tmp_path):
    return write_video(tmp_path / "clip.mp4", person_frames(20), fps=15.0)


@pytest.fixture
def background_path(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "background.jpg"
    cv2.imwrite(str(path), rng.integers(0, 256, (90, 200, 3), dtype=np.uint8))
    return path


class FaultySegmenter:
    """Wraps a real Segmenter; from inference number `at` on it fails the way `mode` says: "raise"
    (the model throws), "nan" (NaN mask), "shape" (a mask of the wrong size), "huge" (finite but
    impossible values: 1e30 where the model saw anything), "ones" (a plausible-looking mask that
    calls every pixel person) or "signal" (raises the signal `signum` mid-inference, as Ctrl+C /
    SIGTERM would arrive)."""

    def __init__(self, segmenter, at=1, mode="raise", signum=None):
        self.segmenter, self.at, self.mode, self.signum, self.calls = segmenter, at, mode, signum, 0

    def __getattr__(self, name):  # the rest of the Segmenter's interface: the real one's
        return getattr(self.segmenter, name)

    def preprocess(self, frame, size=None, pyramid=None):
        return self.segmenter.preprocess(frame, size, pyramid=pyramid)

    def infer(self, tensor, rect, calm=False):
        self.calls += 1
        mask = self.segmenter.infer(tensor, rect, calm=calm)
        if self.calls < self.at:
            return mask
        if self.mode == "signal":
            import signal
            signal.raise_signal(self.signum)
            return mask
        if self.mode == "nan":
            return np.full_like(mask, np.nan)
        if self.mode == "huge":
            return (mask * np.float32(1e30)).astype(np.float32)
        if self.mode == "ones":
            return np.ones_like(mask)
        if self.mode == "shape":
            return np.ones((mask.shape[0] // 2, mask.shape[1]), np.float32)
        raise RuntimeError("onnxruntime: simulated failure")


def deny_reading(monkeypatch, path) -> None:
    """Make open() and os.access() refuse `path` as they refuse a user without read permission.
    Tests run as root, whom chmod 000 does not stop."""
    import builtins

    real_open, real_access = builtins.open, os.access

    def user_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", user_open)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(path) else real_access(p, mode, **kw))


class RecordingBackend:
    """A pyvirtualcam backend (see pyvirtualcam.camera.Backend) that keeps what it is sent."""

    instances: list = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "Recording Camera"
        self.frames = []
        self.closed = 0
        RecordingBackend.instances.append(self)

    def send(self, frame):
        self.frames.append(frame.copy())

    def close(self):
        self.closed += 1

    def device(self):
        return self._device

    def native_fourcc(self):
        return self.fourcc


@pytest.fixture
def recording_camera(monkeypatch):
    """pyvirtualcam's own test hook: the backend "recording" keeps every frame it is sent
    (RecordingBackend.instances); undone after the test."""
    import pyvirtualcam

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    RecordingBackend.instances = []
    pyvirtualcam.register_backend("recording", RecordingBackend)
    return RecordingBackend
