"""Where processed frames go: a virtual camera (pyvirtualcam) or a video file."""
from __future__ import annotations

import errno
import math
import os
import queue
import re
import secrets
import shutil
import stat
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pyvirtualcam  # noqa: E402

from app.capture import IMAGE_EXTENSIONS, MAX_FPS, MIN_FPS, usable_frame_rate  # noqa: E402

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
    """The frame at the device's size: scaled to fit whole and centred between black bars, so a
    frame of another shape is not squeezed (the device keeps the size it was opened at)."""
    if frame.shape[1] != width or frame.shape[0] != height:
        scale = min(width / frame.shape[1], height / frame.shape[0])
        inner = (max(1, min(width, round(frame.shape[1] * scale))), max(1, min(height, round(frame.shape[0] * scale))))
        frame = cv2.resize(frame, inner, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
        frame = cv2.copyMakeBorder(frame, top, height - inner[1] - top, left, width - inner[0] - left,
                                   cv2.BORDER_CONSTANT, value=(0, 0, 0))
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


VIDEO_OUTPUT_EXTENSIONS = (".avi", ".m4v", ".mkv", ".mov", ".mp4")  # the writers in _FOURCC_BY_SUFFIX
IMAGE_OUTPUT_EXTENSIONS = tuple(sorted(IMAGE_EXTENSIONS))


def unsupported_output_message(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix
    what = f"'{suffix}'" if suffix else "(no extension)"
    return (f"Unsupported output format {what} for {path}: use a video "
            f"({' '.join(VIDEO_OUTPUT_EXTENSIONS)}) or a picture ({' '.join(IMAGE_OUTPUT_EXTENSIONS)})")


def _check_existing_output(target: Path, path: str | os.PathLike) -> os.stat_result | None:
    """SinkError unless `target` is absent or a regular file this job may replace; its stat."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise SinkError(f"Cannot write {path}: the file name is too long") from exc
        raise SinkError(f"Cannot write {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise SinkError(f"Cannot write {path}: it is a folder")
    if not stat.S_ISREG(info.st_mode):
        # The rename at the end would swap a named pipe or a device for a regular file.
        raise SinkError(f"Cannot write {path}: it exists and is not a regular file (a device, "
                        "named pipe or socket); choose another output file")
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        # The rename at the end could replace it anyway (and root may write anything): a file
        # whose mode says read-only is meant to stay.
        raise SinkError(f"Cannot write {path}: the file is read-only")
    return info


def prepare_output_path(path: str | os.PathLike) -> Path:
    """The real location an output will be written to; SinkError if its folder cannot exist.

    Follows a symlink (so the rename at the end replaces the file it points at, not the link)
    and creates missing folders, which touches no existing file. An existing output must be a
    regular, writable file.
    """
    if not str(path).strip():
        raise SinkError("No output file given")
    try:
        target = Path(os.path.realpath(Path(path).expanduser()))
    except (OSError, ValueError) as exc:
        raise SinkError(f"Cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    _check_existing_output(target, path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent is a file, no permission, read-only file system …
        raise SinkError(f"Cannot create the folder for {path}: {exc.strerror or exc}") from exc
    if not os.access(target.parent, os.W_OK):
        raise SinkError(f"Cannot write {path}: no permission to write in {target.parent}")
    try:  # a folder that takes no files (/proc, /sys) passes access() as root and has no free space
        _temporary_beside(target).unlink()
    except OSError as exc:
        raise SinkError(f"Cannot write {path}: {target.parent} takes no new files "
                        f"({exc.strerror or exc})") from exc
    return target


# Hidden temporary files are named .<stem>.<pid>.<8 hex>.tmp<suffix> beside the output, so a later
# run can tell a killed job's leftovers (their process is gone) from a running job's file.
_TEMP_STEM_BYTES = 120  # the name stays under the 255-byte limit whatever the output's length
LEFTOVER_AGE_S = 3600   # a temporary file untouched this long is a leftover whoever made it
                        # (a running job writes to it with every frame)


def _temp_stem(target: Path) -> str:
    stem = target.stem
    while len(os.fsencode(stem)) > _TEMP_STEM_BYTES:
        stem = stem[:-1]
    return stem


def _temporary_beside(target: Path) -> Path:
    """A new, hidden file next to target with the same extension (OpenCV picks formats by it)."""
    # Not tempfile.mkstemp: its files are private (0600); this one gets the usual umask mode.
    stem = _temp_stem(target)
    while True:
        path = target.with_name(f".{stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return path
        except FileExistsError:
            continue


def _process_alive(pid: int) -> bool | None:
    """Whether process `pid` runs on this machine; None where that cannot be asked safely."""
    if pid == os.getpid():
        return True
    if sys.platform.startswith("win"):
        return None  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user's process
        return True
    return True


def remove_leftover_temporaries(target: Path, now: float | None = None) -> list[Path]:
    """Remove the hidden temporary files of earlier jobs writing `target` that cannot finish any
    more: their process is gone, or they have not been written for LEFTOVER_AGE_S (older names
    carry no process id). Returns the removed paths."""
    pattern = re.compile(rf"\.{re.escape(_temp_stem(target))}\.(?:(\d+)\.)?[0-9a-f]{{8}}\.tmp"
                         rf"{re.escape(target.suffix)}")
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            stale = now - entry.stat(follow_symlinks=False).st_mtime > LEFTOVER_AGE_S
            owner_gone = match.group(1) is not None and _process_alive(int(match.group(1))) is False
            if stale or owner_gone:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # another job removed it first, or it is not ours to remove
    return removed


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Bytes this process may still write in `folder`'s file system (root may use the blocks
    reserved for it); None when the system cannot say."""
    try:
        info = os.statvfs(folder)
    except (AttributeError, OSError):  # no statvfs on Windows
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            return None
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return (info.f_bfree if root else info.f_bavail) * info.f_frsize


def _format_bytes(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"


def _replace_into_place(temp: Path, target: Path, path: str | os.PathLike) -> None:
    """Rename the finished temp file over target, which keeps its permission bits (and owner,
    where allowed): re-rendering a private 0600 file must not make it readable by everyone."""
    old = _check_existing_output(target, path)  # it may have changed while the job ran
    if old is not None:
        os.chmod(temp, stat.S_IMODE(old.st_mode))
        if hasattr(os, "chown"):
            try:
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    os.chown(temp, old.st_uid, old.st_gid)
            except OSError:
                pass  # only root may give a file away; the mode still holds
    os.replace(temp, target)


def partial_path_for(target: Path) -> Path:
    """out.mp4 -> out.partial.mp4 (out.partial-2.mp4 … when that exists): never an existing file."""
    candidate = target.with_name(f"{target.stem}.partial{target.suffix}")
    number = 2
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}.partial-{number}{target.suffix}")
        number += 1
    return candidate


WAKE_INTERVAL_S = 0.1  # BackgroundSink._finish: how often it wakes the encoder again while it waits


class BackgroundSink(Sink):
    """Hands frames to `sink` on a thread of its own, so encoding overlaps the next frame's work.

    Frames are sent in order; a send error is raised by the next send() or by close(), which waits
    for every queued frame before completing the output. abort() also writes what is queued (those
    frames were made; an interrupted job keeps them in its partial file), then aborts. Frames must
    not be modified after send() (the pipeline makes a new one each time)."""

    def __init__(self, sink: Sink, depth: int = 1) -> None:  # one frame queued: never a backlog
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
        """Queues the end and waits for the encoder. A Ctrl+C/SIGTERM raised inside an earlier
        send()'s Queue.put (app.headless.Interrupted) can cut threading.Condition.notify between
        its steps and lose the encoder's wake-up, a frame queued and the encoder asleep: waking it
        again until it has ended cannot hang here (a spurious wake-up only makes get() look again)."""
        if not self._thread.is_alive():
            return
        while True:
            try:
                self._queue.put(None, timeout=WAKE_INTERVAL_S)
                break
            except queue.Full:
                self._wake_encoder()
        while self._thread.is_alive():
            self._wake_encoder()
            self._thread.join(WAKE_INTERVAL_S)

    def _wake_encoder(self) -> None:
        with self._queue.mutex:
            self._queue.not_empty.notify_all()

    def close(self) -> None:
        self._finish()
        self._raise_pending()
        self.sink.close()

    def abort(self) -> None:
        self._finish()
        self._error = None
        self.sink.abort()


def device_busy(reason: str) -> bool:
    """Whether a virtual camera's error (lower case) says another program is using the device."""
    return "busy" in reason or "in use" in reason


def refused_format(reason: str) -> bool:
    """Whether a virtual camera's error (lower case) says it refused the size, rate or pixel format:
    a device is there, so setting one up is not the fix."""
    return any(word in reason for word in ("size", "resolution", "format", "fourcc", "fps", "frame rate"))


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
            lowered = reason.lower()
            if device_busy(lowered):  # there is a device: setting one up is not the fix
                fix = "close the program that is sending to it"
            elif refused_format(lowered):
                fix = (f"set the device up for {self.width}x{self.height} at {self.fps:g} FPS or use an "
                       "input of a size it takes")
            else:
                fix = f"to set it up, {virtual_camera_setup_hint()}"
            raise VirtualCameraUnavailable(
                f"Virtual camera unavailable ({reason or type(exc).__name__}); {fix}") from exc
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
        camera, self._camera = self._camera, None  # dropped whatever close() does: closed once only
        if camera is not None:
            try:
                camera.close()
            except Exception as exc:  # a backend's own error, which pyvirtualcam passes on
                raise SinkError(f"Virtual camera {camera.device} did not close cleanly: {exc}") from exc
            finally:
                # pyvirtualcam keeps a backend whose close() raised and its __del__ closes it again;
                # the backend's contract is one close.
                camera._backend = None


_FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}
# The largest side each writer takes: FFmpeg's MPEG-4 encoder refuses 8192 and up (its headers'
# 13-bit sizes), JPEG (MJPEG .avi too) stores 16-bit sizes and WebP 14-bit ones. Past them the
# writer fails with only its own log lines, or (MJPEG) wraps the width and writes a wrong picture.
_MAX_SIDE_BY_SUFFIX = {".mp4": 8190, ".m4v": 8190, ".mov": 8190, ".mkv": 8190, ".avi": 65535,
                       ".jpg": 65535, ".jpeg": 65535, ".jpe": 65535, ".webp": 16383}


def size_problem(path: Path, width: int, height: int) -> str | None:
    """Why a width x height picture cannot be written to `path`'s format, or None when it can."""
    limit = _MAX_SIDE_BY_SUFFIX.get(path.suffix.lower())
    if limit is None or max(width, height) <= limit:
        return None
    roomier = ".avi" if path.suffix.lower() in _FOURCC_BY_SUFFIX else ".png"  # .png has no such limit
    other = f"{roomier} or " if max(width, height) <= _MAX_SIDE_BY_SUFFIX.get(roomier, max(width, height)) else ""
    return (f"{width}x{height} is too large for {path.suffix} (at most {limit} pixels a side); "
            f"use {other}a smaller input")


class FileSink(Sink):
    """Writes frames to a video file (codec chosen by extension: .mp4, .avi, .mkv, .mov).

    Frames go to a temporary file beside the target; close() renames it into place, so an
    existing file is replaced only by a complete video. abort() keeps what was written as
    out.partial.mp4 (self.partial_path) or removes it when empty.
    .avi uses OpenCV's own MJPEG writer, which keeps any size; FFmpeg's writers need even
    sizes, so an odd width or height is padded by repeating the last column/row (self.padded).
    """

    # A written video is at least this big (container header and one frame); a file this small,
    # one that does not open or one that reads back fewer frames than were written is incomplete.
    MIN_VIDEO_BYTES = 256
    # Free space below this after the job (or below four frames' worth) means the disk ran full:
    # OpenCV's writer drops what does not fit without a word, so the file cannot be trusted.
    FULL_DISK_BYTES = 1024 * 1024
    # The free space is also looked at every this many frames while writing: a disk that fills
    # mid-job stopped it only at the end, after all the work (a statvfs call, a few microseconds).
    DISK_CHECK_FRAMES = 10

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float) -> None:
        self.path = Path(path)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self._writer = None
        self.frames_written = 0
        self.partial_path: Path | None = None
        self.leftovers_removed: list[Path] = []
        self._temp: Path | None = None
        suffix = self.path.suffix.lower()
        fourcc = _FOURCC_BY_SUFFIX.get(suffix)
        if fourcc is None:
            raise SinkError(unsupported_output_message(self.path))
        if not usable_frame_rate(self.fps):
            # FFmpeg's encoder loops forever on an infinite rate; a 0 or NaN one makes no file.
            raise SinkError(f"Cannot write video file {self.path}: frame rate {fps:g} is not "
                            f"between {MIN_FPS:g} and {MAX_FPS:g}")
        if suffix == ".avi" and self.fps < 1.0:
            # OpenCV's MJPEG writer refuses a rate under 1 FPS (a time-lapse, a slide show).
            raise SinkError(f"Cannot write video file {self.path}: .avi needs at least 1 frame a second "
                            f"and this video has {self.fps:g}; write .mp4, .mkv or .mov instead")
        problem = size_problem(self.path, self.width + self.width % 2, self.height + self.height % 2)
        if problem:
            raise SinkError(f"Cannot write video file {self.path}: {problem}")
        self._target = prepare_output_path(self.path)
        self.leftovers_removed = remove_leftover_temporaries(self._target)
        free = free_bytes(self._target.parent)
        if free is not None and free < self.FULL_DISK_BYTES:
            raise SinkError(f"Cannot write video file {self.path}: the disk is full "
                            f"({_format_bytes(free)} free in {self._target.parent})")
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
        if self.frames_written % self.DISK_CHECK_FRAMES == 0:
            full, free = self._disk_full()
            if full:  # stop now; what was written is kept as the partial file (the job's abort)
                raise SinkError(f"Writing {self.path} stopped: the disk is full ({free})")

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

    def _written_problem(self) -> str | None:
        """Why the finished temp file is not the complete video, or None: OpenCV's writer never
        reports a failed write (a full disk, a quota), so what is on disk is read back."""
        try:
            size = self._temp.stat().st_size
        except OSError as exc:
            return f"the written file cannot be read back ({exc.strerror or exc})"
        if size < self.MIN_VIDEO_BYTES:
            return f"only {size} bytes were written for {self.frames_written} frames"
        capture = cv2.VideoCapture(str(self._temp))
        try:
            if not capture.isOpened():
                return "the written file does not open as a video (it was cut short)"
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if not math.isfinite(count) or int(count) != self.frames_written:
                return f"the written file holds {count:.0f} of {self.frames_written} frames"
            if not capture.read()[0]:
                return "the first frame of the written file does not decode"
            if self.frames_written > 1 and not (capture.set(cv2.CAP_PROP_POS_FRAMES, self.frames_written - 1)
                                                and capture.read()[0]):
                return "the last frame of the written file does not decode (it was cut short)"
        finally:
            capture.release()
        return None

    def _disk_full(self) -> tuple[bool, str]:
        """Whether the disk ran (nearly) full while writing, and the free space in words."""
        free = free_bytes(self._target.parent)
        if free is None:
            return False, ""
        try:
            per_frame = self._temp.stat().st_size / max(1, self.frames_written)
        except OSError:
            per_frame = 0
        return (free < max(self.FULL_DISK_BYTES, 4 * per_frame),
                f"{_format_bytes(free)} free in {self._target.parent}")

    def close(self) -> None:
        if not self._release():
            return
        if self.frames_written == 0:
            self._discard()  # nothing to show: leave an existing file alone
            return
        problem = self._written_problem()
        full, free = self._disk_full()
        keep = "" if not self._target.exists() else f"; the existing {self.path} is kept"
        if problem is not None:
            self._discard()  # a broken file; removing it also gives the space back
            reason = f"the disk is full ({free})" if full else "the file system refused part of it"
            raise SinkError(f"Writing {self.path} failed: {problem}; {reason}{keep}")
        if full:
            # It reads back whole, but the writer may have lost data that a read-back cannot see:
            # keep it as the partial file, not in place of the existing one.
            self.abort()
            raise SinkError(f"Writing {self.path} may be incomplete: the disk is full ({free}){keep}; "
                            f"the new video is in {self.partial_path}")
        try:
            _replace_into_place(self._temp, self._target, self.path)
        except SinkError:
            self._discard()
            raise
        except OSError as exc:
            self.abort()
            raise SinkError(f"Cannot move the finished video into place at {self.path}: "
                            f"{exc.strerror or exc}") from exc
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
        if self.path.suffix.lower() not in IMAGE_EXTENSIONS or not cv2.haveImageWriter(str(self._target)):
            raise SinkError(unsupported_output_message(self.path))
        self._last: np.ndarray | None = None
        self.frames_written = 0
        self.partial_path: Path | None = None
        self.leftovers_removed = remove_leftover_temporaries(self._target)

    def send(self, frame_bgr: np.ndarray) -> None:
        problem = size_problem(self.path, frame_bgr.shape[1], frame_bgr.shape[0])
        if problem:  # said before the job's end, not after it
            raise SinkError(f"Cannot write image file {self.path}: {problem}")
        self._last = frame_bgr

    def close(self) -> None:
        if self._last is None:
            return
        try:
            temp = _temporary_beside(self._target)
        except OSError as exc:
            raise SinkError(f"Cannot write image file {self.path}: {exc.strerror or exc}") from exc
        try:
            # Encoded in memory, then written by Python: a full disk is then an OSError with its
            # reason, not a bare False from imwrite after libpng/libtiff's own lines on stderr.
            encoded, data = cv2.imencode(self._target.suffix, self._last)
            if not encoded:
                raise SinkError(f"Cannot write image file {self.path}: the {self._target.suffix} encoder refused "
                                f"the picture ({self._last.shape[1]}x{self._last.shape[0]})")
            with open(temp, "wb") as file:
                file.write(data.tobytes())
            problem = self._written_problem(temp)
            if problem is not None:
                keep = f"; the existing {self.path} is kept" if self._target.exists() else ""
                raise SinkError(f"Writing {self.path} failed: {problem}{keep}")
            _replace_into_place(temp, self._target, self.path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.ENOSPC:
                temp.unlink(missing_ok=True)  # what is free once the part written is gone
                free = free_bytes(self._target.parent)
                reason = "the disk is full" + (f" ({_format_bytes(free)} free in {self._target.parent})"
                                               if free is not None else "")
            keep = f"; the existing {self.path} is kept" if self._target.exists() else ""
            raise SinkError(f"Cannot write image file {self.path}: {reason}{keep}") from exc
        finally:
            temp.unlink(missing_ok=True)
        self._last = None
        self.frames_written = 1

    def _written_problem(self, temp: Path) -> str | None:
        """Why the written picture is not whole, or None (the writer may not see a full disk)."""
        from app.capture import image_problem  # the same structure check as for inputs

        problem = image_problem(temp)
        if problem is None:
            picture = cv2.imread(str(temp), cv2.IMREAD_UNCHANGED)
            if picture is None or picture.shape[:2] != self._last.shape[:2]:
                problem = "the written picture does not read back"
        if problem is not None:
            free = free_bytes(self._target.parent)
            if free is not None and free < FileSink.FULL_DISK_BYTES:
                problem += f"; the disk is full ({_format_bytes(free)} free in {self._target.parent})"
        return problem

    def abort(self) -> None:
        self._last = None  # an unfinished job writes no picture
