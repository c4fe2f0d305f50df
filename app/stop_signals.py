"""The signals that end PortraitCam cleanly (a job keeps what it wrote, the window saves its
settings and closes the virtual camera): Ctrl+C, a kill or a service manager, and the terminal
closing or an ssh session dropping (SIGHUP, POSIX only). Shared by the entry point, the headless
job and the window, which each install their own handling."""
from __future__ import annotations

import signal
import threading
from typing import Callable

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def handle_stop_signals(handler: Callable) -> dict:
    """Installs `handler` for each stop signal that the process does not ignore, and returns the
    handlers it replaced (to give back with restore_signals). One the parent set to be ignored
    stays ignored: `nohup` (SIGHUP), a shell's background job (SIGINT). Only the main thread can
    install handlers; elsewhere nothing is installed."""
    previous = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    return previous


def restore_signals(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
