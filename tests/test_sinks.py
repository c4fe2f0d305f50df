import glob
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.util import encode_fourcc

from app.sinks import (LINUX_SETUP_COMMAND, FileSink, ImageFileSink, SinkError, VirtualCameraSink,
                       VirtualCameraUnavailable, virtual_camera_setup_hint)
from conftest import RecordingBackend, count_frames


class BusyBackend(RecordingBackend):
    def __init__(self, **kw):
        raise RuntimeError("device /dev/video9 is busy")


class NoDeviceBackend(RecordingBackend):
    def __init__(self, **kw):
        raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99]")


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


def test_frames_of_another_size_are_fitted_whole_not_squeezed(backends):
    with VirtualCameraSink(64, 48, 30, backend="recording") as sink:
        sink.send(np.full((96, 128, 3), 77, np.uint8))  # the same shape, larger: fills the device
        sink.send(np.full((36, 64, 3), 77, np.uint8))   # 16:9 on a 4:3 device: black bars, not a stretch
    same_shape, wider = (f.reshape(48, 64, 3) for f in RecordingBackend.instances[-1].frames)
    assert np.all(same_shape == 77)
    assert np.all(wider[6:42] == 77) and np.all(wider[:6] == 0) and np.all(wider[42:] == 0)


def test_busy_device_is_reported_with_its_fix_not_a_setup_hint(backends):
    with pytest.raises(VirtualCameraUnavailable) as info:
        VirtualCameraSink(64, 48, 30, backend="busy")
    message = str(info.value)
    assert "busy" in message and "close the program that is sending to it" in message
    assert virtual_camera_setup_hint() not in message  # there is a device: setting one up is not the fix
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


def test_background_sink_ends_even_when_a_signal_lost_the_encoders_wake_up():
    """SIGTERM raised inside send()'s Queue.put can leave a frame queued with the encoder asleep
    (threading.Condition.notify cut between its steps; seen as a job that never exited). Here the
    frame is queued without the notify, as that leaves it: abort() still writes it and returns."""
    import threading
    import time

    from app.sinks import BackgroundSink

    inner = _RecordingSink()
    sink = BackgroundSink(inner)
    sink.send(_frame(1))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (inner.frames and sink._queue.not_empty._waiters):
        time.sleep(0.01)  # the encoder wrote frame 1 and waits for the next
    assert inner.frames == [1] and sink._queue.not_empty._waiters
    with sink._queue.mutex:
        sink._queue._put(_frame(2))  # queued, its notify lost
        sink._queue.unfinished_tasks += 1
    ended = threading.Thread(target=sink.abort, daemon=True)
    ended.start()
    ended.join(10)
    assert not ended.is_alive(), "abort() hung on the sleeping encoder"
    assert inner.frames == [1, 2] and inner.aborted


# --- a full disk, file modes and odd files at the output path (issue 15) ---------------------------
class _DiskFillingWriter:
    """cv2.VideoWriter on a disk that runs full: OpenCV's writer reports nothing (write() returns
    None, release() succeeds), but the file system keeps only what fitted. `drop_after` frames get
    through; after release the file is cut to `keep` of its size (the tail and index did not fit)."""

    drop_after: int | None = None
    keep: float | None = None

    def __init__(self, path, *args):
        import cv2

        self.path = path
        self._writer = cv2.VideoWriter.__real__(path, *args)
        self.frames = 0

    def isOpened(self):
        return self._writer.isOpened()

    def write(self, frame):
        self.frames += 1
        if self.drop_after is None or self.frames <= self.drop_after:
            self._writer.write(frame)

    def release(self):
        import os

        self._writer.release()
        if self.keep is not None:
            os.truncate(self.path, int(os.path.getsize(self.path) * self.keep))


@pytest.fixture
def full_disk(monkeypatch):
    import cv2

    real = cv2.VideoWriter
    monkeypatch.setattr(cv2, "VideoWriter", type("VideoWriter", (_DiskFillingWriter,), {}))
    cv2.VideoWriter.__real__ = real
    return cv2.VideoWriter


def _write(path, frames=6, size=(64, 48)):
    sink = FileSink(path, *size, 15)
    for i in range(frames):
        sink.send(np.full((size[1], size[0], 3), 30 * i, np.uint8))
    return sink


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv", ".mov"])
@pytest.mark.parametrize("keep, drop_after", [(0.5, None), (0.02, None), (0.0, None), (None, 2)])
def test_a_full_disk_never_replaces_the_existing_file(tmp_path, full_disk, suffix, keep, drop_after):
    full_disk.keep, full_disk.drop_after = keep, drop_after
    path = tmp_path / f"out{suffix}"
    path.write_bytes(b"precious")
    sink = _write(path)
    with pytest.raises(SinkError, match="failed") as raised:
        sink.close()
    assert "kept" in str(raised.value) and "\n" not in str(raised.value)
    assert path.read_bytes() == b"precious"
    # The broken file is removed (it would only hold the space the user needs back).
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{suffix}"]


def test_a_disk_that_ran_full_keeps_the_old_file_and_the_new_one_as_partial(tmp_path, monkeypatch):
    import app.sinks as sinks_module

    path = tmp_path / "out.mp4"
    path.write_bytes(b"precious")
    sink = _write(path)
    # It reads back whole, but the disk is full now: the writer may have lost what it cannot say.
    monkeypatch.setattr(sinks_module, "free_bytes", lambda folder: 0)
    with pytest.raises(SinkError, match="disk is full") as raised:
        sink.close()
    assert path.read_bytes() == b"precious"
    assert sink.partial_path == tmp_path / "out.partial.mp4" and str(sink.partial_path) in str(raised.value)


def test_a_full_disk_is_refused_before_any_work(tmp_path, monkeypatch):
    import app.sinks as sinks_module

    monkeypatch.setattr(sinks_module, "free_bytes", lambda folder: 4096)
    with pytest.raises(SinkError, match="disk is full"):
        FileSink(tmp_path / "out.mp4", 64, 48, 15)
    assert list(tmp_path.iterdir()) == []


def test_a_picture_cut_short_by_a_full_disk_keeps_the_existing_one(tmp_path, monkeypatch):
    import os

    import cv2

    real_imencode = cv2.imencode

    def short_imencode(suffix, image, *args):  # the write goes through, but only half of it lands
        ok, data = real_imencode(suffix, image, *args)
        return ok, data[: data.size // 2]
    monkeypatch.setattr(cv2, "imencode", short_imencode)
    for name in ("still.png", "still.jpg"):
        path = tmp_path / name
        path.write_bytes(b"precious")
        sink = ImageFileSink(path)
        sink.send(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
        with pytest.raises(SinkError, match="truncated"):
            sink.close()
        assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["still.jpg", "still.png"]


def test_a_picture_refused_by_a_full_disk_says_so_and_keeps_the_existing_one(tmp_path, monkeypatch, capfd):
    import errno

    import app.sinks as sinks_module

    def full_disk(path, mode="r", *args, **kwargs):
        if "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return open(path, mode, *args, **kwargs)
    monkeypatch.setattr(sinks_module, "open", full_disk, raising=False)
    monkeypatch.setattr(sinks_module, "free_bytes", lambda folder: 2048)
    for name in ("still.png", "still.tif", "still.webp"):
        path = tmp_path / name
        path.write_bytes(b"precious")
        sink = ImageFileSink(path)
        sink.send(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
        with pytest.raises(SinkError, match=r"the disk is full \(2.0 KiB free in .*; the existing .* is kept"):
            sink.close()
        assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["still.png", "still.tif", "still.webp"]
    assert capfd.readouterr().err == ""  # no encoder's own lines


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_re_rendering_keeps_the_existing_files_mode(tmp_path, mode):
    import os
    import stat

    for name in ("private.mp4", "private.png"):
        path = tmp_path / name
        path.write_bytes(b"old")
        os.chmod(path, mode)
        if name.endswith(".mp4"):
            _write(path).close()
            assert count_frames(path)[0] == 6
        else:
            with ImageFileSink(path) as sink:
                sink.send(np.zeros((8, 8, 3), np.uint8))
        assert stat.S_IMODE(path.stat().st_mode) == mode, name


def test_a_read_only_mode_is_respected_even_by_root(tmp_path):
    # No os.access patch: as root, access() says yes to everything; the mode bits say read-only.
    for name in ("keep.mp4", "keep.png"):
        path = tmp_path / name
        path.write_bytes(b"precious")
        path.chmod(0o444)
        with pytest.raises(SinkError, match="read-only"):
            FileSink(path, 64, 48, 15) if name.endswith(".mp4") else ImageFileSink(path)
        assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4", "keep.png"]


def test_a_file_made_read_only_during_the_job_is_not_replaced(tmp_path):
    path = tmp_path / "out.avi"
    path.write_bytes(b"precious")
    sink = _write(path)
    path.chmod(0o444)
    with pytest.raises(SinkError, match="read-only"):
        sink.close()
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avi"]


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_or_device_at_the_output_path_is_never_replaced(tmp_path):
    import os
    import stat

    fifo = tmp_path / "out.mp4"
    os.mkfifo(fifo)
    link = tmp_path / "null.png"
    link.symlink_to(os.devnull)
    for path, maker in ((fifo, lambda p: FileSink(p, 64, 48, 15)), (fifo.with_suffix(".mp4"), ImageFileSink),
                        (link, ImageFileSink), (link.with_suffix(".png"), lambda p: FileSink(p, 64, 48, 15))):
        with pytest.raises(SinkError, match="not a regular file|Unsupported"):
            maker(path)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_pipe_put_at_the_output_path_during_the_job_is_not_replaced(tmp_path):
    import os
    import stat

    path = tmp_path / "out.avi"
    sink = _write(path)
    os.mkfifo(path)
    with pytest.raises(SinkError, match="not a regular file"):
        sink.close()
    assert stat.S_ISFIFO(os.lstat(path).st_mode)


def test_a_too_long_output_name_is_a_sink_error(tmp_path):
    for maker in (lambda p: FileSink(p, 64, 48, 15), ImageFileSink):
        with pytest.raises(SinkError, match="too long"):
            maker(tmp_path / ("x" * 300 + ".mp4"))


def test_the_longest_allowed_output_name_still_gets_a_temporary_file(tmp_path):
    path = tmp_path / ("é" * 120 + ".avi")  # 244 bytes: the old temp name (.<stem>.<hex>.tmp.avi) was too long
    sink = _write(path, frames=2)
    sink.close()
    assert count_frames(path)[0] == 2
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 0.0, -5.0, 1e308])
def test_an_unusable_frame_rate_is_refused_before_the_encoder_hangs(tmp_path, fps):
    with pytest.raises(SinkError, match="frame rate"):
        FileSink(tmp_path / "out.mp4", 64, 48, fps)
    assert list(tmp_path.iterdir()) == []


def _dead_pid():
    import subprocess

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_leftover_temporaries_of_killed_jobs_are_removed_at_the_next_run(tmp_path):
    import os
    import time

    from app import sinks as sinks_module

    dead, alive = _dead_pid(), os.getppid()
    old = time.time() - 2 * sinks_module.LEFTOVER_AGE_S
    names = {
        f".out.{dead}.0123abcd.tmp.mp4": "removed",      # its job was killed
        f".out.{alive}.0123abcd.tmp.mp4": "kept",        # a job writing it now
        ".out.89abcdef.tmp.mp4": "kept",                 # older naming, written a moment ago
        ".out.fedcba98.tmp.mp4": "removed",              # older naming, untouched for hours
        f".out.{alive}.00000000.tmp.mp4 ": "kept",       # not our pattern
        f".other.{dead}.0123abcd.tmp.mp4": "kept",       # another output's
        f".out.{dead}.0123abcd.tmp.avi": "kept",         # another output's (out.avi)
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x" * 100)
    os.utime(tmp_path / ".out.fedcba98.tmp.mp4", (old, old))
    _write(tmp_path / "out.mp4").close()
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {name for name, fate in names.items() if fate == "kept"} | {"out.mp4"}


def test_a_temporary_file_carries_its_process_id(tmp_path):
    import os

    sink = _write(tmp_path / "out.mp4", frames=1)
    hidden = [p.name for p in tmp_path.iterdir()]
    sink.abort()
    assert len(hidden) == 1 and hidden[0].startswith(f".out.{os.getpid()}.")


@pytest.mark.parametrize("name, width, limit", [("wide.mp4", 8192, "8190"), ("wide.mkv", 9000, "8190"),
                                                 ("wide.avi", 70000, "65535")])
def test_a_video_too_large_for_its_format_is_refused_with_the_limit(tmp_path, name, width, limit):
    with pytest.raises(SinkError, match=f"too large for .{name.split('.')[1]} \\(at most {limit}"):
        FileSink(tmp_path / name, width, 4, 30)
    assert not list(tmp_path.iterdir())  # nothing left behind
    FileSink(tmp_path / "fits.mp4", 8190, 4, 30).abort()  # the largest that the writer takes


@pytest.mark.parametrize("name, width", [("wide.webp", 16384), ("wide.jpg", 65536)])
def test_a_picture_too_large_for_its_format_is_refused_with_the_limit(tmp_path, name, width):
    sink = ImageFileSink(tmp_path / name)
    with pytest.raises(SinkError, match="too large.*use .png"):
        sink.send(np.zeros((2, width, 3), np.uint8))


@pytest.mark.parametrize("error, fix", [("device /dev/video9 is busy", "close the program that is sending to it"),
                                        ("unsupported size 160x120", "set the device up for 160x120 at 15 FPS"),
                                        ("no device found", "to set it up, ")])
def test_a_virtual_camera_that_is_there_but_refuses_is_not_told_to_set_one_up(monkeypatch, error, fix):
    class Refusing:
        def __init__(self, **kw):
            raise RuntimeError(error)

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    pyvirtualcam.register_backend("refusing", Refusing)
    with pytest.raises(SinkError) as raised:
        VirtualCameraSink(160, 120, 15, backend="refusing")
    assert fix in str(raised.value)
    assert ("v4l2loopback" in str(raised.value)) is (fix == "to set it up, ") or sys.platform != "linux"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_takes_no_files_is_named_so_not_full():
    # /proc passes access(W_OK) as root and reports no free space: "the disk is full" misled there.
    for make in (lambda: FileSink("/proc/portraitcam_out.mp4", 64, 48, 15),
                 lambda: ImageFileSink("/proc/portraitcam_out.png")):
        with pytest.raises(SinkError, match=r"/proc takes no new files") as raised:
            make()
        assert "disk is full" not in str(raised.value)


def test_a_slow_video_to_avi_says_why_it_cannot_be_written(tmp_path):
    # OpenCV's MJPEG writer refuses under 1 FPS ("Cannot write video file x.avi", no reason given);
    # the other containers take a time-lapse or slide show.
    with pytest.raises(SinkError, match=r"\.avi needs at least 1 frame a second and this video has 0.2; "
                                        r"write \.mp4, \.mkv or \.mov instead"):
        FileSink(tmp_path / "slow.avi", 64, 48, 0.2)
    assert list(tmp_path.iterdir()) == []
    for name in ("slow.mp4", "slow.mkv"):
        sink = FileSink(tmp_path / name, 64, 48, 0.2)
        sink.send(np.zeros((48, 64, 3), np.uint8))
        sink.close()
        assert (tmp_path / name).exists()
