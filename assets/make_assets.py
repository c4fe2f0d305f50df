"""Make the app's shipped still assets from the prepared data (see assets/README.md for provenance).

    python -m training.prepare_data          # in the teacher venv, builds data/
    python assets/make_assets.py             # plain python with OpenCV
    python assets/make_sample_clip.py

Writes assets/samples/portrait.jpg + portrait_mask.png (a held-out eval photo and its teacher mask,
thresholded to 0/255), assets/backgrounds/*.jpg (re-encoded from the original package files to stay
under the size budget) and assets/icon.png (drawn here).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "data"
ASSETS = REPO_ROOT / "assets"
PORTRAIT = "grace_hopper"  # eval split: never seen in training
MAX_BACKGROUND_BYTES = 300_000
BACKGROUND_LONG_SIDE = 1280

# asset name -> data/backgrounds key (chosen for calm, call-friendly scenes and redistributable licences)
BACKGROUNDS = {
    "beach.jpg": "plasma_Volna",
    "forest_path.jpg": "plasma_Path",
    "lake_pier.jpg": "plasma_ColdRipple",
    "evening_boats.jpg": "plasma_EveningGlow",
    "colorful_cups.jpg": "plasma_ColorfulCups",
}


def manifest_rows() -> list[dict]:
    path = DATA / "manifest.json"
    if not path.is_file():
        raise SystemExit(f"{path} missing: run `python -m training.prepare_data` first")
    return json.loads(path.read_text())["files"]


def make_portrait() -> None:
    image = cv2.imread(str(DATA / "real" / "eval" / f"{PORTRAIT}.jpg"), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(DATA / "real" / "eval" / f"{PORTRAIT}_mask.png"), cv2.IMREAD_GRAYSCALE)
    if image is None or mask is None:
        raise SystemExit(f"{PORTRAIT} not found in data/real/eval")
    scale = min(1.0, 640 / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    samples = ASSETS / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(samples / "portrait.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    binary = np.where(mask >= 128, 255, 0).astype(np.uint8)
    # Keep the person only: drop specks the threshold leaves at the photo's edges.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count > 1:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        binary = np.where(labels == largest, 255, 0).astype(np.uint8)
    cv2.imwrite(str(samples / "portrait_mask.png"), binary)


def encode_under(image: np.ndarray, limit: int) -> bytes:
    """Highest JPEG quality (from 90 down) whose file fits the byte budget."""
    for quality in range(90, 40, -5):
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        if ok and len(buffer) <= limit:
            return buffer.tobytes()
    raise SystemExit("cannot fit a background under the size budget")


def make_backgrounds(rows: list[dict]) -> None:
    by_key = {Path(r["file"]).stem: r for r in rows if r["kind"] == "background"}
    folder = ASSETS / "backgrounds"
    folder.mkdir(parents=True, exist_ok=True)
    for name, key in BACKGROUNDS.items():
        row = by_key.get(key)
        if row is None:
            raise SystemExit(f"background {key} not in data/manifest.json")
        original = DATA / "cache" / row["package"] / "root" / row["member"]
        image = cv2.imread(str(original), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {original}")
        scale = BACKGROUND_LONG_SIDE / max(image.shape[:2])
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        (folder / name).write_bytes(encode_under(image, MAX_BACKGROUND_BYTES))
        print(f"{name}: {row['package']} {row['package_version']} {row['member']} [{row['licence']}]")


def make_icon(size: int = 256) -> np.ndarray:
    """Person silhouette in front of a 'replaced' split background, inside a rounded tile."""
    scale = 4  # draw large and shrink: OpenCV's anti-aliasing alone leaves jagged curves
    s = size * scale
    icon = np.zeros((s, s, 4), np.uint8)
    # Background of the tile: left half a warm gradient (the room), right half cool (the replacement).
    ramp = np.linspace(0, 1, s, dtype=np.float32)[:, None]
    warm = np.stack([60 + 40 * ramp, 120 + 60 * ramp, 230 - 30 * ramp], axis=-1)  # BGR
    cool = np.stack([220 - 30 * ramp, 160 + 30 * ramp, 60 + 40 * ramp], axis=-1)
    tile = np.where(np.arange(s)[None, :, None] < s // 2, warm, cool)
    tile = np.broadcast_to(tile, (s, s, 3)).astype(np.uint8)
    shape = np.zeros((s, s), np.uint8)
    radius, margin = s // 5, s // 32
    cv2.rectangle(shape, (margin + radius, margin), (s - margin - radius, s - margin), 255, -1)
    cv2.rectangle(shape, (margin, margin + radius), (s - margin, s - margin - radius), 255, -1)
    for cx in (margin + radius, s - margin - radius):
        for cy in (margin + radius, s - margin - radius):
            cv2.circle(shape, (cx, cy), radius, 255, -1, cv2.LINE_AA)
    icon[..., :3] = tile
    icon[..., 3] = shape
    # Silhouette: head and shoulders, white with a soft dark outline so it reads on both halves.
    person = np.zeros((s, s), np.uint8)
    cv2.circle(person, (s // 2, int(s * 0.40)), int(s * 0.15), 255, -1, cv2.LINE_AA)
    cv2.ellipse(person, (s // 2, int(s * 0.93)), (int(s * 0.31), int(s * 0.30)), 0, 180, 360, 255, -1, cv2.LINE_AA)
    person &= shape
    outline = cv2.dilate(person, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (s // 40, s // 40)))
    icon[..., :3][outline > 0] = (50, 40, 40)
    icon[..., :3][person > 0] = (250, 250, 250)
    # A small camera lens badge, top right: it is a webcam app.
    center, r = (int(s * 0.78), int(s * 0.22)), int(s * 0.10)
    cv2.circle(icon, center, r, (40, 40, 40, 255), -1, cv2.LINE_AA)
    cv2.circle(icon, center, int(r * 0.62), (200, 140, 60, 255), -1, cv2.LINE_AA)
    cv2.circle(icon, center, int(r * 0.30), (30, 30, 30, 255), -1, cv2.LINE_AA)
    cv2.circle(icon, (center[0] - r // 4, center[1] - r // 4), max(2, r // 8), (255, 255, 255, 255), -1, cv2.LINE_AA)
    return cv2.resize(icon, (size, size), interpolation=cv2.INTER_AREA)


def main() -> int:
    rows = manifest_rows()
    make_portrait()
    make_backgrounds(rows)
    cv2.imwrite(str(ASSETS / "icon.png"), make_icon())
    return 0


if __name__ == "__main__":
    sys.exit(main())
