"""What `--steady-edges` (app/matting.MotionSmoother), `--mirror-average` (two looks per model run,
app/segmentation.Segmenter.mirror_average), the default two looks on calm runs only
(Segmenter.mirror_when_calm, app/scheduling.CALM_GAP), the learned edge (edge mode "learned",
app/matting.EdgeModel, against the plain guided filter), the memory of the room (app/matting.RoomMemory,
on by default) or the smoothing's history moved with the person (MatteRefiner.move_history, on by
default) costs: the app's pipeline on the live bench's
still and moving speakers at 720p and 1080p, with the option off and on, interleaved.

    python -m bench.steady_edges            # ~40 s on 2 cores; prints CPU ms a frame and the difference
    python -m bench.steady_edges --option mirror-average    # the same for two looks per model run
    python -m bench.steady_edges --option calm-looks        # two looks on calm runs (the default) vs none
    python -m bench.steady_edges --option learned-edges     # the learned edge vs the plain guided filter
    python -m bench.steady_edges --option room-memory       # the memory of the room (the default) vs none
    python -m bench.steady_edges --option moved-history     # the smoothing's history moved (the default) vs not
    python -m bench.steady_edges --frames 40 --rounds 1    # a quick look

CPU time of the process (all threads: ONNX Runtime on one, OpenCV on one up to 720p and on its pool
above, as the app sets it, app/imaging.use_opencv_threads_for) per frame, decoding excluded, and the
matte stage's own time a frame (the pipeline's "matte" timing: what an option of the matte changes,
without the model's noise)
(the frames are decoded first); the lowest of `rounds` passes per setting, since on a shared machine
noise only adds. What the option buys is in models/MODEL_CARD.md (training.matte_eval --matte
steady_edges=true).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

from app.compositing import Compositor
from app.matting import MatteRefiner
from app.pipeline import Pipeline
from app.segmentation import DEFAULT_MODEL_PATH, Segmenter
from app.settings import AppSettings
from bench.clips import default_source, prepare_live_clips, read_frames
from bench.live import cpu_model

WARM_UP = 10
LIVE_FRAMES = 330  # the live bench's clips (30 warm-up + 300 frames), so its cached files serve here too


# --option learned-edges: the plain guided filter against the learned edge (app/matting.EdgeModel,
# which adds a second fit from a softer matte), both at the shipped softness.
PLAIN_EDGE = {"edge_mode": "guided", "softness": 0.15}
LEARNED_EDGE = {"edge_mode": "learned", "softness": 0.15}


def cpu_ms_per_frame(frames, segmenter: Segmenter, steady: bool, matte_changes: dict | None = None,
                     move_history: bool = True) -> tuple[float, Pipeline, float]:
    """One pass of the app's defaults (steady_edges, `matte_changes` and the refiner's move_history
    as given) over frames, after WARM_UP frames: CPU ms a frame, the pipeline that ran it, and the
    matte stage's own ms a frame (its "matte" timing: less noisy than the whole frame's CPU)."""
    settings = AppSettings()
    compositor = Compositor()
    settings.apply_background(compositor)
    matte = dataclasses.replace(settings.matte_settings(), steady_edges=steady, **(matte_changes or {}))
    refiner = MatteRefiner(matte)
    refiner.move_history = move_history
    pipeline = Pipeline(segmenter, refiner, compositor, schedule=settings.schedule_settings())
    for frame in frames[:WARM_UP]:
        pipeline.process(frame)
    start = time.process_time()
    matte_ms = sum(pipeline.process(frame)[1]["matte"] for frame in frames[WARM_UP:])
    count = max(1, len(frames) - WARM_UP)
    return (time.process_time() - start) * 1000.0 / count, pipeline, matte_ms / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=130, help="frames per pass (first 10: warm-up)")
    parser.add_argument("--rounds", type=int, default=2, help="passes per setting, interleaved")
    parser.add_argument("--resolutions", default="720p,1080p", help="of the live bench's: 720p, 1080p")
    parser.add_argument("--option", choices=("steady-edges", "mirror-average", "calm-looks", "learned-edges", "room-memory",
                                             "moved-history"), default="steady-edges",
                        help="the option to measure off and on")
    args = parser.parse_args(argv)
    sizes = {"720p": (1280, 720), "1080p": (1920, 1080)}
    wanted = [r.strip() for r in args.resolutions.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in sizes]
    if unknown or not wanted:
        parser.error(f"--resolutions: choose from {', '.join(sizes)}")
    clips = prepare_live_clips(default_source(), LIVE_FRAMES, {r: sizes[r] for r in wanted})
    segmenter = Segmenter(DEFAULT_MODEL_PATH, threads=1)
    print(f"CPU: {cpu_model()}; CPU ms a frame, decoding excluded, lowest of {args.rounds} interleaved passes")
    print(f"| clip | {args.option.replace('-', ' ')} off | on | difference | matte stage ms a frame, off / on |")
    print("|---|---|---|---|---|")
    for resolution in wanted:
        for scenario in ("still", "moving"):
            frames = read_frames(clips[scenario][resolution], args.frames)  # OpenCV's threads: the pipeline sets them
            passes, mattes = {False: [], True: []}, {False: [], True: []}
            for _ in range(max(1, args.rounds)):
                for on in (False, True):
                    segmenter.mirror_average = on and args.option == "mirror-average"
                    segmenter.mirror_when_calm = on or args.option != "calm-looks"  # else the app's default
                    steady = on and args.option == "steady-edges"
                    matte_changes = ((LEARNED_EDGE if on else PLAIN_EDGE) if args.option == "learned-edges"
                                     else {"room_memory": on} if args.option == "room-memory" else None)
                    move_history = on or args.option != "moved-history"
                    cpu_ms, _, matte_ms = cpu_ms_per_frame(frames, segmenter, steady, matte_changes, move_history)
                    passes[on].append(cpu_ms)
                    mattes[on].append(matte_ms)
            off, on = min(passes[False]), min(passes[True])
            matte_off, matte_on = min(mattes[False]), min(mattes[True])
            print(f"| {scenario} {resolution} | {off:.2f} | {on:.2f} | {on - off:+.2f} ({(on / off - 1) * 100:+.0f} %) "
                  f"| {matte_off:.2f} / {matte_on:.2f} ({matte_on - matte_off:+.2f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
