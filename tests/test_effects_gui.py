"""The window's Effects panel: each toggle reaches the pipeline, and is remembered across restarts."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from app.gui.main_window import MainWindow, load_settings  # noqa: E402
from app.resources import SAMPLE_CLIP  # noqa: E402

TIMEOUT_MS = 15_000


@pytest.fixture
def store(tmp_path):
    return QSettings(str(tmp_path / "portraitcam.ini"), QSettings.Format.IniFormat)


def open_window(qtbot, store, tmp_path):
    window = MainWindow(settings_store=store, source=str(SAMPLE_CLIP),
                        sample_clip=tmp_path / "none.mp4", backgrounds_dir=tmp_path / "none")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.controller.worker.pipeline is not None, timeout=TIMEOUT_MS)
    return window


def pipeline_effects(window):
    return window.controller.worker.pipeline.effects.settings


def test_effect_toggles_reach_the_pipeline_and_persist(qtbot, store, tmp_path):
    window = open_window(qtbot, store, tmp_path)
    panel = window.effects_panel
    assert not any(box.isChecked() for box in panel.checkboxes)     # all off by default
    assert not panel.zoom_slider.isEnabled()
    panel.auto_frame_checkbox.setChecked(True)
    assert panel.zoom_slider.isEnabled()
    panel.zoom_slider.slider.setValue(panel.zoom_slider.slider.value() + 5)   # +0.5x
    panel.lighting_checkbox.setChecked(True)
    panel.strength_slider.set_value(0.8)
    panel.strength_slider.slider.valueChanged.emit(panel.strength_slider.slider.value())
    panel.low_light_checkbox.setChecked(True)
    panel.main_person_checkbox.setChecked(True)
    qtbot.waitUntil(lambda: pipeline_effects(window).main_person, timeout=TIMEOUT_MS)
    effects = pipeline_effects(window)
    assert (effects.auto_frame, effects.match_lighting, effects.low_light, effects.main_person) == (True,) * 4
    assert effects.zoom == pytest.approx(2.0)
    assert effects.lighting_strength == pytest.approx(0.8)
    # Frames keep coming with every effect on (the crop is in use).
    shown = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown > shown + 3, timeout=TIMEOUT_MS)
    window.close()

    saved = load_settings(store)
    assert (saved.auto_frame, saved.match_lighting, saved.low_light, saved.main_person) == (True,) * 4
    assert saved.auto_frame_zoom == pytest.approx(2.0)
    assert saved.lighting_strength == pytest.approx(0.8)

    again = open_window(qtbot, store, tmp_path)
    assert all(box.isChecked() for box in again.effects_panel.checkboxes)
    assert again.effects_panel.zoom_slider.value() == pytest.approx(2.0)
    qtbot.waitUntil(lambda: pipeline_effects(again).auto_frame, timeout=TIMEOUT_MS)
    again.effects_panel.low_light_checkbox.setChecked(False)
    qtbot.waitUntil(lambda: not pipeline_effects(again).low_light, timeout=TIMEOUT_MS)
    assert pipeline_effects(again).auto_frame
    again.close()
    assert not load_settings(store).low_light
