"""Frame sources: webcam, video file (optionally looping) and still image.

Every source hands out BGR uint8 frames and raises SourceError with a message that names
the device or file, so the GUI and the CLI can show it to the user unchanged.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
from pathlib import Path

# FFmpeg would print its own multi-line diagnostics for a bad file; SourceError says it once.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

# OpenCV logs a warning for every camera index it probes; the app reports problems itself.
# OpenCV 5 has cv2.utils.logging; 4.x (the benchmark's MediaPipe venv) has cv2.setLogLevel.
if hasattr(cv2, "utils") and hasattr(cv2.utils, "logging"):
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
else:
    cv2.setLogLevel(2)  # LOG_LEVEL_ERROR

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"}


class SourceError(RuntimeError):
    """A frame source could not be opened or stopped delivering frames."""


class FrameSource:
    """Base class; subclasses implement read() and close()."""

    fps: float = 30.0
    is_live: bool = False
    frame_count: int | None = None
    description: str = ""

    def __init__(self) -> None:
        self._size = (0, 0)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames this source delivers."""
        return self._size

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class PrefetchingSource(FrameSource):
    """Decodes the next frames of a file on a thread of its own while the caller processes this one.

    Decoding releases the GIL, so on two cores it overlaps the model and the compositing; frames
    and their order are unchanged, and a read error is raised by the read() that reaches it. For
    files only: a live camera would hand out frames up to `depth` frames old."""

    def __init__(self, source: FrameSource, depth: int = 2) -> None:
        super().__init__()
        self.source = source
        self.fps, self.is_live = source.fps, source.is_live
        self.frame_count, self.description = source.frame_count, source.description
        self._size = source.size
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._decode, name="portraitcam-decode", daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.source.read()
            except Exception as exc:  # noqa: BLE001 - handed to the reader, who raises it
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item is None or isinstance(item, Exception):
                return

    def read(self) -> np.ndarray | None:
        if self._done:
            return None
        item = self._queue.get()
        if item is None or isinstance(item, Exception):
            self._done = True
            if isinstance(item, Exception):
                raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.source.close()


def _frame_size(frame: np.ndarray) -> tuple[int, int]:
    return int(frame.shape[1]), int(frame.shape[0])


def _camera_api() -> int:
    """The native capture API per OS: faster to open than OpenCV's trial of every backend."""
    if sys.platform.startswith("win"):
        return cv2.CAP_DSHOW
    if sys.platform == "darwin":
        return cv2.CAP_AVFOUNDATION
    if sys.platform.startswith("linux"):
        return cv2.CAP_V4L2
    return cv2.CAP_ANY


class CameraSource(FrameSource):
    """A webcam opened by index. Raises SourceError at once when it is absent or busy."""

    is_live = True

    def __init__(self, index: int, width: int = 1280, height: int = 720, fps: float = 30) -> None:
        super().__init__()
        self.index = int(index)
        self.description = f"camera {self.index}"
        self._capture = cv2.VideoCapture(self.index, _camera_api())
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(
                f"Camera {self.index} could not be opened: it is not connected or another "
                f"application is using it"
            )
        # MJPG lets USB2 webcams deliver 720p at 30 fps (raw YUYV is often capped near 10 fps);
        # a one-frame buffer keeps latency low. Drivers ignore what they do not support.
        self._capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._capture.set(cv2.CAP_PROP_FPS, fps)
        # Some drivers open the device but never deliver a frame; find out now, not mid-call.
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self._capture.release()
            raise SourceError(f"Camera {self.index} opened but delivered no frame")
        self._pending = frame
        self._size = _frame_size(frame)
        reported_fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported_fps) if reported_fps and reported_fps > 0 else float(fps)

    def read(self) -> np.ndarray:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self._capture is None:
            raise SourceError(f"Camera {self.index} is closed")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceError(f"Camera {self.index} stopped delivering frames (disconnected?)")
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class VideoFileSource(FrameSource):
    """A video file. loop=True restarts at the end; loop=False makes read() return None there.

    A read failure before the container's frame count is reached means the file is truncated,
    corrupt or gone, and raises SourceError rather than passing for a normal end.
    """

    def __init__(self, path: str | os.PathLike, loop: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        self.loop = loop
        self.description = f"video {self.path.name}"
        self._capture = None
        self._capture, first = self._open()
        self._pending = first
        self._size = _frame_size(first)
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None
        self._frames_read = 0  # frames handed out in the current pass

    def _open(self):
        if not self.path.is_file():
            raise SourceError(f"Video file not found: {self.path}")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"Cannot open video file {self.path}: unsupported format or corrupt")
        ok, frame = capture.read()
        if not ok or frame is None:
            capture.release()
            raise SourceError(f"Video file {self.path} contains no readable frames (truncated or corrupt)")
        return capture, frame

    def _restart(self) -> np.ndarray:
        # Reopening is more dependable than seeking for codecs without keyframe-accurate seeks,
        # and it notices a file that was removed or replaced since the last pass.
        self._capture.release()
        self._capture = None
        self._capture, frame = self._open()
        self._frames_read = 0
        return frame

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            raise SourceError(f"Video file {self.path} is closed")
        if self._pending is not None:
            frame, self._pending = self._pending, None
            self._frames_read += 1
            return frame
        ok, frame = self._capture.read()
        if ok and frame is not None:
            self._frames_read += 1
            return frame
        if self.frame_count is not None and self._frames_read < self.frame_count - 1:
            raise SourceError(
                f"Reading {self.path} failed after {self._frames_read} of {self.frame_count} frames "
                f"(file truncated, corrupt or removed)"
            )
        if not self.loop:
            return None
        frame = self._restart()
        self._frames_read = 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageSource(FrameSource):
    """A still image served as an endless stream (for previews and single-photo processing)."""

    def __init__(self, path: str | os.PathLike, fps: float = 30) -> None:
        super().__init__()
        self.path = Path(path)
        self.description = f"image {self.path.name}"
        if not self.path.is_file():
            raise SourceError(f"Image file not found: {self.path}")
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"Cannot read image {self.path}: unsupported format or corrupt")
        self._image = image
        self._size = _frame_size(image)
        self.fps = float(fps)

    def read(self) -> np.ndarray:
        # A copy, so a consumer that draws on its frame cannot alter the next one.
        return self._image.copy()


def is_image_path(spec: str | os.PathLike) -> bool:
    return Path(spec).suffix.lower() in IMAGE_EXTENSIONS


def open_source(spec: str | int, **kw) -> FrameSource:
    """Open a camera (int or digit string), an image (by extension) or a video file.

    Keyword arguments that the chosen source does not take are ignored, so callers can pass
    one set of options (width, height, fps, loop) whatever the spec turns out to be.
    """
    text = spec.strip() if isinstance(spec, str) else None
    if (isinstance(spec, int) and spec < 0) or (
            text and text.startswith("-") and text[1:].isdigit() and not Path(text).exists()):
        raise SourceError(f"Camera index {int(spec)} is not valid: camera indices start at 0 "
                          "(0 is the first camera)")
    if isinstance(spec, int) or (text is not None and text.isdigit()):
        allowed = {"width", "height", "fps"}
        return CameraSource(int(spec), **{k: v for k, v in kw.items() if k in allowed})
    if is_image_path(spec):
        return ImageSource(spec, **{k: v for k, v in kw.items() if k == "fps"})
    return VideoFileSource(spec, **{k: v for k, v in kw.items() if k == "loop"})


def list_cameras(max_index: int = 4) -> list[int]:
    """Indices in 0..max_index-1 of cameras that open and deliver a frame."""
    found = []
    for index in range(max_index):
        capture = cv2.VideoCapture(index, _camera_api())
        try:
            if capture.isOpened() and capture.read()[0]:
                found.append(index)
        finally:
            capture.release()
    return found
