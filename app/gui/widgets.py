"""Small widgets of the main window: preview with overlay, message banner, labelled slider,
and the wheel guard that keeps the side panel's scrolling from changing settings."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)


class WheelGuard(QObject):
    """Lets a control (slider, combo box) take the mouse wheel only when it has focus (clicked or
    tabbed to). Otherwise the wheel scrolls the scroll area around it: scrolling down the side
    panel must not drag every slider it passes over (Smoothing 0.50 -> 0.00 in four notches)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        area = watched.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:
            # Sent on explicitly: Qt does not pass a wheel event up the parents when it was not
            # spontaneous, and the control must not see it either way.
            viewport = area.viewport()
            position = QPointF(watched.mapTo(viewport, event.position().toPoint()))
            forwarded = QWheelEvent(position, event.globalPosition(), event.pixelDelta(),
                                    event.angleDelta(), event.buttons(), event.modifiers(),
                                    event.phase(), event.inverted(), event.source())
            QApplication.sendEvent(viewport, forwarded)
        event.accept()
        return True


_WHEEL_GUARD: WheelGuard | None = None


def guard_wheel(widget: QWidget) -> None:
    """Wheel only when focused; focus by click or Tab, never by the wheel itself (see WheelGuard)."""
    global _WHEEL_GUARD
    if _WHEEL_GUARD is None:
        _WHEEL_GUARD = WheelGuard()
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_WHEEL_GUARD)


class PreviewLabel(QLabel):
    """Shows the latest frame scaled to fit (aspect kept) with an FPS/latency overlay."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.setObjectName("preview")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Ignored: the label must not grow to the pixmap's size; it scales the pixmap instead.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(320, 180)
        self.setStyleSheet("#preview { background: #101214; color: #9aa0a6; border-radius: 6px; }")
        self.setText("Starting…")
        self.overlay = QLabel(self)
        self.overlay.setObjectName("previewOverlay")
        self.overlay.setStyleSheet(
            "#previewOverlay { background: rgba(0, 0, 0, 150); color: #f1f3f4; padding: 3px 8px;"
            " border-radius: 4px; font-family: monospace; }")
        self.overlay.move(10, 10)
        self.overlay.hide()

    def sizeHint(self) -> QSize:
        return QSize(800, 450)

    def image(self) -> QImage | None:
        """The last full-resolution frame shown."""
        return self._image

    def set_image(self, image: QImage) -> None:
        self._image = image
        self._rescale()

    def clear_image(self, text: str) -> None:
        self._image = None
        self.clear()
        self.setText(text)
        self.overlay.hide()

    def set_overlay_text(self, text: str) -> None:
        self.overlay.setText(text)
        self.overlay.adjustSize()
        self.overlay.show()
        self.overlay.raise_()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is None or self._image.isNull():
            return
        if self.window().isMinimized():
            return  # often minimised during a call while the virtual camera runs: save the work
        # Scale to device pixels so the picture stays sharp on high-DPI screens.
        ratio = self.devicePixelRatioF()
        scaled = self._image.scaled(self.size() * ratio, Qt.AspectRatioMode.KeepAspectRatio,
                                    Qt.TransformationMode.SmoothTransformation)
        scaled.setDevicePixelRatio(ratio)
        self.setPixmap(QPixmap.fromImage(scaled))

    def refresh(self) -> None:
        """Redraw the last frame (e.g. after the window is restored from minimised)."""
        self._rescale()


class MessageBanner(QFrame):
    """Stacked messages, one per topic (camera, background, virtual camera …), each dismissable.

    The newest message is on top and the banner grows to show every message, up to a share of the
    window; beyond that the older ones scroll below the newest and a count says so. A new message
    is therefore always in view (a button that answers with one never seems to do nothing)."""

    _STYLES = {
        "error": ("#fdecea", "#8a1c13", "#f5c2bd"),
        "warning": ("#fff4e5", "#6b4100", "#f6d7a7"),
        "info": ("#e8f0fe", "#174ea6", "#c6dafc"),
    }

    changed = Signal()
    cleared = Signal(str)  # key of a message that was dismissed or replaced by none

    MAX_HEIGHT = 150       # at least this much room for messages ...
    MAX_FRACTION = 0.35    # ... or this share of the window, so the preview keeps most of it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: dict[str, tuple[QFrame, QLabel, str]] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("messageCount")
        self.count_label.setStyleSheet("#messageCount { color: #5f6368; }")
        self.count_label.hide()
        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget(self._scroll)
        self._layout = QVBoxLayout(content)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._scroll.setWidget(content)
        outer.addWidget(self._scroll)
        outer.addWidget(self.count_label)
        self.hide()

    def max_height(self) -> int:
        """The most room the messages get: MAX_HEIGHT or MAX_FRACTION of the window."""
        window = self.window()
        share = int(window.height() * self.MAX_FRACTION) if window is not self else 0
        return max(self.MAX_HEIGHT, share)

    def fit(self) -> None:
        """Grow or shrink to the messages (call when the window's height changes)."""
        content = self._scroll.widget()
        content.adjustSize()
        width = self._scroll.viewport().width() or self.width()
        layout = content.layout()
        needed = layout.heightForWidth(width) if layout.hasHeightForWidth() else layout.sizeHint().height()
        limit = self.max_height()
        hidden = needed > limit and len(self._rows) > 1
        if hidden:
            self.count_label.setText(f"{len(self._rows)} messages, newest first: scroll down for "
                                     "the older ones")
            limit -= self.count_label.sizeHint().height() + self.layout().spacing()
        self.count_label.setVisible(hidden)
        self._scroll.setFixedHeight(max(0, min(needed, limit)))

    _fit_height = fit

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def show_message(self, key: str, text: str, level: str = "error",
                     copy_text: str | None = None, copy_label: str = "Copy") -> None:
        """Show text on topic key (replacing an older one); Copy puts copy_text (default: text)
        on the clipboard, e.g. just the setup command out of a longer explanation."""
        self._remove(key)
        background, foreground, border = self._STYLES.get(level, self._STYLES["error"])
        row = QFrame(self)
        row.setObjectName(f"message_{key}")
        row.setStyleSheet(
            f"QFrame#message_{key} {{ background: {background}; border: 1px solid {border};"
            f" border-radius: 6px; }} QLabel {{ color: {foreground}; }}")
        layout = QHBoxLayout(row)
        layout.setContentsMargins(10, 6, 6, 6)
        label = QLabel(text, row)
        label.setTextFormat(Qt.TextFormat.PlainText)  # file names and commands shown verbatim
        label.setWordWrap(True)
        # Selectable so the user can copy a setup command straight out of the message.
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(label, 1)
        clipboard_text = copy_text if copy_text is not None else text
        copy_button = QPushButton(copy_label, row)
        copy_button.setToolTip(clipboard_text)
        copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(clipboard_text))
        layout.addWidget(copy_button, 0, Qt.AlignmentFlag.AlignTop)
        close_button = QPushButton("Dismiss", row)
        close_button.clicked.connect(lambda: self.clear_message(key))
        layout.addWidget(close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._layout.insertWidget(0, row)  # newest on top: always in view
        # Shown now, not when the layout gets to it: a hidden row would not count in the height
        # measured below, and the banner would stay one message short.
        row.show()
        self._rows[key] = (row, label, level)
        self.show()
        self._fit_height()
        self._scroll.verticalScrollBar().setValue(0)
        self.changed.emit()

    def clear_message(self, key: str) -> None:
        if self._remove(key):
            self.changed.emit()
            self.cleared.emit(key)
        if not self._rows:
            self.hide()

    def _remove(self, key: str) -> bool:
        entry = self._rows.pop(key, None)
        if entry is None:
            return False
        entry[0].hide()
        self._layout.removeWidget(entry[0])
        entry[0].deleteLater()
        self._fit_height()
        return True

    def message(self, key: str) -> str:
        """Text of the message on topic key ('' if none)."""
        entry = self._rows.get(key)
        return entry[1].text() if entry else ""

    def messages(self) -> dict[str, str]:
        """Text per topic, oldest first."""
        return {key: entry[1].text() for key, entry in self._rows.items()}

    def message_row(self, key: str) -> QFrame | None:
        """The widget showing the message on topic key (None if none)."""
        entry = self._rows.get(key)
        return entry[0] if entry else None


class LabeledSlider(QWidget):
    """A horizontal slider over a float range with its name and current value beside it."""

    valueChanged = Signal(float)

    def __init__(self, title: str, minimum: float, maximum: float, step: float,
                 unit: str = "", decimals: int = 2, tooltip: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._minimum, self._step = minimum, step
        self._unit, self._decimals = unit, decimals
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel(title, self)
        self.title.setMinimumWidth(110)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, round((maximum - minimum) / step))
        self.slider.setAccessibleName(title)
        guard_wheel(self.slider)
        self.value_label = QLabel(self)
        self.value_label.setMinimumWidth(56)
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if tooltip:
            for widget in (self.title, self.slider, self.value_label):
                widget.setToolTip(tooltip)
        self.title.setBuddy(self.slider)
        layout.addWidget(self.title)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.value_label)
        self.slider.valueChanged.connect(self._on_slider)
        self._update_label()

    def value(self) -> float:
        # Rounded to well below a step: 0.05 x 19 is 0.9500000000000001, which was saved as such and
        # clamped back to 0.95, with a warning, at every start.
        return round(self._minimum + self.slider.value() * self._step, 9)

    def set_value(self, value: float) -> None:
        """Set without emitting valueChanged (used when restoring settings)."""
        blocked = self.slider.blockSignals(True)
        self.slider.setValue(round((value - self._minimum) / self._step))
        self.slider.blockSignals(blocked)
        self._update_label()

    def _on_slider(self, _position: int) -> None:
        self._update_label()
        self.valueChanged.emit(self.value())

    def _update_label(self) -> None:
        self.value_label.setText(f"{self.value():.{self._decimals}f}{self._unit}")
