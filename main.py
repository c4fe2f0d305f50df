"""PortraitCam entry point: the GUI, or the headless CLI when given CLI options or no display."""
from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

# Before anything imports OpenCV: its warnings ("can't open/read file: check file path/integrity")
# would print beside the app's own one-line messages. Errors still show.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from app import resources  # noqa: E402
from app.stop_signals import STOP_SIGNALS, handle_stop_signals, restore_signals  # noqa: E402

DEMO_OUTPUT = Path("out") / "portraitcam_demo.mp4"
HEADLESS_FLAGS = ("-i", "--input", "-o", "--output", "--virtual-camera", "--headless", "-h", "--help",
                  "--check-camera")
BACKGROUND_FLAGS = ("-b", "--background", "--blur", "--color", "--no-background")
# Qt 6's X11 plugin loads these besides libxcb (soname: Debian/Ubuntu package). Desktops have
# them; minimal installs often lack icccm4/keysyms1, and Qt then aborts naming only xcb-cursor0.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1", "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # Windows and macOS always have a desktop session when run by a user


def uses_xcb() -> bool:
    """Whether Qt will use its X11 (xcb) plugin: Linux, outside a Wayland session, unless told."""
    if not sys.platform.startswith("linux"):
        return False
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0].split(";")[0] == "xcb"
    return not (os.environ.get("WAYLAND_DISPLAY") and os.environ.get("XDG_SESSION_TYPE") == "wayland")


def missing_display_libraries() -> list[str]:
    """Packages of the X11 libraries Qt needs that cannot be loaded here."""
    missing = []
    for soname, package in XCB_LIBRARIES.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(package)
    return missing


def x11_display_error() -> str | None:
    """Why the X server in $DISPLAY cannot be reached (Qt would abort over it), or None."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None  # reported by missing_display_libraries()
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(None, None)
    try:
        failed = xcb.xcb_connection_has_error(connection)
    finally:
        xcb.xcb_disconnect(connection)
    if failed:
        return f"cannot connect to the X display {os.environ.get('DISPLAY', '')!r}"
    return None


def run_demo(options: list[str] | None = None, reason: str = "No display found") -> int:
    """Headless demo: the bundled sample clip (or --source) over the default background (or the
    background options given), written to DEMO_OUTPUT."""
    from app import headless

    options = [a.replace("--source", "--input", 1) if a.split("=")[0] == "--source" else a
               for a in options or []]
    clip = resources.SAMPLE_CLIP
    if not clip.is_file() and not any(a.split("=")[0] == "--input" for a in options):
        print(f"portraitcam: error: sample clip not found: {clip}", file=sys.stderr)
        return 1
    argv = ["--input", str(clip), "--output", str(DEMO_OUTPUT)]
    if not any(a.split("=")[0] in BACKGROUND_FLAGS for a in options):
        background = resources.default_background()
        argv += ["--background", str(background)] if background else ["--blur"]
    print(f"{reason}: processing the input headless "
          f"({' '.join(options) or f'the sample clip {clip}'})", file=sys.stderr)
    code = headless.run(argv + options)
    if code == 0:
        print(f"Demo video written to {DEMO_OUTPUT.resolve()}")
    return code


class StartupInterrupted(BaseException):  # like KeyboardInterrupt: "except Exception" lets it through
    """Ctrl+C or SIGTERM before the job or the window has its own handling (imports, loading)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []  # the signal that arrived while starting


def _interrupted_at_start(signum, _frame) -> None:
    for other in STOP_SIGNALS:
        signal.signal(other, signal.SIG_IGN)  # a second Ctrl+C must not cut the message short
    _received.append(signum)
    raise StartupInterrupted(signum)


def main(argv: list[str] | None = None) -> int:
    """Runs the app; SIGINT/SIGTERM/SIGHUP while it starts exit 130/143/129 with one line, not a traceback
    (the headless job and the window install their own handling once they run)."""
    _received.clear()
    previous = handle_stop_signals(_interrupted_at_start)  # not one the parent ignores (nohup)
    try:
        return _main(argv)
    except BaseException as exc:
        if isinstance(exc, (StartupInterrupted, KeyboardInterrupt)):
            signum = getattr(exc, "signum", signal.SIGINT)
        elif _received and not isinstance(exc, SystemExit):
            # Raised inside an extension's import (onnxruntime, Qt), the signal comes out as
            # "ImportError: initialization failed": it is still the signal.
            signum = _received[0]
        else:
            raise
        print(f"portraitcam: interrupted ({signal.Signals(signum).name}) while starting; "
              "nothing was written", file=sys.stderr)
        return 128 + signum
    finally:
        restore_signals(previous)


def is_headless_flag(arg: str) -> bool:
    """--output, --output=FILE, the short forms with the value attached (-ofile, -i0), and an
    abbreviation of one (--out), which the headless parser then refuses with the full spelling
    (the window would have ignored it, and the user's job with it)."""
    name = arg.split("=")[0]
    if name in HEADLESS_FLAGS or (not arg.startswith("--") and len(arg) > 2 and arg[:2] in HEADLESS_FLAGS):
        return True
    return name.startswith("--") and len(name) > 2 and any(
        flag.startswith(name) for flag in HEADLESS_FLAGS if flag.startswith("--"))


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--headless" in argv and not any(is_headless_flag(arg) for arg in argv if arg != "--headless"):
        # No job named: the job is the demo's, as with no display.
        return run_demo([a for a in argv if a != "--headless"], reason="--headless")
    if any(is_headless_flag(arg) for arg in argv):
        from app import headless

        return headless.run([a for a in argv if a != "--headless"])
    if not has_display():
        return run_demo(argv)  # the window cannot open: never let Qt abort over it
    if uses_xcb():
        missing = missing_display_libraries()
        if missing:
            print("portraitcam: error: the window needs X11 libraries that are missing: "
                  f"{', '.join(missing)}; install them (Debian/Ubuntu: sudo apt install "
                  f"{' '.join(missing)}), or run headless with --input/--output", file=sys.stderr)
            return 1
        reason = x11_display_error()
        if reason:
            print(f"portraitcam: error: the window cannot open: {reason}; check DISPLAY (or unset it "
                  "to process the sample clip headless), or run headless with --input/--output",
                  file=sys.stderr)
            return 1
    try:
        from app.gui.main_window import run_gui
    except ImportError as exc:
        if _received:  # a signal broke the import, not a missing library
            raise
        print(f"portraitcam: error: the GUI is unavailable ({exc}); use --input/--output", file=sys.stderr)
        return 1
    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
