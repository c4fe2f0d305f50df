"""Where processed frames go: a virtual camera (pyvirtualcam) or a video file."""
from __future__ import annotations

import os
import queue
import secrets
import sys
import threading
from pathlib import Path

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pyvirtualcam  # noqa: E402

LINUX_SETUP_COMMAND = (
    'sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback devices=1 '
    'exclusive_caps=1 card_label="PortraitCam"'
)


class SinkError(RuntimeError):
    """An output could not be opened or stopped accepting frames."""


class VirtualCameraUnavailable(SinkError):
    """No virtual camera device; the message says how to set one up on this OS."""


def virtual_camera_setup_hint(platform: str = sys.platform) -> str:
    if platform.startswith("linux"):
        return f"install and load v4l2loopback: {LINUX_SETUP_COMMAND}"
    if platform == "darwin":
        return ("install OBS Studio 30 or newer (https://obsproject.com), click 'Start Virtual Camera' "
                "once and allow its system extension, then stop it and retry")
    if platform.startswith("win"):
        return ("install OBS Studio 26 or newer (https://obsproject.com), click 'Start Virtual Camera' "
                "once, then stop it and retry")
    return "install a virtual camera driver supported by pyvirtualcam (v4l2loopback or OBS)"


def _fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] != width or frame.shape[0] != height:
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(frame, dtype=np.uint8)


class Sink:
    """Base class of the outputs: subclasses implement send() and close(); usable with `with`.

    close() completes the output; abort() ends it without completing (an error or an
    interruption), so a file output never replaces what was there with a broken file.
    """

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def prepare_output_path(path: str | os.PathLike) -> Path:
    """The real location an output will be written to; SinkError if its folder cannot exist.

    Follows a symlink (so the rename at the end replaces the file it points at, not the link)
    and creates missing folders, which touches no existing file.
    """
    target = Path(os.path.realpath(Path(path).expanduser()))
    if target.is_dir():
        raise SinkError(f"Cannot write {path}: it is a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent is a file, no permission, read-only file system …
        raise SinkError(f"Cannot create the folder for {path}: {exc.strerror or exc}") from exc
    if not os.access(target.parent, os.W_OK):
        raise SinkError(f"Cannot write {path}: no permission to write in {target.parent}")
    if target.exists() and not os.access(target, os.W_OK):
        # The rename at the end could replace it anyway; a read-only file is meant to stay.
        raise SinkError(f"Cannot write {path}: the file is read-only")
    return target


def _temporary_beside(target: Path) -> Path:
    """A new, hidden file next to target with the same extension (OpenCV picks formats by it)."""
    # Not tempfile.mkstemp: its files are private (0600); this one gets the usual umask mode.
    while True:
        path = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return path
        except FileExistsError:
            continue


def partial_path_for(target: Path) -> Path:
    """out.mp4 -> out.partial.mp4 (out.partial-2.mp4 … when that exists): never an existing file."""
    candidate = target.with_name(f"{target.stem}.partial{target.suffix}")
    number = 2
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}.partial-{number}{target.suffix}")
        number += 1
    return candidate


class BackgroundSink(Sink):
    """Hands frames to `sink` on a thread of its own, so encoding overlaps the next frame's work.

    Frames are sent in order; a send error is raised by the next send() or by close(), which waits
    for every queued frame before completing the output. abort() also writes what is queued (those
    frames were made; an interrupted job keeps them in its partial file), then aborts. Frames must
    not be modified after send() (the pipeline makes a new one each time)."""

    def __init__(self, sink: Sink, depth: int = 2) -> None:
        self.sink = sink
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode, name="portraitcam-encode", daemon=True)
        self._thread.start()

    def __getattr__(self, name):  # partial_path, padded, output_size... of the wrapped sink
        return getattr(self.sink, name)

    def _encode(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._error is None:
                try:
                    self.sink.send(frame)
                except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                    self._error = exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def send(self, frame_bgr: np.ndarray) -> None:
        self._raise_pending()
        self._queue.put(frame_bgr)

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def close(self) -> None:
        self._finish()
        self._raise_pending()
        self.sink.close()

    def abort(self) -> None:
        self._finish()
        self._error = None
        self.sink.abort()


class VirtualCameraSink(Sink):
    """Publishes BGR frames to a virtual camera that video-call apps can select."""

    def __init__(self, width: int, height: int, fps: float,
                 backend: str | None = None, device: str | None = None) -> None:
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        backend = backend or None
        device = device or None
        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
            raise VirtualCameraUnavailable(
                f"Virtual camera backend '{backend}' is not available here (available: {known}); "
                f"to set one up, {virtual_camera_setup_hint()}")
        try:
            self._camera = pyvirtualcam.Camera(
                self.width, self.height, self.fps, fmt=pyvirtualcam.PixelFormat.BGR,
                backend=backend, device=device)
        except Exception as exc:  # pyvirtualcam raises RuntimeError, backends may raise others
            reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise VirtualCameraUnavailable(
                f"Virtual camera unavailable ({reason or type(exc).__name__}); "
                f"to set it up, {virtual_camera_setup_hint()}") from exc
        self.backend = self._camera.backend

    @property
    def device(self) -> str:
        return self._camera.device if self._camera is not None else ""

    def send(self, frame_bgr: np.ndarray) -> None:
        if self._camera is None:
            raise SinkError("Virtual camera is closed")
        try:
            self._camera.send(_fit(frame_bgr, self.width, self.height))
        except Exception as exc:
            raise SinkError(f"Virtual camera {self.device} stopped accepting frames: {exc}") from exc

    def wait_for_next_frame(self) -> None:
        """Sleep until the next frame is due at the camera's frame rate (for file inputs)."""
        if self._camera is not None:
            self._camera.sleep_until_next_frame()

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None


_FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


class FileSink(Sink):
    """Writes frames to a video file (codec chosen by extension: .mp4, .avi, .mkv, .mov).

    Frames go to a temporary file beside the target; close() renames it into place, so an
    existing file is replaced only by a complete video. abort() keeps what was written as
    out.partial.mp4 (self.partial_path) or removes it when empty.
    .avi uses OpenCV's own MJPEG writer, which keeps any size; FFmpeg's writers need even
    sizes, so an odd width or height is padded by repeating the last column/row (self.padded).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float) -> None:
        self.path = Path(path)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self._writer = None
        self.frames_written = 0
        self.partial_path: Path | None = None
        self._temp: Path | None = None
        suffix = self.path.suffix.lower()
        fourcc = _FOURCC_BY_SUFFIX.get(suffix)
        if fourcc is None:
            raise SinkError(
                f"Unsupported output format '{self.path.suffix}' for {self.path} "
                f"(use one of {', '.join(sorted(_FOURCC_BY_SUFFIX))})")
        self._target = prepare_output_path(self.path)
        if suffix == ".avi":
            api, self._size = cv2.CAP_OPENCV_MJPEG, (self.width, self.height)
        else:
            api, self._size = cv2.CAP_FFMPEG, (self.width + self.width % 2, self.height + self.height % 2)
        self.padded = self._size != (self.width, self.height)
        try:
            self._temp = _temporary_beside(self._target)
        except OSError as exc:
            raise SinkError(f"Cannot write video file {self.path}: {exc.strerror or exc}") from exc
        self._writer = cv2.VideoWriter(
            str(self._temp), api, cv2.VideoWriter_fourcc(*fourcc), self.fps, self._size)
        if not self._writer.isOpened():
            self._writer = None
            self._discard()
            raise SinkError(f"Cannot write video file {self.path}")

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the written video."""
        return self._size

    def send(self, frame_bgr: np.ndarray) -> None:
        if self._writer is None:
            raise SinkError(f"Video file {self.path} is closed")
        frame = _fit(frame_bgr, self.width, self.height)
        if self.padded:
            frame = cv2.copyMakeBorder(frame, 0, self._size[1] - self.height, 0,
                                       self._size[0] - self.width, cv2.BORDER_REPLICATE)
        self._writer.write(frame)
        self.frames_written += 1

    def _release(self) -> bool:
        if self._writer is None:
            return False
        self._writer.release()  # writes the container's index: the file is playable from here
        self._writer = None
        return True

    def _discard(self) -> None:
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None

    def close(self) -> None:
        if not self._release():
            return
        if self.frames_written == 0:
            self._discard()  # nothing to show: leave an existing file alone
            return
        try:
            os.replace(self._temp, self._target)
        except OSError as exc:
            self.abort()
            raise SinkError(f"Cannot move the finished video into place at {self.path}: {exc}") from exc
        self._temp = None

    def abort(self) -> None:
        self._release()
        if self._temp is None:
            return
        if self.frames_written == 0:
            self._discard()
            return
        partial = partial_path_for(self._target)
        try:
            os.replace(self._temp, partial)
            self.partial_path = partial
        except OSError:
            self.partial_path = self._temp
        self._temp = None


class ImageFileSink(Sink):
    """Writes the last frame it was sent to an image file on close (for still-photo inputs).

    The folder is checked when the sink is made, before any work; the image is written to a
    temporary file and renamed into place, so a failed write leaves an existing file intact.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._target = prepare_output_path(self.path)
        if not cv2.haveImageWriter(str(self._target)):
            raise SinkError(f"Unsupported image format '{self.path.suffix}' for {self.path}")
        self._last: np.ndarray | None = None
        self.frames_written = 0
        self.partial_path: Path | None = None

    def send(self, frame_bgr: np.ndarray) -> None:
        self._last = frame_bgr

    def close(self) -> None:
        if self._last is None:
            return
        try:
            temp = _temporary_beside(self._target)
        except OSError as exc:
            raise SinkError(f"Cannot write image file {self.path}: {exc.strerror or exc}") from exc
        try:
            if not cv2.imwrite(str(temp), self._last):
                raise SinkError(f"Cannot write image file {self.path}")
            os.replace(temp, self._target)
        except OSError as exc:
            raise SinkError(f"Cannot write image file {self.path}: {exc.strerror or exc}") from exc
        finally:
            temp.unlink(missing_ok=True)
        self._last = None
        self.frames_written = 1

    def abort(self) -> None:
        self._last = None  # an unfinished job writes no picture
