"""Before/after pictures of the cut-out on a plain colour, zoomed at hair and shoulder, beside RVM.

    python -m training.matte_pictures --before previous.onnx --out assets/matte_compare.png
    python -m training.matte_pictures --before data/models/v3.onnx --before-matte v3   # against v3's release
    python -m training.matte_pictures --before models/portraitnet.onnx --before-matte grey  # v4.3's matte
    python -m training.matte_pictures --before models/portraitnet.onnx --before-matte plain # the plain guided filter (before the learned edge)

Rows: the bundled portrait (assets/samples/portrait.jpg) and a frame of the bundled sample clip.
Columns, each zoomed 2x at the hair and at a shoulder, on a plain green (where any fringe shows):
the previous release (its model through today's matte, or with `--before-matte v3` through v3's:
whole frame, Gaussian feathering, camera pixels blended), this release (the shipped model through the app's pipeline: its crop around the person,
the default matte and compositor, foreground estimation on), and Robust Video Matting (its alpha and its own foreground estimate `fgr`; a teacher and peer,
run in Node by training/labels.py, never part of the app).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np

from app.compositing import Compositor
from app.matting import MatteRefiner, MatteSettings
from app.pipeline import Pipeline
from app.segmentation import Segmenter
from app.settings import AppSettings
from training.labels import node_outputs, run, save_input

ROOT = Path(__file__).resolve().parents[1]
GREEN = (0, 177, 64)
ZOOM = 2


def sample_frame(index: int = 40) -> np.ndarray:
    capture = cv2.VideoCapture(str(ROOT / "assets" / "samples" / "sample_clip.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise SystemExit("cannot read the sample clip")
    return frame


class GreyGuideRefiner(MatteRefiner):
    """v4.3's matte: the guided filter's guide grey, its feather 4 px. A guide of three equal channels,
    each grey / sqrt(3), reduces the 3 x 3 solve to the grey one with the same eps, so today's code
    draws it: the same alpha up to the guide's 8-bit rounding and today's narrower full-size band
    (on the bench's moving clip mean |difference| 1e-4, at most 0.03 against v4.3's own code)."""

    def __init__(self) -> None:
        super().__init__(dataclasses.replace(AppSettings().matte_settings(), feather=4.0))

    def refine(self, mask_small, frame_bgr, dtype=np.float32, pyramid=None, rect=None, fresh=True):
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32) * np.float32(1 / np.sqrt(3))
        guide = cv2.cvtColor(np.round(grey).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        return super().refine(mask_small, guide, dtype, fresh=fresh)


def app_composite(model: Path, frame: np.ndarray, before: str | None = None, still: bool = False) -> np.ndarray:
    """The frame on plain green through the app's pipeline; before: through v3's matte ("v3"),
    v4.3's grey-guided one ("grey") or the plain guided filter without the learned edge ("plain",
    session 21's) instead; still: as a photo (the CLI's `-i photo.jpg`): a photo's looks, its
    finer edge colour and no detached specks (app/pipeline.py's still_source)."""
    if before == "v3":  # v3's matte and compositor
        refiner = MatteRefiner(MatteSettings(edge_mode="gaussian"))
    elif before == "grey":
        refiner = GreyGuideRefiner()
    elif before == "plain":
        refiner = MatteRefiner(dataclasses.replace(AppSettings().matte_settings(), edge_mode="guided"))
    else:
        refiner = MatteRefiner(AppSettings().matte_settings())
    compositor = Compositor()
    compositor.set_color(GREEN)
    compositor.estimate_foreground = before != "v3"
    segmenter = Segmenter(model)
    segmenter.use_looks(still)
    pipeline = Pipeline(segmenter, refiner, compositor)
    pipeline.still_source = still
    pipeline.region.enabled = before != "v3"  # v3 saw the whole frame only
    output, _ = pipeline.process(frame)
    return output


def rvm_composite(frame: np.ndarray, store: Path) -> np.ndarray:
    key = save_input(store, frame)
    run(store, 1)
    out = node_outputs(store, key, frame.shape[:2])
    a = out["rvm"][..., None]
    return np.clip(out["rvm_fgr"] * a + np.float32(GREEN) * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def zoom(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return cv2.resize(image[y:y + h, x:x + w], (w * ZOOM, h * ZOOM), interpolation=cv2.INTER_NEAREST)


def label(tile: np.ndarray, text: str) -> np.ndarray:
    """White text on a dark box. (Not a thick dark outline under thin text: OpenCV 5 draws a thick
    stroke with wider glyphs, so the two did not line up and the label read as garbled.)"""
    tile = tile.copy()
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    cv2.rectangle(tile, (2, 2), (10 + width, 8 + height + baseline), (0, 0, 0), cv2.FILLED)
    cv2.putText(tile, text, (6, 5 + height), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the previous release's ONNX model")
    parser.add_argument("--before-matte", choices=("app", "plain", "grey", "v3"), default="app",
                        help="the previous release's matte: today's, the plain guided filter (before the "
                             "learned edge), v4.3's grey-guided one, or v3's")
    parser.add_argument("--after", type=Path, default=ROOT / "models" / "portraitnet.onnx")
    parser.add_argument("--store", type=Path, default=ROOT / "data" / "eval_peers" / "pictures")
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "matte_compare.png")
    args = parser.parse_args(argv)

    # The portrait as a photo (the path a user's `-i portrait.jpg` takes), the clip's frame as video.
    pictures = [
        ("portrait", cv2.imread(str(ROOT / "assets" / "samples" / "portrait.jpg")), (90, 70, 150, 110), (340, 300, 150, 110), True),
        ("sample clip", sample_frame(), (215, 15, 150, 110), (40, 220, 150, 110), False),
    ]
    rows = []
    for name, frame, hair, shoulder, still in pictures:
        before = None if args.before_matte == "app" else args.before_matte
        columns = [("previous release", app_composite(args.before, frame, before=before, still=still and before != "v3")),
                   ("this release", app_composite(args.after, frame, still=still)),
                   ("RVM (peer)", rvm_composite(frame, args.store))]
        tiles = []
        for title, image in columns:
            pair = np.hstack([zoom(image, hair), np.full((hair[3] * ZOOM, 4, 3), 255, np.uint8), zoom(image, shoulder)])
            tiles.append(label(pair, f"{name}: {title}"))
            tiles.append(np.full((pair.shape[0], 8, 3), 255, np.uint8))
        rows.append(np.hstack(tiles[:-1]))
        rows.append(np.full((8, rows[-1].shape[1], 3), 255, np.uint8))
    sheet = np.vstack(rows[:-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
