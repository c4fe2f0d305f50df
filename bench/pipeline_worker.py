"""Runs ONE benchmark configuration of the full pipeline in this (fresh) process.

    python -m bench.pipeline_worker '<json config>'

Engine "portraitcam" uses the app's stages as the app wires them (app defaults unless the config
overrides a setting). Engine "mediapipe" swaps the segmenter for MediaPipe selfie segmentation
through mediapipe's own API (run it in the teacher venv) and keeps every other stage the same.
Prints one JSON line with the per-stage timings, FPS, CPU time per frame and peak memory.

With "file_job": true the frames go through the CLI's file job as app/headless.py builds it: the
clip decoded ahead on a thread (PrefetchingSource), the file encoded on another (BackgroundSink)
and, for PortraitCam, the next frame's model overlapping this frame's matte and composite
(app/pipeline.OverlappedFrames). MediaPipe gets the same decoding and encoding threads; its own
graph already runs on threads of its own. Per-stage figures then overlap and only FPS and CPU per
frame are comparable between engines.
Each configuration gets its own process so that peak memory and thread pools do not mix.
"""
from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import app.imaging
from app.capture import PrefetchingSource, VideoFileSource
from app.compositing import Compositor
from app.matting import MatteRefiner
from app.pipeline import OverlappedFrames, Pipeline
from app.scheduling import ScheduleSettings
from app.segmentation import DEFAULT_MODEL_PATH, Segmenter
from app.settings import AppSettings
from app.sinks import BackgroundSink, FileSink, VirtualCameraSink
from bench.stats import summarise

STAGES = ("capture", "preprocess", "inference", "matte", "composite", "output")
MODEL_STAGES = ("preprocess", "inference")  # skipped on frames that reuse the last mask


def peak_rss_kib() -> int:
    """Peak resident memory of this process in KiB.

    VmHWM rather than getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across
    fork+exec, so a worker would report at least the benchmark driver's own footprint.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def _versions() -> dict[str, str]:
    import onnxruntime
    versions = {"python": sys.version.split()[0], "numpy": np.__version__, "opencv": cv2.__version__,
                "onnxruntime": onnxruntime.__version__}
    try:
        import mediapipe
        versions["mediapipe"] = mediapipe.__version__
    except ImportError:
        pass
    return versions


class MediaPipeSegmenterStage:
    """The peer as a user would call it: SelfieSegmentation.process(rgb).segmentation_mask.

    MediaPipe resizes to its own input (256x256 general, 256x144 landscape) inside its graph and
    returns the mask at frame size; that whole call counts as inference, BGR->RGB as preprocess.
    """

    def __init__(self, model_selection: int) -> None:
        import mediapipe as mp
        self._solution = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model_selection)

    def preprocess(self, frame_bgr: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)

    def infer(self, rgb: np.ndarray) -> np.ndarray:
        return self._solution.process(rgb).segmentation_mask

    def close(self) -> None:
        self._solution.close()


def schedule_from_config(config: dict, settings: AppSettings) -> ScheduleSettings:
    """The app's schedule (AppSettings) with the config's overrides; a model_every_n alone means
    the fixed every-Nth schedule, as on the command line."""
    every_n = config.get("model_every_n")
    mode = config.get("model_schedule") or ("every-n" if every_n else settings.model_schedule)
    return ScheduleSettings(mode=mode, every_n=int(every_n or settings.model_every_n),
                            max_interval=int(config.get("model_max_interval") or settings.model_max_interval))


def _build_stages(config: dict, settings: AppSettings):
    matte = settings.matte_settings()
    if config.get("work_height"):
        matte = dataclasses.replace(matte, work_height=int(config["work_height"]))
    if config.get("edge_mode"):
        matte = dataclasses.replace(matte, edge_mode=config["edge_mode"])
    refiner = MatteRefiner(matte)
    compositor = Compositor()
    settings.apply_background(compositor)
    return refiner, compositor


def run(config: dict) -> dict:
    settings = AppSettings()
    engine = config.get("engine", "portraitcam")
    if config.get("opencv_pool"):  # the sweep's alternative to the app's rule: OpenCV's pool at every size
        app.imaging.SINGLE_THREAD_MAX_PIXELS = 0
    warmup, frames = max(1, int(config.get("warmup", 10))), int(config["frames"])
    file_job = bool(config.get("file_job"))
    source = VideoFileSource(config["clip"], loop=True)
    if file_job:
        source = PrefetchingSource(source)
    width, height = source.size
    refiner, compositor = _build_stages(config, settings)

    out_dir = Path(config.get("out_dir") or tempfile.mkdtemp(prefix="portraitcam-bench-"))
    sink = None
    if config.get("sink", "file") == "file":
        sink = FileSink(out_dir / f"{engine}_{width}x{height}_{os.getpid()}.mp4", width, height, source.fps)
        if file_job:
            sink = BackgroundSink(sink)
    elif config.get("sink") == "vcam":
        sink = VirtualCameraSink(width, height, source.fps)

    samples = {stage: [] for stage in STAGES}
    totals: list[float] = []
    model_runs = 0
    info: dict = {}

    if engine == "portraitcam":
        schedule = schedule_from_config(config, settings)
        threads = config.get("threads") or settings.threads or None
        segmenter = Segmenter(config.get("model") or DEFAULT_MODEL_PATH, threads=threads,
                              graph_optimization=config.get("graph_optimization", "all"))
        pipeline = Pipeline(segmenter, refiner, compositor, schedule=schedule)
        info.update(threads=segmenter.threads, model_schedule=schedule.mode, model_every_n=schedule.every_n,
                    model=str(Path(segmenter.model_path).name))

        def process(frame):
            output, timings = pipeline.process(frame)
            return output, timings, pipeline.model_ran
        close_segmenter = lambda: None  # noqa: E731
    elif engine == "mediapipe":
        peer = MediaPipeSegmenterStage(int(config.get("model_selection", 0)))
        raw_mask = config.get("peer_matte", "refiner") == "raw"
        info.update(model_selection=int(config.get("model_selection", 0)),
                    peer_matte="raw" if raw_mask else "refiner")

        def process(frame):
            t0 = time.perf_counter()
            rgb = peer.preprocess(frame)
            t1 = time.perf_counter()
            mask = peer.infer(rgb)
            t2 = time.perf_counter()
            # "raw": MediaPipe's full-size mask straight into the compositor, as its samples do.
            # Otherwise the same call as app.pipeline makes.
            alpha = np.clip(mask, 0.0, 1.0).astype(np.float32) if raw_mask else refiner.refine(mask, frame, np.uint8)
            t3 = time.perf_counter()
            output = compositor.composite(frame, alpha)
            t4 = time.perf_counter()
            ms = lambda a, b: (b - a) * 1000.0  # noqa: E731
            return output, {"preprocess": ms(t0, t1), "inference": ms(t1, t2), "matte": ms(t2, t3),
                            "composite": ms(t3, t4)}, True
        close_segmenter = peer.close
    else:
        raise ValueError(f"unknown engine {engine!r}")

    def frames_read():
        for _ in range(warmup + frames):
            t0 = time.perf_counter()
            frame = source.read()
            yield frame, (t0, time.perf_counter())

    overlap_options = {"ahead": int(config["ahead"])} if config.get("ahead") else {}  # else the app's
    if file_job and engine == "portraitcam":
        stream = ((output, timings, pipeline.model_ran, read)
                  for output, timings, read in OverlappedFrames(pipeline, **overlap_options)(frames_read()))
    else:
        stream = ((*process(frame), read) for frame, read in frames_read())
    cpu_start = wall_start = None
    handed_off = time.perf_counter()
    for index, (output, timings, model_ran, (read_start, read_end)) in enumerate(stream):
        send_start = time.perf_counter()
        if sink is not None:
            sink.send(output)
        previous, handed_off = handed_off, time.perf_counter()
        if index < warmup:
            if index == warmup - 1:  # the clocks start with the first measured frame's work
                cpu_start, wall_start = time.process_time(), handed_off
            continue
        samples["capture"].append((read_end - read_start) * 1000.0)
        for stage in ("preprocess", "inference", "matte", "composite"):
            if stage in MODEL_STAGES and not model_ran:
                continue
            samples[stage].append(timings[stage])
        samples["output"].append((handed_off - send_start) * 1000.0)
        totals.append((handed_off - previous) * 1000.0)  # one frame's wall time, hand-off to hand-off
        model_runs += int(model_ran)
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start

    if sink is not None:
        sink.close()
    source.close()
    compositor.close()
    close_segmenter()
    peak_kib = peak_rss_kib()
    return {
        "engine": engine, "width": width, "height": height, "frames": frames, "warmup": warmup,
        "stages": {stage: summarise(values) for stage, values in samples.items()},
        "frame": summarise(totals),
        "fps": frames / wall,
        "cpu_ms_per_frame": cpu * 1000.0 / frames,
        "peak_rss_mib": peak_kib / 1024.0,
        "model_runs": model_runs,
        "opencv_threads": cv2.getNumThreads(),
        "versions": _versions(),
        **info,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    result = run(json.loads(argv[0]))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
