import numpy as np
import pytest

from app.compositing import BackgroundError, Compositor
from app.effects import EffectSettings
from app.matting import MatteSettings
from app.settings import SETTINGS_VERSION, AppSettings


def test_round_trip_keeps_every_value():
    settings = AppSettings(camera_index=2, width=640, height=480, fps=15, background_mode="image",
                           background_path="/x/beach.jpg", background_color=(1, 2, 3), blur_strength=30,
                           threshold=0.4, softness=0.2, feather=6, smoothing=0.3, mirror=False,
                           model_every_n=2, threads=3, virtual_camera_enabled=True,
                           virtual_camera_backend="obs", virtual_camera_device="OBS Virtual Camera")
    assert AppSettings.from_dict(settings.to_dict()) == settings


def test_missing_keys_take_defaults():
    assert AppSettings.from_dict({}) == AppSettings()
    assert AppSettings.from_dict(None) == AppSettings()
    assert AppSettings.from_dict({"fps": 60}).width == AppSettings().width


def test_strings_from_qsettings_are_converted():
    settings = AppSettings.from_dict({"fps": "60", "mirror": "false", "threshold": "0.25",
                                      "background_color": "10, 20, 30", "virtual_camera_enabled": "true"})
    assert settings.fps == 60 and settings.mirror is False and settings.threshold == 0.25
    assert settings.background_color == (10, 20, 30) and settings.virtual_camera_enabled is True


def test_bad_values_fall_back_or_clamp():
    settings = AppSettings.from_dict({"fps": "fast", "mirror": "maybe", "threshold": 7,
                                      "background_mode": "hologram", "background_color": [1, 2],
                                      "smoothing": float("nan"), "width": None, "camera_index": -4,
                                      "background_path": {"a": 1}})
    defaults = AppSettings()
    assert settings.fps == defaults.fps and settings.mirror == defaults.mirror
    assert settings.threshold == 1.0 and settings.camera_index == 0
    assert settings.background_mode == defaults.background_mode
    assert settings.background_color == defaults.background_color
    assert settings.smoothing == defaults.smoothing and settings.width == defaults.width
    assert settings.background_path == defaults.background_path


def test_unknown_keys_survive_a_round_trip():
    settings = AppSettings.from_dict({"future_option": 5})
    assert settings.to_dict()["future_option"] == 5


def test_matte_settings_follow_app_settings():
    matte = AppSettings(threshold=0.3, softness=0.1, feather=2.0, smoothing=0.6).matte_settings()
    assert (matte.threshold, matte.softness, matte.feather, matte.smoothing) == (0.3, 0.1, 2.0, 0.6)


def test_apply_background(tmp_path):
    compositor = Compositor()
    AppSettings(background_mode="color", background_color=(5, 6, 7), mirror=True).apply_background(compositor)
    assert compositor.mode == "color" and compositor.color == (5, 6, 7) and compositor.mirror
    out = compositor.composite(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32))
    assert np.all(out == np.array([5, 6, 7], np.uint8))
    with pytest.raises(BackgroundError):
        AppSettings(background_mode="image", background_path=str(tmp_path / "gone.jpg")).apply_background(compositor)
    assert compositor.mode == "color"


@pytest.mark.parametrize("key, raw", [
    ("camera_index", "inf"), ("camera_index", "-inf"), ("camera_index", "1e999"), ("width", float("inf")),
    ("fps", "nan"), ("background_color", "1e999,0,0"), ("background_color", "inf, 0, 0"),
    ("background_color", [float("inf"), 0, 0]), ("threshold", "inf"), ("blur_strength", "-inf"),
    ("model_every_n", "9" * 400), ("background_color", "nan 1 2"), ("mirror", object()),
])
def test_one_damaged_value_falls_back_to_its_default_with_a_warning(caplog, key, raw):
    # A hand-edited or damaged settings file must never stop the window from starting: the other
    # values are kept, the damaged one takes its default and the log says which one it was.
    with caplog.at_level("WARNING", logger="app.settings"):
        settings = AppSettings.from_dict({key: raw, "fps": 15 if key != "fps" else raw, "mirror": True
                                          if key != "mirror" else raw})
    assert getattr(settings, key) == getattr(AppSettings(), key)
    if key != "fps":
        assert settings.fps == 15
    if key != "mirror":
        assert settings.mirror is True
    assert any(key in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("damaged", ["5", "[1, 2]", "null", "{not json"])
def test_a_damaged_extra_entry_in_the_settings_file_does_not_stop_the_window(tmp_path, damaged):
    from PySide6.QtCore import QSettings

    from app.gui.main_window import SETTINGS_GROUP, load_settings

    store = QSettings(str(tmp_path / "portraitcam.ini"), QSettings.Format.IniFormat)
    store.beginGroup(SETTINGS_GROUP)
    store.setValue("extra", damaged)
    store.setValue("blur_strength", 33.0)
    store.endGroup()
    settings = load_settings(store)
    assert settings.blur_strength == 33.0


def test_a_default_that_changed_reaches_settings_saved_before_it():
    """Settings saved by an older version hold every value, chosen or not: one equal to the default
    that has since changed (feather 4 px before version 2) follows the new default; a value the user
    moved, or one saved by this version, stays as it was."""
    old_default = {"feather": "4.0", "threshold": "0.5"}  # version 1 wrote no settings_version
    assert AppSettings.from_dict(old_default).feather == AppSettings().feather == MatteSettings.feather != 4.0
    assert AppSettings.from_dict({"feather": "6.5"}).feather == 6.5
    assert AppSettings.from_dict({"feather": 4.0, "settings_version": 2}).feather == 4.0
    migrated = AppSettings.from_dict(old_default)
    assert migrated.settings_version == SETTINGS_VERSION
    assert AppSettings.from_dict(migrated.to_dict()) == migrated
    # A newer version's settings keep their version number (not lowered, so not migrated twice)
    assert AppSettings.from_dict({"feather": 4.0, "settings_version": 9}).settings_version == 9
    # version 3: the learned edge; a user who picked another edge mode keeps it
    assert AppSettings.from_dict({"edge_mode": "guided", "settings_version": "2"}).edge_mode == "learned" == AppSettings().edge_mode
    assert AppSettings.from_dict({"edge_mode": "gaussian", "settings_version": "2"}).edge_mode == "gaussian"
    assert AppSettings.from_dict({"edge_mode": "guided", "settings_version": "3"}).edge_mode == "guided"


@pytest.mark.parametrize("key, raw, used", [("camera_index", "999", 255), ("feather", "99", 30.0),
                                            ("threshold", "-3", 0.0), ("fps", 500, 120)])
def test_an_out_of_range_value_is_brought_into_range_with_a_warning(caplog, key, raw, used):
    with caplog.at_level("WARNING", logger="app.settings"):
        settings = AppSettings.from_dict({key: raw})
    assert getattr(settings, key) == used
    assert any(key in record.getMessage() and "outside" in record.getMessage() for record in caplog.records)


def test_a_count_with_a_fraction_is_damaged_not_truncated(caplog):
    with caplog.at_level("WARNING", logger="app.settings"):
        settings = AppSettings.from_dict({"camera_index": "1.5", "fps": "24.0"})
    assert settings.camera_index == AppSettings().camera_index and settings.fps == 24  # was camera 1, silently
    assert any("camera_index" in record.getMessage() for record in caplog.records)


def test_with_changes_takes_only_the_fields_changed_here_over_what_is_stored():
    from app.settings import with_changes
    before = AppSettings()
    after = AppSettings(threshold=0.3, background_mode="color", background_color=(1, 2, 3))
    stored = AppSettings(feather=6.0, threshold=0.9, extra={"future_key": 1})
    merged = with_changes(stored, before, after)
    assert (merged.threshold, merged.background_mode, merged.background_color) == (0.3, "color", (1, 2, 3))
    assert merged.feather == 6.0 and merged.extra == {"future_key": 1}  # another window's, kept
    assert stored.threshold == 0.9 and merged.extra is not stored.extra  # the inputs are left alone


def test_the_window_and_cli_defaults_are_the_stages_own():
    # AppSettings takes its defaults from the stages' settings, so a stage's default changed in one
    # place reaches the window, the CLI and the saved file.
    defaults = AppSettings()
    assert defaults.matte_settings() == MatteSettings()
    assert defaults.effect_settings() == EffectSettings()  # the schedule's: tests/test_scheduling.py
