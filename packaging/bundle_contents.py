"""What goes into the PortraitCam bundle and what must stay out.

Plain Python (no PyInstaller import) so that portraitcam.spec and the fast spec test in
tests/test_packaging_spec.py read the same lists without a build.
"""
from __future__ import annotations

import pkgutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "PortraitCam"
ENTRY_SCRIPT = REPO_ROOT / "main.py"
ICON_PNG = REPO_ROOT / "assets" / "icon.png"
BUNDLE_ID = "org.portraitcam.PortraitCam"
HOOKS_DIR = Path(__file__).resolve().parent / "hooks"

# (source relative to the repo, folder inside the bundle). app/resources.py and app/segmentation.py
# look these up under sys._MEIPASS with the same relative paths as in the source tree.
REQUIRED_DATA = [
    ("models/portraitnet.onnx", "models"),
    ("models/edge_model.npz", "models"),  # the matte's learned edge (app/matting.EdgeModel)
    ("assets/samples/sample_clip.mp4", "assets/samples"),  # the no-display demo and the GUI's sample
    ("assets/icon.png", "assets"),  # the window icon (and the .ico/.icns on Windows/macOS)
    ("assets/README.md", "assets"),  # the backgrounds' licences ask for attribution with the app
]
BACKGROUND_DIR = "assets/backgrounds"
BACKGROUND_EXTENSIONS = (".jpg", ".jpeg", ".png")

# The only Qt modules the app may use; every other PySide6 module is excluded below.
QT_MODULES_USED = ("QtCore", "QtGui", "QtWidgets")
QT_MODULES_EXCLUDED = (
    "Qt3DAnimation", "Qt3DCore", "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DRender", "QtAxContainer",
    "QtBluetooth", "QtCharts", "QtConcurrent", "QtDataVisualization", "QtDBus", "QtDesigner",
    "QtGraphs", "QtHelp", "QtHttpServer", "QtLabsStyleKit", "QtLocation", "QtMultimedia",
    "QtMultimediaWidgets", "QtNetwork", "QtNetworkAuth", "QtNfc", "QtOpenGL", "QtOpenGLWidgets",
    "QtPdf", "QtPdfWidgets", "QtPositioning", "QtPrintSupport", "QtQml", "QtQmlFeatures", "QtQuick",
    "QtQuick3D", "QtQuickControls2", "QtQuickTest", "QtQuickWidgets", "QtRemoteObjects", "QtScxml",
    "QtSensors", "QtSerialBus", "QtSerialPort", "QtSpatialAudio", "QtSql", "QtStateMachine", "QtSvg",
    "QtSvgWidgets", "QtTest", "QtTextToSpeech", "QtUiTools", "QtWebChannel", "QtWebEngineCore",
    "QtWebEngineQuick", "QtWebEngineWidgets", "QtWebSockets", "QtWebView", "QtXml",
)

# Python packages that must never be in the bundle: training/export, test tooling, other GUI
# toolkits, and heavy libraries some dependency may import optionally.
EXCLUDED_PACKAGES = (
    "torch", "torchvision", "mediapipe", "onnx", "tensorflow", "jax", "sklearn", "scipy", "pandas",
    "matplotlib", "PIL", "IPython", "jupyter", "notebook", "pytest", "pytestqt", "_pytest",
    "tkinter", "_tkinter", "PyQt5", "PyQt6", "PySide2", "setuptools", "pkg_resources", "pip",
    "distutils", "lib2to3", "pydoc_data", "unittest", "sympy", "training", "tests", "bench",
)
EXCLUDES = EXCLUDED_PACKAGES + tuple(f"PySide6.{name}" for name in QT_MODULES_EXCLUDED)

# Qt plugins a webcam desktop app does not need. The PySide6 hooks collect whole plugin
# categories; each of these also drags in Qt libraries the app never loads (QtPdf, QtSvg,
# QtVirtualKeyboard -> QtQuick/QtQml, QtNetwork for VNC, the EGLFS/KMS stack for kiosk devices).
# Kept: the xcb and Wayland platforms (desktops), offscreen (headless/CI), GTK/portal themes,
# compose/ibus input, jpeg/gif/ico image formats, and the Windows/macOS platform plugins.
QT_PLUGINS_DROPPED = (
    "platforms/libqeglfs", "platforms/libqlinuxfb", "platforms/libqminimal", "platforms/libqminimalegl",
    "platforms/libqvkkhrdisplay", "platforms/libqvnc", "platforms/qdirect2d", "platforms/qminimal",
    "egldeviceintegrations/", "generic/",
    "imageformats/libqpdf", "imageformats/qpdf", "imageformats/libqsvg", "imageformats/qsvg",
    "imageformats/libqicns", "imageformats/libqtga", "imageformats/qtga", "imageformats/libqtiff",
    "imageformats/qtiff", "imageformats/libqwbmp", "imageformats/qwbmp", "imageformats/libqwebp",
    "imageformats/qwebp",
    "iconengines/", "platforminputcontexts/libqtvirtualkeyboardplugin",
    # The GTK theme would bundle the build machine's cairo/pango/gdk next to the user's own GTK, a
    # known source of crashes; without it Qt uses its Fusion style and the XDG portal dialogs.
    "platformthemes/libqgtk3", "wayland-graphics-integration-server/",
    "networkinformation/", "tls/", "printsupport/", "qmltooling/", "sqldrivers/", "designer/",
    "vectorimageformats/",
)
# Qt translations: the app's interface is English and it installs no QTranslator.
DROP_QT_TRANSLATIONS = True


def bundled_backgrounds() -> list[Path]:
    folder = REPO_ROOT / BACKGROUND_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in BACKGROUND_EXTENSIONS)


def data_files() -> list[tuple[str, str]]:
    """(absolute source, bundle folder) pairs; raises FileNotFoundError naming what is missing."""
    missing = [src for src, _ in REQUIRED_DATA if not (REPO_ROOT / src).is_file()]
    backgrounds = bundled_backgrounds()
    if not backgrounds:
        missing.append(f"{BACKGROUND_DIR}/*.jpg (at least one background)")
    if missing:
        raise FileNotFoundError("cannot build the bundle, missing: " + ", ".join(missing))
    entries = [(str(REPO_ROOT / src), dest) for src, dest in REQUIRED_DATA]
    entries += [(str(path), BACKGROUND_DIR) for path in backgrounds]
    return entries


def app_modules() -> list[str]:
    """Every module of the app package. main.py imports the GUI lazily (only with a display), so
    the GUI modules are listed explicitly rather than left to import analysis."""
    app_dir = REPO_ROOT / "app"
    return ["app"] + sorted(info.name for info in pkgutil.walk_packages([str(app_dir)], prefix="app."))


def is_dropped_qt_file(dest: str) -> bool:
    """True for a file at this bundle path (folder/name) that the bundle leaves out."""
    path = dest.replace("\\", "/")
    if "PySide6/Qt/plugins/" in path or "PySide6/plugins/" in path:
        return path.split("plugins/", 1)[1].startswith(QT_PLUGINS_DROPPED)
    return DROP_QT_TRANSLATIONS and ("PySide6/Qt/translations/" in path or "PySide6/translations/" in path)


def without_dropped_qt_files(hook_entries):
    """Filter a Qt hook's (source file, bundle folder) list."""
    return [(src, dest_dir) for src, dest_dir in hook_entries
            if not is_dropped_qt_file(f"{dest_dir}/{Path(src).name}")]
