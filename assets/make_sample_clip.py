"""Make assets/samples/sample_clip.mp4: a held-out person on a real background with gentle camera motion.

Needs the data built by `python -m training.prepare_data` (the person cut-out and the background are
both from the *eval* split, so the clip never shows the model a training image):

    python assets/make_sample_clip.py            # plain python with OpenCV is enough

The person sways and breathes slightly while the "camera" slowly pans and zooms, so the app's
temporal smoothing and edge handling have something real to track. Deterministic: same input, same clip.
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
PERSON = DATA / "people" / "eval" / "obama.png"
BACKGROUND = DATA / "backgrounds" / "eval" / "kivy_cityCC0.jpg"
OUT = REPO_ROOT / "assets" / "samples" / "sample_clip.mp4"
WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 24, 4


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    person = load(PERSON, cv2.IMREAD_UNCHANGED)
    if person.ndim != 3 or person.shape[2] != 4:
        raise SystemExit(f"{PERSON} has no alpha channel")
    background = load(BACKGROUND, cv2.IMREAD_COLOR)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write mp4v video to {args.out}")
    count = FPS * SECONDS
    for index in range(count):
        writer.write(frame_at(index / FPS, person, background))
    writer.release()

    # Read it back: the app opens this file with cv2.VideoCapture, so that is what must work.
    capture = cv2.VideoCapture(str(args.out))
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if frame.shape != (HEIGHT, WIDTH, 3):
            raise SystemExit(f"read back a frame of shape {frame.shape}")
        frames += 1
    capture.release()
    if frames != count:
        raise SystemExit(f"wrote {count} frames but read back {frames}")
    print(f"{args.out}: {frames} frames, {WIDTH}x{HEIGHT} @ {FPS} fps, {args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
