"""The window's Effects panel: a toggle per effect (app/effects.py) and the two amounts.

Speaks to the window like the other panels: load()/store() copy AppSettings in and out, and
`changed` says the user touched something.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGroupBox, QVBoxLayout, QWidget

from app.effects import LIGHTING_MODES
from app.framing import ZOOM_MAX, ZOOM_MIN
from app.gui.widgets import LabeledSlider
from app.settings import AppSettings


class EffectsPanel(QGroupBox):
    """Auto-frame (zoom), match lighting (strength), low-light boost, main person only."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Effects", parent)
        layout = QVBoxLayout(self)
        self.auto_frame_checkbox = QCheckBox("Auto-frame", self)
        self.auto_frame_checkbox.setToolTip(
            "Keep your head and shoulders centred, following you calmly when you move; the "
            "background stays whole, only you are reframed")
        self.zoom_slider = LabeledSlider(
            "Zoom", ZOOM_MIN, ZOOM_MAX, 0.1, "×", decimals=1,
            tooltip="How close auto-framing frames you (1× = the whole picture)")
        self.lighting_checkbox = QCheckBox("Match lighting", self)
        self.lighting_checkbox.setToolTip(
            "Nudge your brightness and colour toward the background's and let its light spill over "
            "your edge (picture, video and colour backgrounds)")
        self.strength_slider = LabeledSlider(
            "Strength", 0.0, 1.0, 0.05, decimals=2,
            tooltip="How far your light is moved toward the background's; skin stays skin-coloured")
        self.low_light_checkbox = QCheckBox("Low-light boost", self)
        self.low_light_checkbox.setToolTip(
            "Brighten a dim camera picture (before the cut-out, which then works better too)")
        self.main_person_checkbox = QCheckBox("Main person only", self)
        self.main_person_checkbox.setToolTip(
            "When several people are in view, keep only the main one (largest, most central, "
            "the one already shown)")
        for widget in (self.auto_frame_checkbox, self.zoom_slider, self.lighting_checkbox,
                       self.strength_slider, self.low_light_checkbox, self.main_person_checkbox):
            layout.addWidget(widget)
        for checkbox in self.checkboxes:
            checkbox.toggled.connect(self._on_toggled)
        for slider in (self.zoom_slider, self.strength_slider):
            slider.valueChanged.connect(self.changed)

    @property
    def checkboxes(self) -> tuple[QCheckBox, ...]:
        return (self.auto_frame_checkbox, self.lighting_checkbox, self.low_light_checkbox,
                self.main_person_checkbox)

    def _on_toggled(self) -> None:
        self._enable_sliders()
        self.changed.emit()

    def _enable_sliders(self) -> None:
        # An amount only means something while its effect is on (and can act).
        self.zoom_slider.setEnabled(self.auto_frame_checkbox.isChecked())
        self.strength_slider.setEnabled(self.lighting_checkbox.isChecked() and self.lighting_checkbox.isEnabled())

    def set_background_mode(self, mode: str) -> None:
        """Match lighting acts only over a picture, video or colour: greyed out over blur or the room
        itself (their light is the room's already), keeping the user's choice for when it can act."""
        self.lighting_checkbox.setEnabled(mode in LIGHTING_MODES)
        self._enable_sliders()

    def load(self, settings: AppSettings) -> None:
        """Show settings' values (without emitting changed)."""
        for checkbox, value in zip(self.checkboxes, (settings.auto_frame, settings.match_lighting,
                                                     settings.low_light, settings.main_person)):
            blocked = checkbox.blockSignals(True)
            checkbox.setChecked(bool(value))
            checkbox.blockSignals(blocked)
        self.zoom_slider.set_value(settings.auto_frame_zoom)
        self.strength_slider.set_value(settings.lighting_strength)
        self._enable_sliders()

    def store(self, settings: AppSettings) -> None:
        """Write the shown values into settings."""
        settings.auto_frame = self.auto_frame_checkbox.isChecked()
        settings.auto_frame_zoom = self.zoom_slider.value()
        settings.match_lighting = self.lighting_checkbox.isChecked()
        settings.lighting_strength = self.strength_slider.value()
        settings.low_light = self.low_light_checkbox.isChecked()
        settings.main_person = self.main_person_checkbox.isChecked()
