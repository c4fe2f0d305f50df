"""The segmentation models alone, at their native input sizes, in this (fresh) process.

    python -m bench.model_worker '<json config>'

Engine "onnx": each entry of config["variants"] (model file, intra-op threads, graph optimisation,
thread spinning) gets an onnxruntime session set up like app.segmentation.Segmenter's and runs a
real frame preprocessed by the app (long side 224, content only for a dynamic-size model). Engine "mediapipe" (teacher venv): SelfieSegmentation.process on
an RGB image already at the model's input size (256x256 general, 256x144 landscape), so MediaPipe's
resize is a no-op. Prints one JSON line: median/p95 ms and CPU ms per run for each variant.
"""
from __future__ import annotations

import gc
import json
import sys
import time

import cv2

from bench.stats import iou, summarise

GRAPH_OPTIMIZATION = ("disabled", "basic", "extended", "all")
MEDIAPIPE_INPUT_SIZES = {0: (256, 256), 1: (256, 144)}  # (width, height) of the bundled tflite files


def _time_calls(call, warmup: int, runs: int) -> dict:
    for _ in range(warmup):
        call()
    samples = []
    cpu_start = time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    cpu = time.process_time() - cpu_start
    return {**summarise(samples), "cpu_ms_per_run": cpu * 1000.0 / runs}


def onnx_session(model_path: str, threads: int, graph_optimization: str = "all", spinning: bool = True):
    import onnxruntime as ort
    levels = dict(zip(GRAPH_OPTIMIZATION, (ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                           ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                           ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                           ort.GraphOptimizationLevel.ORT_ENABLE_ALL)))
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = levels[graph_optimization]
    options.log_severity_level = 3
    if not spinning:
        # Worker threads sleep instead of busy-waiting between runs: less CPU, a little latency.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])


def run_onnx(config: dict) -> list[dict]:
    from app.segmentation import Segmenter
    frame = cv2.imread(config["frame"], cv2.IMREAD_COLOR)
    # The app's own letterbox, so every variant sees exactly what it would see in the app.
    tensor = Segmenter(config["variants"][0]["model"], threads=1).preprocess(frame)[0]
    gc.collect()
    results = []
    for variant in config["variants"]:
        entry = dict(variant, input="x".join(str(d) for d in tensor.shape))
        try:
            session = onnx_session(variant["model"], variant.get("threads", 1),
                                   variant.get("graph_optimization", "all"), variant.get("spinning", True))
            name = session.get_inputs()[0].name
            entry.update(_time_calls(lambda: session.run(None, {name: tensor}),
                                     config.get("warmup", 10), config["runs"]))
            del session
        except Exception as exc:  # a variant the CPU provider cannot run is reported, not fatal
            entry["error"] = " ".join(str(exc).split())[:300]
        gc.collect()
        results.append(entry)
    return results


def run_mediapipe(config: dict) -> list[dict]:
    import mediapipe as mp
    frame = cv2.imread(config["frame"], cv2.IMREAD_COLOR)
    results = []
    for selection in config.get("model_selections", (0, 1)):
        width, height = MEDIAPIPE_INPUT_SIZES[selection]
        rgb = cv2.cvtColor(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=selection) as solution:
            entry = {"model_selection": selection, "input": f"{width}x{height}"}
            entry.update(_time_calls(lambda: solution.process(rgb), config.get("warmup", 10), config["runs"]))
            truth = config.get("ground_truth")
            if truth:
                # Accuracy context for the speed figures: the peer's mask on the held-out portrait.
                image = cv2.cvtColor(cv2.imread(truth[0], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                mask = cv2.imread(truth[1], cv2.IMREAD_GRAYSCALE)
                predicted = solution.process(image).segmentation_mask
                if mask.shape != predicted.shape:
                    mask = cv2.resize(mask, predicted.shape[::-1], interpolation=cv2.INTER_NEAREST)
                entry["iou_vs_ground_truth"] = iou(predicted, mask.astype("float32") / 255.0)
        results.append(entry)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    config = json.loads(argv[0])
    runner = run_mediapipe if config.get("engine") == "mediapipe" else run_onnx
    print(json.dumps({"engine": config.get("engine", "onnx"), "results": runner(config)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
