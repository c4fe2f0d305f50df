"""PortraitCam main window: live preview and messages beside the control panels.

The panels (app/gui/panels.py: source, background, adjustments, virtual camera) own their
widgets and dialogs; the window only wires them and the preview to the PipelineController
(app/gui/worker.py), where all capture and image work happens on worker threads. Settings are an
app.settings.AppSettings persisted with QSettings (INI format, organisation and application
"PortraitCam").
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from app import resources, sinks
from app.capture import VIDEO_EXTENSIONS, SourceError, is_network_address, local_file_path, parse_camera_index
from app.livestats import LiveStats
from app.settings import AppSettings, with_changes
from app.stop_signals import handle_stop_signals, restore_signals
from app.sinks import virtual_camera_setup_hint
from app.gui.panels import (AdjustmentsPanel, BackgroundPanel, DialogFolders, SourcePanel,
                            VirtualCameraPanel, bgr_to_qcolor, qcolor_to_bgr, thumbnail_for_file)
from app.gui.widgets import MessageBanner, PreviewLabel
from app.gui.effects_panel import EffectsPanel
from app.gui.worker import (TIMING_STAGES, FramePacket, PipelineController, threads_left_stuck,
                            virtual_camera_problem_label)

__all__ = ["MainWindow", "open_settings_store", "run_gui", "bgr_to_qcolor", "qcolor_to_bgr",
           "thumbnail_for_file"]

log = logging.getLogger(__name__)

ORGANIZATION = "PortraitCam"
APPLICATION = "PortraitCam"
SETTINGS_GROUP = "settings"
GEOMETRY_KEY = "window/geometry"
SAVE_DELAY_MS = 500          # slider drags save once they settle, not on every step
STATS_INTERVAL_S = 0.25      # refresh the FPS/latency text a few times a second, readable
STALL_WARNING_S = 4.0        # no frame for this long: tell the user (a driver may block, not fail)


# --- settings persistence ------------------------------------------------------------------
def open_settings_store() -> QSettings:
    """The user's PortraitCam settings (INI on every OS, so the file is easy to inspect)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def load_settings(store: QSettings) -> AppSettings:
    store.beginGroup(SETTINGS_GROUP)
    try:
        data = {key: store.value(key) for key in store.childKeys()}
    finally:
        store.endGroup()
    extra = data.pop("extra", None)
    if isinstance(extra, str):
        try:
            decoded = json.loads(extra)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):  # a damaged "extra" (say `5`) is dropped, not a failed start
            data.update(decoded)
    return AppSettings.from_dict(data)


def save_settings(store: QSettings, settings: AppSettings) -> None:
    data = settings.to_dict()
    extra = {key: data.pop(key) for key in list(data) if key not in _FIELD_NAMES}
    store.beginGroup(SETTINGS_GROUP)
    try:
        store.remove("")
        for key, value in data.items():
            store.setValue(key, value)
        if extra:
            # Keys this version does not know, kept for a newer one; JSON keeps their types.
            store.setValue("extra", json.dumps(extra, default=str))
    finally:
        store.endGroup()
    store.sync()
    # Only writing can fail with AccessError; a FormatError is left over from reading a damaged file,
    # which this sync has just replaced.
    if store.status() == QSettings.Status.AccessError:
        raise OSError(f"Cannot save settings to {store.fileName()} (not writable)")


_FIELD_NAMES = {f.name for f in dataclasses.fields(AppSettings)} - {"extra"}


def _settings_file_path(value: str) -> str:
    """A file named in the settings file as a person writes it there: "~/models/x.onnx" or a
    file:// link is that file; anything else as written (a network address is refused by name)."""
    value = value.strip()
    return value if is_network_address(value) else os.path.expanduser(os.fspath(local_file_path(value)))


# --- window --------------------------------------------------------------------------------
class MainWindow(QMainWindow):
    """The PortraitCam window. Arguments other than settings_store exist for tests and the CLI."""

    def __init__(self, settings_store: QSettings | None = None, source=None,
                 model_path: str | Path | None = None, sample_clip: Path | None = None,
                 backgrounds_dir: Path | None = None) -> None:
        super().__init__()
        self.store = settings_store if settings_store is not None else open_settings_store()
        self.settings = load_settings(self.store)
        # As loaded or last saved: a save writes only what changed here since (settings.with_changes).
        self._saved_settings = self.settings.copy()
        settings_damaged = self.store.status() == QSettings.Status.FormatError
        self.sample_clip = Path(sample_clip if sample_clip is not None else resources.SAMPLE_CLIP).absolute()
        self.backgrounds_dir = backgrounds_dir
        self.frames_shown = 0
        self.live_stats = LiveStats()       # the overlay's figures, from the frames shown
        self._initial_source = source
        self._current_source = None         # spec of the source now playing, None when stopped
        self._fallback_to_sample = False    # an automatic camera choice failed: use the sample clip
        self._showing_sample_notice = False
        self._background_applied = False    # no background confirmed by the worker yet
        self._background_fallback = False   # blur requested for a saved background that failed
        self._background_requests: list[tuple[str, object, bool]] = []  # not yet answered: mode, value, the user's
        self._virtual_camera_pending = False
        self._last_stats_time = 0.0
        self._source_description = ""
        self._last_frame_time = 0.0
        self._stalled = False
        self._stall_after = STALL_WARNING_S  # no frame for this long: warn (the source's pace, when slow)
        self._closing = False

        self.setWindowTitle("PortraitCam")
        icon_path = resources.ASSETS_DIR / "icon.png"
        if icon_path.is_file():
            self.setWindowIcon(QIcon(str(icon_path)))

        # A model named only in the settings file (no window control sets it): its errors say where.
        self._model_from_settings = not model_path and bool(self.settings.model_path.strip())
        self.controller = PipelineController(
            model_path=model_path or (_settings_file_path(self.settings.model_path) or None),
            threads=self.settings.threads, parent=self)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_settings)
        # Some camera drivers block forever when unplugged instead of failing: notice the silence.
        self._stall_timer = QTimer(self)
        self._stall_timer.setInterval(1000)
        self._stall_timer.timeout.connect(self._check_for_stall)

        self._build_ui()
        self._restore_widgets()
        self._wire()
        self._restore_geometry()
        if settings_damaged:
            # Qt reads a damaged INI file up to its damage; the rest of the settings are defaults.
            text = (f"The settings file {self.store.fileName()} was damaged: what could be read is used "
                    "and the rest is back to defaults; whole settings are saved there again.")
            # A topic of its own: the save that follows at start clears "settings" (a failed save).
            self.banner.show_message("settings_file", text, "warning")
            log.warning("%s", text)

        self.controller.start(self.settings)
        try:
            self._request_background(self.settings.background_mode, self._background_value(self.settings))
            if self._initial_source is not None:
                self.open_source(self._initial_source)
                self.controller.list_cameras()
            else:
                self._fallback_to_sample = True
                self.controller.list_cameras()  # the source is chosen when the cameras are known
        except BaseException:
            # A running worker thread destroyed with the window aborts the process: stop it first.
            self.controller.shutdown()
            raise
        # Started once the first source is open, so the device gets that source's size and rate.
        self._virtual_camera_pending = self.settings.virtual_camera_enabled

    def _restore_geometry(self) -> None:
        geometry = self.store.value(GEOMETRY_KEY)
        # A damaged value (text, an empty line) is not a saved geometry: the default size instead.
        if not (isinstance(geometry, (QByteArray, bytes)) and self.restoreGeometry(geometry)):
            if geometry is not None:
                log.warning("Ignoring the saved window geometry in %s: it is not one", self.store.fileName())
            self.resize(1200, 720)

    # --- layout -----------------------------------------------------------------------------
    def _build_ui(self) -> None:
        central = QWidget(self)
        root = QVBoxLayout(central)
        root.setContentsMargins(12, 12, 12, 6)
        root.setSpacing(8)

        body = QHBoxLayout()
        body.setSpacing(12)
        root.addLayout(body, 1)

        preview_column = QVBoxLayout()
        # Messages sit above the preview, so the controls beside it never move out of view.
        self.banner = MessageBanner(central)
        preview_column.addWidget(self.banner)
        self.preview = PreviewLabel(central)
        preview_column.addWidget(self.preview, 1)
        self.stats_label = QLabel("", central)
        self.stats_label.setObjectName("stats")
        self.stats_label.setStyleSheet("#stats { color: #5f6368; font-family: monospace; }")
        self.stats_label.setToolTip("Milliseconds per frame spent in each stage")
        # One long line of figures: wrapped, so it never sets the window's minimum width.
        self.stats_label.setWordWrap(True)
        preview_column.addWidget(self.stats_label)
        body.addLayout(preview_column, 1)

        side = QWidget(central)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(10)
        panel = QWidget()
        panel_layout = QVBoxLayout(panel)
        panel_layout.setContentsMargins(0, 0, 4, 0)
        panel_layout.setSpacing(10)
        self.dialog_folders = DialogFolders(self.store, self.backgrounds_dir)
        self.source_panel = SourcePanel(self.sample_clip, panel, folders=self.dialog_folders)
        self.background_panel = BackgroundPanel(self.settings.background_color, self.backgrounds_dir,
                                                panel, folders=self.dialog_folders)
        self.adjustments_panel = AdjustmentsPanel(panel)
        for widget in (self.source_panel, self.background_panel, self.adjustments_panel):
            panel_layout.addWidget(widget)
        self.effects_panel = EffectsPanel(panel)
        panel_layout.addWidget(self.effects_panel)
        panel_layout.addStretch(1)
        self.side_scroll = QScrollArea(side)
        self.side_scroll.setWidget(panel)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_layout.addWidget(self.side_scroll, 1)
        # Pinned below the scrolling panels: the button and the status under it stay in view
        # however many backgrounds the list above holds.
        self.virtual_camera_panel = VirtualCameraPanel(side)
        side_layout.addWidget(self.virtual_camera_panel)
        side.setFixedWidth(380)
        body.addWidget(side)

        self.setCentralWidget(central)
        self.model_status = QLabel("Loading model…")
        self.statusBar().addPermanentWidget(self.model_status)

    # Widgets that tests and tools reach through the window.
    source_combo = property(lambda self: self.source_panel.combo)
    refresh_cameras_button = property(lambda self: self.source_panel.refresh_button)
    background_list = property(lambda self: self.background_panel.list)
    color_item = property(lambda self: self.background_panel.color_item)
    blur_slider = property(lambda self: self.adjustments_panel.blur_slider)
    feather_slider = property(lambda self: self.adjustments_panel.feather_slider)
    threshold_slider = property(lambda self: self.adjustments_panel.threshold_slider)
    smoothing_slider = property(lambda self: self.adjustments_panel.smoothing_slider)
    mirror_checkbox = property(lambda self: self.adjustments_panel.mirror_checkbox)
    steady_checkbox = property(lambda self: self.adjustments_panel.steady_checkbox)
    room_checkbox = property(lambda self: self.adjustments_panel.room_checkbox)
    looks_checkbox = property(lambda self: self.adjustments_panel.looks_checkbox)
    edge_combo = property(lambda self: self.adjustments_panel.edge_combo)
    virtual_camera_button = property(lambda self: self.virtual_camera_panel.button)
    virtual_camera_label = property(lambda self: self.virtual_camera_panel.label)

    def _restore_widgets(self) -> None:
        self.adjustments_panel.load(self.settings)
        self.effects_panel.load(self.settings)
        # What the sliders show is what runs: a hand-edited value between their steps
        # (feather=0.12) was shown as 0.0 and used as written.
        self.adjustments_panel.store(self.settings)
        self.effects_panel.store(self.settings)
        self._show_background_mode(self.settings.background_mode)
        self._select_current_background()

    def _show_background_mode(self, mode: str) -> None:
        """Grey out what the background in use leaves without effect (blur strength, match lighting)."""
        self.adjustments_panel.set_background_mode(mode)
        self.effects_panel.set_background_mode(mode)

    def _wire(self) -> None:
        """Panels and banner to the window, the worker's signals to the window's handlers."""
        self.source_panel.sourceRequested.connect(self.open_source)
        self.source_panel.refreshRequested.connect(self.controller.list_cameras)
        self.background_panel.backgroundRequested.connect(self.choose_background)
        self.adjustments_panel.changed.connect(self._on_adjustment_changed)
        self.effects_panel.changed.connect(self._on_effects_changed)
        self.virtual_camera_panel.toggled.connect(self._on_virtual_camera_clicked)
        self.banner.cleared.connect(self._on_banner_cleared)
        worker = self.controller.worker
        worker.ready.connect(self._on_model_ready)
        worker.modelFailed.connect(self._on_model_failed)
        worker.processingFailed.connect(self._on_processing_failed)
        # Bound methods, not lambdas: a lambda has no thread of its own, so PySide calls it on the
        # worker's thread, where painting the banner crashed the window (text drawn off the GUI thread).
        worker.processingRecovered.connect(self._on_processing_recovered)
        worker.maskWarning.connect(self._on_mask_warning)
        worker.maskWarningCleared.connect(self._on_mask_warning_cleared)
        worker.frameReady.connect(self._on_frame_ready)
        worker.camerasFound.connect(self._on_cameras_found)
        worker.sourceOpened.connect(self._on_source_opened)
        worker.sourceFailed.connect(self._on_source_failed)
        worker.sourceLost.connect(self._on_source_lost)
        worker.sourceEnded.connect(self._on_source_ended)
        worker.backgroundChanged.connect(self._on_background_changed)
        worker.backgroundFailed.connect(self._on_background_failed)
        worker.backgroundLost.connect(self._on_background_lost)
        worker.backgroundSuperseded.connect(self._answered_background_request)
        worker.virtualCameraStarted.connect(self._on_virtual_camera_started)
        worker.virtualCameraStopped.connect(self._on_virtual_camera_stopped)
        worker.virtualCameraFailed.connect(self._on_virtual_camera_failed)

    # --- settings ---------------------------------------------------------------------------
    def save_settings(self) -> None:
        self._save_timer.stop()
        try:
            self.store.sync()  # what another PortraitCam window saved since
            stored = load_settings(self.store)
            if self.store.status() == QSettings.Status.FormatError:
                stored = self._saved_settings  # a damaged file is replaced by this window's settings
            saving = with_changes(stored, self._saved_settings, self.settings)
            save_settings(self.store, saving)
            self._saved_settings = self.settings.copy()
        except Exception as exc:  # noqa: BLE001 - a failed save must not stop the window (or its close)
            if not isinstance(exc, OSError):
                exc = OSError(f"Cannot save settings to {self.store.fileName()} ({type(exc).__name__}: {exc})")
            # The window keeps working with the changes; they only last until it closes.
            self.banner.show_message("settings", f"{exc}: changes last until PortraitCam closes.", "warning")
            log.warning("%s", exc)
        else:
            self.banner.clear_message("settings")

    def _settings_changed(self) -> None:
        self.controller.apply_settings(self.settings)
        self._save_timer.start()

    def _on_adjustment_changed(self) -> None:
        self.adjustments_panel.store(self.settings)
        self._settings_changed()

    def _on_effects_changed(self) -> None:
        self.effects_panel.store(self.settings)
        self._settings_changed()

    # --- sources ----------------------------------------------------------------------------
    def _show_current_source(self) -> None:
        self.source_panel.set_current(self._current_source)
        self.virtual_camera_panel.set_source_present(self._current_source is not None)

    def open_source(self, spec) -> None:
        """Switch to a camera index, a video/image path or a FrameSource (used by tests)."""
        if isinstance(spec, str):
            try:
                index = parse_camera_index(spec)
            except SourceError:
                index = spec.strip()  # out of range: the worker's opening says so in the banner
            # ASCII digits only name a camera; anything else ("²", "٣") is a file name.
            spec = index if index is not None else str(Path(spec).expanduser().absolute())
        elif isinstance(spec, Path):
            spec = str(spec.expanduser().absolute())  # one spelling per file for the list
        self.statusBar().showMessage(f"Opening {spec}…")
        self.controller.open_source(spec)

    def _on_cameras_found(self, cameras: list) -> None:
        found = self.source_panel.set_cameras(cameras)
        if found:  # the answer to a click on ↻
            self.statusBar().showMessage(found, 5000)
        if self._initial_source is None and self._current_source is None and self._fallback_to_sample:
            if cameras:
                preferred = self.settings.camera_index
                self.open_source(preferred if preferred in cameras else cameras[0])
            else:
                self._use_sample_clip("No webcam found.")

    def _use_sample_clip(self, reason: str) -> None:
        self._fallback_to_sample = False
        reason = reason.rstrip(". ") + "."
        if self.sample_clip.is_file():
            self._showing_sample_notice = True
            self.banner.show_message(
                "source", f"{reason} Showing the bundled sample clip instead; connect a camera and "
                          "pick it under Source (↻ looks for cameras again).", "warning")
            self.open_source(str(self.sample_clip))
        else:
            self.banner.show_message(
                "source", f"{reason} Pick a video or photo under Source to try PortraitCam.", "warning")
            self.preview.clear_image("No video — pick a source")

    def _on_source_opened(self, spec, description: str, is_live: bool, frame_seconds: float = 0.0) -> None:
        # A slide show or time-lapse file (0.2 FPS) is silent between its frames by design: the
        # warning waits for three of them to be missing, not 4 s.
        self._stall_after = max(STALL_WARNING_S, 3.0 * frame_seconds)
        self._fallback_to_sample = False
        self.live_stats.reset()
        self._current_source = spec
        if isinstance(spec, int):
            self.settings.camera_index = spec
            self._save_timer.start()
        if self._showing_sample_notice and spec == str(self.sample_clip):
            pass  # keep telling the user why they see the sample clip
        else:
            self._showing_sample_notice = False
            self.banner.clear_message("source")
        self._show_current_source()
        self.statusBar().showMessage(f"Source: {description}")
        self._source_description = description
        self._last_frame_time = time.monotonic()
        self._stalled = False
        self._stall_timer.start()
        if self._virtual_camera_pending:
            self._virtual_camera_pending = False
            self._start_virtual_camera()

    def _on_source_failed(self, spec, message: str) -> None:
        if self._fallback_to_sample:
            self._use_sample_clip(message)
            return
        self.banner.show_message("source", f"{message.rstrip('.')}. Pick another source under Source.",
                                 "error")
        if self._current_source is not None:
            self.statusBar().showMessage(f"Source: {self._source_description}")  # still playing
        else:
            self.statusBar().showMessage("Could not open the source")
            self.preview.clear_image("No video — pick a source")
        self._show_current_source()

    def _on_source_lost(self, message: str) -> None:
        self._current_source = None
        self._stall_timer.stop()
        self.banner.show_message(
            "source", f"{message.rstrip('.')}. The preview has stopped; pick a source under Source "
                      "to continue.",
            "error")
        self.preview.clear_image("No video — pick a source")
        self.stats_label.clear()
        self.statusBar().showMessage("Source stopped")
        self._show_current_source()

    def _on_source_ended(self) -> None:
        self._current_source = None
        self._stall_timer.stop()
        self.preview.clear_image("End of video — pick a source")
        self._show_current_source()

    # --- frames -----------------------------------------------------------------------------
    def _on_frame_ready(self) -> None:
        packet = self.controller.take_frame()
        if packet is None or self._current_source is None:
            return
        self.preview.set_image(packet.image)
        self.frames_shown += 1
        self._last_frame_time = time.monotonic()
        # Delivered = shown: the preview is this frame's sink here (the virtual camera got it earlier).
        latency = None if packet.captured_at is None else (self._last_frame_time - packet.captured_at) * 1000.0
        self.live_stats.add(self._last_frame_time, packet.processing_ms, latency)
        if self._stalled:
            self._stalled = False
            self.banner.clear_message("source")
        now = time.monotonic()
        if now - self._last_stats_time >= STATS_INTERVAL_S or self.frames_shown == 1:
            self._last_stats_time = now
            self._show_stats(packet)

    def _check_for_stall(self) -> None:
        silent_for = time.monotonic() - self._last_frame_time
        if self._current_source is None or self._stalled or silent_for < self._stall_after:
            return
        if self._background_requests:
            return  # the worker is loading a background (a large picture takes seconds), not the source silent
        self._stalled = True
        self.banner.show_message(
            "source", f"No picture from {self._source_description} for {silent_for:.0f} s: it may "
                      "have been unplugged or taken by another app. Pick another source under "
                      "Source, or wait for it to come back.", "warning")

    def _show_stats(self, packet: FramePacket) -> None:
        # Frames shown over the last second and their mean full processing time (app/livestats.py),
        # not one sampled frame, whose time jumped with whether the model ran on it.
        self.preview.set_overlay_text(self.live_stats.overlay_text(self._last_frame_time))
        parts = [f"{stage} {packet.timings.get(stage, 0.0):.1f}" for stage in TIMING_STAGES]
        self.stats_label.setText("ms: " + "  ·  ".join(parts))

    # --- background -------------------------------------------------------------------------
    @staticmethod
    def _background_value(settings: AppSettings):
        if settings.background_mode == "color":
            return tuple(settings.background_color)
        if settings.background_mode in ("image", "video"):
            return settings.background_path
        return None

    def _request_background(self, mode: str, value=None, chosen: bool = False) -> None:
        self._background_requests.append((mode, value, chosen))  # the worker answers each, in order
        self.controller.set_background(mode, value)

    def choose_background(self, mode: str, value=None) -> None:
        """Ask for a background: 'none', 'blur', 'color' (BGR tuple), 'image'/'video' (path)."""
        if mode in ("image", "video") and value is not None:
            value = str(value)
            if not is_network_address(value):  # a network address: the worker refuses it in words
                value = str(local_file_path(value))  # a file:// link is saved as its file
            if mode == "image" and Path(value).suffix.lower() in VIDEO_EXTENSIONS:
                mode = "video"
        self.banner.clear_message("background")  # a new choice supersedes an old complaint
        self._request_background(mode, value, chosen=True)

    def set_background_color(self, color: QColor) -> None:
        self.choose_background("color", qcolor_to_bgr(color))


    def _on_background_changed(self, mode: str, value) -> None:
        self._answered_background_request()
        self._background_applied = True
        if self._background_fallback:
            # Blur stands in for a saved background that could not be loaded at start (a drive not
            # mounted yet): show it, but keep the saved choice for the next start.
            self._background_fallback = False
            self.background_panel.select(mode, value)
            self._show_background_mode(mode)
            return
        self.banner.clear_message("background")  # this one works: an earlier choice's complaint is old news
        self._store_background(mode, value)
        if mode == "color":
            self.background_panel.set_color(self.settings.background_color)
        self.background_panel.select(mode, value)
        self._show_background_mode(mode)
        self._save_timer.start()

    def _store_background(self, mode: str, value) -> None:
        s = self.settings
        s.background_mode = mode
        if mode == "color":
            s.background_color = tuple(int(c) for c in value)
        elif mode in ("image", "video") and value:
            s.background_path = str(value)

    def _answered_background_request(self) -> None:
        if self._background_requests:
            self._background_requests.pop(0)

    def _on_background_failed(self, message: str) -> None:
        self._answered_background_request()
        if not self._background_applied:
            # The saved background is gone (e.g. the picture was deleted): blur instead of nothing.
            self._use_blur_for_now(message)
            self._request_background("blur")
            return
        self.banner.show_message(
            "background", f"{message}. Keeping the previous background.", "error")
        self._select_current_background()

    def _on_background_lost(self, message: str) -> None:
        self._background_requests.insert(0, ("blur", None, False))  # the worker's own change follows
        self._use_blur_for_now(message)

    def _use_blur_for_now(self, message: str) -> None:
        """Blur stands in for a background that failed at start or stopped (a video background on a
        drive that went away); the user's choice stays saved for when it is back."""
        self.banner.show_message("background", f"{message}. Using a blurred background instead.", "error")
        self._background_fallback = True

    def _select_current_background(self) -> None:
        self.background_panel.select(self.settings.background_mode, self._background_value(self.settings))

    # --- virtual camera ---------------------------------------------------------------------
    def _on_virtual_camera_clicked(self, checked: bool) -> None:
        if checked:
            self._start_virtual_camera()
        else:
            self.controller.set_virtual_camera(False)
            self.settings.virtual_camera_enabled = False
            self._save_timer.start()

    def _start_virtual_camera(self) -> None:
        self.virtual_camera_panel.set_starting()
        self.controller.set_virtual_camera(True)

    def _on_virtual_camera_started(self, device: str) -> None:
        self.virtual_camera_panel.set_started(device)
        self.banner.clear_message("virtual_camera")
        self.settings.virtual_camera_enabled = True
        self._save_timer.start()

    def _on_virtual_camera_stopped(self) -> None:
        self.virtual_camera_panel.set_stopped()

    def _on_virtual_camera_failed(self, message: str) -> None:
        """message: what is wrong and the fix, in a sentence or two (see worker.virtual_camera_problem)."""
        self.virtual_camera_panel.set_failed(virtual_camera_problem_label(message))
        if sys.platform.startswith("linux"):
            copy_text, copy_label = sinks.LINUX_SETUP_COMMAND, "Copy command"
        else:
            copy_text, copy_label = virtual_camera_setup_hint(), "Copy steps"
        text = " ".join(message.split()).rstrip(".") + "."  # one paragraph, one final period
        self.banner.show_message("virtual_camera", text, "warning",
                                 copy_text=copy_text, copy_label=copy_label)

    def _on_banner_cleared(self, key: str) -> None:
        if key == "virtual_camera":
            self.virtual_camera_panel.message_dismissed()

    # --- model ------------------------------------------------------------------------------
    def _on_processing_recovered(self) -> None:
        self.banner.clear_message("processing")

    def _on_mask_warning(self, text: str) -> None:
        self.banner.show_message("mask", text, "warning")

    def _on_mask_warning_cleared(self) -> None:
        self.banner.clear_message("mask")

    def _on_model_ready(self, description: str) -> None:
        self.model_status.setText(f"Model: {description}")

    def _on_model_failed(self, message: str) -> None:
        self.model_status.setText("Model: not loaded")
        if self._model_from_settings:
            message += (f" The model is the model_path in {self.store.fileName()}: correct it there, or "
                        "empty it for the bundled model.")
        self.banner.show_message("model", message, "error")

    def _on_processing_failed(self, message: str) -> None:
        self.banner.show_message(
            "processing", f"Processing failed: {message.rstrip('.')}. Until it recovers, the virtual "
                          "camera shows the last good picture or the background alone, never the "
                          "room.", "error")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.banner.fit()  # its share of the window changed

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange and not self.isMinimized():
            self.preview.refresh()

    # --- shutdown ---------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if not self._closing:
            self._closing = True
            try:
                self.store.setValue(GEOMETRY_KEY, self.saveGeometry())
                chosen = [(mode, value) for mode, value, by_user in self._background_requests if by_user]
                if chosen:  # a background the worker had not loaded yet (a large picture) is still the choice
                    self._store_background(*chosen[-1])
                self.save_settings()
            finally:  # the threads stop whatever the save did: a running QThread's teardown aborts
                self.hide()  # gone at once, even while a busy worker finishes before it stops
                self.controller.shutdown()
                self.background_panel.wait_for_thumbnails()  # none answers a panel being taken down
        super().closeEvent(event)


def _parse_gui_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="portraitcam", add_help=False, allow_abbrev=False)
    parser.add_argument("--source", help="camera index, video or photo to show at start")
    parser.add_argument("--model", help="ONNX model (default: the bundled one)")
    return parser.parse_known_args(argv)


def run_gui(argv: list[str] | None = None) -> int:
    """Start the GUI; argv are extra arguments (--source, --model and Qt's own options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, qt_args = _parse_gui_args(argv)
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "portraitcam", *qt_args])
        ignored = app.arguments()[1:]  # what neither this parser nor Qt took
    else:
        ignored = qt_args  # an application made before (tests) takes no options from here
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    if ignored:
        print(f"portraitcam: note: the window ignores {' '.join(ignored)} (options of a headless job, "
              "which -i/--input, -o/--output or --headless start; see --help)", file=sys.stderr)
    # Ctrl+C in the terminal, SIGTERM (logout, kill, a service manager) and SIGHUP (the terminal
    # that started it closed) close the window (saving settings, closing the virtual camera) instead
    # of killing it mid-frame. Installed before the window is made: one that came while it started
    # its threads was raised there by the start's own handler, and Qt aborted the process at exit.
    window: MainWindow | None = None
    received: list[int] = []

    def close_window(signum, _frame) -> None:
        received.append(signum)
        if window is not None:
            # Through the event loop: closed before app.exec() runs (a signal during show()), the
            # last window's close never ended a loop that had not started, and it ran for ever.
            QTimer.singleShot(0, window.close)
    previous_handlers = handle_stop_signals(close_window)  # not one the parent ignores (nohup)
    try:
        window = MainWindow(source=args.source, model_path=args.model)  # open_source tells cameras from files
    except BaseException:
        restore_signals(previous_handlers)
        raise
    if received:  # asked to stop while the window was being made: stop its threads, say so
        window.close()
        restore_signals(previous_handlers)
        print(f"portraitcam: interrupted ({signal.Signals(received[0]).name}) while starting",
              file=sys.stderr)
        return 128 + received[0]
    # Quitting by other means than the close button (e.g. logout) still stops the threads cleanly.
    app.aboutToQuit.connect(window.close)
    # Python only sees a signal when it runs, so wake it a few times a second.
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    window.show()
    try:
        code = app.exec()
    finally:
        restore_signals(previous_handlers)
    if threads_left_stuck():
        # A device call that never returns cannot be waited for, and tearing its thread down aborts
        # the process (Qt): settings are saved and every other thread has ended, so leave now.
        print("portraitcam: note: a camera or virtual camera did not answer; exiting without waiting "
              "for it", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
