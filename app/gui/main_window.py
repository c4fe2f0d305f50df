"""PortraitCam main window: live preview, source/background pickers, matte controls, virtual camera.

The window only wires widgets to the PipelineController (app/gui/worker.py); all capture and
image work happens on worker threads. Settings are an app.settings.AppSettings persisted with
QSettings (INI format, organisation and application "PortraitCam").
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import resources, sinks
from app.capture import IMAGE_EXTENSIONS
from app.headless import VIDEO_EXTENSIONS
from app.settings import AppSettings
from app.sinks import virtual_camera_setup_hint
from app.gui.widgets import LabeledSlider, MessageBanner, PreviewLabel
from app.gui.worker import TIMING_STAGES, FramePacket, PipelineController, bgr_to_qimage

ORGANIZATION = "PortraitCam"
APPLICATION = "PortraitCam"
SETTINGS_GROUP = "settings"
GEOMETRY_KEY = "window/geometry"
THUMBNAIL_SIZE = QSize(96, 54)
BACKGROUND_COLUMNS = 3
SAVE_DELAY_MS = 500          # slider drags save once they settle, not on every step
STATS_INTERVAL_S = 0.25      # refresh the FPS/latency text a few times a second, readable
STALL_WARNING_S = 4.0        # no frame for this long: tell the user (a driver may block, not fail)
VCAM_FAILED_TEXT = "Not publishing: no virtual camera device"


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
            data.update(json.loads(extra))
        except ValueError:
            pass
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


_FIELD_NAMES = {f.name for f in dataclasses.fields(AppSettings)} - {"extra"}


# --- icons ---------------------------------------------------------------------------------
def _thumbnail_from_image(image: QImage) -> QPixmap:
    scaled = image.scaled(THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                          Qt.TransformationMode.SmoothTransformation)
    x = (scaled.width() - THUMBNAIL_SIZE.width()) // 2
    y = (scaled.height() - THUMBNAIL_SIZE.height()) // 2
    return QPixmap.fromImage(scaled.copy(x, y, THUMBNAIL_SIZE.width(), THUMBNAIL_SIZE.height()))


def thumbnail_for_file(path: Path) -> QPixmap | None:
    """Thumbnail of an image, or of the first frame of a video; None when unreadable.

    Read with OpenCV, like the compositor, so every file that works as a background gets a
    thumbnail (Qt's own image plugins cover fewer formats, and the bundle ships only some).
    """
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read()
        capture.release()
        if not ok:
            return None
    else:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            return None
    return _thumbnail_from_image(bgr_to_qimage(frame))


def _swatch(color: QColor) -> QPixmap:
    pixmap = QPixmap(THUMBNAIL_SIZE)
    pixmap.fill(color)
    return pixmap


def _untinted_icon(pixmap: QPixmap) -> QIcon:
    """An icon that looks the same when selected: the style would tint a selected icon with the
    highlight colour, which misstates a colour swatch (the frame around it shows the selection)."""
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)
    return icon


def _none_icon() -> QPixmap:
    pixmap = _swatch(QColor("#dadce0"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor("#5f6368"), 3))
    centre, radius = pixmap.rect().center(), 16
    painter.drawEllipse(centre, radius, radius)
    painter.drawLine(centre.x() - 11, centre.y() + 11, centre.x() + 11, centre.y() - 11)
    painter.end()
    return pixmap


def _blur_icon() -> QPixmap:
    # A soft, blurred scene: what the blur background looks like, without needing a photo.
    height, width = THUMBNAIL_SIZE.height(), THUMBNAIL_SIZE.width()
    scene = np.zeros((height, width, 3), np.uint8)
    scene[:] = (170, 120, 60)
    cv2.circle(scene, (20, 18), 16, (90, 200, 250), -1)
    cv2.rectangle(scene, (55, 10), (90, 54), (60, 160, 90), -1)
    cv2.rectangle(scene, (0, 40), (width, height), (70, 90, 120), -1)
    scene = cv2.GaussianBlur(scene, (0, 0), 6)
    rgb = np.ascontiguousarray(cv2.cvtColor(scene, cv2.COLOR_BGR2RGB))
    return QPixmap.fromImage(QImage(rgb.data, width, height, rgb.strides[0],
                                    QImage.Format.Format_RGB888).copy())


def _pick_icon(style: QStyle) -> QPixmap:
    pixmap = _swatch(QColor("#f1f3f4"))
    painter = QPainter(pixmap)
    folder = style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon).pixmap(32, 32)
    painter.drawPixmap((pixmap.width() - 32) // 2, (pixmap.height() - 32) // 2, folder)
    painter.end()
    return pixmap


def bgr_to_qcolor(bgr) -> QColor:
    blue, green, red = (int(c) for c in bgr)
    return QColor(red, green, blue)


def qcolor_to_bgr(color: QColor) -> tuple[int, int, int]:
    return color.blue(), color.green(), color.red()


# --- window --------------------------------------------------------------------------------
class MainWindow(QMainWindow):
    """The PortraitCam window. Arguments other than settings_store exist for tests and the CLI."""

    def __init__(self, settings_store: QSettings | None = None, source=None,
                 model_path: str | Path | None = None, sample_clip: Path | None = None,
                 backgrounds_dir: Path | None = None) -> None:
        super().__init__()
        self.store = settings_store if settings_store is not None else open_settings_store()
        self.settings = load_settings(self.store)
        self.sample_clip = Path(sample_clip if sample_clip is not None else resources.SAMPLE_CLIP).absolute()
        self.backgrounds_dir = backgrounds_dir
        self.frames_shown = 0
        self._initial_source = source
        self._cameras: list[int] = []
        self._current_source = None         # spec of the source now playing, None when stopped
        self._fallback_to_sample = False    # an automatic camera choice failed: use the sample clip
        self._showing_sample_notice = False
        self._background_applied = False    # no background confirmed by the worker yet
        self._virtual_camera_pending = False
        self._last_stats_time = 0.0
        self._source_description = ""
        self._last_frame_time = 0.0
        self._stalled = False
        self._closing = False

        self.setWindowTitle("PortraitCam")
        icon_path = resources.ASSETS_DIR / "icon.png"
        if icon_path.is_file():
            self.setWindowIcon(QIcon(str(icon_path)))

        self.controller = PipelineController(
            model_path=model_path or (self.settings.model_path or None),
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
        self._connect_worker()
        geometry = self.store.value(GEOMETRY_KEY)
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 720)

        self.controller.start(self.settings)
        self._request_background(self.settings.background_mode, self._background_value(self.settings))
        if self._initial_source is not None:
            self.open_source(self._initial_source)
            self.controller.list_cameras()
        else:
            self._fallback_to_sample = True
            self.controller.list_cameras()  # the source is chosen when the cameras are known
        # Started once the first source is open, so the device gets that source's size and rate.
        self._virtual_camera_pending = self.settings.virtual_camera_enabled

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
        self.banner.cleared.connect(self._on_banner_cleared)
        preview_column.addWidget(self.banner)
        self.preview = PreviewLabel(central)
        preview_column.addWidget(self.preview, 1)
        self.stats_label = QLabel("", central)
        self.stats_label.setObjectName("stats")
        self.stats_label.setStyleSheet("#stats { color: #5f6368; font-family: monospace; }")
        self.stats_label.setToolTip("Milliseconds per frame spent in each stage")
        preview_column.addWidget(self.stats_label)
        body.addLayout(preview_column, 1)

        panel = QWidget()
        panel_layout = QVBoxLayout(panel)
        panel_layout.setContentsMargins(0, 0, 4, 0)
        panel_layout.setSpacing(10)
        panel_layout.addWidget(self._build_source_group())
        panel_layout.addWidget(self._build_background_group())
        panel_layout.addWidget(self._build_adjustments_group())
        panel_layout.addWidget(self._build_virtual_camera_group())
        panel_layout.addStretch(1)
        scroll = QScrollArea(central)
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(380)
        body.addWidget(scroll)

        self.setCentralWidget(central)
        self.model_status = QLabel("Loading model…")
        self.statusBar().addPermanentWidget(self.model_status)

    def _build_source_group(self) -> QGroupBox:
        group = QGroupBox("Source")
        layout = QHBoxLayout(group)
        self.source_combo = QComboBox(group)
        self.source_combo.setToolTip("Camera, video file or photo to process")
        self.source_combo.setAccessibleName("Source")
        self.source_combo.activated.connect(self._on_source_activated)
        layout.addWidget(self.source_combo, 1)
        self.refresh_cameras_button = QToolButton(group)
        self.refresh_cameras_button.setIcon(
            self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.refresh_cameras_button.setToolTip("Look for cameras again (e.g. after plugging one in)")
        self.refresh_cameras_button.clicked.connect(self.controller.list_cameras)
        layout.addWidget(self.refresh_cameras_button)
        self._populate_sources()
        return group

    def _build_background_group(self) -> QGroupBox:
        group = QGroupBox("Background")
        layout = QVBoxLayout(group)
        self.background_list = QListWidget(group)
        self.background_list.setViewMode(QListView.ViewMode.IconMode)
        self.background_list.setIconSize(THUMBNAIL_SIZE)
        self.background_list.setGridSize(QSize(THUMBNAIL_SIZE.width() + 12, THUMBNAIL_SIZE.height() + 30))
        self.background_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.background_list.setMovement(QListView.Movement.Static)
        self.background_list.setWrapping(True)
        self.background_list.setUniformItemSizes(True)
        self.background_list.setAccessibleName("Background")
        self.background_list.itemClicked.connect(self._on_background_item_chosen)
        self.background_list.itemActivated.connect(self._on_background_item_chosen)
        layout.addWidget(self.background_list)

        def add(text, pixmap, kind, value=None, tooltip=""):
            item = QListWidgetItem(_untinted_icon(pixmap), text)
            item.setData(Qt.ItemDataRole.UserRole, (kind, value))
            item.setToolTip(tooltip or text)
            item.setSizeHint(self.background_list.gridSize())
            self.background_list.addItem(item)
            return item

        add("None", _none_icon(), "none", tooltip="Keep the real background")
        add("Blur", _blur_icon(), "blur", tooltip="Blur the real background (strength below)")
        self.color_item = add("Colour…", _swatch(bgr_to_qcolor(self.settings.background_color)),
                              "color", tooltip="Solid colour background (click to choose)")
        for path in resources.bundled_backgrounds(self.backgrounds_dir):
            thumbnail = thumbnail_for_file(path)
            if thumbnail is not None:
                add(path.stem.replace("_", " ").capitalize(), thumbnail, "image", str(path),
                    tooltip=str(path))
        add("Image file…", _pick_icon(self.style()), "pick",
            tooltip="Use your own picture or video as the background")
        self._fit_background_list()
        return group

    def _fit_background_list(self) -> None:
        """Tall enough for every thumbnail (up to 4 rows), so none hides behind a scroll bar."""
        grid = self.background_list.gridSize()
        columns = BACKGROUND_COLUMNS
        rows = min(4, -(-self.background_list.count() // columns))
        frame = 2 * self.background_list.frameWidth() + 4
        self.background_list.setFixedHeight(rows * grid.height() + frame)
        self.background_list.setMinimumWidth(columns * grid.width() + frame
                                             + self.background_list.verticalScrollBar().sizeHint().width())

    def _build_adjustments_group(self) -> QGroupBox:
        group = QGroupBox("Adjustments")
        layout = QVBoxLayout(group)
        self.blur_slider = LabeledSlider(
            "Blur strength", 0, 100, 1, decimals=0,
            tooltip="How strongly the Blur background is blurred")
        self.feather_slider = LabeledSlider(
            "Edge feather", 0, 30, 0.5, " px", decimals=1,
            tooltip="Softens the cut-out edge; higher hides jagged edges, lower keeps hair crisp")
        self.threshold_slider = LabeledSlider(
            "Threshold", 0, 1, 0.01,
            tooltip="How sure the model must be that a pixel is you; raise it if background shows "
                    "through around you, lower it if parts of you disappear")
        self.smoothing_slider = LabeledSlider(
            "Smoothing", 0, 0.95, 0.05,
            tooltip="Steadies the outline between frames; higher stops flicker but follows "
                    "quick moves more slowly")
        for slider in (self.blur_slider, self.feather_slider, self.threshold_slider,
                       self.smoothing_slider):
            slider.valueChanged.connect(self._on_adjustment_changed)
            layout.addWidget(slider)
        self.mirror_checkbox = QCheckBox("Mirror image", group)
        self.mirror_checkbox.setToolTip(
            "Flip left and right, like looking in a mirror; applies to the virtual camera too")
        self.mirror_checkbox.toggled.connect(self._on_adjustment_changed)
        layout.addWidget(self.mirror_checkbox)
        return group

    def _build_virtual_camera_group(self) -> QGroupBox:
        group = QGroupBox("Virtual camera")
        layout = QVBoxLayout(group)
        self.virtual_camera_button = QPushButton("Start virtual camera", group)
        self.virtual_camera_button.setCheckable(True)
        self.virtual_camera_button.setToolTip(
            "Publish the result as a camera that Zoom, Teams, Meet … can select")
        self.virtual_camera_button.clicked.connect(self._on_virtual_camera_clicked)
        layout.addWidget(self.virtual_camera_button)
        self.virtual_camera_label = QLabel("Not publishing", group)
        self.virtual_camera_label.setWordWrap(True)
        self.virtual_camera_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.virtual_camera_label)
        return group

    def _restore_widgets(self) -> None:
        s = self.settings
        self.blur_slider.set_value(s.blur_strength)
        self.feather_slider.set_value(s.feather)
        self.threshold_slider.set_value(s.threshold)
        self.smoothing_slider.set_value(s.smoothing)
        blocked = self.mirror_checkbox.blockSignals(True)
        self.mirror_checkbox.setChecked(s.mirror)
        self.mirror_checkbox.blockSignals(blocked)
        self._select_background_item(s.background_mode, self._background_value(s))

    def _connect_worker(self) -> None:
        worker = self.controller.worker
        worker.ready.connect(self._on_model_ready)
        worker.modelFailed.connect(self._on_model_failed)
        worker.processingFailed.connect(self._on_processing_failed)
        worker.processingRecovered.connect(lambda: self.banner.clear_message("processing"))
        worker.frameReady.connect(self._on_frame_ready)
        worker.camerasFound.connect(self._on_cameras_found)
        worker.sourceOpened.connect(self._on_source_opened)
        worker.sourceFailed.connect(self._on_source_failed)
        worker.sourceLost.connect(self._on_source_lost)
        worker.sourceEnded.connect(self._on_source_ended)
        worker.backgroundChanged.connect(self._on_background_changed)
        worker.backgroundFailed.connect(self._on_background_failed)
        worker.virtualCameraStarted.connect(self._on_virtual_camera_started)
        worker.virtualCameraStopped.connect(self._on_virtual_camera_stopped)
        worker.virtualCameraFailed.connect(self._on_virtual_camera_failed)

    # --- settings ---------------------------------------------------------------------------
    def save_settings(self) -> None:
        self._save_timer.stop()
        save_settings(self.store, self.settings)

    def _settings_changed(self) -> None:
        self.controller.apply_settings(self.settings)
        self._save_timer.start()

    def _on_adjustment_changed(self, *_args) -> None:
        s = self.settings
        s.blur_strength = self.blur_slider.value()
        s.feather = self.feather_slider.value()
        s.threshold = self.threshold_slider.value()
        s.smoothing = self.smoothing_slider.value()
        s.mirror = self.mirror_checkbox.isChecked()
        self._settings_changed()

    # --- sources ----------------------------------------------------------------------------
    def _populate_sources(self) -> None:
        combo = self.source_combo
        blocked = combo.blockSignals(True)
        combo.clear()
        for index in self._cameras:
            combo.addItem(f"Camera {index}", ("camera", index))
        if self.sample_clip.is_file():
            combo.addItem("Sample clip", ("file", str(self.sample_clip)))
        combo.insertSeparator(combo.count())
        combo.addItem("Video file…", ("pick", "video"))
        combo.addItem("Image file…", ("pick", "image"))
        combo.blockSignals(blocked)
        self._show_current_source()

    @staticmethod
    def _source_data(spec) -> tuple:
        if isinstance(spec, int):
            return ("camera", spec)
        if isinstance(spec, str):
            return ("file", spec)
        return ("active", getattr(spec, "description", str(spec)))  # a FrameSource handed in

    def _show_current_source(self) -> None:
        """Point the combo box at the source now playing (none when stopped)."""
        combo = self.source_combo
        blocked = combo.blockSignals(True)
        if self._current_source is None:
            combo.setCurrentIndex(-1)
            combo.setPlaceholderText("Pick a source")
        else:
            data = self._source_data(self._current_source)
            index = self._find_source_entry(data)
            if index < 0:
                index = self._find_source_entry(("pick", "video"))
                name = data[1] if data[0] == "active" else Path(str(data[1])).name
                combo.insertItem(index - 1, name, data)
                index = self._find_source_entry(data)
            combo.setCurrentIndex(index)
        combo.blockSignals(blocked)

    def _find_source_entry(self, data: tuple) -> int:
        # Not QComboBox.findData: it compares Python objects by identity, not by value.
        for index in range(self.source_combo.count()):
            if self.source_combo.itemData(index) == data:
                return index
        return -1

    def _on_source_activated(self, index: int) -> None:
        kind, value = self.source_combo.itemData(index) or (None, None)
        if kind in ("camera", "file"):
            self.open_source(value)
        elif kind == "pick":
            self._show_current_source()  # stay on the current entry if the dialog is cancelled
            if value == "video":
                patterns = " ".join(f"*{ext}" for ext in sorted(VIDEO_EXTENSIONS))
                path, _ = QFileDialog.getOpenFileName(self, "Open video", "", f"Videos ({patterns})")
            else:
                patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
                path, _ = QFileDialog.getOpenFileName(self, "Open photo", "", f"Images ({patterns})")
            if path:
                self.open_source(path)

    def open_source(self, spec) -> None:
        """Switch to a camera index, a video/image path or a FrameSource (used by tests)."""
        if isinstance(spec, str) and spec.strip().isdigit():
            spec = int(spec)
        elif isinstance(spec, (str, Path)):
            spec = str(Path(spec).expanduser().absolute())  # one spelling per file for the list
        self.statusBar().showMessage(f"Opening {spec}…")
        self.controller.open_source(spec)

    def _on_cameras_found(self, cameras: list) -> None:
        self._cameras = list(cameras)
        self._populate_sources()
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

    def _on_source_opened(self, spec, description: str, is_live: bool) -> None:
        self._fallback_to_sample = False
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
        if self._stalled:
            self._stalled = False
            self.banner.clear_message("source")
        now = time.monotonic()
        if now - self._last_stats_time >= STATS_INTERVAL_S or self.frames_shown == 1:
            self._last_stats_time = now
            self._show_stats(packet)

    def _check_for_stall(self) -> None:
        silent_for = time.monotonic() - self._last_frame_time
        if self._current_source is None or self._stalled or silent_for < STALL_WARNING_S:
            return
        self._stalled = True
        self.banner.show_message(
            "source", f"No picture from {self._source_description} for {silent_for:.0f} s: it may "
                      "have been unplugged or taken by another app. Pick another source under "
                      "Source, or wait for it to come back.", "warning")

    def _show_stats(self, packet: FramePacket) -> None:
        total = sum(packet.timings.get(stage, 0.0) for stage in TIMING_STAGES)
        self.preview.set_overlay_text(f"{packet.fps:5.1f} fps   {total:5.1f} ms/frame")
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

    def _request_background(self, mode: str, value=None) -> None:
        self.controller.set_background(mode, value)

    def choose_background(self, mode: str, value=None) -> None:
        """Ask for a background: 'none', 'blur', 'color' (BGR tuple), 'image'/'video' (path)."""
        if mode in ("image", "video") and value is not None:
            value = str(value)
            if mode == "image" and Path(value).suffix.lower() in VIDEO_EXTENSIONS:
                mode = "video"
        self.banner.clear_message("background")  # a new choice supersedes an old complaint
        self._request_background(mode, value)

    def set_background_color(self, color: QColor) -> None:
        self.choose_background("color", qcolor_to_bgr(color))

    def _on_background_item_chosen(self, item: QListWidgetItem) -> None:
        kind, value = item.data(Qt.ItemDataRole.UserRole)
        if kind == "color":
            color = QColorDialog.getColor(bgr_to_qcolor(self.settings.background_color), self,
                                          "Background colour")
            if color.isValid():
                self.set_background_color(color)
            else:
                self._select_current_background()
        elif kind == "pick":
            patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
            path, _ = QFileDialog.getOpenFileName(self, "Background picture or video", "",
                                                  f"Pictures and videos ({patterns})")
            if path:
                self.choose_background("image", path)
            else:
                self._select_current_background()
        else:
            self.choose_background(kind, value)

    def _on_background_changed(self, mode: str, value) -> None:
        self._background_applied = True
        s = self.settings
        s.background_mode = mode
        if mode == "color":
            s.background_color = tuple(int(c) for c in value)
            self.color_item.setIcon(_untinted_icon(_swatch(bgr_to_qcolor(s.background_color))))
        elif mode in ("image", "video") and value:
            s.background_path = str(value)
        self._select_background_item(mode, value)
        self._save_timer.start()

    def _on_background_failed(self, message: str) -> None:
        if not self._background_applied:
            # The saved background is gone (e.g. the picture was deleted): blur instead of nothing.
            self.banner.show_message(
                "background", f"{message}. Using a blurred background instead.", "error")
            self._request_background("blur")
            return
        self.banner.show_message(
            "background", f"{message}. Keeping the previous background.", "error")
        self._select_current_background()

    def _select_current_background(self) -> None:
        self._select_background_item(self.settings.background_mode,
                                     self._background_value(self.settings))

    def _select_background_item(self, mode: str, value) -> None:
        wanted_kind = "image" if mode in ("image", "video") else mode
        target = None
        for row in range(self.background_list.count()):
            item = self.background_list.item(row)
            kind, item_value = item.data(Qt.ItemDataRole.UserRole)
            if kind == wanted_kind and (kind != "image" or item_value == str(value)):
                target = item
                break
        if target is None and wanted_kind == "image" and value:
            target = self._add_custom_background_item(Path(value))
        blocked = self.background_list.blockSignals(True)
        if target is not None:
            self.background_list.setCurrentItem(target)
        else:
            self.background_list.clearSelection()
        self.background_list.blockSignals(blocked)

    def _add_custom_background_item(self, path: Path) -> QListWidgetItem | None:
        thumbnail = thumbnail_for_file(path)
        if thumbnail is None:
            return None
        item = QListWidgetItem(_untinted_icon(thumbnail), path.stem[:14])
        item.setData(Qt.ItemDataRole.UserRole, ("image", str(path)))
        item.setToolTip(str(path))
        item.setSizeHint(self.background_list.gridSize())
        self.background_list.insertItem(self.background_list.count() - 1, item)  # before "Image file…"
        self._fit_background_list()
        return item

    # --- virtual camera ---------------------------------------------------------------------
    def _on_virtual_camera_clicked(self, checked: bool) -> None:
        if checked:
            self._start_virtual_camera()
        else:
            self.controller.set_virtual_camera(False)
            self.settings.virtual_camera_enabled = False
            self._save_timer.start()

    def _start_virtual_camera(self) -> None:
        self.virtual_camera_button.setChecked(True)
        self.virtual_camera_button.setEnabled(False)
        self.virtual_camera_button.setText("Starting virtual camera…")
        self.controller.set_virtual_camera(True)

    def _on_virtual_camera_started(self, device: str) -> None:
        self.virtual_camera_button.setEnabled(True)
        self.virtual_camera_button.setChecked(True)
        self.virtual_camera_button.setText("Stop virtual camera")
        self.virtual_camera_label.setText(f"Publishing to <b>{device}</b>")
        self.banner.clear_message("virtual_camera")
        self.settings.virtual_camera_enabled = True
        self._save_timer.start()

    def _on_virtual_camera_stopped(self) -> None:
        self._reset_virtual_camera_button("Not publishing")

    def _on_virtual_camera_failed(self, message: str) -> None:
        self._reset_virtual_camera_button(VCAM_FAILED_TEXT + " (see the message)")
        if sys.platform.startswith("linux"):
            copy_text, copy_label = sinks.LINUX_SETUP_COMMAND, "Copy command"
        else:
            copy_text, copy_label = virtual_camera_setup_hint(), "Copy steps"
        self.banner.show_message(
            "virtual_camera", f"{message.rstrip('.')}. The preview keeps running; start the virtual "
                              "camera again once that is done.", "warning",
            copy_text=copy_text, copy_label=copy_label)

    def _on_banner_cleared(self, key: str) -> None:
        if key == "virtual_camera" and self.virtual_camera_label.text().startswith(VCAM_FAILED_TEXT):
            self.virtual_camera_label.setText(VCAM_FAILED_TEXT)  # the message it pointed to is gone

    def _reset_virtual_camera_button(self, label: str) -> None:
        self.virtual_camera_button.setEnabled(True)
        self.virtual_camera_button.setChecked(False)
        self.virtual_camera_button.setText("Start virtual camera")
        self.virtual_camera_label.setText(label)

    # --- model ------------------------------------------------------------------------------
    def _on_model_ready(self, description: str) -> None:
        self.model_status.setText(f"Model: {description}")

    def _on_model_failed(self, message: str) -> None:
        self.model_status.setText("Model: not loaded")
        self.banner.show_message("model", message, "error")

    def _on_processing_failed(self, message: str) -> None:
        self.banner.show_message(
            "processing", f"Processing failed: {message.rstrip('.')}. Until it recovers, the virtual "
                          "camera shows the last good picture or the background alone, never the "
                          "room.", "error")

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange and not self.isMinimized():
            self.preview.refresh()

    # --- shutdown ---------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if not self._closing:
            self._closing = True
            self.store.setValue(GEOMETRY_KEY, self.saveGeometry())
            self.save_settings()
            self.controller.shutdown()
        super().closeEvent(event)


def _parse_gui_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="portraitcam", add_help=False)
    parser.add_argument("--source", help="camera index, video or photo to show at start")
    parser.add_argument("--model", help="ONNX model (default: the bundled one)")
    return parser.parse_known_args(argv)


def run_gui(argv: list[str] | None = None) -> int:
    """Start the GUI; argv are extra arguments (--source, --model and Qt's own options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, qt_args = _parse_gui_args(argv)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "portraitcam", *qt_args])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    source = args.source
    if source is not None and source.isdigit():
        source = int(source)
    window = MainWindow(source=source, model_path=args.model)
    # Quitting by other means than the close button (e.g. logout) still stops the threads cleanly.
    app.aboutToQuit.connect(window.close)
    # Ctrl+C in the terminal closes the window (saving settings) instead of being ignored:
    # Python only sees the signal when it runs, so wake it a few times a second.
    previous_handler = signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    window.show()
    try:
        return app.exec()
    finally:
        signal.signal(signal.SIGINT, previous_handler)
