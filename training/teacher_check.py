"""Measure the teacher ensemble against a single MediaPipe selfie pass on exact-alpha composites.

Runs in the teacher venv (MediaPipe lives only there):

    .venv-teacher/bin/python -m training.teacher_check [--variants] [--canvas 640]

Exact alpha: RGBA cut-outs that carry a real matte, here realesrgan 0.3.0's `inputs/children-alpha.png`
(five children; also three overlapping crops of it, so single children fill the frame). They are
pasted onto held-out backgrounds (data/backgrounds/eval) in webcam framing with training.composites'
composite_person (no deform: its reflected borders make mirrored, upside-down people that no photo
has), at a canvas of --canvas px on the long side (the teacher labels photos, not 320-px canvases).
A second, separate table uses data/people/eval/*.png: their alpha is the label of the teacher that
data/ was built with, not an exact matte, so that table measures agreement with that teacher rather
than accuracy (it favours that teacher and the peer, which it is built from).

Rows: `peer` is one selfie pass as training/peer.py runs it (general model, whole picture, no flip, no
refinement); `previous teacher` is training/teacher.py as of commit 573d8cd (flip-averaged general
model, max with pose, guided filter); `ensemble` is the current Teacher.person_mask. --variants adds
ablations of the ensemble. Metrics as in training.evaluate: person IoU (masks at 0.5, bench.stats.iou)
and boundary F-score (tolerance 3 px), plus the mean absolute error of the soft mask against the alpha,
averaged over composites; time is the median per composite (2-core machine, shared).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from bench.stats import boundary_f_score, iou
from training.composites import composite_person

ROOT = Path(__file__).resolve().parents[1]
REALESRGAN = "realesrgan==0.3.0"
CHILDREN_MEMBER = "realesrgan-0.3.0/inputs/children-alpha.png"
# (x0, x1) column ranges of children-alpha.png (566x350): the whole group, then overlapping crops
# of about two children each, so that single people fill a webcam frame too.
CHILDREN_CROPS = {"children": None, "children_left": (0, 240), "children_mid": (170, 420), "children_right": (300, 566)}
PREVIOUS_TEACHER_COMMIT = "573d8cd"


def realesrgan_sdist() -> Path:
    """The realesrgan sdist: prepare_data's cache when it exists (read only), else `pip download`."""
    cached = sorted((ROOT / "data" / "cache" / "realesrgan").glob("realesrgan-0.3.0.tar.gz"))
    if cached:
        return cached[0]
    scratch = Path(tempfile.gettempdir()) / "teacher_check_realesrgan"
    found = sorted(scratch.glob("realesrgan-0.3.0.tar.gz"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        REALESRGAN, "-d", str(scratch)], check=True)
        found = sorted(scratch.glob("realesrgan-0.3.0.tar.gz"))
    return found[0]


def exact_cutouts() -> dict[str, np.ndarray]:
    with tarfile.open(realesrgan_sdist()) as tar:
        raw = tar.extractfile(CHILDREN_MEMBER).read()
    rgba = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)  # BGRA, real matte
    return {name: np.ascontiguousarray(rgba if cols is None else rgba[:, cols[0]:cols[1]])
            for name, cols in CHILDREN_CROPS.items()}


def teacher_cutouts() -> dict[str, np.ndarray]:
    return {p.stem: cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            for p in sorted((ROOT / "data" / "people" / "eval").glob("*.png"))}


def composites(cutouts, backgrounds, per_cutout: int, canvas: int, seed: int):
    """Deterministic composites: (name, BGR image, exact alpha)."""
    out = []
    for c, (name, rgba) in enumerate(sorted(cutouts.items())):
        for k in range(per_cutout):
            rng = np.random.default_rng((seed, c, k))
            background = backgrounds[(c * per_cutout + k) % len(backgrounds)]
            image, alpha = composite_person(rgba, background, rng, long_side=canvas)
            out.append((f"{name}_{k}", np.ascontiguousarray(image), np.ascontiguousarray(alpha)))
    return out


def previous_teacher_class():
    """training/teacher.py as committed at PREVIOUS_TEACHER_COMMIT (None when git cannot show it)."""
    try:
        source = subprocess.run(["git", "show", f"{PREVIOUS_TEACHER_COMMIT}:training/teacher.py"], cwd=ROOT,
                                check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("previous_teacher")
    exec(compile(source, "previous_teacher.py", "exec"), module.__dict__)
    return module.Teacher


def score(method, images):
    ious, fs, maes, times = [], [], [], []
    for _, bgr, alpha in images:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        start = time.perf_counter()
        pred = method(rgb)
        times.append(time.perf_counter() - start)
        ious.append(iou(pred, alpha))
        fs.append(boundary_f_score(pred >= 0.5, alpha >= 0.5))
        maes.append(float(np.abs(pred - alpha).mean()))
    return float(np.mean(ious)), float(np.mean(fs)), float(np.mean(maes)), float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canvas", type=int, default=640, help="composite long side in px")
    parser.add_argument("--per-cutout", type=int, default=12, help="composites per exact-alpha cut-out")
    parser.add_argument("--per-teacher-cutout", type=int, default=3,
                        help="composites per data/people/eval cut-out (0: skip that table)")
    parser.add_argument("--variants", action="store_true", help="also score ensemble ablations")
    parser.add_argument("--seed", type=int, default=2026,
                        help="composite seed (the ensemble was tuned on seeds 7 and 11, not this one)")
    args = parser.parse_args(argv)

    import mediapipe as mp

    from training.teacher import SINGLE, EnsembleConfig, Teacher

    bg_paths = sorted((ROOT / "data" / "backgrounds" / "eval").glob("*.jpg"))
    if not bg_paths:
        raise SystemExit("no data/backgrounds/eval/*.jpg: run python -m training.prepare_data first")
    backgrounds = [cv2.imread(str(p)) for p in bg_paths]
    sets = {"exact alpha (realesrgan children-alpha.png)":
            composites(exact_cutouts(), backgrounds, args.per_cutout, args.canvas, args.seed)}
    people = teacher_cutouts()
    if people and args.per_teacher_cutout > 0:
        sets["data/people/eval (alpha = a teacher's label, not exact)"] = composites(
            people, backgrounds, args.per_teacher_cutout, args.canvas, args.seed + 1)

    methods = []
    peer = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    methods.append(("peer: one selfie pass (training/peer.py)",
                    lambda rgb: np.clip(peer.process(rgb).segmentation_mask, 0, 1), None))
    previous = previous_teacher_class()
    if previous is not None:
        prev = previous()
        methods.append((f"previous teacher ({PREVIOUS_TEACHER_COMMIT})", prev.person_mask, prev))
    default = EnsembleConfig()
    configs = {"ensemble (Teacher.person_mask)": default}
    if args.variants:
        configs.update({
            "  all three members, equal weights": replace(default, landscape=1.0, pose=1.0),
            "  + landscape model, weight 0.5": replace(default, landscape=0.5),
            "  pose weight 1": replace(default, pose=1.0),
            "  max with pose (previous fusion)": replace(default, fusion="max"),
            "  no pose": replace(default, pose=0.0),
            "  no zoom-in crops": replace(default, crops=False),
            "  no zoom-out": replace(default, zoom_out=()),
            "  flips only": replace(default, crops=False, zoom_out=()),
            "  single selfie pass + guided filter": SINGLE,
        })
    for label, config in configs.items():
        teacher = Teacher(config=config)
        methods.append((label, teacher.person_mask, teacher))

    lines = []
    for set_name, images in sets.items():
        lines += [f"**{set_name}**: {len(images)} composites, {args.canvas} px long side", "",
                  "| labeller | person IoU | boundary F (3 px) | mean abs. alpha error | s / image |",
                  "|---|---|---|---|---|"]
        for label, method, _ in methods:
            m_iou, m_f, mae, t = score(method, images)
            lines.append(f"| {label} | {m_iou:.3f} | {m_f:.3f} | {mae:.4f} | {t:.2f} |")
            print(lines[-1], flush=True)
        lines.append("")
    # Time on a 1024-px picture, the size the teacher labels at most.
    big = cv2.resize(sets[next(iter(sets))][0][1], None, fx=1024 / args.canvas, fy=1024 / args.canvas,
                     interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(big, cv2.COLOR_BGR2RGB)
    for label, method, _ in methods:
        if label.startswith("ensemble"):
            method(rgb)
            start = time.perf_counter()
            for _ in range(3):
                method(rgb)
            lines.append(f"Ensemble time on a {big.shape[1]}x{big.shape[0]} picture: "
                         f"{(time.perf_counter() - start) / 3:.2f} s")
    print("\n".join(lines))
    peer.close()
    for _, _, owner in methods:
        if owner is not None:
            owner.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
