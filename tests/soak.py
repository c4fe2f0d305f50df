"""Soak run: drives the window's pipeline (PipelineController, its worker and capture threads) for
thousands of frames with source switches, background changes, settings changes and virtual-camera
start/stop through a pyvirtualcam test backend, and reports memory and thread count at the start
(after one warm-up cycle has created everything once) and at the end: both should stay flat.

    QT_QPA_PLATFORM=offscreen python tests/soak.py --frames 5000 [--model models/portraitnet.onnx]

tests/test_soak.py runs a shorter soak with the suite. Needs Linux's /proc for the figures.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pyvirtualcam  # noqa: E402
from PySide6.QtCore import QObject, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.capture import FrameSource  # noqa: E402
from app.gui.worker import PipelineController  # noqa: E402
from app.settings import AppSettings  # noqa: E402

BACKEND = "portraitcam-soak"


class CountingBackend:
    """A pyvirtualcam backend that counts frames (keeping them would itself grow memory)."""

    opened = closed = frames = 0

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.fourcc = fourcc
        CountingBackend.opened += 1

    def send(self, frame):
        CountingBackend.frames += 1

    def close(self):
        CountingBackend.closed += 1

    def device(self):
        return "Soak Camera"

    def native_fourcc(self):
        return self.fourcc


class SyntheticCamera(FrameSource):
    """A 'live' source (not paced by the capture thread) of a moving disc, about 500 fps."""

    is_live = True

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self._size = (width, height)
        self.description = f"synthetic {width}x{height}"
        self._index = 0

    def read(self) -> np.ndarray:
        time.sleep(0.002)
        width, height = self._size
        frame = np.full((height, width, 3), 30, np.uint8)
        cv2.circle(frame, (width // 2 + self._index % 20, height // 2), height // 3, (230, 230, 230), -1)
        self._index += 1
        return frame


class FrameCounter(QObject):
    """Takes every preview packet on the UI thread, as the window does."""

    def __init__(self, controller: PipelineController) -> None:
        super().__init__()
        self.controller = controller
        self.count = 0
        controller.worker.frameReady.connect(self.on_frame_ready)

    @Slot()
    def on_frame_ready(self) -> None:
        if self.controller.take_frame() is not None:
            self.count += 1


def process_stats() -> dict[str, int]:
    """Resident memory (bytes) and OS threads of this process, from /proc (Linux)."""
    stats = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            stats["rss"] = int(value.split()[0]) * 1024
        elif key == "Threads":
            stats["threads"] = int(value)
    return stats


def _wait(app: QApplication, condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the pipeline stopped delivering frames")
        app.processEvents()
        time.sleep(0.001)


def _settle(app: QApplication) -> dict[str, int]:
    # Let retired capture threads end and Qt delete what it was asked to, then measure.
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    gc.collect()
    return process_stats()


def run(frames: int = 3000, model_path: str | Path | None = None, frames_per_cycle: int = 60,
        report=print) -> dict:
    """Soak for about `frames` frames; returns {'start': stats, 'end': stats, 'frames', 'cycles',
    'vcam': (opened, closed, frames)}."""
    if BACKEND not in pyvirtualcam.camera.BACKENDS:
        pyvirtualcam.register_backend(BACKEND, CountingBackend)
    app = QApplication.instance() or QApplication(["portraitcam-soak"])
    with tempfile.TemporaryDirectory() as folder:
        picture = Path(folder) / "background.png"
        cv2.imwrite(str(picture), np.random.default_rng(0).integers(0, 256, (90, 160, 3), np.uint8))
        video = Path(folder) / "background.avi"
        writer = cv2.VideoWriter(str(video), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                                 15, (160, 120))
        for level in range(0, 250, 25):
            writer.write(np.full((120, 160, 3), level, np.uint8))
        writer.release()
        backgrounds = [("blur", None), ("color", (0, 255, 0)), ("image", str(picture)),
                       ("video", str(video)), ("none", None)]
        sizes = [(160, 120), (200, 90), (120, 160)]

        settings = AppSettings(virtual_camera_backend=BACKEND)
        controller = PipelineController(model_path=model_path, threads=1)
        counter = FrameCounter(controller)
        controller.start(settings)
        cycles = max(2, frames // frames_per_cycle)
        start = None
        began = time.monotonic()
        for cycle in range(cycles):
            controller.open_source(SyntheticCamera(*sizes[cycle % len(sizes)]))
            controller.set_background(*backgrounds[cycle % len(backgrounds)])
            settings.blur_strength = 10.0 + cycle % 30
            settings.model_every_n = 1 + cycle % 3
            controller.apply_settings(settings)
            if cycle % 2 == 0:
                controller.set_virtual_camera(True)
            target = counter.count + frames_per_cycle // 2
            _wait(app, lambda: counter.count >= target)
            if cycle % 2 == 0:
                controller.set_virtual_camera(False)
            target = counter.count + frames_per_cycle - frames_per_cycle // 2
            _wait(app, lambda: counter.count >= target)
            if cycle == 0:
                start = _settle(app)  # everything has been created once: the baseline
                report(f"after warm-up: {start['rss'] / 2**20:.1f} MiB, {start['threads']} threads")
        end = _settle(app)  # in the same state as the baseline: a source playing, camera off
        controller.close_source()
        report(f"after {counter.count} frames, {cycles} cycles in {time.monotonic() - began:.0f} s: "
               f"{end['rss'] / 2**20:.1f} MiB, {end['threads']} threads "
               f"(virtual camera opened {CountingBackend.opened}x, closed {CountingBackend.closed}x, "
               f"{CountingBackend.frames} frames)")
        controller.shutdown()
    return {"start": start, "end": end, "frames": counter.count, "cycles": cycles,
            "vcam": (CountingBackend.opened, CountingBackend.closed, CountingBackend.frames)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--model", default=None, help="ONNX model (default: the bundled one)")
    args = parser.parse_args(argv)
    result = run(args.frames, args.model)
    grew = (result["end"]["rss"] - result["start"]["rss"]) / 2**20
    threads = result["end"]["threads"] - result["start"]["threads"]
    print(f"memory {grew:+.1f} MiB, threads {threads:+d} from warm-up to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
