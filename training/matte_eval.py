"""The matte, side by side with the peers: MediaPipe selfie, Google Meet, Robust Video Matting (RVM).

    python -m training.matte_eval --model models/portraitnet.onnx --model runs/v4/portraitnet.onnx

Held-out data only (eval people, photos, backgrounds; `training.prepare_data`), three sets:
- composites: eval cut-outs on eval backgrounds (training.evaluate's set); the reference is the
  exact alpha of the composite, and the same person pasted onto a plain colour is the exact truth
  for the re-background (fringe) error;
- real: eval photos and clip frames; the reference is the three-teacher label (training/labels.py:
  RVM's edge where it agrees with the majority of RVM, Meet and the MediaPipe ensemble). It shares
  its teachers with our training labels, and RVM is one of them: it flatters students of that
  label and RVM alike, so read it beside the composites;
- moving: clips made from eval cut-outs that move across eval backgrounds (sway, a step aside, a
  lean in) with camera noise; exact alpha on every frame. IoU on moving frames and dtSSD
  (RVM's temporal metric) with each method run as on video: PortraitNet through the app's own
  matte stage with its temporal smoothing and model schedule, RVM with its recurrent state.

PortraitNet rows are the app's pipeline (`app.pipeline.Pipeline`: the model on its crop around the
person, `app.segmentation.PersonRegion`; `app.matting.MatteRefiner` at the app's defaults, at the
picture's resolution) and the app's composite (`app.compositing.Compositor`, foreground estimation
on); peers are their soft output scaled to the picture (RVM composites with its own `fgr`).
Metrics: IoU of alpha > 0.5 (mean over pictures, mean of per-person means, mean of the worst 10 %),
boundary F (3 px), in the edge band (within 8 px of the reference's edge or soft alpha): mean
absolute alpha error (MAD) and gradient error; re-background error: mean |RGB error| in the band on
a plain green against the exact truth; dtSSD x 100.

Tuning the matte stage without looking at the held-out sets: `--validation` scores PortraitNet
rows on composites and moving clips of *training* people and backgrounds (other seeds; no real set,
no peers), and `--matte KEY=VALUE[,KEY=VALUE]` adds a row per matte-setting variant:

    python -m training.matte_eval --validation --matte feather=4 --matte softness=0.3,threshold=0.55

Sets that choose between models many times end up partly fitted by the model they chose. `--fresh
SEED` draws new composites and moving clips of the held-out people and backgrounds with SEED and
scores the PortraitNet rows on them (no real set): a confirmation that no earlier choice
has seen. The composites are 320 px on their long side, the network's scale, where the matte's
finish at the frame's own resolution has little to do; `--canvas 1280` (with `--validation` or
`--fresh`) draws them at a call camera's size instead, in sets of their own. `--with-peers` adds
the peers' rows to a fresh set (RVM at about 2 s a 1280-px picture on one core):

    python -m training.matte_eval --fresh 102 --canvas 1280 --composites 150 --clips 1 --with-peers
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np

from app.compositing import Compositor
from app.matting import EdgeModel, MatteRefiner, MatteSettings
from app.pipeline import Pipeline
from app.segmentation import Segmenter
from app.settings import AppSettings, parse_yes_no
from bench.stats import boundary_f_score, iou
from training.composites import camouflage
from training.data import SampleSources
from training.evaluate import build_composite_set, peer_masks
from training.labels import node_outputs, run, run_clip, save_input

ROOT = Path(__file__).resolve().parents[1]
GREEN = (0, 177, 64)
BAND_PX = 8
MOVING_CLIPS, MOVING_FRAMES, MOVING_SIZE = 6, 36, (640, 360)


# ------------------------------------------------------------------------------------------- sets
def build_moving_set(data: Path, out: Path, seed: int = 77, split: str = "eval",
                     count: int = MOVING_CLIPS, camouflaged: bool = False, still: bool = False) -> list[list[Path]]:
    """`count` clips of an eval cut-out moving over an eval background, exact alpha per frame (split
    "train": training people and backgrounds, for validation). Clip c is the same for any count.
    `camouflaged`: each room recoloured toward its person's own outline colours (composites.camouflage:
    a wall of the sweater's colour), where only shape and texture tell them apart. `still`: nobody
    moves (a speaker sitting still: only the sensor noise changes), where anything that learns from
    past frames must not learn the person's own missed pieces as room."""
    sources = SampleSources.from_folder(data, split)
    clips = []
    width, height = MOVING_SIZE
    for c in range(count):
        folder = out / f"clip_{c}"
        frames = [folder / f"frame_{t:03d}.jpg" for t in range(MOVING_FRAMES)]
        clips.append(frames)
        if all(f.exists() for f in frames):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng((seed, c))
        person = cv2.imread(str(sources.people[(3 * c + 1) % len(sources.people)]), cv2.IMREAD_UNCHANGED)
        ys, xs = np.nonzero(person[..., 3] > 127)
        person = person[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        background = cv2.imread(str(sources.backgrounds[rng.integers(len(sources.backgrounds))]))
        bg = cv2.resize(background, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
        if camouflaged:
            bg = camouflage(bg, person, np.random.default_rng((seed, c, 1)))
        base = rng.uniform(0.75, 1.0) * height / person.shape[0]
        motion = "still" if still else ("sway", "step", "lean")[c % 3]
        for t, frame_path in enumerate(frames):
            phase = t / (MOVING_FRAMES - 1)
            dx = {"sway": 60 * np.sin(2 * np.pi * phase), "step": 160 * min(1.0, 2 * phase) - 80, "lean": 20 * phase,
                  "still": 0.0}[motion]
            zoom = 1.0 + (0.25 * np.sin(np.pi * phase) if motion == "lean" else 0.0)
            scale = base * zoom
            ph, pw = round(person.shape[0] * scale), round(person.shape[1] * scale)
            sprite = cv2.resize(person, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32)
            x0 = round((width - pw) / 2 + dx)
            y0 = height - ph + round(ph * 0.1)
            matrix = np.float32([[1, 0, x0], [0, 1, y0]])
            alpha = cv2.warpAffine(sprite[..., 3] / 255.0, matrix, (width, height))
            fg = cv2.warpAffine(sprite[..., :3], matrix, (width, height))
            a = alpha[..., None]
            image = fg * a + bg * (1 - a) + rng.normal(0, 3, bg.shape)  # sensor noise differs per frame
            cv2.imwrite(str(frame_path), np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 92])
            cv2.imwrite(str(frame_path.with_name(frame_path.stem + "_alpha.png")), np.round(alpha * 255).astype(np.uint8))
    return clips


def read_alpha_png(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


# ----------------------------------------------------------------------------------------- metrics
def edge_band(reference: np.ndarray) -> np.ndarray:
    hard = (reference > 0.5).astype(np.uint8)
    edge = cv2.morphologyEx(hard, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    edge |= (reference > 0.02) & (reference < 0.98)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND_PX + 1, 2 * BAND_PX + 1))
    return cv2.dilate(edge.astype(np.uint8), kernel) > 0


def gradient(alpha: np.ndarray) -> np.ndarray:
    smooth = cv2.GaussianBlur(alpha, (0, 0), 1.4)
    return np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))


def band_mean(errors: np.ndarray, band: np.ndarray) -> float:
    """Mean of `errors` over the edge band; NaN for a picture with no edge (an empty room: a random
    deformation can carry the person out of view), which the means then leave out (np.nanmean)."""
    return float(errors[band].mean()) if band.any() else float("nan")


def picture_scores(alpha: np.ndarray, reference: np.ndarray) -> dict:
    """IoU and boundary F, and the edge band's errors (band_mean: NaN without an edge); IoU and
    boundary F score every picture (1.0 for an empty answer to an empty room, lower for anything
    called person)."""
    band = edge_band(reference)
    return {
        "iou": iou(alpha, reference),
        "boundary_f": boundary_f_score(alpha > 0.5, reference > 0.5),
        "mad": band_mean(np.abs(alpha - reference), band),
        "grad": band_mean(np.abs(gradient(alpha) - gradient(reference)), band),
    }


def dtssd(alphas: list[np.ndarray], references: list[np.ndarray]) -> float:
    values = [np.sqrt(np.mean(((a1 - a0) - (g1 - g0)) ** 2))
              for a0, a1, g0, g1 in zip(alphas, alphas[1:], references, references[1:])]
    return float(np.mean(values) * 100)


def moving_rows(clip_alphas: list[list[np.ndarray]], references: list[list[np.ndarray]]) -> dict:
    """The moving clips' row: IoU and edge MAD over all their frames, dtSSD the mean of the clips';
    and the same for each clip, in order, under "clips" (the JSON's; one hard clip can hold most of
    a gap: models/MODEL_CARD.md, session 15's camouflaged clip)."""
    clip_scores = [[picture_scores(a, r) for a, r in zip(alphas, refs)] for alphas, refs in zip(clip_alphas, references)]
    clips = [{"iou": float(np.mean([s["iou"] for s in scores])), "mad": float(np.nanmean([s["mad"] for s in scores])),
              "dtssd": dtssd(alphas, refs)}
             for scores, alphas, refs in zip(clip_scores, clip_alphas, references)]
    frames = [s for scores in clip_scores for s in scores]
    return {"iou": float(np.mean([s["iou"] for s in frames])), "mad": float(np.nanmean([s["mad"] for s in frames])),
            "dtssd": float(np.mean([c["dtssd"] for c in clips])), "clips": clips}


def summary(scores: list[dict], groups: list[str]) -> dict | None:
    """The set's means (None for an empty set: e.g. --composites 0, the moving clips alone)."""
    if not scores:
        return None
    ious = np.array([s["iou"] for s in scores])
    per_group = {}
    for s, g in zip(scores, groups):
        per_group.setdefault(g, []).append(s["iou"])
    worst = np.sort(ious)[: max(1, len(ious) // 10)]
    out = {k: float(np.nanmean([s[k] for s in scores])) for k in scores[0] if k != "iou"}  # NaN: no edge (picture_scores)
    return {"iou": float(ious.mean()), "person_iou": float(np.mean([np.mean(v) for v in per_group.values()])),
            "worst10_iou": float(worst.mean()), **out}


# ----------------------------------------------------------------------------------------- methods
class AppMatte:
    """The app's own stages: Segmenter + MatteRefiner (defaults) + Compositor, as a user runs them."""

    def __init__(self, model: Path, threads: int, edge_mode: str | None = None, foreground: bool = True,
                 margin: int | None = None, crop: bool = True, input_size: int | None = None,
                 matte_overrides: dict | None = None, photo: bool = False, edge_model: Path | None = None):
        defaults = AppSettings()  # the app's defaults (window and CLI): matte settings and model schedule
        matte = dataclasses.replace(defaults.matte_settings(), **(matte_overrides or {}))
        if edge_mode:
            matte = dataclasses.replace(matte, edge_mode=edge_mode)
        segmenter = Segmenter(model, threads=threads) if margin is None else Segmenter(model, threads=threads, margin=margin)
        if input_size:  # a larger (or smaller) model input than the app's, its margin in proportion
            segmenter.margin = segmenter.margin_for(input_size)
            segmenter.input_size = input_size
        segmenter.use_photo_looks(photo)  # what the app does for a photo
        # edge_model: other weights for the learned edge than the app's own (models/edge_model.npz)
        refiner = MatteRefiner(matte) if edge_model is None else MatteRefiner(matte, edge_model=EdgeModel.load(edge_model))
        self.pipeline = Pipeline(segmenter, refiner,
                                 Compositor(), schedule=defaults.schedule_settings())
        self.pipeline.still_source = photo  # a photo's path: its edge colour estimated finer too
        self.pipeline.region.enabled = crop  # False: the model sees the whole frame every run
        self.pipeline.compositor.set_color(GREEN)
        self.pipeline.compositor.estimate_foreground = foreground

    def still(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.pipeline.reset()
        return self.frame(frame)

    def frame(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        output, _ = self.pipeline.process(frame)
        return self.pipeline.last_alpha.astype(np.float32) / 255.0, output


def naive_green(frame: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None = None) -> np.ndarray:
    a = alpha[..., None]
    layer = frame if foreground is None else foreground
    return np.clip(layer * a + np.float32(GREEN) * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def mediapipe_alphas(images: list[Path], work: Path) -> list[np.ndarray]:
    """MediaPipe selfie, one plain pass as a user runs it (training.peer, in the teacher venv), its
    mask scaled to each picture."""
    masks, _ = peer_masks(images, work)
    out = []
    for path, mask in zip(images, masks):
        shape = cv2.imread(str(path)).shape[:2]
        out.append(cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR))
    return out


def node_peers(images: list[Path], root: Path, workers: int) -> list[dict]:
    keys = [save_input(root, cv2.imread(str(p))) for p in images]
    run(root, workers)
    return [node_outputs(root, k, cv2.imread(str(p)).shape[:2]) for k, p in zip(keys, images)]


def node_clip(frames: list[Path], root: Path) -> list[dict]:
    keys = [save_input(root, cv2.imread(str(p))) for p in frames]
    if not all((root / "rvm" / f"{k}.png").is_file() for k in keys):
        run_clip(root, [(root / "inputs" / f"{k}.png").resolve() for k in keys])
    return [node_outputs(root, k, cv2.imread(str(p)).shape[:2]) for k, p in zip(keys, frames)]


# The peers' rows, as the tables name them.
PEER_NAMES = ("MediaPipe selfie (256x256)", "Google Meet (256x144)", "RVM (MobileNetV3, 512 px base)")


def peer_rows(composites: list[Path], real: list[Path], clips: list[list[Path]], workers: int, peers_root: Path,
              composite_rows, real_rows) -> tuple[dict, dict]:
    """The peers' rows on the stills (scored by composite_rows / real_rows) and their alphas on the
    moving clips (run as on video), cached under peers_root."""
    rows: dict[str, dict] = {}
    moving: dict[str, list] = {}
    comp_frames = [cv2.imread(str(p)) for p in composites]
    peer_comp = node_peers(composites, peers_root / "stills", workers)
    peer_real = node_peers(real, peers_root / "stills", workers) if real else []
    mp_comp = mediapipe_alphas(composites, peers_root / "mediapipe_composites")
    mp_real = mediapipe_alphas(real, peers_root / "mediapipe_real") if real else []
    mediapipe, meet, rvm = PEER_NAMES
    peer_alphas = {
        mediapipe: (mp_comp, mp_real, [None] * len(mp_comp)),
        meet: ([p["meet"] for p in peer_comp], [p["meet"] for p in peer_real], [None] * len(peer_comp)),
        rvm: ([p["rvm"] for p in peer_comp], [p["rvm"] for p in peer_real],
              [p["rvm_fgr"].astype(np.float32) for p in peer_comp]),
    }
    for name, (comp, real_alphas, fgs) in peer_alphas.items():
        outputs = [naive_green(f, a, fg) for f, a, fg in zip(comp_frames, comp, fgs)]
        rows[name] = {"composites": composite_rows(comp, outputs), "real": real_rows(real_alphas)}
        moving[name] = []  # a row with no clips (--clips 0) reads nan there, as ours do

    # Moving clips: peers as on video.
    for c, clip in enumerate(clips):
        outs = node_clip(clip, peers_root / f"moving_{c}")
        moving[rvm].append([o["rvm"] for o in outs])
        moving[meet].append([o["meet"] for o in outs])
        moving[mediapipe].append(mediapipe_alphas(clip, peers_root / f"mediapipe_moving_{c}"))
    return rows, moving


# ------------------------------------------------------------------------------------------- main
def row_variants(args: argparse.Namespace) -> list[tuple]:
    """The rows each model gets, as (edge mode, foreground estimate, margin, crop, input size, matte
    overrides, a photo's looks, the learned edge's weights): the app's defaults first, then one
    change each, then (--edge-model-with-matte) each pair of other weights and matte settings."""
    default = (None, True, None, True, None, {}, args.photo, None)
    return ([default] + [_with(default, 0, mode) for mode in args.edge_mode]
            + ([_with(default, 1, False)] if args.no_foreground_row else [])
            + [_with(default, 2, m) for m in args.margin]
            + [_with(default, 4, size) for size in args.input_size]
            + ([_with(default, 3, False)] if args.whole_frame_row else [])
            + [_with(default, 5, overrides) for overrides in args.matte]
            + ([_with(default, 6, True)] if args.photo_row and not args.photo else [])
            + [_with(default, 7, weights) for weights in args.edge_model]
            + ([_with(_with(default, 5, overrides), 7, weights) for weights in args.edge_model for overrides in args.matte]
               if args.edge_model_with_matte else []))


VALIDATION_SEED = 515  # the validation sets' seed (training people and backgrounds)


def matte_overrides(text: str) -> dict:
    """--matte "feather=4,softness=0.3" -> {"feather": 4.0, "softness": 0.3}: MatteSettings fields,
    each coerced to the field's own type."""
    fields = {f.name: f.type for f in dataclasses.fields(MatteSettings)}
    overrides = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in fields or not value:
            raise argparse.ArgumentTypeError(f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        kind = {"float": float, "int": int, "bool": parse_yes_no}.get(str(fields[key]), str)
        try:
            overrides[key] = kind(value.strip())
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{item!r}: {error}") from None
    return overrides


def _with(row: tuple, index: int, value) -> tuple:
    return row[:index] + (value,) + row[index + 1:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", type=Path, help="ONNX model(s) (repeatable)")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--composites", type=int, default=100, help="how many of the held-out composites")
    parser.add_argument("--real", type=int, default=0, help="only the first N real pictures (0: all)")
    parser.add_argument("--clips", type=int, default=MOVING_CLIPS, help="how many moving clips")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="Node processes for RVM and Meet")
    parser.add_argument("--json", type=Path, default=ROOT / "runs" / "matte_eval.json")
    parser.add_argument("--edge-mode", action="append", default=[], choices=("gaussian", "guided"),
                        help="also score each model with this edge mode (repeatable)")
    parser.add_argument("--margin", action="append", type=int, default=[],
                        help="also score each model with this input margin (Segmenter(margin=...), repeatable)")
    parser.add_argument("--input-size", action="append", type=int, default=[],
                        help="also a row per PortraitNet model with this model input long side (app: 224; repeatable)")
    parser.add_argument("--whole-frame-row", action="store_true",
                        help="also score each model seeing the whole frame every run (no crop around the person)")
    parser.add_argument("--photo-row", action="store_true",
                        help="also score each model with a photo's looks (mirror-averaged runs at two "
                             "input sizes, the app's path for a still image; on the moving clips: what a "
                             "video would get with them)")
    parser.add_argument("--photo", action="store_true",
                        help="every row with a photo's looks (the app's path for a still image), e.g. to judge "
                             "a change to that path alone; use with --clips 0")
    parser.add_argument("--no-foreground-row", action="store_true",
                        help="also score each model compositing the camera's colour at the edge (no estimate)")
    peers = parser.add_mutually_exclusive_group()
    peers.add_argument("--peers-only", action="store_true",
                       help="only run (and cache) the peers, e.g. while a model trains")
    peers.add_argument("--no-peers", action="store_true",
                       help="only PortraitNet's rows on the usual held-out sets (the peers' rows are those the "
                            "card records for these sets; a new machine takes about an hour to run them again)")
    sets = parser.add_mutually_exclusive_group()
    sets.add_argument("--validation", action="store_true",
                      help="score on training people and backgrounds instead (tuning; no real set, no peers)")
    sets.add_argument("--fresh", type=int, metavar="SEED",
                      help="held-out people and backgrounds in new composites and clips drawn with SEED: sets "
                           "that no earlier choice between models has seen (no real set; no peers unless --with-peers)")
    parser.add_argument("--with-peers", action="store_true",
                        help="with --fresh: the peers' rows on the fresh sets too (cached under "
                             "eval_peers/<the sets' folder>); e.g. with --canvas 1280, RVM at a call camera's size")
    parser.add_argument("--camouflage", action="store_true",
                        help="with --fresh or --validation: the moving clips' rooms recoloured toward each person's "
                             "own outline colours (a wall of the sweater's colour), in sets of their own "
                             "(camouflage_SEED, camouflage_validation); "
                             "a change that trusts colour must not cost these clips; use with --composites 0")
    parser.add_argument("--still", action="store_true",
                        help="with --fresh or --validation: the clips' people sit still (only the sensor noise "
                             "changes), in sets of their own (still_SEED; with --camouflage, camouflage_still_SEED): "
                             "a change that learns from past frames must not cost a still speaker")
    parser.add_argument("--canvas", type=int, metavar="PX",
                        help="with --validation or --fresh: composites this many pixels on their long side (default "
                             "320, the network's scale; 1280 is a call camera's, where the matte's finish at the "
                             "frame's resolution does its work), in sets of their own")
    parser.add_argument("--matte", action="append", type=matte_overrides, default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="also a row per PortraitNet model with these matte settings changed (repeatable)")
    parser.add_argument("--edge-model", action="append", type=Path, default=[], metavar="NPZ",
                        help="also a row per PortraitNet model with these weights for the learned edge instead of "
                             "models/edge_model.npz (training/edge_model.py's output; repeatable)")
    parser.add_argument("--edge-model-with-matte", action="store_true",
                        help="also a row per --edge-model and --matte pair: those weights with those matte settings "
                             "(e.g. a learned edge trained at another work height, run at it)")
    args = parser.parse_args(argv)
    if args.with_peers and args.fresh is None:
        parser.error("--with-peers needs --fresh (the usual sets have their peers; validation's people are trained on)")
    for flag in ("camouflage", "still"):
        if getattr(args, flag) and args.fresh is None and not args.validation:
            parser.error(f"--{flag} needs --fresh or --validation (sets of their own beside those)")
    models = args.model or [ROOT / "models" / "portraitnet.onnx"]
    data = args.data
    peers_root = data / "eval_peers"
    split = "train" if args.validation else "eval"
    fresh = args.fresh is not None
    sets_root = data / "matte_eval" / ("validation" if args.validation else f"fresh_{args.fresh}" if fresh else "")
    if args.camouflage or args.still:
        kinds = "_".join(k for k, on in (("camouflage", args.camouflage), ("still", args.still)) if on)
        sets_root = sets_root.with_name(f"{kinds}_validation" if args.validation else f"{kinds}_{args.fresh}")
    # Only our rows on sets not used before: a set that has chosen between models many times is
    # partly fitted by the one it chose (a winner's curse; models/MODEL_CARD.md, session 15).
    own_only = args.validation or fresh
    canvas = {}
    if args.canvas:
        if not own_only:
            parser.error("--canvas needs --validation or --fresh (the usual sets' peers are run at 320 px)")
        sets_root = sets_root.with_name(sets_root.name + f"_{args.canvas}px")
        canvas = {"long_side": args.canvas}
    composite_seed = VALIDATION_SEED if args.validation else args.fresh if fresh else 2024
    moving_seed = VALIDATION_SEED if args.validation else args.fresh if fresh else 77

    composites = build_composite_set(data, sets_root / "composites", args.composites, truth_colour=GREEN, split=split,
                                     seed=composite_seed, **canvas)
    greens = [p.with_name(p.stem + "_truth.png") for p in composites]
    comp_refs = [read_alpha_png(p.with_name(p.stem + "_alpha.png")) for p in composites]
    people = SampleSources.from_folder(data, split).people
    comp_groups = [people[i % len(people)].stem for i in range(len(composites))]
    real = [] if own_only else SampleSources.from_folder(data, "eval").real[: args.real or None]
    real_refs = [read_alpha_png(p.with_name(p.stem + "_mask.png")) for p in real]
    real_groups = [p.stem.rsplit("_", 1)[0] for p in real]
    clips = build_moving_set(data, sets_root / "moving", split=split, seed=moving_seed, count=args.clips,
                             camouflaged=args.camouflage, still=args.still)

    def composite_rows(alphas, outputs):
        scores = [picture_scores(a, r) for a, r in zip(alphas, comp_refs)]
        for s, out, green, ref in zip(scores, outputs, greens, comp_refs):
            truth = cv2.imread(str(green)).astype(np.float32)
            s["rebackground"] = band_mean(np.abs(out.astype(np.float32) - truth), edge_band(ref))
        return summary(scores, comp_groups)

    def real_rows(alphas):
        return summary([picture_scores(a, r) for a, r in zip(alphas, real_refs)], real_groups)  # None: no real set

    comp_frames = [cv2.imread(str(p)) for p in composites]
    real_frames = [cv2.imread(str(p)) for p in real]
    moving_refs = [[read_alpha_png(f.with_name(f.stem + "_alpha.png")) for f in clip] for clip in clips]
    rows: dict[str, dict] = {}
    moving: dict[str, list] = {}
    if (args.with_peers or not own_only) and not args.no_peers:
        root = peers_root / sets_root.name if fresh else peers_root  # each fresh set's peers apart
        rows, moving = peer_rows(composites, real, clips, args.workers, root, composite_rows, real_rows)
    if args.peers_only:
        return 0
    variants = row_variants(args)
    for model, (edge_mode, foreground, margin, crop, size, overrides, photo, weights) in ((m, v) for m in models for v in variants):
        name = f"PortraitNet {model.relative_to(ROOT) if model.is_relative_to(ROOT) else model} (app matte"
        name += (f", {edge_mode} edges" if edge_mode else "") + ("" if foreground else ", camera colour at the edge")
        name += (f", margin {margin}" if margin is not None else "") + ("" if crop else ", whole frame")
        name += (f", {size}-px input" if size else "") + "".join(f", {k} {v}" for k, v in overrides.items())
        name += (", a photo's looks" if photo else "") + (f", learned edge {weights}" if weights else "") + ")"
        app = AppMatte(model, args.threads, edge_mode, foreground, margin, crop, size, overrides, photo, weights)
        comp = [app.still(f) for f in comp_frames]
        real_out = [app.still(f)[0] for f in real_frames]
        rows[name] = {"composites": composite_rows([a for a, _ in comp], [o for _, o in comp]),
                      "real": real_rows(real_out)}
        clips_alpha = []
        for clip in clips:
            app.pipeline.reset()
            clips_alpha.append([app.frame(cv2.imread(str(f)))[0] for f in clip])
        moving[name] = clips_alpha

    for name, clip_alphas in moving.items():
        rows[name]["moving"] = moving_rows(clip_alphas, moving_refs)

    real_text = "" if own_only else f"{len(real)} real photos/frames (three-teacher reference), "
    kind = ("validation (training people and backgrounds)" if args.validation
            else f"held-out, fresh sets (seed {args.fresh})" if fresh else "held-out")
    print(f"{kind}: "
          f"{len(composites)} composites (exact alpha), {real_text}"
          f"{len(clips)} moving clips x {MOVING_FRAMES} frames (exact alpha)\n")
    print("| method | comp. IoU | per-person | worst 10 % | boundary F | edge MAD | edge grad | re-background err. "
          "| real IoU | real per-person | real worst 10 % | real boundary F | real edge MAD | moving IoU | moving MAD | dtSSD |")
    print("|---|" + "---|" * 15)
    for name, r in rows.items():
        c, q, m = r["composites"], r["real"], r["moving"]
        real_cells = (f"{q['iou']:.3f} | {q['person_iou']:.3f} | {q['worst10_iou']:.3f} | {q['boundary_f']:.3f} | {q['mad']:.3f}"
                      if q else " | ".join(["–"] * 5))
        comp_cells = (f"{c['iou']:.4f} | {c['person_iou']:.3f} | {c['worst10_iou']:.3f} | {c['boundary_f']:.4f} "
                      f"| {c['mad']:.4f} | {c['grad']:.3f} | {c['rebackground']:.2f}" if c else " | ".join(["–"] * 7))
        print(f"| {name} | {comp_cells} | {real_cells} | {m['iou']:.4f} | {m['mad']:.4f} | {m['dtssd']:.2f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
