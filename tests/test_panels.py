"""The window's panels on their own (real widgets, offscreen): each speaks only through signals."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402

from app.gui.panels import (AdjustmentsPanel, BackgroundPanel, SourcePanel,  # noqa: E402
                            VirtualCameraPanel, thumbnail_for_file)
from app.settings import AppSettings  # noqa: E402


def test_source_panel_lists_cameras_and_asks_for_the_chosen_one(qtbot, tmp_path):
    panel = SourcePanel(tmp_path / "no_sample.mp4")
    qtbot.addWidget(panel)
    panel.set_cameras([0, 2])
    assert [panel.combo.itemText(i) for i in range(2)] == ["Camera 0", "Camera 2"]
    with qtbot.waitSignal(panel.sourceRequested) as request:
        panel.combo.activated.emit(1)
    assert request.args == [2]
    panel.set_current(str(tmp_path / "clip.mp4"))  # a file not in the list gets an entry
    assert panel.combo.currentText() == "clip.mp4"
    panel.set_current(None)
    assert panel.combo.currentIndex() == -1
    with qtbot.waitSignal(panel.refreshRequested):
        qtbot.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)


def test_background_panel_asks_for_a_background_and_shows_the_one_in_use(qtbot, tmp_path):
    picture = tmp_path / "beach.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 200, np.uint8))
    panel = BackgroundPanel((64, 177, 0), backgrounds_dir=tmp_path)
    qtbot.addWidget(panel)
    names = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert names == ["None", "Blur", "Colour…", "Beach", "Image file…"]
    with qtbot.waitSignal(panel.backgroundRequested) as request:
        panel.list.itemClicked.emit(panel.list.item(1))
    assert request.args == ["blur", None]
    panel.select("image", str(picture))
    assert panel.list.currentItem().text() == "Beach"
    custom = tmp_path / "mine.png"
    cv2.imwrite(str(custom), np.zeros((20, 20, 3), np.uint8))
    panel.select("image", str(custom))  # a file of the user's own gets a thumbnail of its own
    assert panel.list.currentItem().text() == "mine" and panel.list.count() == 6
    panel.set_color((255, 0, 0))
    colour = panel.color_item.icon().pixmap(panel.list.iconSize()).toImage().pixel(5, 5)
    assert QColor(colour).name() == "#0000ff"


def test_adjustments_panel_round_trips_settings(qtbot):
    panel = AdjustmentsPanel()
    qtbot.addWidget(panel)
    settings = AppSettings(blur_strength=40, feather=7.5, threshold=0.3, smoothing=0.6, mirror=True)
    panel.load(settings)
    with qtbot.waitSignal(panel.changed):
        panel.feather_slider.slider.setValue(panel.feather_slider.slider.value() + 1)
    stored = AppSettings()
    panel.store(stored)
    values = (stored.blur_strength, stored.feather, stored.threshold, stored.smoothing, stored.mirror)
    assert values == pytest.approx((40, 8.0, 0.3, 0.6, True))
    # The sliders end where the CLI clamps (issue 10): the same ranges everywhere.
    from app.compositing import BLUR_MAX
    from app.matting import FEATHER_MAX

    panel.load(AppSettings(blur_strength=1e6, feather=1e6))
    assert panel.blur_slider.value() == BLUR_MAX and panel.feather_slider.value() == FEATHER_MAX


def test_adjustments_panel_chooses_the_edge_finish(qtbot):
    """Each edge mode can be picked in the window and is shown again when loaded; picking one
    reports a change, loading one does not."""
    from app.matting import EDGE_MODES

    panel = AdjustmentsPanel()
    qtbot.addWidget(panel)
    assert [panel.edge_combo.itemData(i) for i in range(panel.edge_combo.count())] == list(EDGE_MODES)
    assert all(panel.edge_combo.itemText(i) for i in range(panel.edge_combo.count()))
    for mode in EDGE_MODES:
        panel.load(AppSettings(edge_mode="learned" if mode != "learned" else "guided"))
        with qtbot.waitSignal(panel.changed):
            panel.edge_combo.setCurrentIndex(EDGE_MODES.index(mode))
        stored = AppSettings()
        panel.store(stored)
        assert stored.edge_mode == mode and stored.matte_settings().edge_mode == mode
        with qtbot.assertNotEmitted(panel.changed):
            panel.load(AppSettings(edge_mode="gaussian"))
        assert panel.edge_combo.currentData() == "gaussian"


def test_virtual_camera_panel_states(qtbot):
    panel = VirtualCameraPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.toggled) as toggled:
        qtbot.mouseClick(panel.button, Qt.MouseButton.LeftButton)
    assert toggled.args == [True]
    panel.set_starting()
    assert not panel.button.isEnabled()
    panel.set_started("/dev/video7")
    assert panel.button.isChecked() and "/dev/video7" in panel.label.text()
    panel.set_failed()
    assert not panel.button.isChecked() and "see the message" in panel.label.text()
    panel.message_dismissed()
    assert panel.label.text() == "Not publishing: no virtual camera device"


# --- issue 15: the window, tried as a new user would -------------------------------------------
def test_adjustments_panel_greys_out_blur_strength_unless_the_background_is_blur(qtbot):
    panel = AdjustmentsPanel()
    qtbot.addWidget(panel)
    for mode in ("none", "color", "image", "video"):
        panel.set_background_mode(mode)
        assert not panel.blur_slider.isEnabled() and not panel.blur_slider.slider.isEnabled(), mode
    panel.set_background_mode("blur")
    assert panel.blur_slider.isEnabled()


def test_source_panel_says_what_a_look_for_cameras_found(qtbot, tmp_path):
    panel = SourcePanel(tmp_path / "no_sample.mp4")
    qtbot.addWidget(panel)
    panel.show()
    panel.set_cameras([0])  # the first look at start-up is not announced
    assert not panel.status_label.isVisible()
    with qtbot.waitSignal(panel.refreshRequested):
        qtbot.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)
    assert panel.status_label.text() == "Looking for cameras…" and not panel.refresh_button.isEnabled()
    panel.set_cameras([])
    assert panel.status_label.text().startswith("No camera found") and panel.refresh_button.isEnabled()
    qtbot.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)
    panel.set_cameras([1])
    assert panel.status_label.text() == "Found 1 camera: Camera 1"


def test_sliders_ignore_the_wheel_until_focused(qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    panel = AdjustmentsPanel()
    qtbot.addWidget(panel)
    panel.show()
    slider = panel.smoothing_slider.slider
    panel.load(AppSettings(smoothing=0.5))
    notch = QWheelEvent(QPointF(5, 5), QPointF(5, 5), QPoint(0, 0), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    for _ in range(4):
        QApplication.sendEvent(slider, notch)
    assert panel.smoothing_slider.value() == pytest.approx(0.5)
    assert slider.focusPolicy() == Qt.FocusPolicy.StrongFocus  # click or Tab, never the wheel


def test_a_transparent_pictures_thumbnail_shows_grey_where_it_is_transparent(qtbot, tmp_path):
    picture = np.zeros((90, 160, 4), np.uint8)
    picture[..., :3] = (255, 0, 255)  # hidden under the transparent left half: never shown
    picture[:, 80:] = (200, 120, 40, 255)
    path = tmp_path / "overlay.png"
    cv2.imwrite(str(path), picture)
    image = thumbnail_for_file(path).toImage()
    left, right = image.pixelColor(4, image.height() // 2), image.pixelColor(image.width() - 4, image.height() // 2)
    assert (left.red(), left.green(), left.blue()) == (128, 128, 128)
    assert (right.red(), right.green(), right.blue()) == (40, 120, 200)


@pytest.mark.parametrize("single_click_activates", [False, True])
def test_one_click_on_colour_opens_one_dialog_whatever_the_style(qtbot, tmp_path, monkeypatch, single_click_activates):
    # Where the style activates an item on a single click (KDE Plasma's default) a click emits
    # itemClicked and itemActivated: "Colour…" and "Image file…" opened their dialogs twice.
    from PySide6.QtWidgets import QColorDialog, QProxyStyle, QStyle

    class Style(QProxyStyle):
        def styleHint(self, hint, option=None, widget=None, data=None):
            if hint == QStyle.StyleHint.SH_ItemView_ActivateItemOnSingleClick:
                return int(single_click_activates)
            return super().styleHint(hint, option, widget, data)

    opened = []
    monkeypatch.setattr(QColorDialog, "getColor", lambda *args: opened.append(True) or QColor())
    panel = BackgroundPanel((64, 177, 0), backgrounds_dir=tmp_path)
    qtbot.addWidget(panel)
    style = Style()
    panel.list.setStyle(style)
    panel.show()
    colour = next(panel.list.item(i) for i in range(panel.list.count()) if panel.list.item(i).text() == "Colour…")
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.list.visualItemRect(colour).center())
    assert opened == [True]
    panel.list.setCurrentItem(colour)
    qtbot.keyClick(panel.list, Qt.Key.Key_Return)  # the keyboard chooses it too
    assert opened == [True, True]


def test_arrow_keys_step_over_the_file_entries_and_enter_opens_one(qtbot, tmp_path, monkeypatch):
    # A closed combo box emits `activated` for each arrow key: stepping down opened "Open video" on
    # reaching "Video file…", then snapped back, so "Image file…" could never be reached by keys.
    from PySide6.QtWidgets import QFileDialog

    opened = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: opened.append(args[1]) or ("", ""))
    panel = SourcePanel(tmp_path / "no_sample.mp4")
    qtbot.addWidget(panel)
    panel.set_cameras([0])
    panel.show()
    panel.combo.setFocus()
    texts = [panel.combo.itemText(i) for i in range(panel.combo.count())]
    image_row = next(i for i, text in enumerate(texts) if text.startswith("Image file"))
    for _ in range(image_row - panel.combo.currentIndex()):
        qtbot.keyClick(panel.combo, Qt.Key.Key_Down)
    assert opened == [] and panel.combo.currentIndex() == image_row
    qtbot.keyClick(panel.combo, Qt.Key.Key_Return)
    assert opened == ["Open photo"]


def test_a_saved_dialog_folder_that_cannot_be_looked_at_falls_back(tmp_path):
    # A folder name too long to stat (ENAMETOOLONG) raised from Path.is_dir, and no dialog opened.
    from app.gui.panels import DialogFolders

    folders = DialogFolders(backgrounds_dir=tmp_path)
    folders.remember("video", "/" + "x" * 300 + "/clip.mp4")
    start = folders.start("video")
    assert os.path.isdir(start) and "x" * 300 not in start


def test_every_slider_stores_its_steps_as_written(qtbot):
    # 0.05 x 19 is 0.9500000000000001 in floating point: saved so, and clamped back to 0.95 with a
    # warning at every start.
    from app.gui.widgets import LabeledSlider

    panel = AdjustmentsPanel()
    qtbot.addWidget(panel)
    settings = AppSettings()
    for slider in (panel.blur_slider, panel.feather_slider, panel.threshold_slider, panel.smoothing_slider):
        slider.slider.setValue(slider.slider.maximum())
    panel.store(settings)
    assert repr(settings.smoothing) == "0.95"  # the slider's top
    slider = LabeledSlider("x", 0.0, 1.0, 0.1)
    qtbot.addWidget(slider)
    assert [slider.set_value(v / 10) or slider.value() for v in range(11)] == [v / 10 for v in range(11)]


def test_arrow_keys_in_the_background_list_apply_what_they_reach_but_open_no_dialog(qtbot, tmp_path, monkeypatch):
    # The arrow keys moved the highlight and left the background as it was: the list showed one
    # background and the call had another.
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QFocusEvent
    from PySide6.QtWidgets import QApplication, QColorDialog, QFileDialog
    for name in ("beach", "office"):
        cv2.imwrite(str(tmp_path / f"{name}.jpg"), np.full((90, 160, 3), 90, np.uint8))
    opened = []
    monkeypatch.setattr(QColorDialog, "getColor", lambda *args: opened.append("colour") or QColor())
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kw: opened.append("file") or ("", ""))
    panel = BackgroundPanel((64, 177, 0), backgrounds_dir=tmp_path)
    qtbot.addWidget(panel)
    panel.show()
    requested = []
    panel.backgroundRequested.connect(lambda mode, value: requested.append((mode, value)))
    panel.select("none", None)
    for _ in range(4):  # None -> Blur -> Colour… -> Beach -> Office
        qtbot.keyClick(panel.list, Qt.Key.Key_Right)
    assert requested == [("blur", None), ("image", str(tmp_path / "beach.jpg")),
                         ("image", str(tmp_path / "office.jpg"))]
    assert opened == []  # passing over "Colour…" opened no dialog
    panel.select("image", str(tmp_path / "office.jpg"))  # the window's answer
    qtbot.keyClick(panel.list, Qt.Key.Key_Right)  # onto "Image file…": highlighted only
    assert panel.list.currentItem().text() == "Image file…" and opened == [] and len(requested) == 3
    # Left unopened (Tab, a click elsewhere): the highlight shows the background in use again.
    QApplication.sendEvent(panel.list, QFocusEvent(QEvent.Type.FocusOut, Qt.FocusReason.TabFocusReason))
    assert panel.list.currentItem().text() == "Office" and len(requested) == 3
    qtbot.keyClick(panel.list, Qt.Key.Key_Left)  # from the one in use: back to Beach
    assert requested[-1] == ("image", str(tmp_path / "beach.jpg"))


def test_a_custom_backgrounds_thumbnail_is_made_off_the_window_thread(qtbot, tmp_path, monkeypatch):
    # select() decoded the user's picture on the window's thread to make its thumbnail: a 48 MP PNG
    # held the window 1.9 s at each start and each choice.
    import threading
    import time

    from app.gui import panels
    real, threads = panels.thumbnail_image_for_file, []

    def slow(path):
        threads.append(threading.current_thread())
        time.sleep(0.5)
        return real(path)
    monkeypatch.setattr(panels, "thumbnail_image_for_file", slow)
    picture, corrupt = tmp_path / "mine.png", tmp_path / "broken.png"
    cv2.imwrite(str(picture), np.full((20, 20, 3), (0, 0, 255), np.uint8))
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    panel = BackgroundPanel((64, 177, 0), backgrounds_dir=tmp_path / "none")
    qtbot.addWidget(panel)
    started = time.monotonic()
    panel.select("image", str(picture))
    panel.select("image", str(corrupt))
    panel.select("image", str(picture))  # back to the one in use: the broken one is not
    assert time.monotonic() - started < 0.3  # the window did not wait for the decodes
    assert [panel.list.item(i).text() for i in range(panel.list.count())][-3:] == ["mine", "broken", "Image file…"]

    def tile(item):
        return QColor(item.icon().pixmap(panel.list.iconSize()).toImage().pixel(5, 5)).name()
    mine = panel.list.currentItem()
    assert tile(mine) == "#e8eaed"  # a plain tile until the thumbnail comes
    qtbot.waitUntil(lambda: tile(mine) == "#ff0000", timeout=5000)
    qtbot.waitUntil(lambda: panel.list.count() == 5, timeout=5000)  # the unreadable one is gone
    assert panel.list.currentItem() is mine and threading.main_thread() not in threads
    panel.select("image", str(corrupt))  # in use (a saved choice at start): still no entry for it
    qtbot.waitUntil(lambda: panel.list.count() == 5, timeout=5000)
    assert panel.list.currentItem() is None and "broken" not in [panel.list.item(i).text() for i in range(5)]
