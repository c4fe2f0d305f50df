"""Check a built PortraitCam bundle: its contents, and that it starts and works headless.

    python packaging/check_bundle.py [--bundle dist/PortraitCam]

Run it with a Python that has the app's runtime requirements (the build venv does): the bundle's
output is compared with the same command run from source. Exits non-zero, naming each failed
check, so a broken bundle fails CI.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import bundle_contents as contents

IS_WINDOWS = sys.platform.startswith("win")
IS_MACOS = sys.platform == "darwin"
CLI_FRAMES = 10
GUI_SECONDS = 8
# Both runs decode the same clip and run the same model and OpenCV; only float summation order
# (threads, instruction set) may differ, so frames must agree to well under one grey level on average.
MAX_MEAN_DIFFERENCE = 1.0
# Anything the bundle must not contain: training/test packages and the Qt parts we leave out.
FORBIDDEN_NAME = re.compile(
    r"(^|/)(torch|torchvision|mediapipe|onnx|matplotlib|PIL|tkinter|_tkinter[^/]*|scipy|pandas|pytest)(/|$)"
    r"|(^|/)lib(tk|tcl)[0-9.]*\.so|Qt6?(Network|Qml|Quick|Pdf|VirtualKeyboard|WebEngine|Multimedia|Sql"
    r"|Designer|Test)[^/]*$")


class Checks:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def expect(self, condition: bool, what: str, detail: str = "") -> bool:
        print(f"[{'ok' if condition else 'FAIL'}] {what}" + (f": {detail}" if detail and not condition else ""))
        if not condition:
            self.failures.append(what)
        return condition


def executables(bundle: Path) -> tuple[Path, Path, Path]:
    """(GUI binary, CLI binary, folder holding the bundled data) for this platform's layout."""
    if IS_MACOS and bundle.suffix == ".app":
        binary = bundle / "Contents" / "MacOS" / contents.APP_NAME
        return binary, binary, bundle / "Contents" / "Resources"
    if IS_WINDOWS:
        return bundle / f"{contents.APP_NAME}.exe", bundle / "portraitcam-cli.exe", bundle / "_internal"
    return bundle / contents.APP_NAME, bundle / contents.APP_NAME, bundle / "_internal"


def frames_of(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def headless_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp / "config"))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def check_contents(checks: Checks, bundle: Path, data_root: Path) -> None:
    files = [p for p in bundle.rglob("*") if p.is_file() or p.is_symlink()]
    relative = [p.relative_to(bundle).as_posix() for p in files]
    for source, folder in contents.data_files():
        bundled = data_root / folder / Path(source).name
        checks.expect(bundled.is_file() and bundled.stat().st_size == Path(source).stat().st_size,
                      f"data file bundled: {folder}/{Path(source).name}")
    forbidden = [name for name in relative if FORBIDDEN_NAME.search(name)]
    checks.expect(not forbidden, "no training/test packages or unused Qt modules", ", ".join(forbidden[:10]))
    dropped = [name for name in relative if contents.is_dropped_qt_file(name)]
    checks.expect(not dropped, "no dropped Qt plugins or translations", ", ".join(dropped[:10]))
    dangling = [name for name, path in zip(relative, files) if path.is_symlink() and not path.exists()]
    checks.expect(not dangling, "no dangling links", ", ".join(dangling[:10]))
    if sys.platform.startswith("linux"):
        check_qt_links(checks, bundle, files)


def check_qt_links(checks: Checks, bundle: Path, files: list[Path]) -> None:
    """Every Qt library that a bundled binary links against is in the bundle (Qt libraries come only
    from the bundle; system libraries such as libGL are the desktop's)."""
    bundled_names = {p.name for p in files if p.exists()}
    missing = set()
    for path in files:
        if path.is_symlink() or not (path.suffix == ".so" or ".so." in path.name):
            continue
        dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
        for needed in re.findall(r"\(NEEDED\)\s+Shared library: \[(libQt6[^\]]+)\]", dynamic):
            if needed not in bundled_names:
                missing.add(f"{path.relative_to(bundle)} needs {needed}")
    checks.expect(not missing, "every Qt library a bundled plugin/module links is bundled",
                  "; ".join(sorted(missing)[:10]))


def check_cli(checks: Checks, cli: Path, data_root: Path, tmp: Path) -> None:
    clip = data_root / "assets" / "samples" / "sample_clip.mp4"
    background = sorted((data_root / contents.BACKGROUND_DIR).glob("*.jpg"))[0]
    args = ["--input", str(clip), "--background", str(background), "--max-frames", str(CLI_FRAMES),
            "--threads", "1", "--no-progress"]
    bundle_out, source_out = tmp / "bundle.mp4", tmp / "source.mp4"
    started = time.monotonic()
    run = subprocess.run([str(cli), *args, "--output", str(bundle_out)], env=headless_env(tmp),
                         capture_output=True, text=True, timeout=300)
    print(f"     bundle CLI ran in {time.monotonic() - started:.1f} s")
    if not checks.expect(run.returncode == 0, "bundle CLI exits 0", run.stderr.strip()[-2000:]):
        return
    checks.expect(f"Wrote {CLI_FRAMES} frames" in run.stdout, "bundle CLI reports the frames written", run.stdout)

    source = subprocess.run([sys.executable, str(contents.ENTRY_SCRIPT), *args, "--output", str(source_out)],
                            env=headless_env(tmp), capture_output=True, text=True, timeout=300,
                            cwd=contents.REPO_ROOT)
    if not checks.expect(source.returncode == 0, "same command from source exits 0", source.stderr[-2000:]):
        return
    produced, expected = frames_of(bundle_out), frames_of(source_out)
    input_size = frames_of(clip)[0].shape
    checks.expect(len(produced) == CLI_FRAMES, f"bundle output has {CLI_FRAMES} frames", str(len(produced)))
    checks.expect(all(f.shape == input_size for f in produced), "bundle output keeps the input size",
                  str({f.shape for f in produced}))
    checks.expect(all(float(f.std()) > 10 for f in produced), "bundle output frames have picture content",
                  str([round(float(f.std()), 1) for f in produced]))
    if len(produced) == len(expected) and produced:
        differences = [float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
                       for a, b in zip(produced, expected)]
        checks.expect(max(differences) < MAX_MEAN_DIFFERENCE,
                      "bundle output matches the app run from source",
                      f"mean abs difference per frame {[round(d, 2) for d in differences]}")

    bad = subprocess.run([str(cli), "--input", str(tmp / "missing.mp4"), "--output", str(tmp / "x.mp4")],
                         env=headless_env(tmp), capture_output=True, text=True, timeout=120)
    last_line = (bad.stderr.strip().splitlines() or [""])[-1]
    checks.expect(bad.returncode != 0 and last_line.startswith("portraitcam: error:")
                  and "Traceback" not in bad.stderr,
                  "bad input gives a one-line error and a non-zero exit", bad.stderr[-1000:])


def check_demo(checks: Checks, binary: Path, data_root: Path, tmp: Path) -> None:
    """No arguments and no display: the bundle processes its own sample clip (Linux only: elsewhere
    a desktop session is assumed and the GUI starts)."""
    workdir = tmp / "demo"
    workdir.mkdir()
    run = subprocess.run([str(binary)], env=headless_env(tmp), cwd=workdir, capture_output=True, text=True,
                         timeout=600)
    if not checks.expect(run.returncode == 0, "no-display demo exits 0", run.stderr.strip()[-2000:]):
        return
    demo = workdir / "out" / "portraitcam_demo.mp4"
    clip_frames = len(frames_of(data_root / "assets" / "samples" / "sample_clip.mp4"))
    demo_frames = len(frames_of(demo)) if demo.is_file() else 0
    checks.expect(demo_frames == clip_frames > 0, "demo video has every frame of the bundled sample clip",
                  f"{demo_frames} of {clip_frames}")


def check_gui_starts(checks: Checks, binary: Path, tmp: Path) -> None:
    """The GUI comes up offscreen and keeps running (a missing Qt plugin or module makes it exit)."""
    env = headless_env(tmp)
    if sys.platform.startswith("linux"):
        env["DISPLAY"] = ":0"  # main.py picks the GUI when a display is set; Qt itself stays offscreen
    log = tmp / "gui.log"
    with open(log, "w") as output:
        process = subprocess.Popen([str(binary)], env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=not IS_WINDOWS)
        try:
            process.wait(timeout=GUI_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        alive = process.poll() is None
        if alive:
            if IS_WINDOWS:
                process.terminate()
            else:
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    text = log.read_text(errors="replace")
    checks.expect(alive and "Traceback" not in text, f"GUI starts and runs for {GUI_SECONDS} s offscreen",
                  f"exit code {process.returncode}: {text[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=None,
                        help="bundle folder (default: dist/PortraitCam, or dist/PortraitCam.app on macOS)")
    args = parser.parse_args(argv)
    bundle = args.bundle
    if bundle is None:
        app = contents.REPO_ROOT / "dist" / f"{contents.APP_NAME}.app"
        bundle = app if IS_MACOS and app.is_dir() else contents.REPO_ROOT / "dist" / contents.APP_NAME
    gui, cli, data_root = executables(bundle)
    if not gui.is_file() or not cli.is_file():
        print(f"check_bundle: error: no bundle at {bundle}; build it with: bash packaging/build.sh",
              file=sys.stderr)
        return 1
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="portraitcam-check-") as tmp_name:
        tmp = Path(tmp_name)
        check_contents(checks, bundle, data_root)
        check_cli(checks, cli, data_root, tmp)
        if sys.platform.startswith("linux"):
            check_demo(checks, gui, data_root, tmp)
        check_gui_starts(checks, gui, tmp)
    size_mb = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20
    print(f"Bundle {bundle}: {size_mb:.0f} MiB")
    if checks.failures:
        print(f"{len(checks.failures)} check(s) failed: " + "; ".join(checks.failures), file=sys.stderr)
        return 1
    print("All bundle checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
