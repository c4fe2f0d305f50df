"""Measures the effects stage (app/effects.py) on the bundled sample clip and portrait.

    python -m bench.effects            # ~2 min on 2 cores; prints the figures the README quotes

- Auto-framing: crop jitter on the (seated, still) sample clip at 720p; settling time, peak speed and
  overshoot after synthetic moves (the clip's frames shifted sideways / down from one frame on); the
  way back to the full frame when nobody is there; two people framed together.
- Light matching: the person's mean Lab distance (CIE76 delta E) to the background before and after,
  and the hue change on skin, for every bundled background.
- Low light: IoU of the model's mask on darkened, noisy frames, without and with the boost, against
  the mask on the original frames (and against the portrait's ground truth).
- Cost per 720p frame of each effect, inside the real pipeline.

The helpers (clip frames, shifts, darkening, a two-person frame, IoU) are shared with
tests/test_effects.py.
"""
from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np

from app.compositing import Compositor, cover_resize
from app.effects import EffectSettings
from app.framing import AutoFramer, FramingSettings
from app.lighting import LightMatcher, LowLightBoost, _lab, skin_hue_change, skin_pixels
from app.matting import MatteRefiner
from app.pipeline import Pipeline
from app.resources import ASSETS_DIR, SAMPLE_CLIP
from app.segmentation import DEFAULT_MODEL_PATH, Segmenter

PORTRAIT = ASSETS_DIR / "samples" / "portrait.jpg"
PORTRAIT_MASK = ASSETS_DIR / "samples" / "portrait_mask.png"
BACKGROUNDS = sorted((ASSETS_DIR / "backgrounds").glob("*.jpg"))
SIZE_720P = (1280, 720)


# --- shared helpers --------------------------------------------------------------------------------
def clip_frames(size=SIZE_720P, every: int = 1, limit: int | None = None) -> list[np.ndarray]:
    """The sample clip's frames (every `every`-th), scaled to size."""
    capture = cv2.VideoCapture(str(SAMPLE_CLIP))
    frames, index = [], 0
    while limit is None or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR) if size else frame)
        index += 1
    capture.release()
    if not frames:
        raise RuntimeError(f"cannot read {SAMPLE_CLIP}")
    return frames


def shift(frame: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    """The frame moved by (dx, dy) pixels, edges repeated: the person (and room) moved."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(frame, matrix, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def darken(frame: np.ndarray, factor: float = 0.25, noise: float = 3.0, seed: int = 0) -> np.ndarray:
    """A dim camera's picture: the light scaled by factor, plus sensor noise (sigma in levels)."""
    rng = np.random.default_rng(seed)
    dim = frame.astype(np.float32) * factor + rng.normal(0.0, noise, frame.shape).astype(np.float32)
    return np.clip(dim + 0.5, 0, 255).astype(np.uint8)


def two_people(frame: np.ndarray, other: np.ndarray | None = None, scale: float = 0.5) -> np.ndarray:
    """Two people side by side: two scaled copies of clip frames at the bottom of a frame-sized
    picture whose top is the first frame's own (blurred) wall."""
    other = frame if other is None else other
    height, width = frame.shape[:2]
    small_w, small_h = int(width * scale), int(height * scale)
    canvas = cv2.resize(cv2.GaussianBlur(frame, (0, 0), 8)[: height // 3], (width, height))
    canvas[height - small_h:, :small_w] = cv2.resize(frame, (small_w, small_h), interpolation=cv2.INTER_AREA)
    canvas[height - small_h:, width - small_w:] = cv2.resize(other, (small_w, small_h), interpolation=cv2.INTER_AREA)
    return canvas


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def make_segmenter(threads: int = 1) -> Segmenter:
    return Segmenter(DEFAULT_MODEL_PATH, threads=threads)


def alphas_for(frames: list[np.ndarray], segmenter: Segmenter) -> list[np.ndarray]:
    """The app's refined matte (uint8) for each frame, the model run on every frame."""
    refiner = MatteRefiner()
    return [refiner.refine(segmenter.segment(frame), frame, np.uint8) for frame in frames]


# --- auto-framing ----------------------------------------------------------------------------------
def follow(alphas: list[np.ndarray], settings: FramingSettings | None = None) -> np.ndarray:
    """The crop's exact (centre x, centre y, width) per frame."""
    framer = AutoFramer(settings or FramingSettings())
    states = []
    for alpha in alphas:
        framer.update(alpha)
        states.append(framer.state)
    return np.array(states)


def jitter(states: np.ndarray, skip: int = 0) -> tuple[float, float]:
    """Mean and largest frame-to-frame movement of the crop centre (px)."""
    steps = np.hypot(*np.diff(states[skip:, :2], axis=0).T)
    return float(steps.mean()), float(steps.max())


def settling(states: np.ndarray, move_at: int, tolerance: float = 2.0) -> dict[str, float]:
    """After the move at frame move_at: frames until the crop is within tolerance px of where it ends
    and stays; its peak speed (px/frame) and how far it went past where it ends (px)."""
    final = states[-1]
    after = states[move_at:]
    distance = np.abs(after - final).max(axis=1)
    outside = np.nonzero(distance > tolerance)[0]
    frames = int(outside[-1] + 1) if len(outside) else 0
    speed = np.abs(np.diff(after, axis=0)).max(initial=0.0)
    start = states[move_at - 1]
    overshoot = 0.0
    for axis in range(3):
        direction = np.sign(final[axis] - start[axis])
        if direction:
            overshoot = max(overshoot, float(((after[:, axis] - final[axis]) * direction).max()))
    return {"frames": frames, "peak_speed": float(speed), "overshoot": max(0.0, overshoot)}


def bench_framing(segmenter: Segmenter, fps: float = 30.0) -> dict:
    frames = clip_frames()
    alphas = alphas_for(frames, segmenter)
    results = {}
    states = follow(alphas)
    results["still"] = jitter(states)
    results["still_no_dead_zone"] = jitter(follow(alphas, FramingSettings(dead_zone=0.0, size_dead_zone=0.0)))
    # Synthetic moves: 60 still frames, then the same clip frames shifted.
    head = frames[:60]
    moves = {"sideways 20 % of the width": (0.20 * SIZE_720P[0], 0.0),
             "down 12 % of the height": (0.0, 0.12 * SIZE_720P[1])}
    results["moves"] = {}
    for name, (dx, dy) in moves.items():
        moved = head + [shift(frame, dx, dy) for frame in frames[60:]]
        states = follow(alphas[:60] + alphas_for(moved[60:], segmenter))
        figures = settling(states, 60)
        figures["seconds"] = figures["frames"] / fps
        results["moves"][name] = figures
    # Nobody there: the clip, then 150 empty mattes.
    empty = [np.zeros_like(alphas[0])] * 150
    states = follow(alphas[:60] + empty)
    full = np.array([SIZE_720P[0] / 2, SIZE_720P[1] / 2, SIZE_720P[0]])
    back = np.nonzero(np.abs(states[60:] - full).max(axis=1) <= 2.0)[0]
    results["empty_back_s"] = (back[0] + 1) / fps if len(back) else float("nan")
    # Two people: the crop widens to take in both.
    pair = [two_people(frame, frames[-1 - i]) for i, frame in enumerate(frames[:40])]
    pair_alphas = alphas_for(pair, segmenter)
    framer = AutoFramer()
    for alpha in pair_alphas:
        rect = framer.update(alpha)
    results["two_people"] = {"people": framer.people, "crop_width_share": rect[2] / SIZE_720P[0]}
    return results


# --- light matching --------------------------------------------------------------------------------
def hue_degrees(lab: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))


def lab_distance_and_hue(person_bgr: np.ndarray, alpha: np.ndarray, background: np.ndarray,
                         strength: float) -> dict[str, float]:
    """Mean-Lab delta E person-to-background before/after one (converged) matching, and the hue
    change on the person's skin pixels (mean and 95th percentile of |change|, degrees)."""
    matcher = LightMatcher()
    matcher.settings.strength = strength
    matcher.settings.smoothing = 0.0   # one still picture: the converged matrix
    matcher.update(person_bgr, alpha, background)
    after = matcher.apply(person_bgr)
    inside = alpha > 200
    before_lab, after_lab = _lab(person_bgr[inside]), _lab(after[inside])
    background_lab = _lab(background.reshape(-1, 3))
    skin = skin_pixels(before_lab)
    change = (hue_degrees(after_lab[skin]) - hue_degrees(before_lab[skin]) + 180.0) % 360.0 - 180.0
    return {
        "before": float(np.linalg.norm(before_lab.mean(0) - background_lab.mean(0))),
        "after": float(np.linalg.norm(after_lab.mean(0) - background_lab.mean(0))),
        "hue_mean": skin_hue_change(before_lab[skin], after_lab[skin]) if skin.any() else 0.0,
        "hue_p95": float(np.percentile(np.abs(change), 95)) if skin.any() else 0.0,
    }


def bench_lighting(segmenter: Segmenter, strengths=(0.5, 1.0)) -> list[dict]:
    portrait = cv2.imread(str(PORTRAIT))
    subjects = {"portrait": portrait, "clip": clip_frames(every=47)[1]}
    rows = []
    for subject_name, subject in subjects.items():
        alpha = MatteRefiner().refine(segmenter.segment(subject), subject, np.uint8)
        height, width = subject.shape[:2]
        scenes = {path.stem: cover_resize(cv2.imread(str(path)), width, height) for path in BACKGROUNDS}
        scenes["colour #00b140"] = np.full_like(subject, (64, 177, 0))
        for scene_name, background in scenes.items():
            for strength in strengths:
                row = lab_distance_and_hue(subject, alpha, background, strength)
                rows.append({"subject": subject_name, "background": scene_name, "strength": strength, **row})
    return rows


# --- low light -------------------------------------------------------------------------------------
def masks_dark(frames, segmenter: Segmenter, factor: float, boost: bool) -> list[np.ndarray]:
    booster = LowLightBoost()
    masks = []
    for index, frame in enumerate(frames):
        dim = darken(frame, factor, seed=index)
        if boost:
            dim = booster.apply(dim)
        masks.append(segmenter.segment(dim) > 0.5)
    return masks


def bench_low_light(segmenter: Segmenter, factors=(0.25, 0.15)) -> list[dict]:
    frames = clip_frames(every=4)
    reference = [segmenter.segment(frame) > 0.5 for frame in frames]
    portrait = cv2.imread(str(PORTRAIT))
    truth = cv2.imread(str(PORTRAIT_MASK), cv2.IMREAD_GRAYSCALE)
    rows = [{"frames": "clip vs. its original-light mask", "factor": 1.0, "plain": 1.0, "boosted": 1.0}]
    for factor in factors:
        plain = masks_dark(frames, segmenter, factor, False)
        boosted = masks_dark(frames, segmenter, factor, True)
        rows.append({"frames": "clip vs. its original-light mask", "factor": factor,
                     "plain": float(np.mean([iou(m, r) for m, r in zip(plain, reference)])),
                     "boosted": float(np.mean([iou(m, r) for m, r in zip(boosted, reference)]))})
    for factor in (1.0, *factors):
        row = {"frames": "portrait vs. its ground truth", "factor": factor}
        for name, boost in (("plain", False), ("boosted", True)):
            picture = darken(portrait, factor) if factor < 1.0 else portrait
            if boost:
                picture = LowLightBoost().apply(picture)
            mask = segmenter.segment(picture)
            mask = cv2.resize(mask, (truth.shape[1], truth.shape[0])) > 0.5
            row[name] = iou(mask, truth > 127)
        rows.append(row)
    return rows


# --- cost ------------------------------------------------------------------------------------------
def bench_cost(segmenter: Segmenter, frames_count: int = 140) -> dict:
    """Mean and p95 ms per 720p frame of each effect inside the pipeline, all effects on,
    beach background, model on every 2nd frame (the app's default)."""
    frames = clip_frames(limit=frames_count)
    compositor = Compositor()
    compositor.set_image(BACKGROUNDS[0])
    pipeline = Pipeline(segmenter, MatteRefiner(), compositor, model_every_n=2)
    pipeline.effects.settings = EffectSettings(auto_frame=True, match_lighting=True, low_light=True,
                                               main_person=True)
    samples: dict[str, list[float]] = {}
    composite = []
    for frame in frames:
        _, timings = pipeline.process(frame)
        if pipeline.last_error:
            raise RuntimeError(pipeline.last_error)
        for name, ms in pipeline.effects.timings.items():
            samples.setdefault(name, []).append(ms)
        composite.append(timings["composite"])
    runs = pipeline.model_runs
    table = {}
    for name, values in samples.items():
        values = np.array(values[10:])
        if name == "main_person":   # runs once per model run, not per frame
            values = values[values > 0]
        table[name] = (float(values.mean()), float(np.percentile(values, 95)))
    table["blend (composite stage)"] = (float(np.mean(composite[10:])), float(np.percentile(composite[10:], 95)))
    table["_model_runs"] = runs
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("framing", "lighting", "low_light", "cost"), action="append")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)   # the app's worker does one frame at a time; the figures are single-thread
    segmenter = make_segmenter()
    only = set(args.only or ("framing", "lighting", "low_light", "cost"))
    started = time.perf_counter()
    if "framing" in only:
        r = bench_framing(segmenter)
        print("## Auto-framing (720p, sample clip, zoom 1.5)")
        print(f"crop jitter, still subject: mean {r['still'][0]:.3f} px/frame, largest {r['still'][1]:.3f} px "
              f"(without the dead zone: mean {r['still_no_dead_zone'][0]:.2f}, largest {r['still_no_dead_zone'][1]:.2f})")
        for name, m in r["moves"].items():
            print(f"move {name}: settled within 2 px in {m['frames']} frames ({m['seconds']:.2f} s), "
                  f"peak speed {m['peak_speed']:.1f} px/frame, overshoot {m['overshoot']:.2f} px")
        print(f"nobody there: back at the full frame after {r['empty_back_s']:.2f} s")
        print(f"two people: {r['two_people']['people']} found, crop {r['two_people']['crop_width_share']:.0%} "
              "of the frame width")
    if "lighting" in only:
        rows = bench_lighting(segmenter)
        print("\n## Light matching: person's mean Lab delta E to the background, skin hue change")
        print("| subject | background | strength | delta E before | after | skin hue change, chroma-weighted mean / p95 (deg) |")
        print("|---|---|---:|---:|---:|---:|")
        for row in rows:
            print(f"| {row['subject']} | {row['background']} | {row['strength']:.1f} | {row['before']:.1f} | "
                  f"{row['after']:.1f} | {row['hue_mean']:.1f} / {row['hue_p95']:.1f} |")
        for strength in sorted({row["strength"] for row in rows}):
            chosen = [row for row in rows if row["strength"] == strength]
            print(f"strength {strength:.1f}: mean delta E {np.mean([r['before'] for r in chosen]):.1f} -> "
                  f"{np.mean([r['after'] for r in chosen]):.1f}; skin hue change: mean at most "
                  f"{max(r['hue_mean'] for r in chosen):.1f} deg, p95 at most {max(r['hue_p95'] for r in chosen):.1f} deg")
    if "low_light" in only:
        print("\n## Low light: mask IoU on darkened frames (x factor, noise sigma 3 levels)")
        print("| frames | light | IoU plain | IoU with --low-light |")
        print("|---|---:|---:|---:|")
        for row in bench_low_light(segmenter):
            print(f"| {row['frames']} | x{row['factor']:.2f} | {row['plain']:.3f} | {row['boosted']:.3f} |")
    if "cost" in only:
        table = bench_cost(segmenter)
        print("\n## Cost per 720p frame, all effects on (single thread; mean / p95 ms)")
        for name, value in table.items():
            if not name.startswith("_"):
                print(f"{name}: {value[0]:.2f} / {value[1]:.2f}")
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
