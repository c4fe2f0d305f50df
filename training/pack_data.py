"""A compact copy of the training data, small enough to send to a GPU machine with the repository.

    python -m training.pack_data --data data --out .devdata

Training reads only people (RGBA cut-outs), real photos with masks, and backgrounds, and never more
than 800 px of them (data.ImageCache). So each picture is capped at 800 px here as the cache would
do it, and each cut-out is stored as WebP: its colour lossy at quality 95 (about two 8-bit levels),
its alpha exact. The copy is about a third of the original; `--data .devdata` trains from it.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2

from training.composites import fit_long_side
from training.data import MAX_SIDE

PARTS = ("people", "real", "backgrounds")


def pack_picture(source: Path, target_dir: Path) -> Path:
    flags = cv2.IMREAD_UNCHANGED if source.suffix == ".png" else cv2.IMREAD_COLOR
    image = cv2.imread(str(source), flags)
    if image is None:
        raise OSError(f"cannot read {source}")
    is_cutout = image.ndim == 3 and image.shape[2] == 4
    if is_cutout:
        target = target_dir / f"{source.stem}.webp"
        cv2.imwrite(str(target), fit_long_side(image, MAX_SIDE), [cv2.IMWRITE_WEBP_QUALITY, 95])
    elif max(image.shape[:2]) > MAX_SIDE:
        target = target_dir / source.name
        quality = [cv2.IMWRITE_JPEG_QUALITY, 95] if source.suffix == ".jpg" else []
        cv2.imwrite(str(target), fit_long_side(image, MAX_SIDE), quality)
    else:
        target = target_dir / source.name
        shutil.copyfile(source, target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="the output of training.prepare_data")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    total = count = 0
    for part in PARTS:
        for split in ("train", "eval"):
            source_dir = Path(args.data) / part / split
            if not source_dir.is_dir():
                continue
            target_dir = Path(args.out) / part / split
            target_dir.mkdir(parents=True, exist_ok=True)
            for source in sorted(p for p in source_dir.iterdir() if p.suffix in (".png", ".jpg")):
                total += pack_picture(source, target_dir).stat().st_size
                count += 1
    print(f"{count} files, {total / 1e6:.1f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
