"""Where processed frames go: a virtual camera (pyvirtualcam) or a video file."""
from __future__ import annotations

import os
import sys
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
    """Base class of the outputs: subclasses implement send() and close(); usable with `with`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


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
    """Writes frames to a video file (codec chosen by extension: .mp4, .avi, .mkv, .mov)."""

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float) -> None:
        self.path = Path(path)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        fourcc = _FOURCC_BY_SUFFIX.get(self.path.suffix.lower())
        if fourcc is None:
            raise SinkError(
                f"Unsupported output format '{self.path.suffix}' for {self.path} "
                f"(use one of {', '.join(sorted(_FOURCC_BY_SUFFIX))})")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"Cannot create folder for {self.path}: {exc}") from exc
        self._writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter_fourcc(*fourcc), self.fps, (self.width, self.height))
        if not self._writer.isOpened():
            raise SinkError(f"Cannot write video file {self.path}")
        self.frames_written = 0

    def send(self, frame_bgr: np.ndarray) -> None:
        if self._writer is None:
            raise SinkError(f"Video file {self.path} is closed")
        self._writer.write(_fit(frame_bgr, self.width, self.height))
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class ImageFileSink(Sink):
    """Writes the last frame it was sent to an image file on close (for still-photo inputs)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._last: np.ndarray | None = None
        self.frames_written = 0

    def send(self, frame_bgr: np.ndarray) -> None:
        self._last = frame_bgr

    def close(self) -> None:
        if self._last is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(self.path), self._last):
            raise SinkError(f"Cannot write image file {self.path}")
        self._last = None
        self.frames_written = 1
