"""Evaluate PortraitNet ONNX models beside the peer (MediaPipe selfie segmentation).

    python -m training.evaluate --model models/portraitnet.onnx [--model runs/ablation_no_aux/portraitnet.onnx]

Two held-out sets, never seen in training (their people, photos and backgrounds are in the eval split):
  composites: eval people pasted onto eval backgrounds, with exact ground truth (the known alpha);
  real: eval photos, where the only label is the peer's mask, so the score is agreement with the peer.
Each model runs at its native input size (PortraitNet with a 224 long side through the app's own
Segmenter, the peer 256x256 through MediaPipe); masks are compared at the image's resolution.
Metrics: person IoU averaged over images (the paper's "mIoU"), and boundary F-score (tolerance 3 px).
Flicker, on the held-out webcam clip (data/video/eval/webcam, every frame): the share of pixels whose
person/background label changes from one frame to the next, raw model output with no smoothing; the
person moves too, so it is a comparison between models rather than an absolute figure.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from app.segmentation import Segmenter
from bench.stats import boundary_f_score, iou
from training.composites import CANVAS_LONG_SIDE, composite_person
from training.data import SampleSources, deform

ROOT = Path(__file__).resolve().parents[1]
TEACHER_PYTHON = ROOT / ".venv-teacher" / "bin" / "python"


def build_composite_set(data: Path, out: Path, count: int = 200, seed: int = 2024,
                        truth_colour: tuple[int, int, int] | None = None, split: str = "eval",
                        long_side: int = CANVAS_LONG_SIDE) -> list[Path]:
    """Deterministic held-out composites with exact alpha (written once, reused). With
    `truth_colour`, also <stem>_truth.png: the same person, same geometry, on that plain colour,
    the exact truth for replacing the background (training.matte_eval's re-background error).
    split "train": a validation set of training people and backgrounds, for tuning without the held-out ones.
    long_side: the pictures' long side (320: the network's scale; a call camera's 1280 exercises the
    matte's finish at the frame's own resolution)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"composite_{i:03d}.jpg" for i in range(count)]
    wanted = ["_alpha.png"] + (["_truth.png"] if truth_colour else [])
    if all(p.exists() and all(p.with_name(p.stem + w).exists() for w in wanted) for p in paths):
        return paths
    sources = SampleSources.from_folder(data, split)
    for i, path in enumerate(paths):
        rng = np.random.default_rng((seed, i))
        person = cv2.imread(str(sources.people[i % len(sources.people)]), cv2.IMREAD_UNCHANGED)
        background = cv2.imread(str(sources.backgrounds[rng.integers(len(sources.backgrounds))]))
        image, alpha, fg, _ = composite_person(person, background, rng, long_side=long_side, layers=True)
        if truth_colour:
            a = alpha[..., None]
            truth = np.clip(fg * a + np.float32(truth_colour) * (1 - a), 0, 255).astype(np.uint8)
            twin = np.random.default_rng()
            twin.bit_generator.state = rng.bit_generator.state  # the same deformation for both
            truth, _ = deform(truth, alpha, twin)
            cv2.imwrite(str(path.with_name(path.stem + "_truth.png")), truth)
        image, alpha = deform(image, alpha, rng)
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(path.with_name(path.stem + "_alpha.png")), np.round(alpha * 255).astype(np.uint8))
    return paths


def portraitnet_masks(model: Path, images: list[Path], threads: int) -> tuple[list[np.ndarray], float]:
    segmenter = Segmenter(model, threads=threads)
    masks, times = [], []
    for path in images:
        frame = cv2.imread(str(path))
        start = time.perf_counter()
        small = segmenter.segment(frame)
        times.append((time.perf_counter() - start) * 1000)
        masks.append(cv2.resize(small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR))
    return masks, float(np.median(times))


def peer_masks(images: list[Path], work: Path) -> tuple[list[np.ndarray], float]:
    """Runs training.peer in the teacher venv: MediaPipe stays out of this environment."""
    if not TEACHER_PYTHON.exists():
        raise SystemExit(f"{TEACHER_PYTHON} not found: create the teacher venv (README, 'Training')")
    work.mkdir(parents=True, exist_ok=True)
    listing = work / "images.txt"
    listing.write_text("\n".join(str(p) for p in images))
    subprocess.run([str(TEACHER_PYTHON), "-m", "training.peer", str(listing), str(work)], check=True, cwd=ROOT)
    masks = [cv2.imread(str(work / f"{p.stem}.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255 for p in images]
    return masks, json.loads((work / "timing.json").read_text())["ms_per_image_median"]


def flicker(masks: list[np.ndarray]) -> float:
    """Mean share of pixels (in %) whose binary label flips between consecutive frames."""
    labels = [m > 0.5 for m in masks]
    return float(np.mean([(a != b).mean() for a, b in zip(labels, labels[1:])]) * 100)


def score(masks: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    preds = [m > 0.5 for m in masks]
    return {
        "iou": float(np.mean([iou(p, t) for p, t in zip(preds, truths)])),
        "boundary_f": float(np.mean([boundary_f_score(p, t) for p, t in zip(preds, truths)])),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", type=Path, help="ONNX model(s) to evaluate (repeatable)")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=ROOT / "runs" / "evaluation.json")
    args = parser.parse_args(argv)
    models = args.model or [ROOT / "models" / "portraitnet.onnx"]

    composites = build_composite_set(args.data, args.data / "eval_composites")
    composite_truth = [cv2.imread(str(p.with_name(p.stem + "_alpha.png")), cv2.IMREAD_GRAYSCALE) > 127 for p in composites]
    real = SampleSources.from_folder(args.data, "eval").real

    peer_composite, peer_ms = peer_masks(composites, args.data / "eval_peer" / "composites")
    peer_real, _ = peer_masks(real, args.data / "eval_peer" / "real")
    peer_real_truth = [m > 0.5 for m in peer_real]
    video = sorted(p for p in (args.data / "video" / "eval" / "webcam").glob("frame_*.jpg") if not p.stem.endswith("_mask"))
    peer_video, _ = peer_masks(video, args.data / "eval_peer" / "video")

    rows = {"MediaPipe selfie (peer, 256x256)": {**score(peer_composite, composite_truth), "real_iou_vs_peer": 1.0,
                                                  "flicker": flicker(peer_video), "ms": peer_ms}}
    for model in models:
        masks, ms = portraitnet_masks(model, composites, args.threads)
        real_masks, _ = portraitnet_masks(model, real, args.threads)
        rows[f"PortraitNet {model.relative_to(ROOT) if model.is_relative_to(ROOT) else model} (long side 224)"] = {
            **score(masks, composite_truth),
            "real_iou_vs_peer": score(real_masks, peer_real_truth)["iou"],
            "flicker": flicker(portraitnet_masks(model, video, args.threads)[0]),
            "ms": ms,
        }
    header = (f"| model | composites IoU | composites boundary F | real frames IoU vs peer | webcam clip flicker (%) "
              f"| ms/frame (model, {args.threads} threads) |")
    print(f"held-out: {len(composites)} composites with exact alpha, {len(real)} real photos, {len(video)} webcam clip frames\n")
    print(header)
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['iou']:.4f} | {r['boundary_f']:.4f} | {r['real_iou_vs_peer']:.4f} | {r['flicker']:.2f} | {r['ms']:.1f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
