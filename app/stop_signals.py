"""The signals that end PortraitCam cleanly (a job keeps what it wrote, the window saves its
settings and closes the virtual camera): Ctrl+C, a kill or a service manager, and the terminal
closing or an ssh session dropping (SIGHUP, POSIX only). Shared by the entry point, the headless
job and the window, which each install their own handling."""
from __future__ import annotations

import signal

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
