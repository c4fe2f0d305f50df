"""The main window's control panels: source, background, adjustments and virtual camera.

Each panel owns its widgets and dialogs and speaks to the window through signals and a few
methods, so the window (app/gui/main_window.py) only wires them to the pipeline controller.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSettings, QSize, QStandardPaths, QThreadPool, Qt, Signal
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
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import resources
from app.capture import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, file_problem, flatten_onto, is_network_address,
                         is_video_file, local_file_path, read_picture)
from app.compositing import BLUR_MAX
from app.matting import EDGE_MODES, FEATHER_MAX
from app.settings import AppSettings
from app.gui.widgets import LabeledSlider, guard_wheel
from app.gui.worker import bgr_to_qimage

THUMBNAIL_SIZE = QSize(96, 54)
BACKGROUND_COLUMNS = 3
VCAM_FAILED_PREFIX, SEE_MESSAGE = "Not publishing: ", " (see the message)"


# --- icons ---------------------------------------------------------------------------------
def _thumbnail_from_image(image: QImage) -> QImage:
    scaled = image.scaled(THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                          Qt.TransformationMode.SmoothTransformation)
    x = (scaled.width() - THUMBNAIL_SIZE.width()) // 2
    y = (scaled.height() - THUMBNAIL_SIZE.height()) // 2
    return scaled.copy(x, y, THUMBNAIL_SIZE.width(), THUMBNAIL_SIZE.height())


def _local_readable_file(path) -> Path | None:
    """The local file a background names (a file:// link's path), or None for a network address
    (OpenCV would connect to it) or a file that is missing, a folder or a pipe OpenCV would wait on."""
    if is_network_address(str(path)):
        return None
    path = Path(local_file_path(str(path)))
    return None if file_problem(path) is not None else path


def thumbnail_for_file(path: Path) -> QPixmap | None:
    """Thumbnail of an image, or of the first frame of a video; None when unreadable."""
    image = thumbnail_image_for_file(path)
    return None if image is None else QPixmap.fromImage(image)


def thumbnail_image_for_file(path: Path) -> QImage | None:
    """thumbnail_for_file's picture as a QImage, which any thread may make (a QPixmap is the
    window thread's alone): a PNG is decoded whole, 1.9 s for 48 MP.

    Read with OpenCV, like the compositor, so every file that works as a background gets a
    thumbnail (Qt's own image plugins cover fewer formats, and the bundle ships only some).
    """
    path = _local_readable_file(path)
    if path is None:
        return None
    if path.suffix.lower() in VIDEO_EXTENSIONS or is_video_file(path):
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read()
        capture.release()
        if not ok:
            return None
    else:
        # Decoded small where the format allows (a 24 MP JPEG held the window 0.6 s): a thumbnail
        # needs a few hundred pixels (4x the icon, for high-DPI screens).
        frame, transparency = read_picture(path, max_side=4 * THUMBNAIL_SIZE.width())
        if frame is None:
            return None
        # Transparent parts on grey: in use the blurred room fills them (Compositor.set_image).
        frame = flatten_onto(frame, transparency, (128, 128, 128))
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


# --- file dialogs --------------------------------------------------------------------------
class DialogFolders:
    """Where each file dialog opens: the folder last used for that kind of file (kept in the
    settings file, so it survives a restart), else the user's Videos or Pictures folder (or, for a
    background, the shipped backgrounds), else home: never the working directory, which for a
    desktop app is wherever it happened to be started."""

    KINDS = {"video": QStandardPaths.StandardLocation.MoviesLocation,
             "image": QStandardPaths.StandardLocation.PicturesLocation,
             "background": QStandardPaths.StandardLocation.PicturesLocation}
    GROUP = "dialogs"

    def __init__(self, store: QSettings | None = None, backgrounds_dir: Path | None = None) -> None:
        self.store = store
        self.backgrounds_dir = Path(backgrounds_dir) if backgrounds_dir else resources.BACKGROUNDS_DIR
        self._memory: dict[str, str] = {}

    def _key(self, kind: str) -> str:
        return f"{self.GROUP}/{kind}_folder"

    def start(self, kind: str) -> str:
        last = self.store.value(self._key(kind)) if self.store is not None else self._memory.get(kind)
        candidates = [last] if isinstance(last, str) and last else []
        candidates.append(QStandardPaths.writableLocation(self.KINDS[kind]))
        if kind == "background":
            candidates.append(str(self.backgrounds_dir))
        candidates.append(str(Path.home()))
        for folder in candidates:
            if folder and os.path.isdir(folder):  # False, not an error, for a name too long to stat
                return str(Path(folder).absolute())
        return str(Path.home())

    def remember(self, kind: str, path: str) -> None:
        folder = str(Path(path).absolute().parent)
        self._memory[kind] = folder
        if self.store is not None:
            self.store.setValue(self._key(kind), folder)


# --- source --------------------------------------------------------------------------------
class _SourceCombo(QComboBox):
    """The source box. A closed QComboBox emits `activated` for each arrow key, so stepping with
    the keyboard opened "Open video" on reaching "Video file…" and then snapped back: "Image
    file…" below it could not be reached. While keys step (`stepping`) the panel leaves a file
    entry alone; Enter or Return on it opens it; leaving it unopened shows the source again."""

    left = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stepping = False

    def keyPressEvent(self, event) -> None:
        entry = self.itemData(self.currentIndex()) if self.currentIndex() >= 0 else None
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and entry and entry[0] == "pick":
            self.activated.emit(self.currentIndex())
            return
        self.stepping = True
        try:
            super().keyPressEvent(event)
        finally:
            self.stepping = False

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        if not self.view().isVisible():  # the popup takes the focus while it is open
            self.left.emit()


class SourcePanel(QGroupBox):
    """Cameras, the sample clip and file pickers; shows the source now playing."""

    sourceRequested = Signal(object)   # camera index or file path the user chose
    refreshRequested = Signal()        # look for cameras again

    def __init__(self, sample_clip: Path, parent: QWidget | None = None,
                 folders: DialogFolders | None = None) -> None:
        super().__init__("Source", parent)
        self.sample_clip = sample_clip
        self.folders = folders or DialogFolders()
        self._cameras: list[int] = []
        self._current = None  # spec of the source now playing, None when stopped
        self._searching = False
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        layout.addLayout(row)
        self.combo = _SourceCombo(self)
        self.combo.left.connect(self._show_current)  # an unopened "Video file…" is not the source
        self.combo.setToolTip("Camera, video file or photo to process")
        self.combo.setAccessibleName("Source")
        self.combo.activated.connect(self._on_activated)
        guard_wheel(self.combo)  # a wheel notch over it while scrolling would switch the source
        row.addWidget(self.combo, 1)
        self.refresh_button = QToolButton(self)
        self.refresh_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.refresh_button.setToolTip("Look for cameras again (e.g. after plugging one in)")
        self.refresh_button.setAccessibleName("Look for cameras again")
        self.refresh_button.clicked.connect(self._on_refresh)
        row.addWidget(self.refresh_button)
        # What the last look for cameras found: without it a click on ↻ seems to do nothing.
        self.status_label = QLabel(self)
        self.status_label.setObjectName("sourceStatus")
        self.status_label.setStyleSheet("#sourceStatus { color: #5f6368; }")
        self.status_label.setWordWrap(True)
        self.status_label.hide()
        layout.addWidget(self.status_label)
        self._populate()

    def _on_refresh(self) -> None:
        self._searching = True
        self.refresh_button.setEnabled(False)  # until the answer comes
        self.status_label.setText("Looking for cameras…")
        self.status_label.show()
        self.refreshRequested.emit()

    def set_cameras(self, cameras: list[int]) -> str | None:
        """The cameras found; after a click on ↻ also says what was found (and returns that)."""
        self._cameras = list(cameras)
        self._populate()
        if not self._searching:
            return None
        self._searching = False
        self.refresh_button.setEnabled(True)
        self.status_label.setText(self.cameras_found_text(self._cameras))
        self.status_label.show()
        return self.status_label.text()

    @staticmethod
    def cameras_found_text(cameras: list[int]) -> str:
        if not cameras:
            return "No camera found: connect one (and close other apps using it), then press ↻ again."
        names = ", ".join(f"Camera {index}" for index in cameras)
        return f"Found {len(cameras)} camera{'s' if len(cameras) != 1 else ''}: {names}"

    def set_current(self, spec) -> None:
        """Point the list at spec (None: nothing plays)."""
        self._current = spec
        self._show_current()

    def _populate(self) -> None:
        combo = self.combo
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
        self._show_current()

    @staticmethod
    def _entry_data(spec) -> tuple:
        if isinstance(spec, int):
            return ("camera", spec)
        if isinstance(spec, str):
            return ("file", spec)
        return ("active", getattr(spec, "description", str(spec)))  # a FrameSource handed in

    def _show_current(self) -> None:
        combo = self.combo
        blocked = combo.blockSignals(True)
        if self._current is None:
            combo.setCurrentIndex(-1)
            combo.setPlaceholderText("Pick a source")
        else:
            data = self._entry_data(self._current)
            index = self._find_entry(data)
            if index < 0:
                index = self._find_entry(("pick", "video"))
                name = data[1] if data[0] == "active" else Path(str(data[1])).name
                combo.insertItem(index - 1, name, data)
                index = self._find_entry(data)
            combo.setCurrentIndex(index)
        combo.blockSignals(blocked)

    def _find_entry(self, data: tuple) -> int:
        # Not QComboBox.findData: it compares Python objects by identity, not by value.
        for index in range(self.combo.count()):
            if self.combo.itemData(index) == data:
                return index
        return -1

    def _on_activated(self, index: int) -> None:
        kind, value = self.combo.itemData(index) or (None, None)
        if kind in ("camera", "file"):
            self.sourceRequested.emit(value)
        elif kind == "pick":
            if self.combo.stepping:
                return  # arrow keys pass over "Video file…"; Enter opens it
            self._show_current()  # stay on the current entry if the dialog is cancelled
            if value == "video":
                patterns = " ".join(f"*{ext}" for ext in sorted(VIDEO_EXTENSIONS))
                path, _ = QFileDialog.getOpenFileName(self, "Open video", self.folders.start("video"),
                                                      f"Videos ({patterns})")
            else:
                patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
                path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.folders.start("image"),
                                                      f"Images ({patterns})")
            if path:
                self.folders.remember(value, path)
                self.sourceRequested.emit(path)


# --- background ----------------------------------------------------------------------------
class _BackgroundList(QListWidget):
    """The thumbnails. Arrow keys move the highlight like a radio group's choice, so they apply
    the background they reach (before, the highlight moved and the background did not: the list
    showed one choice and the call another). "Colour…" and "Image file…" open a dialog, so a key
    passing over them only highlights them (Enter opens); leaving one unopened returns the
    highlight to the background in use."""

    stepped = Signal(QListWidgetItem)  # the arrow keys reached this item
    left = Signal()                   # the keyboard focus went elsewhere

    def keyPressEvent(self, event) -> None:
        before = self.currentItem()
        super().keyPressEvent(event)
        after = self.currentItem()
        if after is not None and after is not before:
            self.stepped.emit(after)

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.left.emit()


class BackgroundPanel(QGroupBox):
    """Thumbnails of the backgrounds: none, blur, a colour, the bundled pictures, your own file."""

    backgroundRequested = Signal(str, object)  # mode ('none', 'blur', 'color', 'image'), value
    _thumbnailMade = Signal(object, object)    # the custom entry's path, its QImage or None (unreadable)

    def __init__(self, color_bgr, backgrounds_dir: Path | None = None,
                 parent: QWidget | None = None, folders: DialogFolders | None = None) -> None:
        super().__init__("Background", parent)
        self.folders = folders or DialogFolders(backgrounds_dir=backgrounds_dir)
        self._color = tuple(color_bgr)
        self._selected: tuple[str, object] = ("none", None)  # what to return to on a cancel
        # Thumbnails of the user's own files are made here, off the window's thread (a large PNG
        # held the window for seconds); the entry shows a plain tile until its thumbnail comes.
        self._thumbnailer = QThreadPool(self)
        self._thumbnailer.setMaxThreadCount(1)
        self._thumbnailer.setExpiryTimeout(0)  # no thread kept waiting for the next custom file
        self._thumbnailMade.connect(self._on_thumbnail_made)
        layout = QVBoxLayout(self)
        self.list = _BackgroundList(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(THUMBNAIL_SIZE)
        self.list.setGridSize(QSize(THUMBNAIL_SIZE.width() + 12, THUMBNAIL_SIZE.height() + 30))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWrapping(True)
        self.list.setUniformItemSizes(True)
        self.list.setAccessibleName("Background")
        self.list.itemClicked.connect(self._on_item_clicked)
        self.list.itemActivated.connect(self._on_item_chosen)  # Enter; a click where the style says so
        self.list.stepped.connect(self._on_item_stepped)
        self.list.left.connect(self._show_selected)
        layout.addWidget(self.list)

        self._add("None", _none_icon(), "none", tooltip="Keep the real background")
        self._add("Blur", _blur_icon(), "blur", tooltip="Blur the real background (strength below)")
        self.color_item = self._add("Colour…", _swatch(bgr_to_qcolor(self._color)), "color",
                                    tooltip="Solid colour background (click to choose)")
        for path in resources.bundled_backgrounds(backgrounds_dir):
            thumbnail = thumbnail_for_file(path)
            if thumbnail is not None:
                self._add(path.stem.replace("_", " ").capitalize(), thumbnail, "image", str(path),
                          tooltip=str(path))
        self._add("Image file…", _pick_icon(self.style()), "pick",
                  tooltip="Use your own picture or video as the background")
        self._fit()

    def _add(self, text: str, pixmap: QPixmap, kind: str, value=None, tooltip: str = "",
             row: int | None = None) -> QListWidgetItem:
        item = QListWidgetItem(_untinted_icon(pixmap), text)
        item.setData(Qt.ItemDataRole.UserRole, (kind, value))
        item.setToolTip(tooltip or text)
        item.setSizeHint(self.list.gridSize())
        if row is None:
            self.list.addItem(item)
        else:
            self.list.insertItem(row, item)
        return item

    def _fit(self) -> None:
        """Tall enough for every thumbnail (up to 4 rows), so none hides behind a scroll bar."""
        grid = self.list.gridSize()
        rows = min(4, -(-self.list.count() // BACKGROUND_COLUMNS))
        frame = 2 * self.list.frameWidth() + 4
        self.list.setFixedHeight(rows * grid.height() + frame)
        self.list.setMinimumWidth(BACKGROUND_COLUMNS * grid.width() + frame
                                  + self.list.verticalScrollBar().sizeHint().width())

    def set_color(self, bgr) -> None:
        """The colour the swatch shows and the colour dialog starts from."""
        self._color = tuple(int(c) for c in bgr)
        self.color_item.setIcon(_untinted_icon(_swatch(bgr_to_qcolor(self._color))))

    def select(self, mode: str, value) -> None:
        """Highlight the entry of the background in use (adding a thumbnail for a custom file)."""
        self._selected = (mode, value)
        wanted_kind = "image" if mode in ("image", "video") else mode
        target = self._entry(wanted_kind, value)
        if target is None and wanted_kind == "image" and value:
            target = self._add_custom(Path(value))
        blocked = self.list.blockSignals(True)
        if target is not None:
            self.list.setCurrentItem(target)
        else:
            self.list.clearSelection()
        self.list.blockSignals(blocked)

    def _entry(self, kind: str, value) -> QListWidgetItem | None:
        """The list's entry of this kind (for a picture: of this file), if it has one."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            item_kind, item_value = item.data(Qt.ItemDataRole.UserRole)
            if item_kind == kind and (kind != "image" or item_value == str(value)):
                return item
        return None

    def _add_custom(self, path: Path) -> QListWidgetItem | None:
        if _local_readable_file(path) is None:
            return None  # missing, a folder, a network address: no entry
        item = self._add(path.stem[:14], _swatch(QColor("#e8eaed")), "image", str(path), tooltip=str(path),
                         row=self.list.count() - 1)  # before "Image file…"
        self._fit()
        self._thumbnailer.start(lambda: self._thumbnailMade.emit(path, thumbnail_image_for_file(path)))
        return item

    def _on_thumbnail_made(self, path: Path, image: QImage | None) -> None:
        item = self._entry("image", path)
        if item is None:
            return
        if image is not None:
            item.setIcon(_untinted_icon(QPixmap.fromImage(image)))
            return
        # Unreadable: no entry, as before thumbnails were made here (the worker says why).
        current = item is self.list.currentItem()
        self.list.takeItem(self.list.row(item))
        self._fit()
        if current:
            blocked = self.list.blockSignals(True)
            self.list.clearSelection()
            self.list.setCurrentItem(None)
            self.list.blockSignals(blocked)

    def wait_for_thumbnails(self) -> None:
        """Wait until the thumbnails being made are done (closing: none answers a panel taken down)."""
        self._thumbnailer.waitForDone()

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        # Where the style activates an item on a single click (KDE Plasma's default), the click
        # also emits itemActivated: chosen twice, "Colour…" and "Image file…" opened two dialogs.
        hint = QStyle.StyleHint.SH_ItemView_ActivateItemOnSingleClick
        if not self.list.style().styleHint(hint, None, self.list):
            self._on_item_chosen(item)

    def _on_item_stepped(self, item: QListWidgetItem) -> None:
        kind, _ = item.data(Qt.ItemDataRole.UserRole)
        if kind not in ("color", "pick"):  # those open a dialog: Enter does that
            self._on_item_chosen(item)

    def _show_selected(self) -> None:
        """Highlight the background in use again (after keys left a dialog entry unopened)."""
        if QApplication.activeModalWidget() is None:  # not while that entry's own dialog is open
            self.select(*self._selected)

    def _on_item_chosen(self, item: QListWidgetItem) -> None:
        kind, value = item.data(Qt.ItemDataRole.UserRole)
        if kind == "color":
            color = QColorDialog.getColor(bgr_to_qcolor(self._color), self, "Background colour")
            if color.isValid():
                self.backgroundRequested.emit("color", qcolor_to_bgr(color))
            else:
                self.select(*self._selected)
        elif kind == "pick":
            patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
            path, _ = QFileDialog.getOpenFileName(self, "Background picture or video",
                                                  self.folders.start("background"),
                                                  f"Pictures and videos ({patterns})")
            if path:
                self.folders.remember("background", path)
                self.backgroundRequested.emit("image", path)
            else:
                self.select(*self._selected)
        else:
            self.backgroundRequested.emit(kind, value)


# --- adjustments ---------------------------------------------------------------------------
# The edge finish's choices, as the user reads them (app/matting.py's edge modes).
EDGE_FINISH_NAMES = {
    "learned": "Learned (finest edge)",
    "guided": "Guided filter (less CPU)",
    "gaussian": "Soft blur (least CPU)",
}


class AdjustmentsPanel(QGroupBox):
    """Blur strength, edge finish and feather, threshold, smoothing, steadier edges and mirror."""

    changed = Signal()  # the user moved a slider or ticked mirror

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Adjustments", parent)
        layout = QVBoxLayout(self)
        self.blur_slider = LabeledSlider(
            "Blur strength", 0, BLUR_MAX, 1, decimals=0,
            tooltip="How strongly the Blur background is blurred (only for the Blur background)")
        self.feather_slider = LabeledSlider(
            "Edge feather", 0, FEATHER_MAX, 0.5, " px", decimals=1,
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
            slider.valueChanged.connect(self.changed)
            layout.addWidget(slider)
        edge_row = QHBoxLayout()
        edge_title = QLabel("Edge finish", self)
        edge_title.setMinimumWidth(110)
        self.edge_combo = QComboBox(self)
        for mode in EDGE_MODES:
            self.edge_combo.addItem(EDGE_FINISH_NAMES[mode], mode)
        self.edge_combo.setAccessibleName("Edge finish")
        tooltip = ("How the cut-out's edge is finished at the camera's own resolution: the learned "
                   "edge keeps hair and shoulders crisp without the old room's fringe; the guided "
                   "filter costs a little less CPU while you move; the soft blur least")
        for widget in (edge_title, self.edge_combo):
            widget.setToolTip(tooltip)
        edge_title.setBuddy(self.edge_combo)
        guard_wheel(self.edge_combo)  # a wheel notch while scrolling the panel must not switch it
        self.edge_combo.currentIndexChanged.connect(self.changed)
        edge_row.addWidget(edge_title)
        edge_row.addWidget(self.edge_combo, 1)
        layout.insertLayout(2, edge_row)  # beside the feather it works with
        self.steady_checkbox = self._checkbox(
            layout, "Steadier edges in motion",
            "Averages the outline with the last frame's, moved along with you: a little less "
            "flicker while you move, a slightly softer moving edge. Uses more CPU while you move")
        self.room_checkbox = self._checkbox(
            layout, "Remember the room",
            "Keeps the room the camera saw beside you out of your outline when it shows through "
            "again (between arm and head, beside a shoulder). Acts only where the room has a "
            "pattern the picture repeats; a plain wall is left to the model")
        self.looks_checkbox = self._checkbox(
            layout, "Two looks per model run",
            "The model also sees each frame mirrored: a steadier, better-placed outline for about "
            "twice the model's CPU (a photo, and the rare runs while you sit still, always get it)")
        self.mirror_checkbox = self._checkbox(
            layout, "Mirror image",
            "Flip left and right, like looking in a mirror; applies to the virtual camera too")

    def _checkbox(self, layout, text: str, tooltip: str) -> QCheckBox:
        """A checkbox in the panel's layout that reports a change like the sliders do."""
        checkbox = QCheckBox(text, self)
        checkbox.setToolTip(tooltip)
        checkbox.toggled.connect(self.changed)
        layout.addWidget(checkbox)
        return checkbox

    def set_background_mode(self, mode: str) -> None:
        """Blur strength does something only for the blur background: greyed out otherwise."""
        self.blur_slider.setEnabled(mode == "blur")

    def load(self, settings: AppSettings) -> None:
        """Show settings' values (without emitting changed)."""
        self.blur_slider.set_value(settings.blur_strength)
        self.feather_slider.set_value(settings.feather)
        self.threshold_slider.set_value(settings.threshold)
        self.smoothing_slider.set_value(settings.smoothing)
        blocked = self.edge_combo.blockSignals(True)
        self.edge_combo.setCurrentIndex(EDGE_MODES.index(settings.edge_mode) if settings.edge_mode in EDGE_MODES else 0)
        self.edge_combo.blockSignals(blocked)
        for checkbox, value in ((self.mirror_checkbox, settings.mirror), (self.steady_checkbox, settings.steady_edges),
                                (self.room_checkbox, settings.room_memory), (self.looks_checkbox, settings.mirror_average)):
            blocked = checkbox.blockSignals(True)
            checkbox.setChecked(value)
            checkbox.blockSignals(blocked)

    def store(self, settings: AppSettings) -> None:
        """Write the shown values into settings."""
        settings.blur_strength = self.blur_slider.value()
        settings.feather = self.feather_slider.value()
        settings.threshold = self.threshold_slider.value()
        settings.smoothing = self.smoothing_slider.value()
        settings.edge_mode = self.edge_combo.currentData()
        settings.mirror = self.mirror_checkbox.isChecked()
        settings.steady_edges = self.steady_checkbox.isChecked()
        settings.room_memory = self.room_checkbox.isChecked()
        settings.mirror_average = self.looks_checkbox.isChecked()


# --- virtual camera ------------------------------------------------------------------------
class VirtualCameraPanel(QGroupBox):
    """Start/stop button and the device it publishes to."""

    toggled = Signal(bool)  # the user asked to start (True) or stop (False)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Virtual camera", parent)
        layout = QVBoxLayout(self)
        self.button = QPushButton("Start virtual camera", self)
        self.button.setCheckable(True)
        self.button.setToolTip("Publish the result as a camera that Zoom, Teams, Meet … can select")
        self.button.clicked.connect(self.toggled)
        layout.addWidget(self.button)
        self.label = QLabel("Not publishing", self)
        self._device: str | None = None  # the device published to, while it is open
        self._has_source = False  # until the window says a source plays
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label)

    def set_starting(self) -> None:
        self.button.setChecked(True)
        self.button.setEnabled(False)  # until the worker answers
        self.button.setText("Starting virtual camera…")

    def set_started(self, device: str) -> None:
        self.button.setEnabled(True)
        self.button.setChecked(True)
        self.button.setText("Stop virtual camera")
        self._device = device
        self._show_device()

    def set_source_present(self, present: bool) -> None:
        """Whether a source plays. Without one no frames go out, and a call app keeps showing the
        last frame it got: the label says so instead of "Publishing"."""
        self._has_source = present
        self._show_device()

    def _show_device(self) -> None:
        if self._device is None:
            return
        if self._has_source:
            self.label.setText(f"Publishing to <b>{self._device}</b>")
        else:
            self.label.setText(f"<b>{self._device}</b> is open but has no source: calls see its last "
                               "frame until you pick one")

    def set_stopped(self, text: str = "Not publishing") -> None:
        self._device = None
        self.button.setEnabled(True)
        self.button.setChecked(False)
        self.button.setText("Start virtual camera")
        self.label.setText(text)

    def set_failed(self, reason: str = "no virtual camera device") -> None:
        self.set_stopped(VCAM_FAILED_PREFIX + reason + SEE_MESSAGE)

    def message_dismissed(self) -> None:
        text = self.label.text()
        if text.startswith(VCAM_FAILED_PREFIX) and text.endswith(SEE_MESSAGE):
            self.label.setText(text[:-len(SEE_MESSAGE)])  # the message it pointed to is gone
