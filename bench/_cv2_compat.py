"""Lets app/ import under older OpenCV builds (the teacher venv's opencv-python-headless 4.10).

app.capture quiets OpenCV through ``cv2.utils.logging``, which the 4.10 wheel does not have;
``cv2.setLogLevel`` does the same there. Only the peer benchmark needs this: the app itself runs
on the pinned OpenCV 5, where this is a no-op.
"""
from __future__ import annotations

import types

import cv2

LOG_LEVEL_ERROR = 2  # OpenCV's cv::utils::logging::LOG_LEVEL_ERROR


def ensure_logging_namespace() -> bool:
    """Provide cv2.utils.logging if missing; returns True when a stand-in was installed."""
    if hasattr(cv2, "utils") and hasattr(cv2.utils, "logging"):
        return False
    cv2.utils.logging = types.SimpleNamespace(
        LOG_LEVEL_ERROR=LOG_LEVEL_ERROR, setLogLevel=cv2.setLogLevel)
    return True
