import glob
import sys
from pathlib import Path

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.util import encode_fourcc

from app.sinks import (LINUX_SETUP_COMMAND, FileSink, ImageFileSink, SinkError, VirtualCameraSink,
                       VirtualCameraUnavailable, virtual_camera_setup_hint)
from conftest import count_frames


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


class BusyBackend(RecordingBackend):
    def __init__(self, **kw):
        raise RuntimeError("device /dev/video9 is busy")


class FailingSendBackend(RecordingBackend):
    def send(self, frame):
        raise OSError("device unplugged")


@pytest.fixture
def backends(monkeypatch):
    """Register test backends through pyvirtualcam's own API; undone after the test."""
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    RecordingBackend.instances = []
    pyvirtualcam.register_backend("recording", RecordingBackend)
    pyvirtualcam.register_backend("busy", BusyBackend)
    pyvirtualcam.register_backend("failing-send", FailingSendBackend)
    return pyvirtualcam.camera.BACKENDS


def test_setup_hint_per_platform():
    assert LINUX_SETUP_COMMAND in virtual_camera_setup_hint("linux")
    assert LINUX_SETUP_COMMAND == ('sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback '
                                   'devices=1 exclusive_caps=1 card_label="PortraitCam"')
    windows = virtual_camera_setup_hint("win32")
    mac = virtual_camera_setup_hint("darwin")
    assert "OBS Studio 26" in windows and "Start Virtual Camera" in windows
    assert "OBS Studio 30" in mac and "Start Virtual Camera" in mac


def test_frames_reach_the_virtual_camera(backends):
    frames = [np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8) for i in range(5)]
    with VirtualCameraSink(64, 48, 30, backend="recording", device="PortraitCam Test") as sink:
        assert sink.device == "PortraitCam Test"
        for frame in frames:
            sink.send(frame)
        backend = RecordingBackend.instances[-1]
        assert backend.fourcc == encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)
        assert (backend.width, backend.height, backend.fps) == (64, 48, 30)
        assert len(backend.frames) == 5
        for sent, received in zip(frames, backend.frames):
            assert np.array_equal(received.reshape(48, 64, 3), sent)
    assert backend.closed == 1


def test_frames_of_another_size_are_fitted(backends):
    with VirtualCameraSink(64, 48, 30, backend="recording") as sink:
        sink.send(np.full((96, 128, 3), 77, np.uint8))
    received = RecordingBackend.instances[-1].frames[0]
    assert received.size == 64 * 48 * 3 and np.all(received == 77)


def test_busy_device_is_reported_with_setup_hint(backends):
    with pytest.raises(VirtualCameraUnavailable) as info:
        VirtualCameraSink(64, 48, 30, backend="busy")
    message = str(info.value)
    assert "busy" in message and virtual_camera_setup_hint() in message
    assert "\n" not in message


def test_unknown_backend_is_unavailable(backends):
    with pytest.raises(VirtualCameraUnavailable, match="no-such-backend"):
        VirtualCameraSink(64, 48, 30, backend="no-such-backend")


@pytest.mark.skipif(not sys.platform.startswith("linux") or glob.glob("/dev/video*"),
                    reason="needs a Linux machine without video devices")
def test_no_loopback_device_is_unavailable_with_linux_command():
    with pytest.raises(VirtualCameraUnavailable) as info:
        VirtualCameraSink(64, 48, 30)
    assert LINUX_SETUP_COMMAND in str(info.value)


def test_send_failure_is_a_sink_error(backends):
    sink = VirtualCameraSink(64, 48, 30, backend="failing-send")
    with pytest.raises(SinkError, match="unplugged"):
        sink.send(np.zeros((48, 64, 3), np.uint8))
    sink.close()
    with pytest.raises(SinkError):
        sink.send(np.zeros((48, 64, 3), np.uint8))


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_file_sink_writes_readable_video(tmp_path, suffix):
    path = tmp_path / "nested" / f"out{suffix}"
    with FileSink(path, 96, 64, 15) as sink:
        for i in range(12):
            sink.send(np.full((64, 96, 3), i * 20, np.uint8))
    assert sink.frames_written == 12
    assert count_frames(path) == (12, (96, 64))


def test_file_sink_rejects_unknown_format(tmp_path):
    with pytest.raises(SinkError, match="out.xyz"):
        FileSink(tmp_path / "out.xyz", 64, 48, 30)


def test_image_file_sink_keeps_the_last_frame(tmp_path):
    import cv2

    path = tmp_path / "still.png"
    with ImageFileSink(path) as sink:
        sink.send(np.zeros((10, 12, 3), np.uint8))
        sink.send(np.full((10, 12, 3), 200, np.uint8))
    image = cv2.imread(str(path))
    assert image.shape == (10, 12, 3) and np.all(image == 200)


def test_file_sink_replaces_an_existing_file_only_when_closed(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"precious")
    sink = FileSink(path, 64, 48, 15)
    for i in range(3):
        sink.send(np.full((48, 64, 3), 40 * i, np.uint8))
    assert path.read_bytes() == b"precious"  # frames go to a temporary file beside it
    sink.close()
    assert count_frames(path) == (3, (64, 48))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_aborted_file_sink_keeps_a_named_playable_partial_file(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"precious")
    (tmp_path / "out.partial.mp4").write_bytes(b"an older partial file")
    with pytest.raises(KeyboardInterrupt):
        with FileSink(path, 64, 48, 15) as sink:
            sink.send(np.zeros((48, 64, 3), np.uint8))
            sink.send(np.zeros((48, 64, 3), np.uint8))
            raise KeyboardInterrupt
    assert path.read_bytes() == b"precious"
    assert sink.partial_path == tmp_path / "out.partial-2.mp4"
    assert count_frames(sink.partial_path) == (2, (64, 48))
    assert (tmp_path / "out.partial.mp4").read_bytes() == b"an older partial file"


def test_file_sink_without_frames_leaves_nothing_behind(tmp_path):
    path = tmp_path / "out.avi"
    path.write_bytes(b"precious")
    FileSink(path, 64, 48, 15).abort()
    FileSink(path, 64, 48, 15).close()
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avi"]


def test_file_sink_under_a_file_is_a_sink_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SinkError, match="afile"):
        FileSink(tmp_path / "afile" / "out.mp4", 64, 48, 15)
    with pytest.raises(SinkError, match="afile"):
        ImageFileSink(tmp_path / "afile" / "out.png")


def test_aborted_image_sink_leaves_the_existing_image(tmp_path):
    path = tmp_path / "still.png"
    path.write_bytes(b"precious")
    with pytest.raises(RuntimeError):
        with ImageFileSink(path) as sink:
            sink.send(np.zeros((10, 12, 3), np.uint8))
            raise RuntimeError("job failed")
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["still.png"]


@pytest.mark.parametrize("suffix, size", [(".avi", (65, 49)), (".mp4", (66, 50))])
def test_odd_frame_sizes_are_kept_or_padded_never_cropped(tmp_path, suffix, size):
    frame = np.full((49, 65, 3), 90, np.uint8)
    frame[-1, :] = 250  # the last row must survive
    with FileSink(tmp_path / f"odd{suffix}", 65, 49, 15) as sink:
        sink.send(frame)
    assert sink.output_size == size and sink.padded == (suffix == ".mp4")
    assert count_frames(tmp_path / f"odd{suffix}") == (1, size)


def test_outputs_get_the_usual_file_mode_not_a_private_temporary_one(tmp_path):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    with FileSink(tmp_path / "out.avi", 64, 48, 15) as sink:
        sink.send(np.zeros((48, 64, 3), np.uint8))
    with ImageFileSink(tmp_path / "out.png") as image:
        image.send(np.zeros((48, 64, 3), np.uint8))
    for name in ("out.avi", "out.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_read_only_output_file_is_not_replaced(tmp_path, monkeypatch):
    import os

    import app.sinks as sinks_module

    path = tmp_path / "keep.mp4"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    real_access = os.access
    # As the file's owner (root may write anything, so say what an owner is told).
    monkeypatch.setattr(sinks_module.os, "access",
                        lambda p, mode: False if Path(p) == path and mode == os.W_OK else real_access(p, mode))
    with pytest.raises(SinkError, match="read-only"):
        FileSink(path, 64, 48, 15)
    with pytest.raises(SinkError, match="read-only"):
        ImageFileSink(path)
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]


class _RecordingSink:
    def __init__(self, fail_at: int | None = None) -> None:
        self.frames, self.fail_at, self.closed, self.aborted = [], fail_at, False, False
        self.partial_path = "kept.partial.mp4"

    def send(self, frame):
        if self.fail_at is not None and len(self.frames) == self.fail_at:
            raise SinkError("disk full")
        self.frames.append(int(frame[0, 0, 0]))

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True


def _frame(i: int) -> np.ndarray:
    return np.full((4, 4, 3), i, np.uint8)


def test_background_sink_writes_every_frame_in_order_before_closing():
    from app.sinks import BackgroundSink

    inner = _RecordingSink()
    sink = BackgroundSink(inner)
    for i in range(20):
        sink.send(_frame(i))
    sink.close()
    assert inner.frames == list(range(20)) and inner.closed
    assert sink.partial_path == "kept.partial.mp4"  # the wrapped sink's attributes show through


def test_background_sink_raises_a_send_error_and_abort_keeps_what_was_made():
    from app.sinks import BackgroundSink

    inner = _RecordingSink(fail_at=3)
    sink = BackgroundSink(inner)
    with pytest.raises(SinkError, match="disk full"):
        for i in range(50):
            sink.send(_frame(i))
        sink.close()
    assert inner.frames == [0, 1, 2] and not inner.closed
    sink.abort()
    assert inner.aborted

    inner = _RecordingSink()
    sink = BackgroundSink(inner)
    for i in range(5):
        sink.send(_frame(i))
    sink.abort()  # an interrupted job: queued frames still reach the partial file
    assert inner.frames == [0, 1, 2, 3, 4] and inner.aborted and not inner.closed
