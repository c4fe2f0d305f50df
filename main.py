"""PortraitCam entry point: the GUI, or the headless CLI when given CLI options or no display."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from app import resources

DEMO_OUTPUT = Path("out") / "portraitcam_demo.mp4"
HEADLESS_FLAGS = ("-i", "--input", "-o", "--output", "--virtual-camera", "--headless", "-h", "--help")


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # Windows and macOS always have a desktop session when run by a user


def run_demo() -> int:
    """Headless demo: the bundled sample clip over the default background."""
    from app import headless

    clip = resources.SAMPLE_CLIP
    if not clip.is_file():
        print(f"portraitcam: error: sample clip not found: {clip}", file=sys.stderr)
        return 1
    argv = ["--input", str(clip), "--output", str(DEMO_OUTPUT)]
    background = resources.default_background()
    argv += ["--background", str(background)] if background else ["--blur"]
    print(f"No display found: processing the sample clip {clip} headless", file=sys.stderr)
    code = headless.run(argv)
    if code == 0:
        print(f"Demo video written to {DEMO_OUTPUT.resolve()}")
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg.split("=")[0] in HEADLESS_FLAGS for arg in argv):
        from app import headless

        return headless.run([a for a in argv if a != "--headless"])
    if not argv and not has_display():
        return run_demo()
    try:
        from app.gui.main_window import run_gui
    except ImportError as exc:
        print(f"portraitcam: error: the GUI is unavailable ({exc}); use --input/--output", file=sys.stderr)
        return 1
    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
