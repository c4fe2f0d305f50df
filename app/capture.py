"""Frame sources: webcam, video file (optionally looping) and still image.

Every source hands out BGR uint8 frames and raises SourceError with a message that names
the device or file, so the GUI and the CLI can show it to the user unchanged.
"""
from __future__ import annotations

import errno
import math
import os
import queue
import re
import stat
import sys
import threading
import time
import urllib.parse
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

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".avif"}
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif"}  # a GIF plays (and loops) like a clip
ESTIMATED_COUNT_EXTENSIONS = {".mkv", ".webm"}  # containers whose frame count OpenCV estimates
# Linux numbers video devices 0..255 (/dev/videoN); no OS has more cameras than that.
MAX_CAMERA_INDEX = 255
# Video frame rates that files are read and written at (sinks.FileSink): outside them a header's
# rate is damaged, not real (an encoder told inf hangs; one told 0 or 0.05 writes no file).
MIN_FPS, MAX_FPS = 0.1, 1000.0


def usable_frame_rate(fps: float) -> bool:
    return math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS


class SourceError(RuntimeError):
    """A frame source could not be opened or stopped delivering frames."""


FOLDER_PROBLEM = "it is a folder, not a file"


def file_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be read as a file, in a few words, or None when it can.

    Asked before OpenCV is, which says only "cannot open" (or prints its own lines) whatever the
    reason: a folder, a pipe, a missing permission and a name too long each get their own words."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "not found"
    except NotADirectoryError:
        return "not found (a folder in its path is a file)"
    except PermissionError:
        return "permission denied (a folder in its path cannot be opened)"
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return "the file name is too long"
        return exc.strerror or str(exc)
    except ValueError:  # a NUL character in the name
        return "not a valid file name"
    if stat.S_ISDIR(info.st_mode):
        return FOLDER_PROBLEM
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file (a device, pipe or socket)"
    if not os.access(path, os.R_OK):
        return "permission denied"
    try:
        with open(path, "rb") as file:
            file.read(1)
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IMAGE_CHECK_LIMIT = 256 * 1024 * 1024  # bigger files skip the end-of-image check (OpenCV has its own limit)


def image_problem(path: str | os.PathLike) -> str | None:
    """Why `path` is not a complete picture in a format the app reads, or None when it looks whole.

    A truncated JPEG or PNG makes libjpeg/libpng print their own lines ("Premature end of JPEG
    file") straight to stderr, beside the app's message; checking the file's structure first
    gives one clear reason instead. Call file_problem() first."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as file:
            data = file.read(size if size <= _IMAGE_CHECK_LIMIT else 65536)  # a big file: its header only
    except OSError as exc:
        return exc.strerror or str(exc)
    if not data:
        return "the file is empty"
    whole = len(data) == size
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg_problem(data, whole)
    if data.startswith(_PNG_SIGNATURE):
        return _size_problem(*_png_size(data)) or (_png_problem(data) if whole else None)
    if (data.startswith(b"BM") or data.startswith((b"II*\x00", b"MM\x00*"))
            or (data.startswith(b"RIFF") and data[8:12] == b"WEBP")):
        return None
    brands = _iso_picture_brands(data)
    if brands:
        if brands & {b"avif", b"avis"}:
            return None
        return "a HEIF/HEIC photo, which PortraitCam cannot read (save it as JPEG, PNG or AVIF)"
    return "unsupported format or corrupt (not a JPEG, PNG, BMP, WebP, TIFF or AVIF picture)"


def read_picture(path: str | os.PathLike, max_side: int | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A picture's colours (BGR, a JPEG's EXIF orientation applied; None when OpenCV cannot read it)
    and its own transparency (float32, 0..1; None when it has none or is opaque everywhere).
    OpenCV's colour read drops the alpha channel, and the colours that transparent pixels hide
    (often black, sometimes an editor's leftovers) would show as if they were the picture.
    max_side: scaled down to at most this long side (a background, a thumbnail, a live preview
    need no more); a JPEG is then decoded at a half, a quarter or an eighth of its size where
    that is still enough (libjpeg's own scaling: a 24 MP photo took 0.6 s in full)."""
    try:
        image = _read_jpeg_reduced(path, max_side) if max_side else None
        if image is None:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            image, transparency = _read_deep_picture(path)
        else:
            transparency = _transparency(path, image)
    except cv2.error:  # a format whose size image_problem() does not read, over OpenCV's limit
        return None, None
    if image is None or not max_side or max(image.shape[:2]) <= max_side:
        return image, transparency
    scale = max_side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if transparency is not None:
        transparency = cv2.resize(transparency, size, interpolation=cv2.INTER_AREA)
    return image, transparency


_JPEG_REDUCTIONS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def _read_jpeg_reduced(path: str | os.PathLike, max_side: int) -> np.ndarray | None:
    """A JPEG decoded at the smallest of 1/8, 1/4, 1/2 of its size whose long side still reaches
    max_side; None for anything else or when no reduction is small enough to help."""
    if _file_head(path, 3) != b"\xff\xd8\xff":
        return None
    eighth = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_8)  # 1/64 of the work: tells the size
    if eighth is None:
        return None
    long_side = max(eighth.shape[:2]) * 8
    for factor, flag in _JPEG_REDUCTIONS:
        if long_side // factor >= max_side:
            return eighth if factor == 8 else cv2.imread(str(path), flag)
    return None


def _read_deep_picture(path: str | os.PathLike) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A picture with 32- or 64-bit samples (a TIFF saved as floating point, as scientific and HDR
    tools do), which OpenCV's colour read refuses ("can not handle images with 32-bit samples")
    though its unchanged read decodes it. Floating-point samples are taken as 0..1 (clipped),
    integer ones as 0..their type's maximum."""
    head = _file_head(path, 3)
    if head in (b"", b"\xff\xd8\xff"):  # no regular file to read; a JPEG the colour read refused is broken
        return None, None
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.size == 0 or raw.ndim not in (2, 3) or (raw.ndim == 3 and raw.shape[2] > 4):
        return None, None
    if raw.dtype.kind == "f":
        samples = np.nan_to_num(raw.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    elif raw.dtype.kind in "ui":
        samples = raw.astype(np.float32) / float(np.iinfo(raw.dtype).max)
    else:
        return None, None
    samples = np.clip(samples, 0.0, 1.0)
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    colours = samples if channels in (1, 3) else samples[..., : channels - 1]
    image = (colours * 255.0 + 0.5).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    alpha = samples[..., -1] if channels in (2, 4) else None
    return np.ascontiguousarray(image), (None if alpha is None or float(alpha.min()) >= 1.0 else alpha)


def _transparency(path: str | os.PathLike, image: np.ndarray) -> np.ndarray | None:
    """The alpha channel of the picture at `path`, when it has one that is not opaque everywhere,
    turned as OpenCV's colour read turned `image` (None when it cannot be)."""
    if _file_head(path, 3) in (b"", b"\xff\xd8\xff"):
        return None  # no regular file; a JPEG has no alpha: no second decode of a large photo
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is not None and raw.ndim == 2:
        # A grey PNG whose transparency is one grey value (a tRNS chunk): OpenCV's unchanged read
        # gives the grey alone (palette and colour ones get their alpha channel).
        key = _png_transparent_grey(path, raw.dtype)
        if key is None:
            return None
        raw = np.dstack([raw, raw, raw, np.where(raw == key, 0, np.iinfo(raw.dtype).max).astype(raw.dtype)])
    if raw is None or raw.ndim != 3 or raw.shape[2] != 4:
        return None
    alpha = raw[..., 3].astype(np.float32) * (1.0 / np.iinfo(raw.dtype).max if raw.dtype.kind == "u" else 1.0)
    if float(alpha.min()) >= 1.0:
        return None
    # OpenCV turns the colour read by the picture's EXIF orientation but not the unchanged one: a
    # PNG or WebP cut-out saved by a phone held sideways had its transparency on the wrong side
    # (turned 180 degrees) or none at all (a quarter turn changes the shape).
    alpha = _as_oriented(raw[..., :3], alpha, image, _png_exif_orientation(path))
    return None if alpha is None else np.clip(alpha, 0.0, 1.0)


def _png_transparent_grey(path: str | os.PathLike, dtype: np.dtype) -> int | None:
    """The grey value a grey PNG (colour type 0) marks transparent in its tRNS chunk, as OpenCV's
    unchanged read gives it (a 1-, 2- or 4-bit grey is widened to 0..255); None without one."""
    head = _file_head(path, 33)
    if len(head) < 33 or head[25] != 0:  # IHDR's colour type
        return None
    depth, key = head[24], _png_chunk(path, b"tRNS", 2)
    if key is None or len(key) < 2:
        return None
    value = int.from_bytes(key, "big") & ((1 << depth) - 1)
    return value * 255 // ((1 << depth) - 1) if depth < 8 and dtype == np.uint8 else value


def _png_chunk(path: str | os.PathLike, kind: bytes, most: int) -> bytes | None:
    """The first `most` bytes of a PNG's chunk of this kind before its picture data (tRNS, eXIf),
    walked chunk by chunk (text chunks before it may be any size); None without one, or for a file
    that is no PNG."""
    if not _file_head(path, 8).startswith(_PNG_SIGNATURE):
        return None
    try:
        with open(path, "rb") as file:
            file.seek(8)
            while True:
                header = file.read(8)
                if len(header) < 8 or header[4:] in (b"IDAT", b"IEND"):
                    return None
                length = int.from_bytes(header[:4], "big")
                if header[4:] == kind:
                    return file.read(min(length, most))
                file.seek(length + 4, os.SEEK_CUR)  # the chunk's data and its CRC
    except OSError:
        return None


# The eight ways a picture's EXIF orientation turns or mirrors it (as numpy views: free).
_ORIENTATIONS = (
    lambda a: a, lambda a: a[::-1, ::-1], lambda a: a[:, ::-1], lambda a: a[::-1],
    lambda a: a.swapaxes(0, 1), lambda a: a.swapaxes(0, 1)[:, ::-1],
    lambda a: a.swapaxes(0, 1)[::-1], lambda a: a.swapaxes(0, 1)[::-1, ::-1],
)


# _ORIENTATIONS' index of each EXIF Orientation value (1: as stored, 6: a quarter turn clockwise...).
_EXIF_TURN = {1: 0, 2: 2, 3: 1, 4: 3, 5: 4, 6: 5, 7: 7, 8: 6}


def _as_oriented(raw_colour: np.ndarray, alpha: np.ndarray, image: np.ndarray,
                 orientation: int | None = None) -> np.ndarray | None:
    """`alpha`, read with `raw_colour` as the file stores them, turned the way OpenCV's colour read
    turned the colours into `image`: of the eight turns and mirrors, the one whose colours match
    `image` best (found on a grid of at most ~64x64 samples). Where several match as well (a logo
    of one flat colour matches every turn), the one the file's EXIF `orientation` names, else the
    file's own way. None when no turn gives `image`'s shape."""
    step = max(1, min(image.shape[:2]) // 64)
    if raw_colour.dtype.kind == "u" and raw_colour.dtype != np.uint8:  # 16-bit: the colour read keeps the high byte
        raw_colour = (raw_colour >> (8 * (raw_colour.dtype.itemsize - 1))).astype(np.uint8)
    sampled = image[::step, ::step].astype(np.int16)
    first = _EXIF_TURN.get(orientation or 1, 0)
    best, best_error = None, None
    for index in [first] + [i for i in range(len(_ORIENTATIONS)) if i != first]:
        turned = _ORIENTATIONS[index](raw_colour)
        if turned.shape[:2] != image.shape[:2]:
            continue
        error = int(np.abs(turned[::step, ::step].astype(np.int16) - sampled).sum())
        if best_error is None or error < best_error:  # ties: the first tried
            best, best_error = _ORIENTATIONS[index], error
    return None if best is None else np.ascontiguousarray(best(alpha))


def _png_exif_orientation(path: str | os.PathLike) -> int | None:
    """The Orientation tag (1-8) of a PNG's eXIf chunk, None without one (or for another format)."""
    exif = _png_chunk(path, b"eXIf", 1 << 16)
    return None if exif is None else _tiff_orientation(exif)


def _tiff_orientation(exif: bytes) -> int | None:
    """The Orientation tag (0x0112) of IFD0 in EXIF's TIFF structure."""
    order = {b"II": "little", b"MM": "big"}.get(exif[:2])
    if order is None or len(exif) < 8:
        return None
    at = int.from_bytes(exif[4:8], order)
    count = int.from_bytes(exif[at:at + 2], order) if at + 2 <= len(exif) else 0
    for entry in range(at + 2, at + 2 + 12 * count, 12):
        if entry + 10 <= len(exif) and int.from_bytes(exif[entry:entry + 2], order) == 0x0112:
            value = int.from_bytes(exif[entry + 8:entry + 10], order)
            return value if 1 <= value <= 8 else None
    return None


def flatten_onto(image_bgr: np.ndarray, alpha: np.ndarray | None, backdrop) -> np.ndarray:
    """`image_bgr` over `backdrop` (a BGR colour or an image of the same size) by `alpha` (0..1);
    the image itself when alpha is None."""
    if alpha is None:
        return image_bgr
    a = alpha[..., None]
    under = np.broadcast_to(np.asarray(backdrop, np.float32), image_bgr.shape)
    return np.clip(image_bgr.astype(np.float32) * a + under * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def max_picture_pixels() -> int:
    """The most pixels OpenCV decodes in one picture (its CV_IO_MAX_IMAGE_PIXELS: 2^30, or the
    OPENCV_IO_MAX_IMAGE_PIXELS environment variable); it raises on a larger one."""
    try:
        return max(1, int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", "")))
    except ValueError:
        return 1 << 30


def _size_problem(width: int, height: int) -> str | None:
    """Why a picture of this size cannot be read, or None (also for a header that gives no size)."""
    limit = max_picture_pixels()
    if width * height > limit:
        return f"too large ({width} x {height} pixels; the most a picture may have is {limit:,})"
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (0, 0 when the header is short)."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return 0, 0
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn: the picture's size


def _jpeg_problem(data: bytes, whole: bool = True) -> str | None:
    """Walk the marker segments to the first scan; the picture must not be larger than OpenCV
    decodes, and (when `data` is the whole file) the compressed data after the scan must end with
    EOI."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return "corrupt (a damaged JPEG header)"
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        if marker == 0xD9:
            return "corrupt (a JPEG without picture data)"
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if marker in _JPEG_FRAME_MARKERS and position + 9 <= len(data):
            height = int.from_bytes(data[position + 5:position + 7], "big")
            too_large = _size_problem(int.from_bytes(data[position + 7:position + 9], "big"), height)
            if too_large:
                return too_large
        if marker == 0xDA:  # start of scan: entropy-coded data (0xFF is stuffed there) up to EOI
            if whole and data.find(b"\xff\xd9", position + 2 + length) < 0:
                return "truncated (the JPEG ends before its picture data does)"
            return None
        position += 2 + length
    return "truncated (the JPEG ends inside its header)" if whole else None


def _png_problem(data: bytes) -> str | None:
    """Walk the chunks to IEND."""
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        if data[position + 4:position + 8] == b"IEND":
            return None
        position += 12 + length
    return "truncated (the PNG ends before its last chunk)"


def parse_camera_index(spec: str | int) -> int | None:
    """The camera index that `spec` names (an int, or ASCII digits), or None when it names none.

    Only ASCII digits: int() also takes '²'-like and other scripts' digits, which are file names
    here. Raises SourceError for an index no camera can have."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int):
        index = spec
    else:
        text = str(spec).strip()
        negative = text.startswith("-") and len(text) > 1
        digits = text[1:] if negative else text
        if not (digits.isascii() and digits.isdecimal()):
            return None
        if len(digits) > 9:  # int() of thousands of digits is refused (and slow): out of range anyway
            raise SourceError(f"Camera index {text[:20]}{'…' if len(text) > 20 else ''} is out of range: "
                              f"camera indices are 0 to {MAX_CAMERA_INDEX} (0 is the first camera)")
        index = int(text)
    if index < 0:
        raise SourceError(f"Camera index {index} is not valid: camera indices start at 0 "
                          "(0 is the first camera)")
    if index > MAX_CAMERA_INDEX:
        raise SourceError(f"Camera index {index} is out of range: camera indices are 0 to "
                          f"{MAX_CAMERA_INDEX} (0 is the first camera)")
    return index


class FrameSource:
    """Base class; subclasses implement read() and close().

    read() sets captured_at: time.monotonic() when the frame it returns was read from the device or
    file, the start of the end-to-end latency (capture -> hand-off to the sink)."""

    fps: float = 30.0
    is_live: bool = False
    is_still: bool = False  # one picture served again and again (a photo): time to spare on it
    frame_count: int | None = None
    count_is_estimate: bool = False  # frame_count is the container's estimate, not a stored count
    description: str = ""

    def __init__(self) -> None:
        self._size = (0, 0)
        self.captured_at: float | None = None

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

    def __init__(self, source: FrameSource, depth: int = 1) -> None:
        super().__init__()
        self.source = source
        self.fps, self.is_live, self.is_still = source.fps, source.is_live, source.is_still
        self.frame_count, self.description = source.frame_count, source.description
        self.count_is_estimate = source.count_is_estimate
        self._size = source.size
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._decode, name="portraitcam-decode", daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.source.read()
                item = None if frame is None else (frame, self.source.captured_at)
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
            return None
        frame, self.captured_at = item
        return frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.source.close()


class LatestFrameSource(FrameSource):
    """For live sources: a thread reads frames as they come and keeps only the newest (latest wins).

    A consumer slower than the camera then gets the freshest frame instead of one that waited in the
    driver's buffers; frames it had no time for are dropped (counted in `dropped`). read() waits for
    a frame newer than the last one handed out and raises the source's error, if any."""

    def __init__(self, source: FrameSource) -> None:
        super().__init__()
        self.source = source
        self.fps, self.is_live, self.is_still = source.fps, source.is_live, source.is_still
        self.frame_count, self.description = source.frame_count, source.description
        self.count_is_estimate = source.count_is_estimate
        self._size = source.size
        self._ready = threading.Condition()
        self._item: tuple[np.ndarray, float | None] | None = None
        self._end: BaseException | None = None   # the source's error, or StopIteration at its end
        self._stop = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._grab, name="portraitcam-grab", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.source.read()
            except Exception as exc:  # noqa: BLE001 - raised by the reader's next read()
                end: BaseException | None = exc
            else:
                end = StopIteration() if frame is None else None
            with self._ready:
                if end is not None:
                    self._end = end
                else:
                    if self._item is not None:
                        self.dropped += 1
                    self._item = (frame, self.source.captured_at)
                self._ready.notify_all()
            if end is not None:
                return

    def read(self) -> np.ndarray | None:
        with self._ready:
            while self._item is None and self._end is None:
                self._ready.wait(timeout=0.5)
            if self._item is None:
                if isinstance(self._end, StopIteration):
                    return None
                raise self._end
            (frame, self.captured_at), self._item = self._item, None
            return frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.source.close()


class PacedSource(FrameSource):
    """Hands out a file's frames at its frame rate, like a camera: read() sleeps to the frame clock
    (tick k is k/fps after the first) and stamps the frame with the time of its tick. A reader that
    is late gets the next frame of the file at the latest tick that has passed, as a camera's newest
    frame, and the ticks it missed are counted in `missed` (a camera would have dropped them), so
    lateness never accumulates. Used to measure a live call's cost and latency on a recorded clip
    (bench/live.py)."""

    is_live = True

    def __init__(self, source: FrameSource, fps: float | None = None) -> None:
        super().__init__()
        self.source = source
        self.fps = float(fps or source.fps or 30.0)
        self.frame_count, self.description = source.frame_count, source.description
        self.count_is_estimate = source.count_is_estimate
        self._size = source.size
        self._start: float | None = None
        self._index = 0  # the next tick
        self.missed = 0

    def read(self) -> np.ndarray | None:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        latest = int((now - self._start) * self.fps)  # the latest tick that has passed
        if latest > self._index:
            self.missed += latest - self._index
            self._index = latest
        due = self._start + self._index / self.fps
        if due > now:
            time.sleep(due - now)
        frame = self.source.read()
        self._index += 1
        self.captured_at = due  # when a camera would have had it; decoding counts as latency
        return frame

    def close(self) -> None:
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


class OpenCVCaptureSource(FrameSource):
    """A source read through an OpenCV VideoCapture (a camera or a video file): close() releases it."""

    _capture: "cv2.VideoCapture | None" = None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class CameraSource(OpenCVCaptureSource):
    """A webcam opened by index. Raises SourceError at once when it is absent or busy."""

    is_live = True

    def __init__(self, index: int, width: int = 1280, height: int = 720, fps: float = 30) -> None:
        super().__init__()
        self.index = parse_camera_index(index)
        if self.index is None:
            raise SourceError(f"{index!r} is not a camera index: use 0 for the first camera")
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
        self._pending_at = time.monotonic()
        self._size = _frame_size(frame)
        reported_fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported_fps) if reported_fps and reported_fps > 0 else float(fps)

    def read(self) -> np.ndarray:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            self.captured_at = self._pending_at
            return frame
        if self._capture is None:
            raise SourceError(f"Camera {self.index} is closed")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise SourceError(f"Camera {self.index} stopped delivering frames (disconnected?)")
        self.captured_at = time.monotonic()
        return frame


class VideoFileSource(OpenCVCaptureSource):
    """A video file. loop=True restarts at the end; loop=False makes read() return None there.

    A read failure before the container's frame count is reached means the file is truncated,
    corrupt or gone, and raises SourceError rather than passing for a normal end (where the count
    is only an estimate, Matroska/WebM, only when the file is gone).
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
        # A damaged header's rate (0, NaN, inf, 1e308) would hang the encoder of an output file.
        usable = usable_frame_rate(fps)
        self.fps = float(fps) if usable else 30.0
        # What the header said that could not be used, for the user (the CLI prints them).
        self.header_notes = [] if usable else [f"its header's frame rate ({fps:g}) is not usable; timed at 30 FPS"]
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0
        self.frame_count = int(count) if math.isfinite(count) and count > 0 else None
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size = None
        if self.frame_count is not None and size is not None and self.frame_count > size:
            # No container stores a frame in less than a byte: a damaged header, not a count to
            # hold the file to (falling short of it would call a whole file truncated).
            self.header_notes.append(f"its header's frame count ({self.frame_count}) is more than its "
                                     f"{size} bytes can hold; read to its end")
            self.frame_count = None
        # Matroska/WebM store no frame count: OpenCV's is duration x rate, an estimate that a
        # variable-rate recording can overshoot, so falling short of it is no proof of a cut file.
        self.count_is_estimate = self.path.suffix.lower() in ESTIMATED_COUNT_EXTENSIONS
        self._frames_read = 0  # frames handed out in the current pass

    def _open(self):
        problem = file_problem(self.path)
        if problem == "not found":
            raise SourceError(f"Video file not found: {self.path}")
        if problem:
            # A folder is no video file: it was only taken for one because it has no picture's name.
            kind = "" if problem == FOLDER_PROBLEM else "video file "
            raise SourceError(f"Cannot open {kind}{self.path}: {problem}")
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
            self.captured_at = time.monotonic()  # decoded at open; handed out (read) now
            return frame
        ok, frame = self._capture.read()
        if ok and frame is not None:
            self._frames_read += 1
            self.captured_at = time.monotonic()
            return frame
        if (self.frame_count is not None and self._frames_read < self.frame_count - 1
                and (not self.count_is_estimate or file_problem(self.path))):
            raise SourceError(
                f"Reading {self.path} failed after {self._frames_read} of {self.frame_count} frames "
                f"(file truncated, corrupt or removed)"
            )
        if not self.loop:
            return None
        frame = self._restart()
        self._frames_read = 1
        self.captured_at = time.monotonic()
        return frame


class ImageSource(FrameSource):
    """A still image served as an endless stream (for previews and single-photo processing)."""

    is_still = True

    def __init__(self, path: str | os.PathLike, fps: float = 30, max_side: int | None = None) -> None:
        """max_side: the picture scaled down to at most this long side (a live preview of a 24 MP
        photo ran at 3 FPS and asked the virtual camera for 6000x4000); None: as it is."""
        super().__init__()
        self.path = Path(path)
        self.description = f"image {self.path.name}"
        problem = file_problem(self.path)
        if problem == "not found":
            raise SourceError(f"Image file not found: {self.path}")
        problem = problem or image_problem(self.path)
        if problem:
            raise SourceError(f"Cannot read image {self.path}: {problem}")
        image, transparency = read_picture(self.path, max_side)
        if image is None:
            raise SourceError(f"Cannot read image {self.path}: unsupported format or corrupt")
        # A cut-out with transparency is seen on white, as a viewer shows it, not on the colours its
        # transparent pixels hide (the model would take them for the room, or for the person).
        self._image = flatten_onto(image, transparency, (255, 255, 255))
        self._size = _frame_size(image)
        self.fps = float(fps)

    def read(self) -> np.ndarray:
        # A copy, so a consumer that draws on its frame cannot alter the next one.
        self.captured_at = time.monotonic()
        return self._image.copy()


class AnimatedPictureSource(FrameSource):
    """An animated WebP (a sticker or a downloaded loop), which OpenCV's video reader does not open
    and its picture reader gives only the first frame of: decoded whole, up to `max_bytes` of
    frames, and played at its frames' mean duration. loop as VideoFileSource's; transparent parts
    are seen on white, as ImageSource shows a cut-out."""

    def __init__(self, path: str | os.PathLike, loop: bool = True, max_bytes: int = 1 << 30) -> None:
        super().__init__()
        self.path = Path(path)
        self.loop = loop
        self.description = f"animation {self.path.name}"
        problem = file_problem(self.path)
        if problem:
            raise SourceError(f"Cannot open animation {self.path}: {problem}")
        width, height = _webp_canvas(self.path) or (1, 1)
        most = max(1, max_bytes // (3 * width * height))
        try:
            ok, animation = cv2.imreadanimation(str(self.path), 0, most + 1)
        except cv2.error:
            ok, animation = False, None
        if not ok or not animation.frames:
            raise SourceError(f"Cannot read animation {self.path}: unsupported format or corrupt")
        # A longer one plays its first frames: holding every frame decoded is the price of a format
        # that no video reader here opens.
        self.header_notes = ([f"only its first {most} frames fit in memory; those play"]
                             if len(animation.frames) > most else [])
        self._frames = [flatten_onto(*_split_alpha(frame), (255, 255, 255)) for frame in animation.frames[:most]]
        durations = [max(0, int(d)) for d in list(animation.durations)[:most]]
        # Players show a frame of no stated duration for about 0.1 s.
        fps = 1000.0 * len(durations) / sum(d or 100 for d in durations) if durations else 10.0
        self.fps = fps if usable_frame_rate(fps) else 10.0
        self.frame_count = len(self._frames)
        self._size = _frame_size(self._frames[0])
        self._next = 0

    def read(self) -> np.ndarray | None:
        if self._next >= len(self._frames):
            if not self.loop:
                return None
            self._next = 0
        frame = self._frames[self._next].copy()  # a copy: a consumer may draw on it
        self._next += 1
        self.captured_at = time.monotonic()
        return frame


def _split_alpha(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A decoded frame's colours (BGR) and its transparency (0..1, or None when it has none)."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), None
    if frame.shape[2] == 4:
        alpha = frame[..., 3].astype(np.float32) / 255.0
        return np.ascontiguousarray(frame[..., :3]), (None if float(alpha.min()) >= 1.0 else alpha)
    return frame, None


def _webp_canvas(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) of an animated WebP's canvas (its VP8X chunk), or None when it is not one."""
    head = _file_head(path, 30)
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:16] != b"WEBPVP8X" or not head[20] & 0x02:
        return None  # 0x02: the animation flag
    return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1


def _file_head(path: str | os.PathLike, size: int) -> bytes:
    """The first `size` bytes of a regular file; none for anything else (opening a named pipe
    waits for a writer) or a file that cannot be read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b""
        with open(path, "rb") as file:
            return file.read(size)
    except (OSError, ValueError):
        return b""


def is_animated_picture(path: str | os.PathLike) -> bool:
    return _webp_canvas(path) is not None


def plays_as_video(path: str | os.PathLike) -> bool:
    """Whether the file's content plays (a video container, an animated WebP), whatever its name."""
    return is_video_file(path) or is_animated_picture(path)


def is_image_path(spec: str | os.PathLike) -> bool:
    return Path(spec).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(spec: str | os.PathLike) -> bool:
    return Path(spec).suffix.lower() in VIDEO_EXTENSIONS


# ISO base media brands of still pictures (HEIF/AVIF photos), which share MP4's "ftyp" box.
# An animated AVIF ("avis") is read as its first frame, as OpenCV's picture reader gives it.
_PICTURE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"jpeg"}


def _iso_picture_brands(head: bytes) -> set[bytes]:
    """The brands of an ISO base media file whose main brand is a still picture's (HEIF, AVIF);
    empty for anything else. Its "ftyp" box lists them: the main brand, then compatible ones."""
    if head[4:8] != b"ftyp" or head[8:12] not in _PICTURE_BRANDS:
        return set()
    end = min(len(head), int.from_bytes(head[:4], "big"))
    return {head[8:12]} | {head[i:i + 4] for i in range(16, end - 3, 4)}


def is_picture_container(path: str | os.PathLike) -> bool:
    """Whether the file is a HEIF or AVIF photo by its first bytes, whatever its name."""
    return bool(_iso_picture_brands(_file_head(path, 64)))


def is_video_file(path: str | os.PathLike) -> bool:
    """Whether the file holds a video container (MP4/MOV, AVI, Matroska/WebM, GIF) by its first
    bytes, whatever its name: a clip saved as "clip.jpg" (by a messenger, or renamed) was called a
    corrupt picture."""
    head = _file_head(path, 12)
    return ((head[4:8] == b"ftyp" and head[8:12] not in _PICTURE_BRANDS)
            or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
            or head[:4] == b"\x1a\x45\xdf\xa3"  # EBML: Matroska, WebM
            or head[:6] in (b"GIF87a", b"GIF89a"))


def open_source(spec: str | int, **kw) -> FrameSource:
    """Open a camera (int or digit string), an image (by extension) or a video file.

    Keyword arguments that the chosen source does not take are ignored, so callers can pass
    one set of options (width, height, fps, loop) whatever the spec turns out to be.
    """
    if isinstance(spec, str) and not spec.strip():
        raise SourceError("No input given: name a camera index (0 is the first camera) or a file")
    # Digits are a camera (the default input "0" must not become a file named 0); a file named
    # like a negative number ("-1") is that file.
    negative_file = isinstance(spec, str) and spec.strip().startswith("-") and _exists(spec)
    index = None if negative_file else parse_camera_index(spec)
    if index is None and isinstance(spec, str) and sys.platform.startswith("linux"):
        device = re.fullmatch(r"/dev/video(\d{1,3})", spec.strip())
        index = int(device.group(1)) if device else None  # /dev/videoN is camera N to OpenCV
    if index is not None:
        allowed = {"width", "height", "fps"}
        return CameraSource(index, **{k: v for k, v in kw.items() if k in allowed})
    spec = local_file_path(spec)
    if is_animated_picture(spec):
        return AnimatedPictureSource(spec, **{k: v for k, v in kw.items() if k == "loop"})
    if (is_image_path(spec) or is_picture_container(spec)) and not is_video_file(spec):
        return ImageSource(spec, **{k: v for k, v in kw.items() if k in ("fps", "max_side")})
    return VideoFileSource(spec, **{k: v for k, v in kw.items() if k == "loop"})


def local_file_path(spec: str | os.PathLike) -> str | os.PathLike:
    """The local file that `spec` names: a file manager's file:// link becomes its path, anything
    else (a path, a camera index) is returned as it is. Raises SourceError for a network address
    (http://, rtsp://...), which PortraitCam does not read; a path would fold its "//" into one
    and call it "http:/host/x.mp4 not found"."""
    if not _is_address(spec):
        return spec
    address = urllib.parse.urlsplit(spec.strip())
    if address.scheme.lower() != "file":
        raise SourceError(f"{spec.strip()} is a network address: PortraitCam reads cameras and files "
                          "only (save the stream to a file first)")
    from urllib.request import url2pathname  # only here: it pulls in the HTTP client

    return url2pathname(address.path)


def is_network_address(spec: str | os.PathLike) -> bool:
    """Whether `spec` is an address PortraitCam does not read (http://, rtsp://...), not a file's
    path or a file:// link. Callers that keep such a value as written (the window's saved
    settings, a thumbnail) ask this instead of catching local_file_path's error."""
    return _is_address(spec) and urllib.parse.urlsplit(spec.strip()).scheme.lower() != "file"


def _is_address(spec: str | os.PathLike) -> bool:
    """Written as scheme://... and not an existing file of that name."""
    return (isinstance(spec, str) and re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", spec.strip()) is not None
            and not _exists(spec))


def _exists(path: str) -> bool:
    try:
        return os.path.lexists(path)
    except (OSError, ValueError):
        return False


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
