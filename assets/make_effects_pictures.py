"""Before/after pictures of each effect for the README, into assets/effects/ (the real pipeline and
model on the bundled sample clip and backgrounds).

    python assets/make_effects_pictures.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.compositing import Compositor  # noqa: E402
from app.effects import EffectSettings  # noqa: E402
from app.matting import MatteRefiner  # noqa: E402
from app.pipeline import Pipeline  # noqa: E402
from bench.effects import BACKGROUNDS, clip_frames, darken, make_segmenter, shift, two_people  # noqa: E402

OUT = Path(__file__).resolve().parent / "effects"
HALF = (400, 225)   # each side of a picture: small enough to keep the PNG well under 300 KB


def run(frames, background, **effects) -> np.ndarray:
    """The last output of the pipeline over frames with the given effects on."""
    compositor = Compositor()
    if isinstance(background, tuple):
        compositor.set_color(background)
    else:
        compositor.set_image(background)
    pipeline = Pipeline(make_segmenter(), MatteRefiner(), compositor, model_every_n=1)
    pipeline.effects.settings = EffectSettings(**effects)
    output = None
    for frame in frames:
        output, _ = pipeline.process(frame)
        if pipeline.last_error:
            raise RuntimeError(pipeline.last_error)
    return output


def label(image: np.ndarray, text: str) -> np.ndarray:
    image = cv2.resize(image, HALF, interpolation=cv2.INTER_AREA)
    cv2.rectangle(image, (0, 0), (8 + 9 * len(text), 24), (0, 0, 0), -1)
    cv2.putText(image, text, (5, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def save(name: str, before: np.ndarray, after: np.ndarray, before_text: str, after_text: str) -> None:
    OUT.mkdir(exist_ok=True)
    picture = np.hstack([label(before, before_text), np.full((HALF[1], 4, 3), 255, np.uint8),
                         label(after, after_text)])
    path = OUT / f"{name}.png"
    cv2.imwrite(str(path), picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{path.relative_to(OUT.parent.parent)}: {path.stat().st_size // 1024} KB")


def main() -> int:
    frames = clip_frames(size=(1280, 720), every=2)
    beach, pier = (next(p for p in BACKGROUNDS if p.stem == name) for name in ("beach", "lake_pier"))

    moved = [shift(frame, -0.15 * 1280) for frame in frames[:45]]
    save("auto_framing", run(moved, beach), run(moved, beach, auto_frame=True, zoom=1.6),
         "off-centre", "--auto-frame 1.6")

    save("light_matching", run(frames[:20], beach), run(frames[:20], beach, match_lighting=True,
                                                         lighting_strength=0.7),
         "as shot", "--match-lighting 0.7")

    dark = [darken(frame, 0.2, seed=i) for i, frame in enumerate(frames[:20])]
    save("low_light", run(dark, pier), run(dark, pier, low_light=True), "dim camera (x0.2)", "--low-light")

    pair = [two_people(frame, frames[-1 - i], 0.55) for i, frame in enumerate(frames[:10])]
    green = (64, 177, 0)
    save("main_person", run(pair, green), run(pair, green, main_person=True), "two people",
         "--main-person")
    return 0


if __name__ == "__main__":
    sys.exit(main())
