"""GUI tests: the real main window, worker threads and ONNX model, offscreen with pytest-qt.

Pixel checks use conftest's mean-brightness model (a contract-shaped ONNX model run by the real
Segmenter) on clips of a bright disc on a dark ground, so the matte is known exactly: the
corners are background (alpha 0) and the centre is the "person" (alpha 1).
"""
import os

# Before PySide6 is imported anywhere: no display here or in CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.capture import FrameSource, list_cameras  # noqa: E402
from app.gui.main_window import MainWindow, load_settings, open_settings_store  # noqa: E402
from app.gui.worker import LatestSlot, qimage_to_bgr  # noqa: E402
from app.sinks import LINUX_SETUP_COMMAND, virtual_camera_setup_hint  # noqa: E402
from conftest import FaultySegmenter, level_frames, person_frames, write_video  # noqa: E402

TIMEOUT_MS = 10_000  # generous: two shared cores, the model and the test runner compete
GREEN, RED, BLUE = (0, 255, 0), (0, 0, 255), (255, 0, 0)  # BGR


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    """Point QSettings' INI user scope at tmp_path so no test reads or writes the user's settings."""
    config = tmp_path / "config"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(config))
    yield config


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "person.mp4", person_frames(20, width=160, height=120), fps=15.0)


@pytest.fixture
def make_window(qtbot, tmp_path, mean_model):
    """Factory for main windows; closes (and so shuts down the worker threads of) each at the end."""
    windows = []

    def make(source=None, model_path=mean_model, sample_clip=None, **kwargs):
        window = MainWindow(source=source, model_path=model_path,
                            sample_clip=sample_clip or tmp_path / "no_sample_clip.mp4",
                            backgrounds_dir=kwargs.pop("backgrounds_dir", tmp_path / "no_backgrounds"),
                            **kwargs)
        qtbot.addWidget(window)
        window.resize(1000, 640)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def preview_pixels(window) -> np.ndarray:
    image = window.preview.image()
    assert image is not None, "no frame in the preview"
    return qimage_to_bgr(image)


def selected_background(window) -> str:
    item = window.background_list.currentItem()
    return item.text() if item is not None else ""


def corner_colour(window) -> np.ndarray:
    """Mean BGR of the top-left 12x12 pixels, which are background in person_frames."""
    return preview_pixels(window)[:12, :12].reshape(-1, 3).mean(axis=0)


def centre_colour(window) -> np.ndarray:
    pixels = preview_pixels(window)
    h, w = pixels.shape[:2]
    return pixels[h // 2 - 4:h // 2 + 4, w // 2 - 4:w // 2 + 4].reshape(-1, 3).mean(axis=0)


def close_to(actual, expected, tolerance=12) -> bool:
    return bool(np.all(np.abs(np.asarray(actual, float) - np.asarray(expected, float)) <= tolerance))


def wait_for_more_frames(qtbot, window, count=3):
    start = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown >= start + count, timeout=TIMEOUT_MS)


# --- preview ---------------------------------------------------------------------------------
def test_video_source_frames_reach_the_preview_with_real_model(qtbot, make_window, clip):
    window = make_window(source=str(clip), model_path=None)  # None: the bundled PortraitNet model
    # Longer: loading the real model (and its start-up checks) competes with the rest of the suite.
    qtbot.waitUntil(lambda: window.frames_shown >= 5, timeout=3 * TIMEOUT_MS)
    assert preview_pixels(window).shape == (120, 160, 3)
    assert window.preview.pixmap() is not None and not window.preview.pixmap().isNull()
    qtbot.waitUntil(lambda: "portraitnet" in window.model_status.text(), timeout=TIMEOUT_MS)
    # The overlay and the status line report FPS and every stage's latency.
    assert "fps" in window.preview.overlay.text()
    for stage in ("capture", "preprocess", "inference", "matte", "composite"):
        assert stage in window.stats_label.text()
    assert window.source_combo.currentText() == "person.mp4"
    assert window.banner.messages() == {}


def test_a_photo_source_gets_more_looks_and_a_clip_only_when_asked(qtbot, make_window, clip, tmp_path):
    photo = tmp_path / "me.png"
    cv2.imwrite(str(photo), person_frames(1)[0])
    window = make_window(source=str(photo), model_path=None)  # None: the bundled model (dynamic sizes)
    qtbot.waitUntil(lambda: "portraitnet" in window.model_status.text(), timeout=3 * TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.frames_shown >= 3, timeout=TIMEOUT_MS)
    segmenter = window.controller.worker.pipeline.segmenter
    assert segmenter.mirror_average and segmenter.extra_input_sizes
    window.open_source(str(clip))
    qtbot.waitUntil(lambda: window.source_combo.currentText() == "person.mp4", timeout=TIMEOUT_MS)
    wait_for_more_frames(qtbot, window)
    assert not segmenter.mirror_average and not segmenter.extra_input_sizes
    looks = window.looks_checkbox  # video too, when asked (a click on its box: the text is short)
    qtbot.mouseClick(looks, Qt.MouseButton.LeftButton, pos=QPoint(8, looks.height() // 2))
    qtbot.waitUntil(lambda: segmenter.mirror_average, timeout=TIMEOUT_MS)
    assert not segmenter.extra_input_sizes  # the second size stays a photo's


def test_a_photo_the_model_calls_all_person_is_explained_at_once(qtbot, make_window, tmp_path):
    white = tmp_path / "white.png"  # the mean model calls bright pixels person: all of this one
    cv2.imwrite(str(white), np.full((120, 160, 3), 255, np.uint8))
    window = make_window(source=str(white))
    qtbot.waitUntil(lambda: window.banner.message("mask") != "", timeout=TIMEOUT_MS)
    assert "whole picture as you, so the background alone goes out" in window.banner.message("mask")
    from app.pipeline import ALL_PERSON_RUNS

    assert window.controller.worker.pipeline.model_runs < ALL_PERSON_RUNS  # not thirty runs of one picture


def test_ui_thread_that_falls_behind_gets_the_latest_frame_not_a_backlog(qtbot, make_window, clip):
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    pipeline = window.controller.worker.pipeline
    processed_before = pipeline.frames_processed
    shown_before = window.frames_shown
    # Block the UI thread (no event processing) while the worker produces several frames.
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while pipeline.frames_processed < processed_before + 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pipeline.frames_processed >= processed_before + 4
    QApplication.processEvents()
    # At most the frame that was waiting plus one finished meanwhile, never the whole backlog.
    assert window.frames_shown - shown_before <= 2
    assert window.controller.output_slot.dropped >= 2


def test_latest_slot_keeps_only_the_newest_item():
    slot = LatestSlot()
    assert slot.put("frame 1") is True       # empty -> full: the consumer must be told
    assert slot.put("frame 2") is False      # already announced; frame 1 is dropped
    assert slot.take() == "frame 2"
    assert slot.take() is None
    assert slot.dropped == 1


# --- backgrounds ----------------------------------------------------------------------------
def test_colour_background_replaces_background_pixels_only(qtbot, make_window, clip):
    window = make_window(source=str(clip))
    window.set_background_color(QColor(0, 255, 0))
    qtbot.waitUntil(lambda: window.frames_shown > 0 and close_to(corner_colour(window), GREEN),
                    timeout=TIMEOUT_MS)
    assert close_to(centre_colour(window), (230, 230, 230), tolerance=25)  # the person stays
    assert window.settings.background_mode == "color"
    assert window.settings.background_color == GREEN
    assert window.background_list.currentItem() is window.color_item

    window.set_background_color(QColor(255, 0, 0))
    qtbot.waitUntil(lambda: close_to(corner_colour(window), RED), timeout=TIMEOUT_MS)


def test_image_and_blur_backgrounds(qtbot, make_window, clip, tmp_path):
    backgrounds = tmp_path / "backgrounds"
    backgrounds.mkdir()
    magenta = backgrounds / "magenta_wall.png"
    cv2.imwrite(str(magenta), np.full((90, 200, 3), (255, 0, 255), np.uint8))
    window = make_window(source=str(clip), backgrounds_dir=backgrounds)

    # The shipped-backgrounds list shows the file as a thumbnail; clicking it applies it.
    items = [window.background_list.item(i) for i in range(window.background_list.count())]
    labels = [item.text() for item in items]
    assert labels[:3] == ["None", "Blur", "Colour…"] and "Magenta wall" in labels
    click_item(qtbot, window, items[labels.index("Magenta wall")])
    qtbot.waitUntil(lambda: window.frames_shown > 0 and close_to(corner_colour(window), (255, 0, 255)),
                    timeout=TIMEOUT_MS)
    assert window.settings.background_mode == "image"
    assert window.settings.background_path == str(magenta)

    # Blur shows the real (dark) background, blurred, instead of the image.
    click_item(qtbot, window, items[labels.index("Blur")])
    qtbot.waitUntil(lambda: close_to(corner_colour(window), (30, 30, 30), tolerance=15),
                    timeout=TIMEOUT_MS)
    assert window.settings.background_mode == "blur"

    click_item(qtbot, window, items[labels.index("None")])
    qtbot.waitUntil(lambda: window.settings.background_mode == "none", timeout=TIMEOUT_MS)


def click_item(qtbot, window, item):
    view = window.background_list
    view.scrollToItem(item)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.visualItemRect(item).center())


def test_corrupt_background_image_shows_error_and_keeps_last_good(qtbot, make_window, clip, tmp_path):
    window = make_window(source=str(clip))
    window.set_background_color(QColor(0, 255, 0))
    qtbot.waitUntil(lambda: window.frames_shown > 0 and close_to(corner_colour(window), GREEN),
                    timeout=TIMEOUT_MS)
    corrupt = tmp_path / "holiday.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)

    window.choose_background("image", corrupt)
    qtbot.waitUntil(lambda: "holiday.jpg" in window.banner.message("background"), timeout=TIMEOUT_MS)
    assert "previous background" in window.banner.message("background")
    wait_for_more_frames(qtbot, window)
    assert close_to(corner_colour(window), GREEN)
    assert window.settings.background_mode == "color"
    assert window.background_list.currentItem() is window.color_item

    # The next good choice clears the error.
    window.choose_background("blur")
    qtbot.waitUntil(lambda: window.banner.message("background") == "", timeout=TIMEOUT_MS)


# --- settings -------------------------------------------------------------------------------
def test_settings_survive_a_restart(qtbot, make_window, clip, isolated_settings):
    window = make_window(source=str(clip))
    window.threshold_slider.slider.setValue(70)      # as if dragged: 0.70
    window.feather_slider.slider.setValue(21)        # 21 steps of 0.5 px: 10.5 px
    window.blur_slider.slider.setValue(40)
    window.smoothing_slider.slider.setValue(4)       # 4 steps of 0.05: 0.20
    qtbot.mouseClick(window.mirror_checkbox, Qt.MouseButton.LeftButton)
    mirrored = window.mirror_checkbox.isChecked()
    assert not window.steady_checkbox.isChecked()  # off by default: it costs CPU
    qtbot.mouseClick(window.steady_checkbox, Qt.MouseButton.LeftButton)
    assert window.settings.steady_edges
    assert window.room_checkbox.isChecked()  # on by default
    room = window.room_checkbox
    qtbot.mouseClick(room, Qt.MouseButton.LeftButton, pos=QPoint(8, room.height() // 2))
    assert not window.settings.room_memory
    assert not window.looks_checkbox.isChecked()  # off by default: twice the model's CPU
    looks = window.looks_checkbox  # a click on its box (the text is shorter than the row)
    qtbot.mouseClick(looks, Qt.MouseButton.LeftButton, pos=QPoint(8, looks.height() // 2))
    assert window.settings.mirror_average
    assert window.edge_combo.currentData() == "learned"  # the default
    window.edge_combo.setCurrentIndex(window.edge_combo.findText("Guided filter (less CPU)"))
    assert window.settings.edge_mode == "guided"
    window.set_background_color(QColor(0, 0, 255))
    qtbot.waitUntil(lambda: window.settings.background_color == BLUE, timeout=TIMEOUT_MS)
    expected = (0.70, 10.5, 40.0, 0.20)
    window.close()

    store = open_settings_store()
    assert Path(store.fileName()).is_relative_to(isolated_settings)  # never the user's file
    assert Path(store.fileName()).is_file()

    restarted = make_window(source=str(clip))
    s = restarted.settings
    assert (s.threshold, s.feather, s.blur_strength, s.smoothing) == pytest.approx(expected)
    assert restarted.threshold_slider.value() == pytest.approx(0.70)
    assert restarted.feather_slider.value() == pytest.approx(10.5)
    assert restarted.blur_slider.value() == pytest.approx(40)
    assert restarted.smoothing_slider.value() == pytest.approx(0.20)
    assert restarted.mirror_checkbox.isChecked() == mirrored and s.mirror == mirrored
    assert restarted.steady_checkbox.isChecked() and s.steady_edges and s.matte_settings().steady_edges
    assert restarted.looks_checkbox.isChecked() and s.mirror_average
    assert not restarted.room_checkbox.isChecked() and not s.room_memory and not s.matte_settings().room_memory
    assert restarted.edge_combo.currentData() == "guided" and s.matte_settings().edge_mode == "guided"
    assert (s.background_mode, s.background_color) == ("color", BLUE)
    assert restarted.background_list.currentItem() is restarted.color_item
    # ... and the restored background is in effect, not just shown.
    qtbot.waitUntil(lambda: restarted.frames_shown > 0 and close_to(corner_colour(restarted), BLUE),
                    timeout=TIMEOUT_MS)


# --- virtual camera -------------------------------------------------------------------------
def test_virtual_camera_without_device_shows_setup_command_and_preview_keeps_running(
        qtbot, make_window, clip, tmp_path):
    window = make_window(source=str(clip))
    # A device that cannot exist, so the test behaves the same on machines with v4l2loopback.
    window.settings.virtual_camera_device = str(tmp_path / "no-such-video-device")
    window.controller.apply_settings(window.settings)
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)

    qtbot.mouseClick(window.virtual_camera_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.banner.message("virtual_camera") != "", timeout=TIMEOUT_MS)
    assert virtual_camera_setup_hint() in window.banner.message("virtual_camera")
    assert not window.virtual_camera_button.isChecked()
    assert window.virtual_camera_button.isEnabled()
    assert window.virtual_camera_button.text() == "Start virtual camera"
    assert "Not publishing" in window.virtual_camera_label.text()
    assert window.settings.virtual_camera_enabled is False
    wait_for_more_frames(qtbot, window)
    if sys.platform.startswith("linux"):
        # "Copy command" puts exactly the shell command on the clipboard.
        from PySide6.QtWidgets import QPushButton

        copy = [b for b in window.banner.findChildren(QPushButton) if b.text() == "Copy command"]
        assert len(copy) == 1
        qtbot.mouseClick(copy[0], Qt.MouseButton.LeftButton)
        assert QApplication.clipboard().text() == LINUX_SETUP_COMMAND


# --- sources --------------------------------------------------------------------------------
def test_source_failing_mid_stream_stops_preview_with_message_and_another_can_be_picked(
        qtbot, make_window, clip, tmp_path):
    vanishing = tmp_path / "vanishing.mp4"
    shutil.copy(clip, vanishing)
    window = make_window(source=str(vanishing))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    # The file disappears while playing (like a camera being unplugged): the source fails when it
    # next needs the file, at the end of the current pass.
    vanishing.unlink()
    qtbot.waitUntil(lambda: "vanishing.mp4" in window.banner.message("source"), timeout=TIMEOUT_MS)
    assert window.preview.image() is None
    assert "pick a source" in window.preview.text()
    assert window.source_combo.currentIndex() == -1
    shown = window.frames_shown
    assert window.controller.worker._capture is None  # stopped, not retrying in the background

    window.open_source(str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= shown + 3, timeout=TIMEOUT_MS)
    assert window.banner.message("source") == ""
    assert window.source_combo.currentText() == "person.mp4"


def test_unopenable_source_shows_error_and_keeps_the_current_one(qtbot, make_window, clip, tmp_path):
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    window.open_source(str(tmp_path / "missing.mp4"))
    qtbot.waitUntil(lambda: "missing.mp4" in window.banner.message("source"), timeout=TIMEOUT_MS)
    wait_for_more_frames(qtbot, window)
    assert window.source_combo.currentText() == "person.mp4"


def test_missing_webcam_falls_back_to_sample_clip(qtbot, make_window, clip):
    if list_cameras():
        pytest.skip("a real webcam is connected; the fallback only applies without one")
    window = make_window(source=None, sample_clip=clip)
    qtbot.waitUntil(lambda: "No webcam" in window.banner.message("source"), timeout=TIMEOUT_MS)
    assert "sample clip" in window.banner.message("source")
    qtbot.waitUntil(lambda: window.frames_shown >= 3, timeout=TIMEOUT_MS)
    assert window.source_combo.currentText() == "Sample clip"


def test_unusable_model_shows_error_and_preview_still_runs(qtbot, make_window, clip, tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(Path(__file__).resolve().parent.parent.joinpath(
        "models", "portraitnet.onnx").read_bytes()[:2048])
    window = make_window(source=str(clip), model_path=truncated)
    qtbot.waitUntil(lambda: "truncated.onnx" in window.banner.message("model"), timeout=TIMEOUT_MS)
    assert window.model_status.text() == "Model: not loaded"
    qtbot.waitUntil(lambda: window.frames_shown >= 3, timeout=TIMEOUT_MS)
    # Without a model the camera picture is shown as it is: the dark corner stays dark.
    window.set_background_color(QColor(0, 255, 0))
    wait_for_more_frames(qtbot, window)
    assert close_to(corner_colour(window), (30, 30, 30), tolerance=15)



def run_gui_polling(on_tick, argv: list[str]) -> int:
    """Run the real app's event loop with `on_tick` called every 50 ms (to drive or close the window)."""
    from PySide6.QtCore import QTimer

    from app.gui.main_window import run_gui

    poll = QTimer()
    poll.timeout.connect(on_tick)
    poll.start(50)
    try:
        return run_gui(argv)
    finally:
        poll.stop()


def test_run_gui_opens_the_window_on_the_given_source_and_exits_cleanly(qtbot, clip, mean_model):
    seen = {}

    def close_when_frames_shown():
        windows = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].frames_shown >= 3:
            seen["frames"] = windows[0].frames_shown
            seen["title"] = windows[0].windowTitle()
            windows[0].close()  # the last window closing ends app.exec()
        elif time.monotonic() > give_up_at:
            for window in windows:
                window.close()

    give_up_at = time.monotonic() + TIMEOUT_MS / 1000
    code = run_gui_polling(close_when_frames_shown, ["--source", str(clip), "--model", str(mean_model)])
    assert code == 0
    assert seen.get("frames", 0) >= 3 and seen["title"] == "PortraitCam"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])  # a logout or kill; the terminal closing
def test_sigterm_closes_the_window_cleanly_and_saves_settings(qtbot, clip, mean_model, isolated_settings, signame):
    import signal

    signum = getattr(signal, signame)
    seen = {}

    def unhandled(_signum, _frame):  # what the test gets if the window leaves the signal alone
        seen["unhandled"] = True

    def terminate_when_frames_shown():
        windows = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].frames_shown >= 2 and "sent" not in seen:
            seen["sent"] = True
            windows[0].settings.blur_strength = 42.0
            signal.raise_signal(signum)
        elif time.monotonic() > give_up_at:
            for window in windows:
                window.close()

    previous = signal.signal(signum, unhandled)
    give_up_at = time.monotonic() + TIMEOUT_MS / 1000
    try:
        code = run_gui_polling(terminate_when_frames_shown, ["--source", str(clip), "--model", str(mean_model)])
    finally:
        restored = signal.getsignal(signum)
        signal.signal(signum, previous)
    assert code == 0 and seen.get("sent") and "unhandled" not in seen
    assert restored is unhandled
    assert open_settings_store().value("settings/blur_strength") in (42.0, "42.0")


def test_a_signal_while_the_window_starts_its_threads_closes_it_cleanly(qtbot, clip, mean_model, isolated_settings,
                                                                        monkeypatch, capsys):
    # A SIGTERM that came after the window had started its threads but before run_gui installed
    # its handler was raised by the start's own handler: the threads kept running and Qt aborted
    # the process at exit (exit 134).
    import signal

    import app.gui.main_window as main_window
    made = []

    class TerminatedWhileStarting(MainWindow):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)
            signal.raise_signal(signal.SIGTERM)  # the threads are running by now

    def start_handler(signum, _frame):  # main.py's, while the app starts: it raises
        raise RuntimeError("raised by the start's own handler")
    previous = signal.signal(signal.SIGTERM, start_handler)
    monkeypatch.setattr(main_window, "MainWindow", TerminatedWhileStarting)
    try:
        code = main_window.run_gui(["--source", str(clip), "--model", str(mean_model)])
    finally:
        restored = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)
    assert code == 143 and "interrupted (SIGTERM) while starting" in capsys.readouterr().err
    assert made and not made[0].controller.worker_thread.isRunning()
    assert restored is start_handler


def test_a_signal_while_the_window_is_being_shown_ends_the_app(qtbot, clip, mean_model, isolated_settings,
                                                                monkeypatch):
    # Closed before the event loop ran (a signal during show()), the window's close never ended the
    # loop that started after it: the app ran on with no window.
    import signal

    from PySide6.QtCore import QTimer

    import app.gui.main_window as main_window
    rescued = []

    class SignalledWhileShown(MainWindow):
        def show(self):
            signal.raise_signal(signal.SIGTERM)  # the handler is in place by now
            super().show()
    monkeypatch.setattr(main_window, "MainWindow", SignalledWhileShown)
    QTimer.singleShot(8000, lambda: rescued.append(True) or QApplication.quit())
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = main_window.run_gui(["--source", str(clip), "--model", str(mean_model)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not rescued, "the app kept running after its window closed"
    assert code == 0


def test_saved_background_that_vanished_falls_back_to_blur(qtbot, make_window, clip, tmp_path):
    picture = tmp_path / "old_office.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 200, np.uint8))
    window = make_window(source=str(clip))
    window.choose_background("image", picture)
    qtbot.waitUntil(lambda: window.settings.background_path == str(picture), timeout=TIMEOUT_MS)
    window.close()
    picture.unlink()

    restarted = make_window(source=str(clip))
    qtbot.waitUntil(lambda: selected_background(restarted) == "Blur", timeout=TIMEOUT_MS)
    assert "old_office.png" in restarted.banner.message("background")
    assert "blurred background" in restarted.banner.message("background")
    # Blur only stands in: the saved choice is kept for when the picture is back (a drive not
    # mounted yet), even when another setting is saved meanwhile.
    restarted.save_settings()
    restarted.close()
    cv2.imwrite(str(picture), np.full((90, 160, 3), 200, np.uint8))
    third = make_window(source=str(clip))
    qtbot.waitUntil(lambda: third.frames_shown > 0 and selected_background(third) not in ("", "Blur"),
                    timeout=TIMEOUT_MS)
    assert (third.settings.background_mode, third.settings.background_path) == ("image", str(picture))
    assert third.banner.message("background") == ""


def test_a_background_video_that_vanishes_mid_stream_is_blurred_for_now_and_stays_chosen(
        qtbot, make_window, clip, tmp_path):
    background = write_video(tmp_path / "beach.mp4", level_frames(3), fps=15.0)
    window = make_window(source=str(clip))
    window.choose_background("video", background)
    qtbot.waitUntil(lambda: window.settings.background_mode == "video", timeout=TIMEOUT_MS)
    background.unlink()  # played to its end, it cannot restart
    qtbot.waitUntil(lambda: "beach.mp4" in window.banner.message("background"), timeout=TIMEOUT_MS)
    assert "blurred background instead" in window.banner.message("background")  # said "keeping" before
    qtbot.waitUntil(lambda: selected_background(window) == "Blur", timeout=TIMEOUT_MS)
    window.save_settings()
    assert (window.settings.background_mode, window.settings.background_path) == ("video", str(background))


def test_a_damaged_saved_window_geometry_is_ignored(qtbot, make_window, clip):
    for damaged in ("hello", ""):
        store = open_settings_store()
        store.setValue("window/geometry", damaged)
        store.sync()
        window = make_window(source=str(clip))  # raised TypeError in restoreGeometry before
        qtbot.waitUntil(lambda: window.frames_shown > 0, timeout=TIMEOUT_MS)
        window.close()


@pytest.mark.parametrize("spec", ["\u00b2", "\u0663"])  # superscript two, Arabic-Indic three
def test_digits_of_other_scripts_name_a_file_not_a_camera(qtbot, make_window, spec):
    window = make_window(source=spec)  # "²".isdigit() is True, and int("²") raised in the window
    qtbot.waitUntil(lambda: "not found" in window.banner.message("source"), timeout=TIMEOUT_MS)
    assert spec in window.banner.message("source")


def test_settings_that_cannot_be_saved_say_so(qtbot, make_window, clip, isolated_settings):
    isolated_settings.write_text("a file where the settings folder should be")
    window = make_window(source=str(clip))
    window.feather_slider.set_value(6.0)
    window.save_settings()
    message = window.banner.message("settings")
    assert "Cannot save settings" in message and "PortraitCam.ini" in message, message


def test_a_damaged_settings_file_is_named_once_and_then_saved_without_a_false_error(qtbot, make_window, clip,
                                                                                   isolated_settings):
    ini = isolated_settings / "PortraitCam" / "PortraitCam.ini"
    ini.parent.mkdir(parents=True)
    ini.write_bytes(b"[settings]\nthreshold=0.7\n\x00\x00garbage")  # a crash mid-write, a bad disk
    window = make_window(source=str(clip))
    assert window.settings.threshold == pytest.approx(0.7)  # what came before the damage is kept
    note = window.banner.message("settings_file")
    assert "was damaged" in note and "PortraitCam.ini" in note
    window.threshold_slider.slider.setValue(30)
    window.save_settings()
    # Qt's status keeps the FormatError of the read: saving said "Cannot save settings" forever,
    # though the file was rewritten.
    assert window.banner.message("settings") == ""
    assert "threshold=0.3" in ini.read_text()
    # The note stays for the user to read: the save at start cleared it within a second.
    qtbot.waitUntil(lambda: window.settings.background_mode == "blur" and not window._save_timer.isActive(),
                    timeout=TIMEOUT_MS)
    wait_for_more_frames(qtbot, window)
    assert window.banner.message("settings_file") == note
    window.close()
    restarted = make_window(source=str(clip))
    assert restarted.settings.threshold == pytest.approx(0.3)
    assert "settings_file" not in restarted.banner.messages()  # the file is whole again


def test_a_save_that_raises_is_reported_and_the_window_still_closes_cleanly(qtbot, make_window, clip,
                                                                           isolated_settings, monkeypatch):
    ini = isolated_settings / "PortraitCam" / "PortraitCam.ini"
    ini.parent.mkdir(parents=True)
    # Past 64 bits: QSettings.setValue raised OverflowError on every save, and the close that
    # raised with it left the worker thread running, which aborted the process.
    ini.write_text("[settings]\nsettings_version=99999999999999999999\nblur_strength=30\n")
    window = make_window(source=str(clip))
    window.save_settings()
    assert window.banner.message("settings") == ""
    assert 0 < int(open_settings_store().value("settings/settings_version")) < 2**31
    import app.gui.main_window as main_window

    def failing_save(store, settings):
        raise RuntimeError("an unforeseen value")

    monkeypatch.setattr(main_window, "save_settings", failing_save)
    window.save_settings()
    assert "Cannot save settings" in window.banner.message("settings")
    assert "an unforeseen value" in window.banner.message("settings")
    window.close()
    assert not window.controller.worker_thread.isRunning()


def test_a_saved_video_background_at_a_network_address_is_not_opened(qtbot, make_window, clip, isolated_settings):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    address = f"http://127.0.0.1:{listener.getsockname()[1]}/beach.mp4"
    store = open_settings_store()
    store.setValue("settings/background_mode", "video")
    store.setValue("settings/background_path", address)
    store.sync()
    try:
        started = time.monotonic()
        window = make_window(source=str(clip))
        # The thumbnail was read with OpenCV on the window's thread: it connected and the window
        # froze for OpenCV's 30-s timeout before it was shown.
        assert time.monotonic() - started < 5.0
        qtbot.waitUntil(lambda: "network address" in window.banner.message("background"), timeout=TIMEOUT_MS)
        assert address in window.banner.message("background")
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()


def test_a_file_link_background_is_saved_and_shown_as_its_file(qtbot, make_window, clip, tmp_path):
    picture = tmp_path / "my wall.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), (20, 90, 200), np.uint8))
    window = make_window(source=str(clip))
    window.choose_background("image", picture.as_uri())  # file:///.../my%20wall.png
    qtbot.waitUntil(lambda: window.settings.background_mode == "image", timeout=TIMEOUT_MS)
    assert window.settings.background_path == str(picture)  # the next start opens it, not a link
    assert selected_background(window) == "my wall"


def test_a_background_that_works_clears_an_earlier_choices_error(qtbot, make_window, clip, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG" * 10)
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.full((90, 160, 3), 200, np.uint8))
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown > 0, timeout=TIMEOUT_MS)
    window.choose_background("image", bad)
    window.choose_background("image", good)  # picked before the first one's answer came back
    qtbot.waitUntil(lambda: window.settings.background_path == str(good), timeout=TIMEOUT_MS)
    wait_for_more_frames(qtbot, window)
    assert window.banner.message("background") == ""  # "bad.jpg ... Keeping the previous" stayed on


def test_the_timing_line_does_not_widen_the_window(qtbot, make_window, clip):
    window = make_window(source=str(clip))
    narrowest = window.minimumSizeHint().width()
    qtbot.waitUntil(lambda: window.stats_label.text() != "", timeout=TIMEOUT_MS)
    window.stats_label.setText("ms: " + "  ·  ".join(f"stage{n} 1234.5" for n in range(12)))
    assert window.minimumSizeHint().width() <= narrowest  # it was the window's widest line (1146 px)
    assert "stage11" in window.stats_label.text()


def test_hand_edited_values_between_slider_steps_run_as_the_sliders_show_them(qtbot, make_window, clip):
    store = open_settings_store()
    for key, value in (("feather", "0.12"), ("blur_strength", "0.12"), ("threshold", "0.503"),
                       ("smoothing", "0.33"), ("auto_frame_zoom", "1.234"), ("lighting_strength", "0.777")):
        store.setValue(f"settings/{key}", value)
    store.sync()
    window = make_window(source=str(clip))
    s = window.settings
    shown = (window.feather_slider.value(), window.blur_slider.value(), window.threshold_slider.value(),
             window.smoothing_slider.value(), window.effects_panel.zoom_slider.value(),
             window.effects_panel.strength_slider.value())
    # feather 0.12 was shown as 0.0 and run as 0.12: the slider and the matte disagreed.
    assert (s.feather, s.blur_strength, s.threshold, s.smoothing, s.auto_frame_zoom,
            s.lighting_strength) == pytest.approx(shown, abs=0.006)
    assert s.feather == pytest.approx(0.0) and s.matte_settings().feather == pytest.approx(0.0)


def test_a_model_named_in_the_settings_file_is_found_as_written_and_its_errors_say_where(
        qtbot, make_window, clip, tmp_path, mean_model, monkeypatch):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    shutil.copy(mean_model, home / "models" / "mine.onnx")
    monkeypatch.setenv("HOME", str(home))
    store = open_settings_store()
    store.setValue("settings/model_path", "~/models/mine.onnx")  # as a person writes it there
    store.sync()
    window = make_window(source=str(clip), model_path=None)
    qtbot.waitUntil(lambda: "mine.onnx" in window.model_status.text(), timeout=TIMEOUT_MS)  # was "not found"
    window.close()
    store.setValue("settings/model_path", str(home / "models"))
    store.sync()
    window = make_window(source=str(clip), model_path=None)
    qtbot.waitUntil(lambda: window.banner.message("model") != "", timeout=TIMEOUT_MS)
    message = window.banner.message("model")
    assert "is a folder" in message and "not found" not in message  # was "Model file not found"
    assert "model_path in" in message and "PortraitCam.ini" in message


def test_virtual_camera_button_shows_the_device_it_publishes_to(qtbot, make_window, clip):
    # No virtual camera device exists here, so this drives the window with the worker's own
    # "started" signal, as the worker sends it after pyvirtualcam opened a device.
    window = make_window(source=str(clip))
    qtbot.mouseClick(window.virtual_camera_button, Qt.MouseButton.LeftButton)
    assert not window.virtual_camera_button.isEnabled()  # until the worker answers
    window.controller.worker.virtualCameraStarted.emit("/dev/video7")
    assert window.virtual_camera_button.isChecked() and window.virtual_camera_button.isEnabled()
    assert window.virtual_camera_button.text() == "Stop virtual camera"
    assert "/dev/video7" in window.virtual_camera_label.text()
    assert window.settings.virtual_camera_enabled is True
    window.controller.worker.virtualCameraStopped.emit()
    assert not window.virtual_camera_button.isChecked()
    assert window.virtual_camera_label.text() == "Not publishing"


def test_pickers_use_the_dialogs_choice(qtbot, make_window, clip, tmp_path, monkeypatch):
    """The "Colour…", "Image file…" and "Video file…" entries apply what their dialogs return."""
    from PySide6.QtWidgets import QColorDialog, QFileDialog

    second_clip = write_video(tmp_path / "second.avi", person_frames(10, width=160, height=120))
    picture = tmp_path / "cyan.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), (255, 255, 0), np.uint8))
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=TIMEOUT_MS)

    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *args, **kw: QColor(0, 255, 0)))
    click_item(qtbot, window, window.color_item)
    qtbot.waitUntil(lambda: close_to(corner_colour(window), GREEN), timeout=TIMEOUT_MS)

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kw: (str(picture), "")))
    pick_item = window.background_list.item(window.background_list.count() - 1)
    assert pick_item.text() == "Image file…"
    click_item(qtbot, window, pick_item)
    qtbot.waitUntil(lambda: close_to(corner_colour(window), (255, 255, 0)), timeout=TIMEOUT_MS)
    # The chosen picture joins the list as a thumbnail, selected, before "Image file…".
    assert window.background_list.currentItem().text() == "cyan"
    assert window.background_list.item(window.background_list.count() - 1) is pick_item

    # A cancelled dialog changes nothing.
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kw: ("", "")))
    window.source_combo.activated.emit(window.source_combo.findText("Video file…"))
    assert window.source_combo.currentText() == "person.mp4"

    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kw: (str(second_clip), "")))
    window.source_combo.activated.emit(window.source_combo.findText("Video file…"))
    qtbot.waitUntil(lambda: window.source_combo.currentText() == "second.avi", timeout=TIMEOUT_MS)
    wait_for_more_frames(qtbot, window)


class StallingCamera(FrameSource):
    """A live source whose read() blocks after a few frames, like some drivers on unplugging."""

    is_live = True
    description = "camera 9"

    def __init__(self, frames_before_stall=3):
        super().__init__()
        self._frames = person_frames(1, width=160, height=120)
        self._size = (160, 120)
        self._left = frames_before_stall
        self.resume = threading.Event()

    def read(self):
        if self._left <= 0:
            self.resume.wait(timeout=60)
        self._left -= 1
        time.sleep(1 / 30)
        return self._frames[0].copy()


def test_camera_that_goes_silent_shows_a_warning_that_clears_when_frames_return(
        qtbot, make_window, monkeypatch):
    import app.gui.main_window as main_window

    monkeypatch.setattr(main_window, "STALL_WARNING_S", 1.0)
    camera = StallingCamera()
    window = make_window(source=camera)
    try:
        qtbot.waitUntil(lambda: "No picture from camera 9" in window.banner.message("source"),
                        timeout=TIMEOUT_MS)
        stalled_at = window.frames_shown
        assert stalled_at <= 3  # fewer when the UI skipped one (latest frame wins)
        camera.resume.set()
        qtbot.waitUntil(lambda: window.banner.message("source") == "", timeout=TIMEOUT_MS)
        assert window.frames_shown > stalled_at
    finally:
        camera.resume.set()


def test_a_slow_video_is_not_called_unplugged_between_its_frames(qtbot, make_window, monkeypatch, tmp_path):
    # A slide show or time-lapse (1 frame a second here) is silent between frames by design; the
    # warning said it "may have been unplugged" before each of them.
    import app.gui.main_window as main_window

    monkeypatch.setattr(main_window, "STALL_WARNING_S", 0.4)
    slow = write_video(tmp_path / "slides.mp4", person_frames(4, width=160, height=120), fps=1.0)
    window = make_window(source=str(slow))
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=TIMEOUT_MS)
    seen = []
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        qtbot.wait(100)
        seen.append(window.banner.message("source"))
    assert window.frames_shown >= 2 and not any("No picture" in message for message in seen)


def test_closing_with_a_camera_stuck_in_read_keeps_its_thread_instead_of_aborting(qtbot, make_window):
    from app.gui.worker import STUCK_THREADS, threads_left_stuck

    camera = StallingCamera()
    window = make_window(source=camera)
    try:
        qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
        time.sleep(0.3)  # the camera is now blocked in read()
        window.close()  # took its capture thread's object down with it: Qt aborted the process
        assert threads_left_stuck() and any(getattr(t, "source", None) is camera for t in STUCK_THREADS)
    finally:
        camera.resume.set()
    qtbot.waitUntil(lambda: not threads_left_stuck(), timeout=TIMEOUT_MS)  # it ends on its own


def test_pyside_void_calls_keep_none_alive():
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None per void C++ call, aborting the
    window after ~30 s of frames; the pinned version must not (None is immortal from 3.12 on)."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(1000):
        probe.setObjectName("probe")
    assert sys.getrefcount(None) - before > -100


# --- privacy: the virtual camera never gets the room (issue 10) --------------------------------
def start_recording_camera(qtbot, window):
    window.settings.virtual_camera_backend = "recording"
    window.controller.apply_settings(window.settings)
    qtbot.mouseClick(window.virtual_camera_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.virtual_camera_button.text() == "Stop virtual camera",
                    timeout=TIMEOUT_MS)


def published_corners(backend, start=0):
    """Mean BGR of the top-left 12x12 pixels (background in person_frames) of each frame sent."""
    frames = list(backend.frames[start:])
    return [f.reshape(backend.height, backend.width, 3)[:12, :12].reshape(-1, 3).mean(axis=0)
            for f in frames]


def publishing_green(qtbot, make_window, clip, recording_camera):
    """A window on the clip with a green background, sending to the recording virtual camera,
    once green frames arrive there: (window, backend)."""
    window = make_window(source=str(clip))
    window.set_background_color(QColor(0, 255, 0))
    start_recording_camera(qtbot, window)
    backend = recording_camera.instances[-1]
    qtbot.waitUntil(lambda: len(backend.frames) >= 3 and close_to(published_corners(backend)[-1], GREEN),
                    timeout=TIMEOUT_MS)
    return window, backend


def test_the_virtual_camera_label_says_when_no_source_feeds_it(qtbot, make_window, clip, recording_camera, tmp_path):
    vanishing = tmp_path / "vanishing.mp4"
    shutil.copy(clip, vanishing)
    window = make_window(source=str(vanishing))
    start_recording_camera(qtbot, window)
    assert window.virtual_camera_label.text().startswith("Publishing to")
    vanishing.unlink()  # the source stops mid-stream: nothing more goes out
    qtbot.waitUntil(lambda: "vanishing.mp4" in window.banner.message("source"), timeout=TIMEOUT_MS)
    # It said "Publishing to ..." while calls showed a frozen frame.
    assert "has no source: calls see its last frame" in window.virtual_camera_label.text()
    window.open_source(str(clip))
    qtbot.waitUntil(lambda: window.virtual_camera_label.text().startswith("Publishing to"), timeout=TIMEOUT_MS)
    qtbot.mouseClick(window.virtual_camera_button, Qt.MouseButton.LeftButton)  # stopped: no device named
    qtbot.waitUntil(lambda: window.virtual_camera_label.text() == "Not publishing", timeout=TIMEOUT_MS)


def test_the_virtual_camera_follows_a_new_source_of_another_size(qtbot, make_window, clip, recording_camera,
                                                                 tmp_path):
    window, first = publishing_green(qtbot, make_window, clip, recording_camera)
    assert (first.width, first.height) == (160, 120)
    wide = write_video(tmp_path / "wide.mp4", person_frames(20, width=320, height=180), fps=15.0)
    window.open_source(str(wide))
    qtbot.waitUntil(lambda: len(recording_camera.instances) == 2 and len(recording_camera.instances[-1].frames) >= 2,
                    timeout=TIMEOUT_MS)  # kept 160x120 and squeezed every frame before
    second = recording_camera.instances[-1]
    assert (second.width, second.height) == (320, 180) and first.closed == 1
    assert window.virtual_camera_button.text() == "Stop virtual camera"


@pytest.mark.parametrize("mode", ["raise", "nan", "huge"])
def test_virtual_camera_never_gets_the_room_when_processing_fails(qtbot, make_window, clip,
                                                                  recording_camera, mode):
    window, backend = publishing_green(qtbot, make_window, clip, recording_camera)
    pipeline = window.controller.worker.pipeline
    real = pipeline.segmenter
    pipeline.segmenter = FaultySegmenter(real, mode=mode)  # the worker picks it up on its next frame
    qtbot.waitUntil(lambda: window.banner.message("processing") != "", timeout=TIMEOUT_MS)
    failed_from = len(backend.frames)
    qtbot.waitUntil(lambda: len(backend.frames) >= failed_from + 5, timeout=TIMEOUT_MS)
    assert pipeline.failures >= 5
    for corner in published_corners(backend):
        assert close_to(corner, GREEN), "the room reached the virtual camera"
    assert "never the room" in window.banner.message("processing")
    # A source switch restarts capture and the pipeline's state while the model still fails.
    other = write_video(clip.parent / "other.avi", person_frames(20, width=200, height=150))
    window.open_source(str(other))
    qtbot.waitUntil(lambda: window.source_combo.currentText() == "other.avi", timeout=TIMEOUT_MS)
    # The device is opened again at the new source's size (200x150): its frames from then on.
    qtbot.waitUntil(lambda: len(recording_camera.instances) == 2, timeout=TIMEOUT_MS)
    backend = recording_camera.instances[-1]
    qtbot.waitUntil(lambda: len(backend.frames) >= 5, timeout=TIMEOUT_MS)
    for corner in published_corners(backend):
        assert close_to(corner, GREEN), "the room reached the virtual camera after a restart"
    pipeline.segmenter = real
    qtbot.waitUntil(lambda: window.banner.message("processing") == "", timeout=TIMEOUT_MS)


def test_virtual_camera_gets_the_background_alone_when_the_model_did_not_load(
        qtbot, make_window, clip, tmp_path, recording_camera):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    window = make_window(source=str(clip), model_path=broken)
    qtbot.waitUntil(lambda: "broken.onnx" in window.banner.message("model"), timeout=TIMEOUT_MS)
    window.set_background_color(QColor(0, 255, 0))
    start_recording_camera(qtbot, window)
    backend = recording_camera.instances[-1]
    qtbot.waitUntil(lambda: len(backend.frames) >= 5, timeout=TIMEOUT_MS)
    wait_for_more_frames(qtbot, window)
    assert close_to(corner_colour(window), (30, 30, 30), tolerance=15)  # the user's own preview
    for frame in backend.frames:
        assert np.all(np.abs(frame.reshape(-1, 3).astype(int) - GREEN) <= 2)  # the call: all green


# --- window fixes (issue 10) -------------------------------------------------------------------
def test_many_messages_do_not_squeeze_the_preview(qtbot, make_window, clip):
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=TIMEOUT_MS)
    window.banner.show_message("first", "A message. " * 20, "warning")
    qtbot.wait(50)
    with_one = window.preview.height()
    for key in ("a", "b", "c", "d", "e"):
        window.banner.show_message(key, f"Message {key}. " * 30, "error")
    qtbot.wait(50)
    # The banner grows up to 35 % of the window (issue 15); the rest scrolls inside it.
    assert window.banner.height() <= 0.35 * window.height() + 2
    assert window.preview.height() >= with_one - 0.35 * window.height()
    assert window.preview.height() >= 300  # of the 640 px window


def test_status_bar_names_what_plays_after_a_failed_pick(qtbot, make_window, clip, tmp_path):
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    window.open_source(str(tmp_path / "missing.mp4"))
    qtbot.waitUntil(lambda: "missing.mp4" in window.banner.message("source"), timeout=TIMEOUT_MS)
    assert window.statusBar().currentMessage() == "Source: video person.mp4"


def test_virtual_camera_label_stops_pointing_at_a_dismissed_message(qtbot, make_window, clip, tmp_path):
    from PySide6.QtWidgets import QPushButton

    window = make_window(source=str(clip))
    window.controller.worker.virtualCameraFailed.emit("Virtual camera unavailable (no device)")
    assert "see the message" in window.virtual_camera_label.text()
    dismiss = [b for b in window.banner.findChildren(QPushButton) if b.text() == "Dismiss"]
    qtbot.mouseClick(dismiss[0], Qt.MouseButton.LeftButton)
    assert window.banner.message("virtual_camera") == ""
    assert window.virtual_camera_label.text() == "Not publishing: no virtual camera device"


def test_bad_source_and_bad_model_leave_a_clear_preview_and_single_periods(qtbot, make_window, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    window = make_window(source=str(tmp_path / "missing.mp4"), model_path=broken)
    qtbot.waitUntil(lambda: bool(window.banner.message("source") and window.banner.message("model")),
                    timeout=TIMEOUT_MS)
    assert window.preview.text() == "No video — pick a source"
    for text in window.banner.messages().values():
        assert ".." not in text.replace("…", ""), text


def test_selected_colour_swatch_shows_its_true_colour(qtbot, make_window, clip):
    from PySide6.QtGui import QIcon

    window = make_window(source=str(clip))
    window.set_background_color(QColor(0, 177, 64))
    qtbot.waitUntil(lambda: window.background_list.currentItem() is window.color_item, timeout=TIMEOUT_MS)
    pixmap = window.color_item.icon().pixmap(window.background_list.iconSize(), QIcon.Mode.Selected)
    assert QColor(pixmap.toImage().pixel(10, 10)).name() == "#00b140"


def test_default_colour_is_the_readmes_green():
    from app.gui.main_window import bgr_to_qcolor
    from app.settings import AppSettings

    assert bgr_to_qcolor(AppSettings().background_color).name() == "#00b140"


# --- privacy: impossible and all-person masks (issue 15) ---------------------------------------
def test_all_person_masks_send_the_background_alone_with_a_warning_until_they_recover(
        qtbot, make_window, clip, recording_camera, monkeypatch):
    import app.pipeline

    monkeypatch.setattr(app.pipeline, "ALL_PERSON_RUNS", 4, raising=False)  # the rule, sooner
    window, backend = publishing_green(qtbot, make_window, clip, recording_camera)
    on_gui_thread = []  # widgets may only be touched on the GUI thread (else Qt crashes painting them)
    show_message = window.banner.show_message

    def recording_show_message(*args, **kwargs):
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return show_message(*args, **kwargs)

    monkeypatch.setattr(window.banner, "show_message", recording_show_message)
    pipeline = window.controller.worker.pipeline
    real = pipeline.segmenter
    pipeline.segmenter = FaultySegmenter(real, mode="ones")  # "everything is the person"
    qtbot.waitUntil(lambda: window.banner.message("mask") != "", timeout=TIMEOUT_MS)
    assert on_gui_thread and all(on_gui_thread)
    assert "whole picture" in window.banner.message("mask")
    assert window.banner.message("processing") == ""  # a warning, not a failure
    from_here = len(backend.frames)
    qtbot.waitUntil(lambda: len(backend.frames) >= from_here + 5, timeout=TIMEOUT_MS)
    for frame in backend.frames:  # the call never sees the room, not even the person's disc
        picture = frame.reshape(backend.height, backend.width, 3)
        assert close_to(picture[:12, :12].reshape(-1, 3).mean(axis=0), GREEN), "the room went out"
    for frame in backend.frames[from_here:]:
        assert np.all(np.abs(frame.reshape(-1, 3).astype(int) - GREEN) <= 2)  # the background alone
    pipeline.segmenter = real
    qtbot.waitUntil(lambda: window.banner.message("mask") == "", timeout=TIMEOUT_MS)
    recovered_at = len(backend.frames)
    qtbot.waitUntil(lambda: len(backend.frames) >= recovered_at + 3, timeout=TIMEOUT_MS)
    centre = backend.frames[-1].reshape(backend.height, backend.width, 3)[55:65, 75:85]
    assert close_to(centre.reshape(-1, 3).mean(axis=0), (230, 230, 230), tolerance=25)  # you again


# --- the window, tried as a new user would (issue 15) -------------------------------------------
def fully_visible(widget) -> bool:
    """Whether all of widget is on screen: shown and not clipped by a scroll area or the window."""
    if not widget.isVisible():
        return False
    return widget.visibleRegion().boundingRect() == widget.rect() and not widget.visibleRegion().isEmpty()


def message_row(window, key):
    from PySide6.QtWidgets import QFrame

    return window.banner.findChild(QFrame, f"message_{key}")


def test_a_new_message_is_shown_on_top_and_in_full_not_behind_the_first(qtbot, make_window, clip):
    window = make_window(source=str(clip))
    window.resize(1200, 720)
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=TIMEOUT_MS)
    # A long first message (like pyvirtualcam's five lines), then the one the user just caused.
    window.banner.show_message("source", "No webcam found. " * 45, "warning")
    window.banner.show_message("virtual_camera", "No virtual camera device was found. To set one "
                                                 "up, do this, then start it again.", "warning")
    qtbot.wait(50)
    newest, first = message_row(window, "virtual_camera"), message_row(window, "source")
    assert fully_visible(newest) and fully_visible(first)  # the banner grew to show both
    assert newest.mapTo(window, newest.rect().topLeft()).y() < first.mapTo(window, first.rect().topLeft()).y()
    assert not window.banner.count_label.isVisible()
    # More than fit: the newest stays in full view on top, a count says where the others are.
    for key in ("a", "b", "c", "d"):
        window.banner.show_message(key, f"Message {key}. " * 30, "error")
    qtbot.wait(50)
    assert fully_visible(message_row(window, "d"))
    assert window.banner.count_label.isVisible() and "6 messages" in window.banner.count_label.text()
    for key in ("a", "b", "c", "d", "source"):
        window.banner.clear_message(key)
    qtbot.wait(50)
    assert fully_visible(newest) and not window.banner.count_label.isVisible()


def send_wheel(widget, notches=-1):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(widget.rect().center())), QPoint(0, 0),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_mouse_wheel_over_a_slider_scrolls_the_panel_instead_of_changing_it(qtbot, make_window, clip):
    window = make_window(source=str(clip))
    window.resize(1000, 420)  # short, so the side panel has something to scroll
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=TIMEOUT_MS)
    window.activateWindow()
    window.preview.setFocus()
    from PySide6.QtWidgets import QScrollArea

    slider = window.smoothing_slider.slider
    area = slider.parentWidget()
    while not isinstance(area, QScrollArea):
        area = area.parentWidget()
    scrollbar = area.verticalScrollBar()
    assert scrollbar.maximum() > 0
    smoothing = window.settings.smoothing
    for _ in range(4):  # four notches: 0.50 -> 0.00 before
        send_wheel(slider, -1)
    assert window.smoothing_slider.value() == pytest.approx(smoothing)
    assert window.settings.smoothing == pytest.approx(smoothing)
    assert scrollbar.value() > 0  # the panel scrolled instead
    # The source list neither: a notch over it would have switched the source.
    scrollbar.setValue(0)
    index = window.source_combo.currentIndex()
    send_wheel(window.source_combo, 1)
    assert window.source_combo.currentIndex() == index
    # A slider the user clicked or tabbed to takes the wheel as usual.
    slider.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(slider.hasFocus, timeout=TIMEOUT_MS)
    send_wheel(slider, 1)
    assert window.smoothing_slider.value() != pytest.approx(smoothing)


def test_blur_strength_and_match_lighting_are_enabled_only_where_they_act(qtbot, make_window, clip, tmp_path):
    picture = tmp_path / "wall.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 200, np.uint8))
    window = make_window(source=str(clip))
    lighting = window.effects_panel.lighting_checkbox
    lighting.setChecked(True)
    for mode, value, blur, lit in (("none", None, False, False), ("blur", None, True, False),
                                   ("color", GREEN, False, True), ("image", picture, False, True),
                                   ("blur", None, True, False)):
        window.choose_background(mode, value)
        qtbot.waitUntil(lambda: window.settings.background_mode == mode, timeout=TIMEOUT_MS)
        assert window.blur_slider.isEnabled() is blur, mode
        assert lighting.isEnabled() is lit and window.effects_panel.strength_slider.isEnabled() is lit, mode
        assert lighting.isChecked() and window.settings.match_lighting  # the choice is kept while greyed
    window.choose_background("color", GREEN)
    qtbot.waitUntil(lambda: window.settings.background_mode == "color", timeout=TIMEOUT_MS)
    window.choose_background("blur")
    qtbot.waitUntil(lambda: window.settings.background_mode == "blur", timeout=TIMEOUT_MS)
    window.close()
    restarted = make_window(source=str(clip))  # the saved mode greys them out from the start
    assert restarted.blur_slider.isEnabled() and not restarted.effects_panel.lighting_checkbox.isEnabled()


def test_refresh_cameras_says_what_it_found(qtbot, make_window, clip):
    window = make_window(source=str(clip))
    status = window.source_panel.status_label
    assert not status.isVisible()
    qtbot.mouseClick(window.refresh_cameras_button, Qt.MouseButton.LeftButton)
    assert status.isVisible() and not window.refresh_cameras_button.isEnabled()
    qtbot.waitUntil(window.refresh_cameras_button.isEnabled, timeout=3 * TIMEOUT_MS)
    cameras = list_cameras()
    if cameras:
        assert status.text().startswith(f"Found {len(cameras)} camera")
    else:
        assert status.text().startswith("No camera found")
    assert window.statusBar().currentMessage() == status.text()
    # What the worker answers is what the panel says.
    qtbot.mouseClick(window.refresh_cameras_button, Qt.MouseButton.LeftButton)
    window.source_panel.set_cameras([0, 2])
    assert status.text() == "Found 2 cameras: Camera 0, Camera 2"


def test_file_dialogs_open_in_pictures_videos_or_the_last_folder(qtbot, make_window, clip, tmp_path,
                                                                 monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    home = tmp_path / "home"
    for folder in ("Pictures", "Videos", "elsewhere"):
        (home / folder).mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))  # no user-dirs.dirs: the defaults
    monkeypatch.chdir(tmp_path)
    picture = home / "elsewhere" / "mine.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 200, np.uint8))
    opened_in = []
    answer = {"path": ""}

    def fake_dialog(parent, caption, folder, *args, **kwargs):
        opened_in.append(folder)
        return answer["path"], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_dialog))
    window = make_window(source=str(clip))
    pick_item = window.background_list.item(window.background_list.count() - 1)
    click_item(qtbot, window, pick_item)
    window.source_combo.activated.emit(window.source_combo.findText("Video file…"))
    window.source_combo.activated.emit(window.source_combo.findText("Image file…"))
    assert opened_in == [str(home / "Pictures"), str(home / "Videos"), str(home / "Pictures")]
    assert str(tmp_path) not in opened_in  # never the working directory

    answer["path"] = str(picture)
    click_item(qtbot, window, pick_item)
    qtbot.waitUntil(lambda: window.settings.background_path == str(picture), timeout=TIMEOUT_MS)
    answer["path"] = ""
    click_item(qtbot, window, window.background_list.item(window.background_list.count() - 1))
    assert opened_in[-1] == str(home / "elsewhere")  # the last folder used
    window.close()
    restarted = make_window(source=str(clip))  # ... remembered in the settings file
    click_item(qtbot, restarted, restarted.background_list.item(restarted.background_list.count() - 1))
    assert opened_in[-1] == str(home / "elsewhere")
    # No Pictures folder: the shipped backgrounds.
    shutil.rmtree(home / "Pictures")
    from app.gui.panels import DialogFolders

    assert DialogFolders(backgrounds_dir=tmp_path / "shipped").start("image") == str(home)
    (tmp_path / "shipped").mkdir()
    assert DialogFolders(backgrounds_dir=tmp_path / "shipped").start("background") == str(tmp_path / "shipped")


def window_with_virtual_camera_backend(make_window, clip, monkeypatch, name, backend):
    """A window on the clip whose virtual camera uses the fake pyvirtualcam backend `backend`."""
    import pyvirtualcam

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    pyvirtualcam.register_backend(name, backend)
    window = make_window(source=str(clip))
    window.settings.virtual_camera_backend = name
    window.controller.apply_settings(window.settings)
    return window


def test_the_label_under_the_button_names_the_virtual_cameras_problem(qtbot, make_window, clip, monkeypatch):
    from test_sinks import BusyBackend

    window = window_with_virtual_camera_backend(make_window, clip, monkeypatch, "busy", BusyBackend)
    qtbot.mouseClick(window.virtual_camera_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "busy" in window.banner.message("virtual_camera"), timeout=TIMEOUT_MS)
    # It said "no virtual camera device" for every failure, under a banner that said busy.
    assert window.virtual_camera_label.text() == "Not publishing: the virtual camera is busy (see the message)"
    window.banner.clear_message("virtual_camera")
    assert window.virtual_camera_label.text() == "Not publishing: the virtual camera is busy"


class FiveLineBackend:
    """A pyvirtualcam backend that fails to open with a long, several-line error."""

    def __init__(self, **kw):
        raise RuntimeError("Could not open the device.\\nDriver said: error 0x80004005\\n"
                           "Did you install it?\\nSee the documentation at https://example.org\\n"
                           "for more details")


def test_virtual_camera_message_is_one_sentence_and_the_fix(qtbot, make_window, clip, monkeypatch):
    window = window_with_virtual_camera_backend(make_window, clip, monkeypatch, "fiveline", FiveLineBackend)
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=TIMEOUT_MS)
    qtbot.mouseClick(window.virtual_camera_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.banner.message("virtual_camera") != "", timeout=TIMEOUT_MS)
    message = window.banner.message("virtual_camera")
    assert message.startswith("No virtual camera device was found. To set one up, ")
    assert virtual_camera_setup_hint() in message
    for noise in ("backend", "0x80004005", "documentation", "\\n", "pyvirtualcam"):
        assert noise not in message, noise
    assert len(message) - len(virtual_camera_setup_hint()) < 120


@pytest.mark.parametrize("case, expected", [
    ("busy", "The virtual camera is busy: another program is sending to it."),
    ("missing_backend", "The virtual camera backend 'nonesuch' is not available here."),
    ("device", "The virtual camera device /dev/video42 could not be opened."),
    ("stopped", "The virtual camera stopped accepting frames, so publishing stopped."),
    ("refused", "The virtual camera refused the picture's size or format (160x120 at 15 FPS)."),
])
def test_virtual_camera_problems_are_named_with_their_fix(case, expected):
    from app.gui.worker import virtual_camera_problem
    from app.sinks import SinkError, VirtualCameraUnavailable

    def unavailable(reason):
        try:
            try:
                raise RuntimeError(reason)
            except RuntimeError as cause:
                raise VirtualCameraUnavailable(f"Virtual camera unavailable ({reason})") from cause
        except VirtualCameraUnavailable as exc:
            return exc

    message = {
        "busy": lambda: virtual_camera_problem(unavailable("'v4l2loopback' backend: device /dev/video9 is busy")),
        "missing_backend": lambda: virtual_camera_problem(VirtualCameraUnavailable("x"), backend="nonesuch"),
        "device": lambda: virtual_camera_problem(unavailable("'v4l2loopback' backend: Device /dev/video42 "
                                                             "does not exist."), device="/dev/video42"),
        "refused": lambda: virtual_camera_problem(unavailable("'v4l2loopback' backend: unsupported size 160x120"),
                                                  size=(160, 120, 15.0)),
        "stopped": lambda: virtual_camera_problem(SinkError("Virtual camera /dev/video9 stopped accepting "
                                                            "frames: [Errno 19]\\nNo such device"), started=True),
    }[case]()
    first, _, fix = message.partition(". ")
    assert first + "." == expected
    assert fix.endswith("start the virtual camera again.") and "\\n" not in message


def test_virtual_camera_status_is_not_cut_off_at_1200x720_with_a_custom_background(
        qtbot, make_window, clip, tmp_path):
    from app import resources

    picture = tmp_path / "my_holiday_picture.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 200, np.uint8))
    window = make_window(source=str(clip), backgrounds_dir=resources.BACKGROUNDS_DIR)
    window.resize(1200, 720)
    window.choose_background("image", picture)
    qtbot.waitUntil(lambda: window.settings.background_path == str(picture), timeout=TIMEOUT_MS)
    window.controller.worker.virtualCameraFailed.emit(
        "No virtual camera device was found. To set one up, " + virtual_camera_setup_hint())
    qtbot.wait(50)
    label = window.virtual_camera_label
    assert "see the message" in label.text()
    assert fully_visible(window.virtual_camera_button)
    assert fully_visible(label), (label.geometry(), label.visibleRegion().boundingRect())
    assert label.height() >= label.heightForWidth(label.width())  # every wrapped line shown
    window.virtual_camera_panel.set_started("/dev/video10 (PortraitCam, a long device label)")
    qtbot.wait(50)
    assert fully_visible(label) and label.height() >= label.heightForWidth(label.width())


def test_closing_while_the_worker_is_busy_past_the_wait_still_stops_the_capture(qtbot, make_window, clip, monkeypatch):
    # A worker busy longer than the close's wait (a slow model or a huge background loading): the
    # close quit its event loop, so the queued shutdown never ran, the capture thread kept running
    # and Qt aborted the process at exit ("QThread: Destroyed while thread ... is still running").
    import time

    from app.gui import worker as worker_module
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    controller = window.controller
    capture = controller.worker._capture
    assert capture is not None and capture.isRunning()
    real_set_background = worker_module.PipelineWorker.setBackground

    def slow_set_background(self, *args):
        time.sleep(0.8)
        return real_set_background(self, *args)
    monkeypatch.setattr(worker_module.PipelineWorker, "setBackground", slow_set_background)
    window.controller.set_background("blur")
    time.sleep(0.1)  # the worker is in the slow load
    controller.shutdown(timeout_ms=500)
    assert not controller.worker_thread.isRunning() and not capture.isRunning()
    assert controller.worker_thread not in worker_module.STUCK_THREADS


def test_a_large_photo_as_the_source_is_shown_at_the_cameras_size(qtbot, make_window, tmp_path):
    # A 24 MP photo ran the preview at 3 FPS and would ask the virtual camera for 6000x4000: shown
    # live like a camera, a photo is scaled to at most the camera's size (1280 wide by default).
    photo = tmp_path / "big.png"
    cv2.imwrite(str(photo), cv2.resize(person_frames(1, width=160, height=120)[0], (2000, 1500)))
    window = make_window(source=str(photo))
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=TIMEOUT_MS)
    image = window.preview.image()
    assert (image.width(), image.height()) == (1280, 960)


def window_choosing_a_slow_background(qtbot, make_window, clip, tmp_path, monkeypatch, seconds):
    """A window on the clip that has just asked for a picture background taking `seconds` to load
    (a large picture); returns the window and the picture."""
    import time

    from app.gui import worker as worker_module
    picture = tmp_path / "new_wall.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 120, np.uint8))
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    real = worker_module.PipelineWorker.setBackground
    monkeypatch.setattr(worker_module.PipelineWorker, "setBackground",
                        lambda self, *args: time.sleep(seconds) or real(self, *args))
    window.choose_background("image", picture)
    return window, picture


def test_a_background_chosen_just_before_closing_is_the_saved_choice(qtbot, make_window, clip, tmp_path,
                                                                   monkeypatch, isolated_settings):
    # Only the worker's answer stored a new background in the settings: a large picture still
    # loading when the window closed was lost, and the old one came back at the next start.
    window, picture = window_choosing_a_slow_background(qtbot, make_window, clip, tmp_path, monkeypatch, 0.5)
    window.close()
    store = open_settings_store()
    assert store.value("settings/background_mode") == "image"
    assert store.value("settings/background_path") == str(picture)


def test_a_background_that_takes_long_to_load_is_not_called_an_unplugged_source(qtbot, make_window, clip,
                                                                                 tmp_path, monkeypatch):
    # The worker loads a background between frames: a huge picture held the preview for seconds,
    # and the window said the video "may have been unplugged or taken by another app".
    import app.gui.main_window as main_window
    monkeypatch.setattr(main_window, "STALL_WARNING_S", 0.3)
    window, picture = window_choosing_a_slow_background(qtbot, make_window, clip, tmp_path, monkeypatch, 1.2)
    seen = []
    qtbot.waitUntil(lambda: seen.append(window.banner.message("source")) or
                    window.settings.background_path == str(picture), timeout=TIMEOUT_MS)
    assert not any("No picture" in message for message in seen)


def test_a_background_too_large_for_memory_is_refused_in_words(qtbot, make_window, clip, tmp_path, monkeypatch):
    from app.gui import worker as worker_module

    picture = tmp_path / "enormous.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 120, np.uint8))
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)

    def out_of_memory(path):
        raise MemoryError
    monkeypatch.setattr(worker_module, "load_background_picture", out_of_memory)
    window.choose_background("image", picture)
    qtbot.waitUntil(lambda: "not enough memory" in window.banner.message("background"), timeout=TIMEOUT_MS)
    assert window.settings.background_mode == "blur" and not window._background_requests


def slow_picture_loads(monkeypatch, seconds: float, started: list | None = None, hold_until=None) -> list:
    """Background pictures take `seconds` to decode (a 48 MP PNG took 1.9 s); returns the list
    of paths whose decode has finished (and adds to `started` those whose decode has begun).
    hold_until: a decode also lasts until this returns True (at most 10 s), so a test can make sure
    that what it chose arrived while a decode was under way, however busy the machine."""
    import time

    from app.gui import worker as worker_module
    real, finished = worker_module.load_background_picture, []

    def slow(path):
        if started is not None:
            started.append(path)
        time.sleep(seconds)
        deadline = time.monotonic() + 10.0
        while hold_until is not None and not hold_until() and time.monotonic() < deadline:
            time.sleep(0.01)
        finished.append(path)
        return real(path)
    monkeypatch.setattr(worker_module, "load_background_picture", slow)
    return finished


def test_frames_go_on_while_a_large_background_picture_loads(qtbot, make_window, clip, tmp_path, monkeypatch):
    # The worker decoded a background picture between frames: the preview and the call's picture
    # froze for as long as it took (1.9 s for a 48 MP PNG).
    import time
    picture = tmp_path / "large_wall.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), (30, 200, 90), np.uint8))
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    finished = slow_picture_loads(monkeypatch, 1.5)
    window.choose_background("image", picture)
    time.sleep(0.2)  # the decode has begun
    shown = window.frames_shown
    qtbot.wait(1000)
    assert not finished and window.frames_shown - shown >= 5  # the clip plays on
    qtbot.waitUntil(lambda: window.settings.background_path == str(picture), timeout=TIMEOUT_MS)
    assert window.settings.background_mode == "image" and not window._background_requests
    assert window.controller.worker.compositor.mode == "image"


def test_a_background_chosen_while_a_picture_loads_is_not_replaced_by_it(qtbot, make_window, clip, tmp_path,
                                                                         monkeypatch):
    picture = tmp_path / "large_wall.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 120, np.uint8))
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    started = []
    finished = slow_picture_loads(monkeypatch, 0.8, started)
    window.choose_background("image", picture)
    qtbot.waitUntil(lambda: bool(started), timeout=TIMEOUT_MS)  # its decode has begun
    window.choose_background("color", (0, 0, 255))
    qtbot.waitUntil(lambda: bool(finished) and not window._background_requests, timeout=TIMEOUT_MS)
    qtbot.wait(200)
    assert window.controller.worker.compositor.mode == "color"
    assert window.settings.background_mode == "color" and window.settings.background_color == (0, 0, 255)
    assert window.background_panel.list.currentItem().data(Qt.ItemDataRole.UserRole)[0] == "color"


def test_while_the_saved_background_picture_loads_at_start_the_room_is_blurred(qtbot, make_window, clip, tmp_path,
                                                                             monkeypatch):
    # Decoded off the frame thread, the saved picture arrives after the first frames: those must
    # not show the room as it is (the compositor's own "none") to a call that has just started.
    picture = tmp_path / "saved_wall.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 120, np.uint8))
    store = open_settings_store()
    store.setValue("settings/background_mode", "image")
    store.setValue("settings/background_path", str(picture))
    store.sync()
    finished = slow_picture_loads(monkeypatch, 1.5)
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    assert not finished and window.controller.worker.compositor.mode == "blur"
    qtbot.waitUntil(lambda: window.controller.worker.compositor.mode == "image", timeout=TIMEOUT_MS)
    assert window.settings.background_path == str(picture) and not window.banner.message("background")


def test_two_windows_keep_each_others_changes_when_they_close(qtbot, make_window, clip):
    # Each save wrote the window's whole settings: the window closed last undid every choice made
    # in the other one meanwhile (its stale threshold over the new one).
    first = make_window(source=str(clip))
    second = make_window(source=str(clip))
    first.threshold_slider.slider.setValue(30)
    second.feather_slider.slider.setValue(12)  # as if dragged: 12 steps of 0.5 px
    second.choose_background("color", (0, 0, 255))
    qtbot.waitUntil(lambda: second.settings.background_mode == "color", timeout=TIMEOUT_MS)
    first.close()
    second.close()
    third = make_window(source=str(clip))
    assert third.settings.threshold == pytest.approx(0.3)
    assert third.settings.feather == pytest.approx(6.0)
    assert (third.settings.background_mode, third.settings.background_color) == ("color", (0, 0, 255))
    # Each window's own later change still lands, over what the other saved before it.
    third.threshold_slider.slider.setValue(60)
    third.save_settings()
    assert load_settings(open_settings_store()).threshold == pytest.approx(0.6)


def test_an_unforeseen_error_decoding_a_background_is_answered_in_words(qtbot, make_window, clip, tmp_path,
                                                                        monkeypatch):
    # Decoded on the loader thread, an error other than the expected ones left the request
    # unanswered: no message, and the window waited for an answer that never came.
    from app.gui import worker as worker_module
    picture = tmp_path / "odd.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 120, np.uint8))
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2 and window.settings.background_mode == "blur",
                    timeout=TIMEOUT_MS)

    def broken_decoder(path):
        raise RuntimeError("decoder state corrupted")
    monkeypatch.setattr(worker_module, "load_background_picture", broken_decoder)
    window.choose_background("image", picture)
    qtbot.waitUntil(lambda: "decoder state corrupted" in window.banner.message("background"), timeout=TIMEOUT_MS)
    assert "odd.png" in window.banner.message("background") and not window._background_requests
    assert window.settings.background_mode == "blur" and window.controller.worker.compositor.mode == "blur"


def test_pictures_chosen_past_while_another_loads_are_not_decoded(qtbot, make_window, clip, tmp_path, monkeypatch):
    # Stepping through large pictures with the arrow keys queued a decode for each: the last one
    # showed only after all of them (2 s apiece at 48 MP). Only the latest choice is decoded.
    pictures = []
    for index in range(4):
        pictures.append(tmp_path / f"wall_{index}.png")
        cv2.imwrite(str(pictures[-1]), np.full((90, 160, 3), 40 * index, np.uint8))
    window = make_window(source=str(clip))
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=TIMEOUT_MS)
    worker = window.controller.worker
    first_request = worker._background_request
    # The first decode lasts until the worker has taken all four choices: on a busy machine the
    # worker once took the third only after 0.6 s, when the second had begun decoding by right.
    finished = slow_picture_loads(monkeypatch, 0.6,
                                  hold_until=lambda: worker._background_request >= first_request + len(pictures))
    for picture in pictures:
        window.choose_background("image", picture)
    qtbot.waitUntil(lambda: window.settings.background_path == str(pictures[-1]), timeout=TIMEOUT_MS)
    # The first may have begun before the others came; those between are never decoded.
    assert finished[-1] == str(pictures[-1]) and set(finished) <= {str(pictures[0]), str(pictures[-1])}
    qtbot.waitUntil(lambda: not window._background_requests, timeout=TIMEOUT_MS)
    assert window.controller.worker.compositor.background_path == pictures[-1]
