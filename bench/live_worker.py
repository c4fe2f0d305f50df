"""Runs ONE live configuration, as on a call, in this (fresh) process.

    python -m bench.live_worker '<json config>'

The clip is played like a camera: PacedSource releases its frames at the frame clock (30 FPS) and
LatestFrameSource keeps only the newest, so a slow pipeline drops frames instead of falling behind,
as with a webcam. Each frame goes capture -> pipeline (app/pipeline.py, AppSettings' matte and
background, the given model schedule) -> sink, and is timed from its capture time (the time it was
due on the frame clock) to its hand-off to the sink. CPU time is this process's (all its threads:
decoding, the model's thread pool, the encoder), over the measured wall time: cores busy.

Engine "mediapipe" puts MediaPipe's selfie segmenter (run it in the teacher venv) in the segmenter's
place, behind the same pipeline, so it gets the same matte, compositor and, when asked, the same
motion gating. Prints one JSON line. A "matte" entry changes the app's matte settings, e.g.
{"matte": {"edge_mode": "guided"}} to compare an edge mode in a live run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from app.capture import LatestFrameSource, PacedSource, VideoFileSource
from app.compositing import Compositor
from app.livestats import LatencyRecorder
from app.matting import MatteRefiner
from app.pipeline import Pipeline
from app.scheduling import ScheduleSettings
from app.segmentation import DEFAULT_MODEL_PATH, Segmenter
from app.settings import AppSettings
from app.sinks import BackgroundSink, FileSink, VirtualCameraSink
from bench.pipeline_worker import _versions, peak_rss_kib


class TimedSource(VideoFileSource):
    """The clip, counting its reads, so the camera stand-in's decoding can be told from the
    pipeline's cost: a webcam's MJPG decoding costs CPU too, but not the same. FFmpeg decodes on
    threads of its own, so the reading thread's thread_time saw a quarter of it (0.5 of 1.9 ms a
    720p frame); the cost per read is measured on its own instead (decode_cpu_ms_per_read)."""

    reads = 0

    def read(self):
        self.reads += 1
        return super().read()


def decode_cpu_ms_per_read(path: str, frames: int = 60) -> float:
    """Process CPU time per frame to decode the clip, nothing else running in this process."""
    source = VideoFileSource(path, loop=True)
    source.read()  # opening and the first frame are not part of a live run
    start = time.process_time()
    for _ in range(frames):
        source.read()
    cost = (time.process_time() - start) * 1000.0 / frames
    source.close()
    return cost


class MediaPipeSegmenter:
    """MediaPipe's selfie segmenter with the Segmenter interface the pipeline calls: preprocess
    gives the RGB frame and its rectangle, infer the full-size mask (MediaPipe resizes inside, so
    preprocess's size and pyramid, which a Segmenter scales with, are not used)."""

    def __init__(self, model_selection: int = 0) -> None:
        import mediapipe as mp
        self._solution = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model_selection)

    def preprocess(self, frame_bgr: np.ndarray, size: int | None = None, pyramid=None):
        height, width = frame_bgr.shape[:2]
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), (0, 0, width, height)

    def infer(self, rgb: np.ndarray, rect) -> np.ndarray:
        return np.asarray(self._solution.process(rgb).segmentation_mask, np.float32)

    def close(self) -> None:
        self._solution.close()


def build_pipeline(config: dict, settings: AppSettings) -> tuple[Pipeline, object]:
    schedule = ScheduleSettings(**config["schedule"]) if config.get("schedule") else settings.schedule_settings()
    if config.get("engine", "portraitcam") == "mediapipe":
        segmenter = MediaPipeSegmenter(int(config.get("model_selection", 0)))
    else:
        segmenter = Segmenter(config.get("model") or DEFAULT_MODEL_PATH,
                              threads=config.get("threads") or settings.threads or None)
    compositor = Compositor()
    settings.apply_background(compositor)
    # "matte": changes to the app's matte settings (e.g. {"edge_mode": "guided"}), for a comparison.
    matte = dataclasses.replace(settings.matte_settings(), **config.get("matte", {}))
    return Pipeline(segmenter, MatteRefiner(matte), compositor, schedule=schedule), segmenter


def run(config: dict) -> dict:
    settings = AppSettings()
    decode_ms = decode_cpu_ms_per_read(config["clip"])
    fps = float(config.get("fps", 30.0))
    warmup, frames = int(config.get("warmup", 15)), int(config["frames"])
    pipeline, segmenter = build_pipeline(config, settings)
    clip = TimedSource(config["clip"], loop=True)
    paced = PacedSource(clip, fps=fps)
    source = LatestFrameSource(paced)
    width, height = source.size
    sink = None
    if config.get("sink", "file") == "file":
        out_dir = Path(config.get("out_dir") or tempfile.mkdtemp(prefix="portraitcam-live-"))
        sink = BackgroundSink(FileSink(out_dir / f"live_{os.getpid()}.mp4", width, height, fps))
    elif config.get("sink") == "vcam":
        sink = VirtualCameraSink(width, height, fps)
    latency = LatencyRecorder()
    processing: list[float] = []
    handoffs: list[float] = []
    runs_before = dropped_before = 0
    cpu_start = wall_start = 0.0
    for index in range(warmup + frames):
        if index == warmup:
            cpu_start, wall_start = time.process_time(), time.monotonic()
            runs_before, dropped_before = pipeline.model_runs, source.dropped + paced.missed
            reads_before = clip.reads
        frame = source.read()
        started = time.monotonic()
        output, _ = pipeline.process(frame)
        if pipeline.last_error:
            raise RuntimeError(f"pipeline failed: {pipeline.last_error}")
        handed = time.monotonic()
        if sink is not None:
            sink.send(output)
        if index >= warmup:
            latency.add(source.captured_at, handed)
            handoffs.append(handed)
            processing.append((handed - started) * 1000.0)
    wall = time.monotonic() - wall_start
    cpu = time.process_time() - cpu_start
    decode = decode_ms * (clip.reads - reads_before) / 1000.0  # seconds of CPU
    # Frames the pipeline had no time for, and ticks even the reader missed (decoding too slow).
    model_runs, dropped = pipeline.model_runs - runs_before, source.dropped + paced.missed - dropped_before
    source.close()
    if sink is not None:
        sink.close()
    pipeline.compositor.close()
    if hasattr(segmenter, "close"):
        segmenter.close()
    p50, p95 = latency.p50_p95()
    return {
        "engine": config.get("engine", "portraitcam"), "width": width, "height": height,
        "schedule": config.get("schedule") or settings.schedule_settings().__dict__,
        "frames": frames, "wall_s": wall, "dropped": dropped,
        # From the hand-off times (n - 1 intervals), so a frame waiting when the clock started does not count.
        "delivered_fps": (len(handoffs) - 1) / max(handoffs[-1] - handoffs[0], 1e-9),
        "cpu_ms_per_frame": cpu * 1000.0 / frames, "cores_busy": cpu / wall,
        "decode_cores": decode / wall, "pipeline_cores": (cpu - decode) / wall,
        "model_runs": model_runs, "model_runs_per_s": model_runs / wall,
        "latency_p50_ms": p50, "latency_p95_ms": p95,
        "processing_ms_mean": float(np.mean(processing)),
        "peak_rss_mib": peak_rss_kib() / 1024.0, "versions": _versions(),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(run(json.loads(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
