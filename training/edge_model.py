"""Trains the matte stage's learned edge (app.matting.EdgeModel) on training composites.

    python -m training.edge_model --out runs/edge_model        # capture, train, write the weights (~45 min on 2 cores)

The shipped weights (session 26, 64 units) were trained on three captures: session 22's (the
defaults, seed 4242: 1200 composites and 1600 call-sized pictures, in runs/edge_mix0), session 25's
second one with 90 moving clips, and a third like it (~6 min to capture each, ~21 min to train on
10,200 records):

    python -m training.edge_model --out runs/edge_s26_h64 --seed 4343 --clips 90 --also runs/edge_mix0 --epochs 10
    python -m training.edge_model --out runs/edge_s26_d --seed 4444 --clips 90 --also runs/edge_mix0 --also runs/edge_s26_h64 --epochs 10

(the first line's weights were session 26's C; with --hidden 48, session 25's.)

1. Capture: training people on training backgrounds, as 320-px composites (`training.evaluate.
   build_composite_set`, split "train", a seed of its own) and as call-sized pictures
   (`build_call_pictures`: 640-1280 px, a quarter on plain walls), run through the app's own
   pipeline with the shipped network
   (`training.matte_eval.AppMatte`). For each picture it keeps what the matte stage's guided filter
   was given (the working-size colour guide and alpha), the frame the matte was finished on and the
   exact alpha there.
2. Train: the per-window MLP's output replaces the closed-form solve where the source varies, the
   linear model is window-averaged and applied to the full-size frame's colours in the boundary
   band, exactly as `MatteRefiner` does; the loss is the mean absolute alpha error there.
   Its last layer starts at zero: training starts from the plain guided filter.
3. Write `edge_model.npz` (numpy arrays w0, b0, w1, b1, ...), which the app reads.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from app import matting
from app.matting import (BAND_HIGH, BAND_LOW, EDGE_FEATURES, EDGE_MODEL_SOFTNESS, EDGE_SPREAD_FLOOR, GUIDED_EPS, EdgeModel,
                         apply_linear_model, band_block_pixels, window_statistics)

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = 64  # units in each hidden layer: the shipped weights' (session 26; 48 in session 25, 32 before)


# ---------------------------------------------------------------------------------------- capture
CALL_SIZES = (640, 960, 1280)  # long sides of the pictures: what a call's camera gives
PLAIN_SHARE = 0.25  # of the pictures on a plain wall (a colour and a faint gradient), as many calls are


def build_call_pictures(data: Path, out: Path, count: int, seed: int, split: str = "train",
                        workers: int = 2) -> list[Path]:
    """`count` people of `split` pasted on its backgrounds (or, a PLAIN_SHARE of them, on a plain
    wall) at a call camera's size, with sensor noise and JPEG: <name>.jpg and <name>_alpha.png
    (exact), each written once (a stopped run resumes), in `workers` processes. The matte stage's
    finish is at the frame's own size, so it must learn from frames of that size: the held-out
    composites are 320 px, where the finish has little to do."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"picture_{i:04d}.jpg" for i in range(count)]
    missing = [i for i, p in enumerate(paths) if not (p.exists() and p.with_name(p.stem + "_alpha.png").exists())]
    if missing:
        jobs = [(data, out, seed, split, missing[w::workers]) for w in range(workers)]
        if workers > 1:
            import multiprocessing
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                pool.map(_build_pictures, jobs)
        else:
            _build_pictures(jobs[0])
    return paths


def _build_pictures(job) -> None:
    from training.composites import composite_person
    from training.data import SampleSources

    data, out, seed, split, indices = job
    cv2.setNumThreads(1)
    sources = SampleSources.from_folder(data, split)
    for i in indices:
        path = out / f"picture_{i:04d}.jpg"
        rng = np.random.default_rng((seed, i))
        person = cv2.imread(str(sources.people[i % len(sources.people)]), cv2.IMREAD_UNCHANGED)
        long_side = int(rng.choice(CALL_SIZES))
        if rng.random() < PLAIN_SHARE:
            ramp = np.linspace(-1.0, 1.0, 256, dtype=np.float32)[None, :, None] * rng.uniform(-15, 15, 3)
            wall = np.clip(rng.uniform(20, 235, 3).astype(np.float32) + ramp, 0, 255)
            background = np.repeat(wall, 144, axis=0).astype(np.uint8)
        else:
            background = cv2.imread(str(sources.backgrounds[rng.integers(len(sources.backgrounds))]))
        image, alpha = composite_person(person, background, rng, long_side=long_side)
        noisy = image.astype(np.float32) + rng.normal(0.0, rng.uniform(0.5, 5.0), image.shape)
        quality = int(rng.integers(70, 96))
        # the alpha first: a picture whose jpg exists is complete
        cv2.imwrite(str(path.with_name(path.stem + "_alpha.png")), np.round(alpha * 255).astype(np.uint8))
        cv2.imwrite(str(path), np.clip(noisy, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])


CLIP_STRIDE = 3  # of a moving clip's frames, every third gives a record (neighbours differ little)


def capture(model: Path, data: Path, out: Path, count: int, seed: int, threads: int = 2,
            matte: dict | None = None, small: int = 0, clips: int = 0) -> list[Path]:
    """Runs `small` 320-px composites (the held-out sets' scale: `build_composite_set`, split
    "train"), `count` call-sized pictures of training people and `clips` moving clips of them
    (`build_moving_set`, split "train", played through the app's live path, every CLIP_STRIDE-th
    frame kept) through the app (its matte settings changed by `matte`) and writes one record (npz)
    each, in that order; a picture in which the app finds no edge gives none, nor does a clip's
    frame whose matte the live path kept from the frame before (its edge band unchanged). Those
    leave an empty `record_NNNN.none` instead, so a stopped capture resumes where it stopped rather
    than playing every clip again."""
    from training.evaluate import build_composite_set
    from training.matte_eval import MOVING_FRAMES, AppMatte, build_moving_set, read_alpha_png

    out.mkdir(parents=True, exist_ok=True)
    kept_frames = range(0, MOVING_FRAMES, CLIP_STRIDE)
    records = [out / f"record_{i:04d}.npz" for i in range(small + count + clips * len(kept_frames))]
    if all(_captured(r) for r in records):
        return [r for r in records if r.exists()]
    composites = ((build_composite_set(data, out / "composites", small, split="train", seed=seed) if small else [])
                  + build_call_pictures(data, out / "pictures", count, seed))
    # the clips' seed is not the validation's (515), so their backgrounds and framings are new
    moving = build_moving_set(data, out / "clips", seed=seed, split="train", count=clips) if clips else []
    # The plain filter's path: its one guided_coefficients call is what the spy below records (the
    # learned edge's own fit, which it trains, is recomputed from that in prepare()).
    app = AppMatte(model, threads, matte_overrides={**(matte or {}), "edge_mode": "guided"})
    seen: dict = {}
    plain_coefficients, plain_refine = matting.guided_coefficients, matting.MatteRefiner.refine

    def spy_coefficients(guide, src, radius, eps, edge_model=None):
        seen["guide"], seen["src"], seen["radius"] = guide.copy(), src.copy(), radius
        return plain_coefficients(guide, src, radius, eps)

    def spy_refine(self, mask_small, frame_bgr, dtype=np.float32, pyramid=None, rect=None, fresh=True):
        seen["frame"], seen["rect"] = frame_bgr.copy(), rect
        return plain_refine(self, mask_small, frame_bgr, dtype, pyramid=pyramid, rect=rect, fresh=fresh)

    def keep(path: Path, record: Path) -> None:
        prepared = None
        if "guide" in seen:
            x, y, w, h = seen["rect"] or (0, 0, seen["frame"].shape[1], seen["frame"].shape[0])
            truth = read_alpha_png(path.with_name(path.stem + "_alpha.png"))[y:y + h, x:x + w]
            prepared = prepare(seen["guide"], seen["src"], seen["radius"], seen["frame"], truth)
        if prepared is None:
            _no_record(record).touch()
        else:
            np.savez_compressed(record, **prepared)
            _no_record(record).unlink(missing_ok=True)

    matting.guided_coefficients, matting.MatteRefiner.refine = spy_coefficients, spy_refine
    try:
        for path, record in zip(composites, records):
            if _captured(record):
                continue
            seen.clear()
            app.still(cv2.imread(str(path)))
            keep(path, record)
        clip_records = iter(records[len(composites):])
        for frames in moving:
            mine = [next(clip_records) for _ in kept_frames]
            if all(_captured(r) for r in mine):
                continue
            app.pipeline.reset()  # a new call: the live path's memory (crop, smoothing) starts empty
            for t, path in enumerate(frames):
                seen.clear()
                app.frame(cv2.imread(str(path)))
                if t % CLIP_STRIDE == 0:
                    keep(path, mine[t // CLIP_STRIDE])
    finally:
        matting.guided_coefficients, matting.MatteRefiner.refine = plain_coefficients, plain_refine
    return [r for r in records if r.exists()]


def _no_record(record: Path) -> Path:
    """The marker of a picture or clip frame that was run and gave no record."""
    return record.with_suffix(".none")


def _captured(record: Path) -> bool:
    return record.exists() or _no_record(record).exists()


def prepare(guide: np.ndarray, src: np.ndarray, radius: int, frame: np.ndarray, truth: np.ndarray) -> dict | None:
    """What one training step needs from one picture: the windows' statistics, features and
    closed-form weights, and the full-size band pixels (working-size position, colour, exact alpha)
    that MatteRefiner._finish_band would write."""
    stats = window_statistics(guide, src, radius)
    if stats is None:
        return None
    weights = stats.solve(GUIDED_EPS)
    plain = matting.linear_model(stats, src, radius, GUIDED_EPS)  # the plain filter, from the same statistics
    work_alpha = apply_linear_model(plain, guide)
    band_small = cv2.dilate(cv2.inRange(work_alpha, BAND_LOW, BAND_HIGH), np.ones((3, 3), np.uint8))
    band = band_block_pixels(band_small, frame.shape[:2])
    if band is None:
        return None
    ys, xs = band
    (work_h, work_w), (frame_h, frame_w) = src.shape, frame.shape[:2]
    return {
        "src": src.astype(np.float32), "radius": np.int32(radius), "at": stats.at.astype(np.int64),
        "features": EdgeModel.features(stats, weights),
        "weights": np.stack(weights, 1).astype(np.float32), "mean": np.stack(stats.mean, 1).astype(np.float32),
        "mean_src": stats.mean_src.astype(np.float32),
        "spread_src": np.sqrt(np.maximum(stats.var_src, 0.0)).astype(np.float32),
        "spread": np.sqrt(np.maximum(np.stack([stats.cov[0], stats.cov[3], stats.cov[5]], 1), 0.0)).astype(np.float32),
        "x": ((xs + 0.5) * (work_w / frame_w) - 0.5).astype(np.float32),
        "y": ((ys + 0.5) * (work_h / frame_h) - 0.5).astype(np.float32),
        "colour": frame[ys, xs].astype(np.float32) / 255.0,
        "truth": truth[ys, xs].astype(np.float32),
    }


# ------------------------------------------------------------------------------------------ train
def _torch():
    import torch  # training only: the app reads the weights with numpy
    return torch


def build_network(hidden: int = HIDDEN):
    """The MLP of app.matting.EdgeModel, its last layer at zero (the plain guided filter)."""
    torch = _torch()
    net = torch.nn.Sequential(torch.nn.Linear(EDGE_FEATURES, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 5))
    torch.nn.init.zeros_(net[-1].weight)
    torch.nn.init.zeros_(net[-1].bias)
    return net


def load_record(path: Path) -> dict:
    torch = _torch()
    with np.load(path) as record:
        return {k: torch.from_numpy(np.asarray(record[k])) for k in record.files}


def _symmetric_index(length: int, radius: int):
    """Indices that pad an axis by `radius` as cv2.BORDER_REFLECT does (fedcba|abcdef|fedcba)."""
    torch = _torch()
    index = np.concatenate([np.arange(radius)[::-1], np.arange(length), length - 1 - np.arange(radius)])
    return torch.from_numpy(np.clip(index, 0, length - 1))


def band_alpha(net, record: dict):
    """The alpha that MatteRefiner._finish_band writes at the record's band pixels, with the
    network's correction of each window's solve (app.matting.EdgeModel.adjust, in torch)."""
    torch = _torch()
    out = net(record["features"])
    spread_src = record["spread_src"][:, None]
    weights = (record["weights"] * (1.0 + out[:, :1])
               + out[:, 1:4] * spread_src / (record["spread"] + EDGE_SPREAD_FLOOR))
    offset = record["mean_src"] - (weights * record["mean"]).sum(1) + out[:, 4] * record["spread_src"]
    height, width = record["src"].shape
    model = torch.zeros(height * width, 4)
    model[:, 3] = record["src"].reshape(-1)
    model = model.index_put((record["at"],), torch.cat([weights, offset[:, None]], 1))
    radius = int(record["radius"])
    planes = model.reshape(height, width, 4).permute(2, 0, 1)
    planes = planes.index_select(1, _symmetric_index(height, radius)).index_select(2, _symmetric_index(width, radius))
    planes = torch.nn.functional.avg_pool2d(planes[None], 2 * radius + 1, stride=1)[0]
    # bilinear at the band's working-size positions, edges repeated (cv2.remap, BORDER_REPLICATE)
    x = record["x"].clamp(0, width - 1)
    y = record["y"].clamp(0, height - 1)
    x0, y0 = x.floor().long(), y.floor().long()
    x1, y1 = (x0 + 1).clamp(max=width - 1), (y0 + 1).clamp(max=height - 1)
    fx, fy = x - x0, y - y0
    flat = planes.reshape(4, -1)

    def at(yy, xx):
        return flat[:, yy * width + xx]

    sampled = ((at(y0, x0) * (1 - fx) + at(y0, x1) * fx) * (1 - fy)
               + (at(y1, x0) * (1 - fx) + at(y1, x1) * fx) * fy)
    alpha = (sampled[:3] * record["colour"].T).sum(0) + sampled[3]
    return alpha.clamp(0.0, 1.0)


def mean_error(net, records: list[dict]) -> float:
    torch = _torch()
    with torch.no_grad():
        return float(np.mean([(band_alpha(net, r) - r["truth"]).abs().mean().item() for r in records]))


def record_loss(net, record: dict, side_weight: float):
    """Mean absolute alpha error in the band, plus `side_weight` times a hinge on the pixels whose
    exact alpha is clearly on one side of 0.5 and whose estimate is not at least SIDE_MARGIN on that
    side: the L1 alone cares little for a few pixels crossing 0.5, which cost boundary F (a busy
    room's texture amplified into specks beside the outline)."""
    torch = _torch()
    alpha, truth = band_alpha(net, record), record["truth"]
    loss = (alpha - truth).abs().mean()
    if side_weight > 0.0:
        side = torch.sign(truth - 0.5) * ((truth - 0.5).abs() > SIDE_CLEAR)
        loss = loss + side_weight * torch.relu(SIDE_MARGIN - (alpha - 0.5) * side).mul(side.abs()).mean()
    return loss


SIDE_CLEAR, SIDE_MARGIN = 0.3, 0.1  # exact alpha beyond 0.5 +- SIDE_CLEAR is "clearly on one side"


def train(records: list[dict], held: list[dict], epochs: int, seed: int, lr: float = 1e-3, hidden: int = HIDDEN,
          side_weight: float = 0.0, log=print):
    torch = _torch()
    torch.manual_seed(seed)
    net = build_network(hidden)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * len(records))
    rng = np.random.default_rng(seed)
    log(f"start: training band MAD {mean_error(net, records):.5f}, held {mean_error(net, held):.5f}")
    for epoch in range(epochs):
        for i in rng.permutation(len(records)):
            record = records[i]
            loss = record_loss(net, record, side_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        if epoch % 5 == 4 or epoch == epochs - 1:
            log(f"epoch {epoch + 1}: training band MAD {mean_error(net, records):.5f}, held {mean_error(net, held):.5f}")
    return net


def save(net, path: Path) -> None:
    linear = [m for m in net if hasattr(m, "weight")]
    arrays = {}
    for i, layer in enumerate(linear):
        arrays[f"w{i}"] = layer.weight.detach().numpy().T.astype(np.float32)
        arrays[f"b{i}"] = layer.bias.detach().numpy().astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def main(argv=None) -> int:
    from training.matte_eval import matte_overrides

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "portraitnet.onnx")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "edge_model")
    parser.add_argument("--small", type=int, default=1200, help="320-px composites to capture (the held-out sets' scale)")
    parser.add_argument("--count", type=int, default=1600, help="call-sized pictures to capture (640-1280 px)")
    parser.add_argument("--clips", type=int, default=0,
                        help="moving clips of training people to capture through the live path (640x360, 36 frames)")
    parser.add_argument("--also", type=Path, action="append", default=[], metavar="DIR",
                        help="an earlier capture's folder whose records are trained on too (repeatable)")
    parser.add_argument("--held", type=int, default=60, help="of those, kept out of training (its log)")
    parser.add_argument("--seed", type=int, default=4242, help="the composites' seed (not the validation's 515)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=HIDDEN, help="units in each of the two hidden layers")
    parser.add_argument("--side-weight", type=float, default=0.0, help="weight of the hinge on pixels on the wrong side of 0.5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--capture-only", action="store_true",
                        help="capture the records and stop (a capture that a later run trains on with --also)")
    parser.add_argument("--matte", type=matte_overrides, default={"softness": EDGE_MODEL_SOFTNESS},
                        metavar="KEY=VALUE[,KEY=VALUE]",
                        help="the matte settings the pictures are captured with (default: the softness of the "
                             "learned edge's working matte, app.matting.EDGE_MODEL_SOFTNESS)")
    args = parser.parse_args(argv)
    start = time.time()
    paths = capture(args.model, args.data, args.out, args.count, args.seed, args.threads, args.matte, args.small,
                    args.clips)
    print(f"{len(paths)} records in {time.time() - start:.0f} s")
    if args.capture_only:
        return 0
    if len(paths) <= args.held:
        raise SystemExit(f"{len(paths)} pictures gave a record (no person found in the rest): too few to train on")
    earlier = [p for folder in args.also for p in sorted(folder.glob("record_*.npz"))]
    records = [load_record(p) for p in paths + earlier]  # held ones come from this capture only
    held, training = records[:args.held], records[args.held:]
    _torch().set_num_threads(1)  # many small steps: threads only add overhead
    net = train(training, held, args.epochs, args.seed, hidden=args.hidden, side_weight=args.side_weight)
    save(net, args.out / "edge_model.npz")
    report = {"records": len(records), "earlier": len(earlier), "held": len(held), "epochs": args.epochs, "seed": args.seed,
              "held_band_mad": mean_error(net, held), "held_band_mad_plain": mean_error(build_network(), held)}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
