"""Test clips at the benchmark resolutions, made from the bundled sample clip (or portrait photo).

Each resolution gets its own encoded file so the capture stage measures real decoding at that
size. The files are cached under runs/bench/clips (ignored by git), keyed by the source's content.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from app.compositing import cover_resize
from app.resources import ASSETS_DIR, SAMPLE_CLIP, resource_root

RESOLUTIONS = {"480p": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
PORTRAIT = ASSETS_DIR / "samples" / "portrait.jpg"
PORTRAIT_MASK = ASSETS_DIR / "samples" / "portrait_mask.png"
CACHE_DIR = resource_root() / "runs" / "bench"
CLIP_FPS = 30.0


class ClipError(RuntimeError):
    """No usable source for the benchmark clip."""


def default_source() -> Path:
    """The bundled sample clip, else the sample portrait (animated), else ClipError."""
    for candidate in (SAMPLE_CLIP, PORTRAIT):
        if candidate.is_file():
            return candidate
    raise ClipError(f"No benchmark input: neither {SAMPLE_CLIP} nor {PORTRAIT} exists "
                    f"(pass --clip VIDEO_OR_IMAGE)")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _source_frames(source: Path) -> list[np.ndarray]:
    """Frames of a video, or a slow pan-and-zoom over a still photo so the person moves."""
    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if image is not None:
        height, width = image.shape[:2]
        frames = []
        steps = 60
        for i in range(steps):
            phase = i / (steps - 1)
            zoom = 1.0 + 0.15 * np.sin(np.pi * phase)      # in and out again
            crop_w, crop_h = round(width / zoom), round(height / zoom)
            x = round((width - crop_w) * (0.5 + 0.5 * np.sin(2 * np.pi * phase)))
            y = round((height - crop_h) * 0.5)
            frames.append(image[y:y + crop_h, x:x + crop_w])
        return frames
    capture = cv2.VideoCapture(str(source))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok or frame is None:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise ClipError(f"{source} is neither a readable image nor a readable video")
    return frames


def prepare_clips(source: Path, frame_count: int, resolutions: dict[str, tuple[int, int]],
                  cache_dir: Path = CACHE_DIR) -> dict[str, Path]:
    """One mp4 per resolution with frame_count frames (the source played forwards and backwards,
    so there is no jump and no re-open while measuring)."""
    source = Path(source)
    cache_dir = Path(cache_dir) / "clips"
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = _file_digest(source)
    clips: dict[str, Path] = {}
    frames: list[np.ndarray] | None = None
    for name, (width, height) in resolutions.items():
        path = cache_dir / f"{source.stem}_{digest}_{width}x{height}_{frame_count}f.mp4"
        clips[name] = path
        if path.is_file() and path.stat().st_size > 0:
            continue
        if frames is None:
            frames = _source_frames(source)
            if len(frames) > 1:
                frames = frames + frames[-2:0:-1]  # ping-pong
        partial = path.with_suffix(".partial.mp4")
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, (width, height))
        if not writer.isOpened():
            raise ClipError(f"Cannot write benchmark clip {partial}")
        for i in range(frame_count):
            writer.write(cover_resize(frames[i % len(frames)], width, height))
        writer.release()
        partial.replace(path)
    return clips


def read_frames(path: Path, count: int, step: int = 1, start: int = 0) -> list[np.ndarray]:
    """Frames start, start+step, ... of a clip, up to count frames (quality checks, calibration)."""
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok or frame is None:
            break
        if index >= start and (index - start) % step == 0:
            frames.append(frame)
        index += 1
    capture.release()
    return frames
