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


# --- live scenarios: a still speaker and a moving one (bench/live.py) ----------------------------
def stabilised_frames(frames: list[np.ndarray], zoom: float = 1.15) -> list[np.ndarray]:
    """The frames with the camera's own motion taken out: the room stays put, the person still
    talks and moves their head. The global motion is tracked frame to frame (corners, Lucas-Kanade,
    a RANSAC similarity transform: the room outweighs the person) and undone; a 15 % zoom hides the
    borders it uncovers. The bundled clip was filmed hand-held: unstabilised, everything moves."""
    height, width = frames[0].shape[:2]
    centre = np.array([[zoom, 0, -(zoom - 1) * width / 2], [0, zoom, -(zoom - 1) * height / 2], [0, 0, 1]])
    to_first = np.eye(3)
    previous = cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY)
    out = [cv2.warpAffine(frames[0], centre[:2], (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)]
    for frame in frames[1:]:
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        points = cv2.goodFeaturesToTrack(previous, 400, 0.01, 8)
        if points is not None and len(points) >= 8:
            moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, grey, points, None)
            ok = status.ravel() == 1
            matrix, _ = cv2.estimateAffinePartial2D(moved[ok], points[ok], method=cv2.RANSAC,
                                                    ransacReprojThreshold=1.0)
            if matrix is not None:
                to_first = to_first @ np.vstack([matrix, [0, 0, 1]])
        previous = grey
        out.append(cv2.warpAffine(frame, (centre @ to_first)[:2], (width, height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT))
    return out


def moving_frames(frames: list[np.ndarray], fps: float = CLIP_FPS) -> list[np.ndarray]:
    """The frames with a speaker's larger moves simulated on top: a sideways sway (up to 12 % of the
    width, one cycle in 3 s), head turns (a rotation of up to 6 degrees about the bottom centre,
    every 2.2 s) and leaning in and out (up to 12 % zoom, every 4.1 s). Periods that do not divide
    each other, so the speed keeps changing and no two seconds look alike."""
    height, width = frames[0].shape[:2]
    out = []
    for index, frame in enumerate(frames):
        t = index / fps
        shift = 0.12 * width * np.sin(2 * np.pi * t / 3.0)
        angle = 6.0 * np.sin(2 * np.pi * t / 2.2)
        scale = 1.06 + 0.06 * np.sin(2 * np.pi * t / 4.1)
        matrix = cv2.getRotationMatrix2D((width / 2, height), angle, scale)
        matrix[0, 2] += shift
        out.append(cv2.warpAffine(frame, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT))
    return out


def prepare_live_clips(source: Path, frame_count: int, resolutions: dict[str, tuple[int, int]],
                       cache_dir: Path = CACHE_DIR) -> dict[str, dict[str, Path]]:
    """{"still": {resolution: mp4}, "moving": {...}}: the source stabilised (a speaker sitting still
    in front of a still camera, talking) and the same with simulated sway, head turns and leaning;
    frame_count frames each, played forwards and backwards, cached like prepare_clips."""
    source = Path(source)
    out_dir = Path(cache_dir) / "clips"
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = _file_digest(source)
    result: dict[str, dict[str, Path]] = {"still": {}, "moving": {}}
    base: list[np.ndarray] | None = None
    for scenario in result:
        for name, (width, height) in resolutions.items():
            path = out_dir / f"{source.stem}_{digest}_{scenario}_{width}x{height}_{frame_count}f.mp4"
            result[scenario][name] = path
            if path.is_file() and path.stat().st_size > 0:
                continue
            if base is None:
                frames = _source_frames(source)  # a photo's pan and zoom gives crops of other sizes
                # Not (height, width): those name the clip being written, and reusing them wrote the
                # first clip (the still speaker's "720p") at the source's own 640x360.
                source_h, source_w = frames[0].shape[:2]
                base = stabilised_frames([cover_resize(f, source_w, source_h) for f in frames])
                if len(base) > 1:
                    base = base + base[-2:0:-1]  # ping-pong
            sequence = [base[i % len(base)] for i in range(frame_count)]
            if scenario == "moving":
                sequence = moving_frames(sequence)
            partial = path.with_suffix(".partial.mp4")
            writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, (width, height))
            if not writer.isOpened():
                raise ClipError(f"Cannot write benchmark clip {partial}")
            for frame in sequence:
                writer.write(cover_resize(frame, width, height))
            writer.release()
            partial.replace(path)
    return result
