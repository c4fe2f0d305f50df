"""Capture and processing off the UI thread, with latest-frame-wins hand-over.

Three threads take part:
- a CaptureThread per source reads frames (paced to the file's frame rate for non-live sources)
  into a one-item LatestSlot, overwriting a frame nobody has taken yet;
- the PipelineWorker (a QObject moved to its own QThread) takes the newest frame, runs the
  pipeline, feeds the virtual camera and puts the preview image into another LatestSlot;
- the UI thread takes the newest preview image when it gets to it.
A slot announces itself (a signal) only when it goes from empty to full, so at most one
notification is ever queued and a slow consumer skips frames instead of building a backlog.
Requests from the UI reach the worker as queued signals, so they run on the worker's thread
between frames and no pipeline object is touched from two threads.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pyvirtualcam
from PySide6.QtCore import QMutex, QObject, QThread, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage

from app import segmentation
from app.capture import CameraSource, FrameSource, SourceError, list_cameras, open_source
from app.compositing import BackgroundError, Compositor, is_background_clip, load_background_picture
from app.headless import cap_threads
from app.matting import MatteRefiner
from app.pipeline import STAGES, Pipeline
from app.segmentation import ModelError, Segmenter
from app.settings import AppSettings
from app.sinks import SinkError, VirtualCameraSink, device_busy, refused_format, virtual_camera_setup_hint

# Per-frame timings shown to the user, in pipeline order.
TIMING_STAGES = ("capture",) + STAGES


class LatestSlot:
    """Holds at most one item; a newer put() replaces (drops) an item nobody has taken."""

    def __init__(self) -> None:
        # lock()/unlock() rather than QMutexLocker: PySide6 6.12's QMutexLocker.__exit__
        # corrupts the refcount of False and crashes the interpreter at exit.
        self._mutex = QMutex()
        self._item = None
        self.dropped = 0

    def put(self, item) -> bool:
        """Store item; True when the slot was empty, i.e. the consumer needs a notification."""
        self._mutex.lock()
        try:
            was_empty = self._item is None
            if not was_empty:
                self.dropped += 1
            self._item = item
            return was_empty
        finally:
            self._mutex.unlock()

    def take(self):
        """The newest item, or None; empties the slot."""
        self._mutex.lock()
        try:
            item, self._item = self._item, None
            return item
        finally:
            self._mutex.unlock()


@dataclass
class CapturedFrame:
    frame: np.ndarray
    capture_ms: float
    captured_at: float | None = None  # time.monotonic() when read (FrameSource.captured_at)


@dataclass
class FramePacket:
    """What the UI gets for one processed frame."""
    image: QImage                     # composited frame, owns its pixels
    timings: dict[str, float] = field(default_factory=dict)   # ms per stage, TIMING_STAGES order
    fps: float = 0.0                  # processed frames per second (smoothed)
    index: int = 0                    # frames processed since the source was opened
    virtual_camera: bool = False      # whether this frame was also published
    captured_at: float | None = None  # time.monotonic() when the frame was read from the source
    processing_ms: float = 0.0        # the whole frame's work on the worker: pipeline, virtual camera, image
    model_ran: bool = False           # whether the model ran on this frame (app/scheduling.py)


def bgr_to_qimage(frame_bgr: np.ndarray) -> QImage:
    """A QImage with its own copy of the pixels (safe to hand to another thread)."""
    frame = np.ascontiguousarray(frame_bgr)
    height, width = frame.shape[:2]
    image = QImage(frame.data, width, height, frame.strides[0], QImage.Format.Format_BGR888)
    return image.copy()


def qimage_to_bgr(image: QImage) -> np.ndarray:
    """BGR uint8 array of a QImage (used by tests and screenshots)."""
    converted = image.convertToFormat(QImage.Format.Format_BGR888)
    width, height = converted.width(), converted.height()
    buffer = np.frombuffer(converted.constBits(), np.uint8, count=converted.sizeInBytes())
    rows = buffer.reshape(height, converted.bytesPerLine())
    return rows[:, : width * 3].reshape(height, width, 3).copy()


def virtual_camera_problem(exc: Exception, backend: str = "", device: str = "",
                           started: bool = False, size: tuple[int, int, float] | None = None) -> str:
    """What went wrong with the virtual camera and the fix, for the window's message: a sentence or
    two instead of pyvirtualcam's per-backend lines (one per backend it tried, up to five).
    size: the width, height and rate it was asked for."""
    reason = " ".join(str(exc.__cause__ or exc).split()).lower()
    again = "then start the virtual camera again"
    if device_busy(reason):
        return ("The virtual camera is busy: another program is sending to it. Close that program, "
                f"{again}.")
    if not started and refused_format(reason):
        asked = f" ({size[0]}x{size[1]} at {size[2]:g} FPS)" if size else ""
        return (f"The virtual camera refused the picture's size or format{asked}. Set the device up "
                f"for it, or pick a source of a size it takes, {again}.")
    if started:
        return ("The virtual camera stopped accepting frames, so publishing stopped. Close any other "
                f"program using it, {again}.")
    if backend and backend not in pyvirtualcam.camera.BACKENDS:
        return (f"The virtual camera backend '{backend}' is not available here. Clear it in the "
                f"settings to use the first that works, or {virtual_camera_setup_hint()}, {again}.")
    if device:
        return (f"The virtual camera device {device} could not be opened. To set one up, "
                f"{virtual_camera_setup_hint()}, {again}.")
    return f"No virtual camera device was found. To set one up, {virtual_camera_setup_hint()}, {again}."


# The short form of each of virtual_camera_problem's messages, for the label under the button.
_PROBLEM_LABELS = {"The virtual camera is busy": "the virtual camera is busy",
                   "The virtual camera refused": "the virtual camera refused the size or format",
                   "The virtual camera stopped": "the virtual camera stopped",
                   "The virtual camera backend": "that virtual camera backend is not here",
                   "The virtual camera device": "the virtual camera device could not be opened"}


def virtual_camera_problem_label(message: str) -> str:
    """A few words for virtual_camera_problem's message (the label; the banner has the whole)."""
    return next((label for start, label in _PROBLEM_LABELS.items() if message.startswith(start)),
                "no virtual camera device")


# Threads stuck in a device call (a camera's read, a virtual camera's send) that did not end when
# asked. Qt aborts the process when a running QThread object is destroyed, so they stay referenced
# here until the process ends, and run_gui exits without tearing them down (threads_left_stuck).
STUCK_THREADS: list[QThread] = []


def threads_left_stuck() -> bool:
    """Whether a thread of this process is still stuck in a device call."""
    STUCK_THREADS[:] = [thread for thread in STUCK_THREADS if thread.isRunning()]
    return bool(STUCK_THREADS)


class CaptureThread(QThread):
    """Reads one source until stopped; owns the source and closes it when done."""

    frameAvailable = Signal(int)          # generation
    failed = Signal(int, str)             # generation, message (device lost, file unreadable)
    ended = Signal(int)                   # generation (a non-looping file reached its end)

    def __init__(self, source: FrameSource, generation: int, slot: LatestSlot) -> None:
        super().__init__()
        self.source = source
        self.generation = generation
        self.slot = slot
        self.setObjectName(f"PortraitCam capture {generation}")

    def run(self) -> None:
        period = 1.0 / self.source.fps if self.source.fps > 0 else 1.0 / 30.0
        next_due = time.perf_counter()
        try:
            while not self.isInterruptionRequested():
                start = time.perf_counter()
                try:
                    frame = self.source.read()
                except SourceError as exc:
                    self.failed.emit(self.generation, str(exc))
                    return
                except Exception as exc:  # a driver error must not kill the app silently
                    self.failed.emit(self.generation, f"{self.source.description} failed: {exc}")
                    return
                if frame is None:
                    self.ended.emit(self.generation)
                    return
                captured = CapturedFrame(frame, (time.perf_counter() - start) * 1000.0,
                                         self.source.captured_at)
                if self.slot.put(captured):
                    self.frameAvailable.emit(self.generation)
                if not self.source.is_live:
                    # Play files and images at their own rate; a camera paces itself.
                    next_due += period
                    now = time.perf_counter()
                    if next_due < now - period:  # fell far behind (e.g. machine busy): resync
                        next_due = now
                    self._sleep_until(next_due)
        finally:
            self.source.close()

    def _sleep_until(self, deadline: float) -> None:
        # Short naps so a stop request is honoured quickly.
        while not self.isInterruptionRequested():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self.msleep(max(1, min(20, int(remaining * 1000))))

    def stop(self, timeout_ms: int = 3000) -> bool:
        self.requestInterruption()
        return self.wait(timeout_ms)


class PipelineWorker(QObject):
    """Owns source, pipeline and virtual camera; lives on its own thread (see module doc)."""

    ready = Signal(str)                      # model description, after start()
    modelFailed = Signal(str)                # preview continues without background replacement
    processingFailed = Signal(str)           # mid-stream failure: safe frames go out until it recovers
    processingRecovered = Signal()
    maskWarning = Signal(str)                # the pipeline distrusts the masks (see app.pipeline)
    maskWarningCleared = Signal()
    frameReady = Signal()                    # the output slot went from empty to full
    camerasFound = Signal(list)              # camera indices
    sourceOpened = Signal(object, str, bool, float)  # spec, description, is_live, seconds a frame
    sourceFailed = Signal(object, str)       # spec, message: could not open (previous source kept)
    sourceLost = Signal(str)                 # message: the running source stopped mid-stream
    sourceEnded = Signal()
    backgroundChanged = Signal(str, object)  # mode, value (path or BGR tuple or None)
    backgroundFailed = Signal(str)           # message; the previous background is still in use
    backgroundLost = Signal(str)             # message; the background in use stopped, blur replaces it
    backgroundSuperseded = Signal()          # a picture still loading when another background was chosen
    virtualCameraStarted = Signal(str)       # device
    virtualCameraStopped = Signal()
    virtualCameraFailed = Signal(str)        # message with the setup command for this OS
    stopped = Signal()
    _pictureLoaded = Signal(int, object, object)  # request number, path, BackgroundPicture or the error

    def __init__(self, output_slot: LatestSlot, model_path: str | Path | None = None,
                 threads: int = 0) -> None:
        super().__init__()
        self.output_slot = output_slot
        self.model_path = Path(model_path) if model_path else segmentation.DEFAULT_MODEL_PATH
        self.threads = threads
        self.compositor = Compositor()
        self.refiner = MatteRefiner()
        self.pipeline: Pipeline | None = None
        self.settings = AppSettings()
        self._capture: CaptureThread | None = None
        self._input_slot: LatestSlot | None = None
        self._generation = 0
        self._retired: list[CaptureThread] = []
        self._sink: VirtualCameraSink | None = None
        self._frame_index = 0
        self._fps = 0.0
        self._last_output_time: float | None = None
        self._last_size: tuple[int, int] | None = None
        self._failing = False
        self._mask_warning: str | None = None
        # Background pictures decode here, off the frame thread; one at a time (two 8K pictures
        # at once would double the memory). Requests are numbered: only the latest is shown.
        self._picture_loader = QThreadPool(self)
        self._picture_loader.setMaxThreadCount(1)
        self._picture_loader.setExpiryTimeout(0)  # loads are rare: no thread kept waiting between them
        self._pictureLoaded.connect(self._on_picture_loaded)
        self._background_request = 0
        self._background_shown = False  # no background applied yet (the compositor's own "none")

    # --- life cycle -------------------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        try:
            threads, _ = cap_threads(self.threads or None)  # more than the cores only slows down
            segmenter = Segmenter(self.model_path, threads=threads)
        except ModelError as exc:
            self.pipeline = None
            self.modelFailed.emit(
                f"{str(exc).rstrip('.')}. The preview shows the camera without background "
                "replacement; the virtual camera gets the background alone.")
            return
        self.pipeline = Pipeline(segmenter, self.refiner, self.compositor,
                                 schedule=self.settings.schedule_settings())
        self._apply_looks()  # a photo opened before the model was ready gets its looks too
        self.pipeline.effects.settings = self.settings.effect_settings()
        self.ready.emit(f"{self.model_path.name}, {segmenter.threads} thread(s)")

    @Slot()
    def shutdown(self) -> None:
        self._stop_capture()
        for thread in self._retired:
            thread.wait(3000)
        STUCK_THREADS.extend(thread for thread in self._retired if thread.isRunning())
        self._retired.clear()
        self._close_sink()
        self._picture_loader.waitForDone()  # a picture still decoding answers no one after this
        self.compositor.close()
        self.stopped.emit()
        self.thread().quit()

    # --- sources ----------------------------------------------------------------------------
    @Slot()
    def listCameras(self) -> None:
        cameras = set(list_cameras())
        if self._capture is not None and isinstance(self._capture.source, CameraSource):
            # The camera in use may refuse a second open while streaming; it is still there.
            cameras.add(self._capture.source.index)
        self.camerasFound.emit(sorted(cameras))

    @Slot(object)
    def openSource(self, spec) -> None:
        """Open spec (camera index, file path or a ready FrameSource); keep the old one on failure."""
        if isinstance(spec, FrameSource):
            source = spec
        else:
            try:
                # A photo is shown live like a camera: at most the camera's size (a 24 MP photo ran at
                # 3 FPS and asked the virtual camera for 6000x4000).
                source = open_source(spec, width=self.settings.width, height=self.settings.height,
                                     fps=self.settings.fps, loop=True,
                                     max_side=max(self.settings.width, self.settings.height))
            except SourceError as exc:
                self.sourceFailed.emit(spec, str(exc))
                return
        self._stop_capture()
        self._generation += 1
        self._input_slot = LatestSlot()
        self._frame_index = 0
        self._fps = 0.0
        self._last_output_time = None
        if self.pipeline is not None:
            self.pipeline.reset()
        capture = CaptureThread(source, self._generation, self._input_slot)
        capture.frameAvailable.connect(self._on_frame_available)
        capture.failed.connect(self._on_capture_failed)
        capture.ended.connect(self._on_capture_ended)
        self._capture = capture
        self._apply_looks()
        capture.start()
        fps = getattr(source, "fps", None) or 0.0
        self.sourceOpened.emit(spec, source.description, source.is_live, 1.0 / fps if fps > 0 else 0.0)
        if self._sink is not None and (self._sink.width, self._sink.height) != tuple(source.size):
            # The device was opened at the last source's size: opened again at this one's (a call
            # app sees the camera restart once), instead of every frame squeezed into the old size.
            self._close_sink()
            self.setVirtualCamera(True)

    @Slot()
    def closeSource(self) -> None:
        self._stop_capture()

    def _stop_capture(self) -> None:
        capture, self._capture = self._capture, None
        self._input_slot = None
        if capture is not None and not capture.stop():
            # A driver blocked in read(): let it finish on its own rather than hang the app.
            self._retired.append(capture)
        self._retired = [t for t in self._retired if t.isRunning()]

    @Slot(int, str)
    def _on_capture_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return  # a source we already left
        self._stop_capture()
        self.sourceLost.emit(message)

    @Slot(int)
    def _on_capture_ended(self, generation: int) -> None:
        if generation == self._generation:
            self._stop_capture()
            self.sourceEnded.emit()

    # --- settings ---------------------------------------------------------------------------
    @Slot(object)
    def applySettings(self, data: dict) -> None:
        """Matte, blur and mirror settings; the background choice itself goes via setBackground."""
        settings = AppSettings.from_dict(data)
        self.settings = settings
        self.refiner.settings = settings.matte_settings()
        self.compositor.mirror = settings.mirror
        if self.compositor.mode == "blur":
            self.compositor.set_blur(settings.blur_strength)
        else:
            self.compositor.blur_strength = settings.blur_strength
        if self.pipeline is not None:
            self.pipeline.schedule.settings = settings.schedule_settings()
            self.pipeline.effects.settings = settings.effect_settings()
        self._apply_looks()

    def _apply_looks(self) -> None:
        """How many looks the model takes: a photo's for a still picture, else the setting's."""
        if self.pipeline is not None:
            still = self._capture is not None and self._capture.source.is_still
            self.pipeline.segmenter.use_looks(still, mirror_video=self.settings.mirror_average)
            self.pipeline.still_source = still  # its all-person warning comes at once

    @Slot(str, object)
    def setBackground(self, mode: str, value) -> None:
        self._background_request += 1  # a picture still loading for an earlier request is superseded
        try:
            if mode == "image" and not is_background_clip(value):
                self._load_picture(value)
                return
            if mode == "blur":
                self.compositor.set_blur(self.settings.blur_strength)
            elif mode == "color":
                self.compositor.set_color(tuple(value))
            elif mode == "image":
                self.compositor.set_image(value)
            elif mode == "video":
                self.compositor.set_video(value)
            else:
                self.compositor.set_none()
                mode, value = "none", None
        except BackgroundError as exc:
            self.backgroundFailed.emit(str(exc))
            return
        except MemoryError:  # a picture too large to hold: the window still gets its answer
            self.backgroundFailed.emit(f"Cannot load background {mode} {value}: not enough memory for it")
            return
        self._background_shown = True
        self.backgroundChanged.emit(mode, value)

    def _load_picture(self, path) -> None:
        """Decode a background picture on the loader thread; frames go on meanwhile with the
        background in use (blur at start: never the room while the first one loads)."""
        if not self._background_shown:
            self.compositor.set_blur(self.settings.blur_strength)
        request = self._background_request

        def load() -> None:
            if request != self._background_request:  # chosen past while it waited (arrow keys
                self._pictureLoaded.emit(request, path, None)  # through the list): no decode
                return
            try:
                result = load_background_picture(path)
            except (BackgroundError, MemoryError) as exc:
                result = exc
            except Exception as exc:  # noqa: BLE001 - unforeseen: still an answer, in words
                result = BackgroundError(f"Cannot load background image {path}: {type(exc).__name__}: {exc}")
            self._pictureLoaded.emit(request, path, result)
        self._picture_loader.start(load)

    @Slot(int, object, object)
    def _on_picture_loaded(self, request: int, path, result) -> None:
        if request != self._background_request:
            self.backgroundSuperseded.emit()  # a later choice came first; this one is not shown
        elif isinstance(result, MemoryError):  # a picture too large to hold: the window still gets its answer
            self.backgroundFailed.emit(f"Cannot load background image {path}: not enough memory for it")
        elif isinstance(result, Exception):
            self.backgroundFailed.emit(str(result))
        else:
            self.compositor.use_picture(result)
            self._background_shown = True
            self.backgroundChanged.emit("image", path)

    # --- virtual camera ---------------------------------------------------------------------
    @Slot(bool)
    def setVirtualCamera(self, enabled: bool) -> None:
        if not enabled:
            if self._sink is not None:
                self._close_sink()
                self.virtualCameraStopped.emit()
            return
        if self._sink is not None:
            self.virtualCameraStarted.emit(self._sink.device)
            return
        if self._capture is not None:
            width, height = self._capture.source.size
            fps = self._capture.source.fps
        else:
            width, height = self._last_size or (self.settings.width, self.settings.height)
            fps = self.settings.fps
        backend = self.settings.virtual_camera_backend
        device = self.settings.virtual_camera_device
        fps = fps or self.settings.fps
        try:
            self._sink = VirtualCameraSink(width, height, fps, backend=backend or None, device=device or None)
        except SinkError as exc:  # VirtualCameraUnavailable included
            self.virtualCameraFailed.emit(virtual_camera_problem(exc, backend, device, size=(width, height, fps)))
            return
        self.virtualCameraStarted.emit(self._sink.device)

    def _report_processing(self, error: str | None) -> None:
        """Signals only when processing starts or stops failing, not on every frame."""
        if error is not None and not self._failing:
            self._failing = True
            self.processingFailed.emit(error)
        elif error is None and self._failing:
            self._failing = False
            self.processingRecovered.emit()

    def _report_mask_warning(self, warning: str | None) -> None:
        """Signals only when the pipeline's warning appears, changes or ends."""
        if warning == self._mask_warning:
            return
        self._mask_warning = warning
        if warning is None:
            self.maskWarningCleared.emit()
        else:
            self.maskWarning.emit(warning)

    def _background_alone(self, frame: np.ndarray) -> np.ndarray:
        try:
            return self.compositor.composite(frame, np.zeros(frame.shape[:2], np.float32))
        except Exception:  # noqa: BLE001 - a broken frame or background: black is still safe
            return np.zeros_like(frame) if frame.ndim == 3 else np.zeros((*frame.shape[:2], 3), np.uint8)

    def _close_sink(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            try:
                sink.close()
            except Exception:  # closing a device that already vanished: nothing left to do
                pass

    # --- per frame --------------------------------------------------------------------------
    @Slot(int)
    def _on_frame_available(self, generation: int) -> None:
        if generation != self._generation or self._input_slot is None:
            return
        captured = self._input_slot.take()
        if captured is None:
            return
        frame = captured.frame
        started = time.perf_counter()
        timings = {"capture": captured.capture_ms}
        published_frame = None
        if self.pipeline is not None:
            try:
                output, stage_ms = self.pipeline.process(frame)
            except BackgroundError as exc:  # e.g. a background video vanished: the compositor blurs now
                self.backgroundLost.emit(str(exc))
                self.backgroundChanged.emit(self.compositor.mode, None)
                return
            timings.update(stage_ms)
            self._report_processing(self.pipeline.last_error)
            self._report_mask_warning(self.pipeline.warning)
        else:
            output = cv2.flip(frame, 1) if self.compositor.mirror else frame
            timings.update(dict.fromkeys(STAGES, 0.0))
            if self._sink is not None:
                # Fail closed: without a model the call gets the background alone, never the
                # room; only the user's own preview shows the camera as it is.
                published_frame = self._background_alone(frame)

        published = False
        if self._sink is not None:
            try:
                self._sink.send(output if published_frame is None else published_frame)
                published = True
            except SinkError as exc:
                self._close_sink()
                self.virtualCameraFailed.emit(virtual_camera_problem(exc, started=True))

        now = time.perf_counter()
        if self._last_output_time is not None:
            instant = 1.0 / max(now - self._last_output_time, 1e-6)
            # Exponential average: steady enough to read, quick to follow a real change.
            self._fps = instant if self._fps == 0.0 else 0.9 * self._fps + 0.1 * instant
        self._last_output_time = now
        self._frame_index += 1
        self._last_size = (output.shape[1], output.shape[0])
        packet = FramePacket(bgr_to_qimage(output), timings, self._fps, self._frame_index, published,
                             captured.captured_at,
                             model_ran=self.pipeline is not None and self.pipeline.model_ran)
        packet.processing_ms = (time.perf_counter() - started) * 1000.0
        if self.output_slot.put(packet):
            self.frameReady.emit()


class PipelineController(QObject):
    """UI-thread handle: starts the worker thread and forwards requests as queued signals."""

    _startRequested = Signal()
    _shutdownRequested = Signal()
    _listCamerasRequested = Signal()
    _openSourceRequested = Signal(object)
    _closeSourceRequested = Signal()
    _settingsChanged = Signal(object)
    _backgroundRequested = Signal(str, object)
    _virtualCameraRequested = Signal(bool)

    def __init__(self, model_path: str | Path | None = None, threads: int = 0,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.output_slot = LatestSlot()
        self.worker = PipelineWorker(self.output_slot, model_path=model_path, threads=threads)
        self.worker_thread = QThread()
        self.worker_thread.setObjectName("PortraitCam pipeline")
        self.worker.moveToThread(self.worker_thread)
        self._startRequested.connect(self.worker.start)
        self._shutdownRequested.connect(self.worker.shutdown)
        self._listCamerasRequested.connect(self.worker.listCameras)
        self._openSourceRequested.connect(self.worker.openSource)
        self._closeSourceRequested.connect(self.worker.closeSource)
        self._settingsChanged.connect(self.worker.applySettings)
        self._backgroundRequested.connect(self.worker.setBackground)
        self._virtualCameraRequested.connect(self.worker.setVirtualCamera)
        self._running = False

    def start(self, settings: AppSettings) -> None:
        self.worker_thread.start()
        self._running = True
        self.apply_settings(settings)
        self._startRequested.emit()

    def take_frame(self) -> FramePacket | None:
        return self.output_slot.take()

    def list_cameras(self) -> None:
        self._listCamerasRequested.emit()

    def open_source(self, spec) -> None:
        self._openSourceRequested.emit(spec)

    def close_source(self) -> None:
        self._closeSourceRequested.emit()

    def apply_settings(self, settings: AppSettings) -> None:
        self._settingsChanged.emit(settings.to_dict())

    def set_background(self, mode: str, value=None) -> None:
        self._backgroundRequested.emit(mode, value)

    def set_virtual_camera(self, enabled: bool) -> None:
        self._virtualCameraRequested.emit(enabled)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop capture, close the virtual camera and end the worker thread."""
        if not self._running:
            return
        self._running = False
        self._shutdownRequested.emit()
        # A worker busy past the first wait (a slow model or background load) runs the queued
        # shutdown when that returns: wait again. Quitting its event loop instead skipped the
        # shutdown, left the capture thread running, and Qt aborted the process at exit.
        if not self.worker_thread.wait(timeout_ms) and not self.worker_thread.wait(timeout_ms):
            self.worker_thread.quit()  # in case the shutdown ran and only the loop is left
            if not self.worker_thread.wait(1000):
                # e.g. a virtual camera's send that never returns; its worker object stays alive with it
                self.worker_thread.stuck_worker = self.worker
                STUCK_THREADS.append(self.worker_thread)
