"""The window's live figures are honest: the overlay's FPS is the frames actually shown, its time is
the whole frame's processing, and latency is measured from capture (pytest-qt, offscreen)."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import re  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from app.gui.main_window import MainWindow  # noqa: E402
from app.settings import AppSettings  # noqa: E402
from conftest import person_frames, write_video  # noqa: E402

CLIP_FPS = 20.0


@pytest.fixture
def window(qtbot, tmp_path, mean_model):
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "config"))
    clip = write_video(tmp_path / "person.mp4", person_frames(40, width=160, height=120), fps=CLIP_FPS)
    window = MainWindow(source=str(clip), model_path=mean_model, sample_clip=tmp_path / "none.mp4",
                        backgrounds_dir=tmp_path / "no_backgrounds")
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


def test_overlay_fps_matches_the_frames_delivered(qtbot, window):
    shown: list[float] = []
    overlays: list[tuple[float, str]] = []
    set_image, set_text = window.preview.set_image, window.preview.set_overlay_text

    def count_image(image):
        shown.append(time.monotonic())
        set_image(image)

    def record_text(text):
        overlays.append((time.monotonic(), text))
        set_text(text)

    window.preview.set_image, window.preview.set_overlay_text = count_image, record_text
    qtbot.waitUntil(lambda: len(shown) > 2 and shown[-1] - shown[0] >= 5.0, timeout=30_000)
    # Every reading after the first full second, against the frames counted over the same span
    # (each reading covers the second before it). The old overlay, an average of instantaneous
    # rates, read 42 fps where 27.5 were shown.
    readings = [(at, float(text.split()[0])) for at, text in overlays if at - shown[0] >= 1.5]
    assert len(readings) >= 8
    begin, end = readings[0][0] - 1.0, readings[-1][0]
    delivered = sum(1 for t in shown if begin < t <= end) / (end - begin)
    overlay_fps = sum(fps for _, fps in readings) / len(readings)
    assert overlay_fps == pytest.approx(delivered, rel=0.05), (overlay_fps, delivered, readings)
    text = overlays[-1][1]
    assert re.search(r"ms/frame", text) and re.search(r"latency \d+ / \d+ ms", text)


def test_packets_carry_capture_time_and_the_whole_frames_processing_time(qtbot, window):
    packets = []
    take = window.controller.take_frame

    def keep():
        packet = take()
        if packet is not None:
            packets.append((time.monotonic(), packet))
        return packet

    window.controller.take_frame = keep
    qtbot.waitUntil(lambda: len(packets) >= 10, timeout=20_000)
    for received, packet in packets:
        assert packet.captured_at is not None and 0 < received - packet.captured_at < 5.0
        stages = sum(v for k, v in packet.timings.items() if k != "capture")
        assert packet.processing_ms >= stages  # the pipeline's stages and the rest of the frame's work
    assert packets[0][1].model_ran  # the first frame of a source always runs the model


def test_window_pipeline_uses_the_shared_schedule_defaults(qtbot, window):
    qtbot.waitUntil(lambda: window.controller.worker.pipeline is not None, timeout=20_000)
    assert window.controller.worker.pipeline.schedule.settings == AppSettings().schedule_settings()
