"""Fast checks of the PyInstaller spec (no build, no PyInstaller needed): the spec runs against
recording stand-ins for PyInstaller's build classes, and its lists agree with the app's code."""
import ast
import re
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

PACKAGING = REPO_ROOT / "packaging"
SPEC = PACKAGING / "portraitcam.spec"
sys.path.insert(0, str(PACKAGING))
import bundle_contents as contents  # noqa: E402


class Recorder:
    """Stands in for one PyInstaller build class and records how the spec called it."""

    def __init__(self, kind, calls):
        self.kind, self.calls = kind, calls

    def __call__(self, *args, **kwargs):
        record = {"kind": self.kind, "args": args, "kwargs": kwargs, "scripts": [], "pure": [],
                  "binaries": [], "datas": []}
        self.calls.append(record)
        return type(self.kind, (), record)()


def run_spec(monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(sys, "path", list(sys.path))
    calls = []
    namespace = {name: Recorder(name, calls) for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    namespace.update(SPECPATH=str(PACKAGING), __file__=str(SPEC))
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), namespace)
    by_kind = {}
    for call in calls:
        by_kind.setdefault(call["kind"], []).append(call)
    return by_kind


def imported_modules(paths):
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


APP_SOURCES = sorted((REPO_ROOT / "app").rglob("*.py")) + [REPO_ROOT / "main.py"]


def test_linux_spec_builds_one_folder_app_with_model_assets_and_excludes(monkeypatch):
    calls = run_spec(monkeypatch, "linux")
    (analysis,) = calls["Analysis"]
    assert [Path(p) for p in analysis["args"][0]] == [REPO_ROOT / "main.py"]
    options = analysis["kwargs"]
    bundled = {(Path(src).relative_to(REPO_ROOT).as_posix(), dest) for src, dest in options["datas"]}
    assert ("models/portraitnet.onnx", "models") in bundled
    assert ("models/edge_model.npz", "models") in bundled
    assert ("assets/samples/sample_clip.mp4", "assets/samples") in bundled
    assert ("assets/icon.png", "assets") in bundled
    assert ("assets/README.md", "assets") in bundled  # the backgrounds' licences travel with them
    backgrounds = sorted((REPO_ROOT / "assets" / "backgrounds").glob("*.jpg"))
    assert backgrounds, "no shipped backgrounds"
    for background in backgrounds:
        assert (f"assets/backgrounds/{background.name}", "assets/backgrounds") in bundled
    for src, _ in options["datas"]:
        assert Path(src).is_file(), src
    assert not any("portrait_mask" in src or src.endswith(".py") for src, _ in options["datas"])

    assert {"app.headless", "app.gui.main_window", "app.gui.worker"} <= set(options["hiddenimports"])
    assert {"torch", "torchvision", "mediapipe", "onnx", "tkinter", "matplotlib", "PIL", "pytest",
            "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtPdf",
            "PySide6.QtOpenGL"} <= set(options["excludes"])
    assert options["hookspath"] == [str(PACKAGING / "hooks")]

    (exe,) = calls["EXE"]
    assert exe["kwargs"]["name"] == "PortraitCam" and exe["kwargs"]["exclude_binaries"]
    assert exe["kwargs"]["icon"] is None  # Linux: the window sets the icon
    (collect,) = calls["COLLECT"]
    assert collect["kwargs"]["name"] == "PortraitCam"
    assert "BUNDLE" not in calls


def test_windows_spec_has_windowed_app_console_cli_and_icon(monkeypatch):
    calls = run_spec(monkeypatch, "win32")
    exes = {call["kwargs"]["name"]: call["kwargs"] for call in calls["EXE"]}
    assert exes["PortraitCam"]["console"] is False
    assert exes["portraitcam-cli"]["console"] is True
    assert all(kw["icon"] == [str(REPO_ROOT / "assets" / "icon.png")] for kw in exes.values())
    (collect,) = calls["COLLECT"]
    assert len([a for a in collect["args"] if getattr(a, "kind", None) == "EXE"]) == 2


def test_macos_spec_makes_app_bundle_that_may_ask_for_the_camera(monkeypatch):
    calls = run_spec(monkeypatch, "darwin")
    (bundle,) = calls["BUNDLE"]
    assert bundle["kwargs"]["name"] == "PortraitCam.app"
    assert bundle["kwargs"]["icon"] == [str(REPO_ROOT / "assets" / "icon.png")]
    assert bundle["kwargs"]["info_plist"]["NSCameraUsageDescription"]


def test_every_app_module_is_listed_for_the_bundle():
    expected = {"app"}
    for path in (REPO_ROOT / "app").rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        expected.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert set(contents.app_modules()) == expected


def test_app_uses_only_the_qt_modules_the_bundle_keeps():
    qt_modules = {name.split(".")[1] for name in imported_modules(APP_SOURCES)
                  if name.startswith("PySide6.")}
    assert qt_modules, "the app imports no Qt module?"
    assert qt_modules <= set(contents.QT_MODULES_USED)
    assert not qt_modules & set(contents.QT_MODULES_EXCLUDED)
    hooks = {p.name for p in (PACKAGING / "hooks").glob("hook-PySide6.*.py")}
    assert hooks == {f"hook-PySide6.{name}.py" for name in contents.QT_MODULES_USED}


def test_app_imports_no_excluded_package():
    top_level = {name.split(".")[0] for name in imported_modules(APP_SOURCES)}
    assert not top_level & set(contents.EXCLUDED_PACKAGES)


@pytest.mark.parametrize("path", [
    "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqwayland.so",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so", "PySide6/plugins/platforms/qwindows.dll",
    "PySide6/Qt/plugins/platforms/libqcocoa.dylib", "PySide6/Qt/plugins/imageformats/libqjpeg.so",
    "PySide6/plugins/imageformats/qjpeg.dll", "PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so",
    "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so", "PySide6/Qt/lib/libQt6Gui.so.6",
])
def test_plugins_a_desktop_needs_are_kept(path):
    assert not contents.is_dropped_qt_file(path)


@pytest.mark.parametrize("path", [
    "PySide6/Qt/plugins/platforms/libqvnc.so", "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/imageformats/libqpdf.so", "PySide6/plugins/imageformats/qpdf.dll",
    "PySide6/Qt/plugins/imageformats/libqsvg.so",
    "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so", "PySide6/Qt/translations/qtbase_de.qm",
    "PySide6/translations/qtbase_de.qm",
])
def test_unneeded_qt_files_are_dropped(path):
    assert contents.is_dropped_qt_file(path)


def test_hook_filter_works_on_source_and_folder_pairs():
    entries = [("/x/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms"),
               ("/x/plugins/platforms/libqvnc.so", "PySide6/Qt/plugins/platforms"),
               ("/x/translations/qt_fr.qm", "PySide6/Qt/translations")]
    assert contents.without_dropped_qt_files(entries) == entries[:1]


def test_missing_data_file_stops_the_build_with_its_name(monkeypatch, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "portraitnet.onnx").write_bytes(b"x")
    monkeypatch.setattr(contents, "REPO_ROOT", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"edge_model\.npz.*sample_clip\.mp4.*icon\.png.*assets/backgrounds"):
        contents.data_files()


def test_build_environment_is_runtime_requirements_plus_pinned_pyinstaller():
    lines = [line.split("#")[0].strip() for line in (PACKAGING / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert "-r ../requirements.txt" in lines
    assert "pyinstaller==6.22.3" in lines
    runtime = (REPO_ROOT / "requirements.txt").read_text().lower()
    for package in ("torch", "mediapipe", "pyside6-addons", "opencv-python=="):
        assert package not in runtime and not any(line.lower().startswith(package) for line in lines)
    assert re.search(r"^pyside6-essentials==", runtime, re.MULTILINE)
