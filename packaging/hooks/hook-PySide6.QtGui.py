# Replaces PyInstaller's own hook for this PySide6 module (hooks in packaging/hooks take precedence):
# the same Qt dependency collection, minus the plugins and translations PortraitCam leaves out.
# Filtering here, before binary dependency analysis, also keeps out the libraries only they link.
import sys
from pathlib import Path

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bundle_contents  # noqa: E402

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = bundle_contents.without_dropped_qt_files(binaries)
datas = bundle_contents.without_dropped_qt_files(datas)
