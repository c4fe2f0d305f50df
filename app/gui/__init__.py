"""PortraitCam's Qt (PySide6) user interface. Only wires the app/ stages to widgets."""
from __future__ import annotations

import ctypes
import platform
import sys


def _void_calls_leak_none() -> bool:
    """True when PySide6 drops a reference to None on every call of a C++ void method.

    PySide6/shiboken6 6.12.0 on CPython < 3.12 does this (None is immortal from 3.12 on, so it
    is harmless there). A window calls a few dozen void methods per frame, so None's refcount
    reaches zero within about half a minute and the interpreter aborts ("none_dealloc").
    """
    if sys.version_info >= (3, 12) or platform.python_implementation() != "CPython":
        return False
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(64):
        probe.setObjectName("probe")  # a void method
    return sys.getrefcount(None) - before <= -64


def _work_around_pyside_refcount_leak() -> None:
    # The fix is PySide6 != 6.12.0 (6.11.3 is unaffected). Until then, give None, True and False
    # a refcount no run can exhaust: in effect what CPython 3.12 does by making them immortal.
    if not _void_calls_leak_none():
        return
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value = 1 << 60


_work_around_pyside_refcount_leak()
