"""How a model behaves at the edges of the picture, where the network's padding differs from its inside.

    python -m training.edge_check --model models/portraitnet.onnx [--model other.onnx ...]

For each model, on the held-out real photos and every 3rd frame of the held-out video clips (teacher
labels from training.prepare_data), through the app's own Segmenter (content-only input):
- false person: mean probability above the label in the outermost 8 columns/rows of the model's
  output, per side; "left, mirrored" runs the same frames flipped, so left vs mirrored-left shows
  whether the network treats its left edge differently from its right on the same content;
- missing person in the bottom 8 rows (people are cut by the bottom edge on a call);
- the sample clip's wall: the left tenth of assets/samples/sample_clip.mp4 above the shoulder,
  every 10th frame, worst frame's mean and 99th percentile (tests/test_model.py bounds them).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from app.segmentation import Segmenter

ROOT = Path(__file__).resolve().parents[1]
BAND = 8  # model-resolution pixels


def held_out_frames(data: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    paths = sorted((data / "real" / "eval").glob("*.jpg")) + sorted((data / "video" / "eval").glob("*/*.jpg"))[::3]
    pairs = []
    for path in paths:
        label = cv2.imread(str(path.with_name(path.stem + "_mask.png")), cv2.IMREAD_GRAYSCALE)
        if label is not None:
            pairs.append((cv2.imread(str(path)), label))
    return pairs


def edge_scores(segmenter: Segmenter, pairs) -> dict[str, float]:
    sums: dict[str, list[float]] = {k: [] for k in ("left", "right", "top", "bottom", "left, mirrored", "missing, bottom")}
    for image, label in pairs:
        prob = segmenter.segment(image)
        truth = cv2.resize(label, (prob.shape[1], prob.shape[0]), interpolation=cv2.INTER_AREA) / 255.0
        excess = np.clip(prob - truth, 0, 1)
        sums["left"].append(excess[:, :BAND].mean())
        sums["right"].append(excess[:, -BAND:].mean())
        sums["top"].append(excess[:BAND].mean())
        sums["bottom"].append(excess[-BAND:].mean())
        sums["missing, bottom"].append(np.clip(truth - prob, 0, 1)[-BAND:].mean())
        mirrored = segmenter.segment(np.ascontiguousarray(image[:, ::-1]))[:, ::-1]
        sums["left, mirrored"].append(np.clip(mirrored - truth, 0, 1)[:, :BAND].mean())
    return {k: float(np.mean(v)) for k, v in sums.items()}


def sample_clip_frames(every: int = 10):
    """Every `every`-th frame of the bundled sample clip (held out: not in training)."""
    capture = cv2.VideoCapture(str(ROOT / "assets" / "samples" / "sample_clip.mp4"))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            yield frame
        index += 1
    capture.release()


def sample_clip_wall(segmenter: Segmenter, every: int = 10) -> tuple[list[float], list[float]]:
    """Per frame: mean and 99th percentile of person probability on the sample clip's wall strip (the
    left tenth, above the shoulder, which reaches x ~ 40 px)."""
    means, p99s = [], []
    for frame in sample_clip_frames(every):
        prob = cv2.resize(segmenter.segment(frame), (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
        wall = prob[: frame.shape[0] * 2 // 3, : frame.shape[1] // 10]
        means.append(float(wall.mean()))
        p99s.append(float(np.percentile(wall, 99)))
    return means, p99s


# The shadowed corner of the door above the sample clip's left shoulder (x, y, w, h at 640x360):
# v3 let a grey wedge of it through, changing shape frame to frame.
DOOR_WEDGE = (50, 230, 90, 90)
WEDGE_REFERENCE = ROOT / "tests" / "fixtures" / "sample_clip_door_wedge.png"


def write_wedge_reference(store: Path, every: int = 10) -> Path:
    """RVM's alpha (run on the whole clip as video, its recurrent state carried) in the door-wedge
    box of every `every`-th frame of the sample clip, side by side in one small PNG: the reference
    tests/test_model.py holds the shipped matte to. RVM is a peer and teacher run in Node
    (training/labels.py), never part of the app or its tests' run time."""
    from training.labels import node_outputs, run_clip, save_input

    frames = list(sample_clip_frames(1))
    keys = [save_input(store, f) for f in frames]
    if not all((store / "rvm" / f"{k}.png").is_file() for k in keys):
        run_clip(store, [(store / "inputs" / f"{k}.png").resolve() for k in keys])
    x, y, w, h = DOOR_WEDGE
    boxes = [node_outputs(store, k, f.shape[:2])["rvm"][y:y + h, x:x + w]
             for i, (k, f) in enumerate(zip(keys, frames)) if i % every == 0]
    WEDGE_REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(WEDGE_REFERENCE), np.round(np.hstack(boxes) * 255).astype(np.uint8))
    return WEDGE_REFERENCE


def door_wedge_reference() -> list[np.ndarray]:
    """The stored reference boxes (float alpha), in the order of sample_clip_frames(10)."""
    strip = cv2.imread(str(WEDGE_REFERENCE), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    width = DOOR_WEDGE[2]
    return [strip[:, i:i + width] for i in range(0, strip.shape[1], width)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", type=Path, help="ONNX model(s) (repeatable)")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--write-wedge-reference", action="store_true",
                        help=f"write {WEDGE_REFERENCE.relative_to(ROOT)} from RVM (Node) and stop")
    args = parser.parse_args(argv)
    if args.write_wedge_reference:
        print(write_wedge_reference(args.data / "eval_peers" / "sample_clip"))
        return 0
    pairs = held_out_frames(args.data)
    print(f"{len(pairs)} held-out frames; false person (mean excess probability) in the outer {BAND} px\n")
    print("| model | left | left, mirrored | right | top | bottom | missing, bottom | sample clip wall: worst mean / p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.model or [ROOT / "models" / "portraitnet.onnx"]:
        segmenter = Segmenter(model, threads=2)
        s = edge_scores(segmenter, pairs)
        wall_means, wall_p99s = sample_clip_wall(segmenter)
        wall_mean, wall_p99 = max(wall_means), max(wall_p99s)
        print(f"| {model} | {s['left']:.3f} | {s['left, mirrored']:.3f} | {s['right']:.3f} | {s['top']:.3f} | "
              f"{s['bottom']:.3f} | {s['missing, bottom']:.3f} | {wall_mean:.3f} / {wall_p99:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
