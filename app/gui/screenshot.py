"""Renders the main window offscreen with a composited frame and saves it as a PNG.

    QT_QPA_PLATFORM=offscreen python -m app.gui.screenshot [--output assets/screenshot.png]

Uses a throw-away settings folder, so the user's PortraitCam settings are neither read nor changed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app import resources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(resources.ASSETS_DIR / "screenshot.png"))
    parser.add_argument("--source", default=str(resources.SAMPLE_CLIP), help="video or photo to show")
    parser.add_argument("--background", default=None,
                        help="background image (default: the bundled default background)")
    parser.add_argument("--model", default=None, help="ONNX model (default: the bundled one)")
    parser.add_argument("--frames", type=int, default=45, help="frames to run before the capture")
    parser.add_argument("--size", default="1400x700", help="window size WIDTHxHEIGHT")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as config:
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, config)
        app = QApplication.instance() or QApplication(["portraitcam-screenshot"])
        from app.gui.main_window import MainWindow

        window = MainWindow(source=args.source, model_path=args.model)
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
        window.show()
        background = args.background or resources.default_background()
        if background:
            window.choose_background("image", background)
        deadline = time.monotonic() + 120
        while window.frames_shown < args.frames and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        if window.frames_shown == 0:
            print(f"no frame was shown; messages: {window.banner.messages()}", file=sys.stderr)
            window.close()
            return 1
        window.grab().save(args.output)
        window.close()
    print(f"Saved {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
