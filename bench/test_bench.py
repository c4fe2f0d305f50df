"""Checks of the benchmark's own logic (run: python -m pytest bench). Not timing assertions."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from bench import report, stronger_peers
from bench.clips import PORTRAIT, prepare_clips
from bench.run import run_worker
from bench.stats import edge_abs_diff, iou, summarise


def test_summarise_median_and_p95():
    summary = summarise(range(1, 101))
    assert summary["median"] == pytest.approx(50.5)
    assert summary["p95"] == pytest.approx(95.05)
    assert summary["n"] == 100
    assert np.isnan(summarise([])["median"])


def test_iou_thresholds_soft_masks():
    a = np.array([[0.9, 0.9, 0.1, 0.1]], np.float32)
    b = np.array([[0.9, 0.2, 0.8, 0.1]], np.float32)
    assert iou(a, b) == pytest.approx(1 / 3)
    assert iou(a, a) == 1.0
    assert iou(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0


def _row(label, group, cpu, fps, p95, changed=None):
    return {"label": label, "group": group, "cpu_ms_per_frame": cpu, "fps": fps,
            "frame": {"median": p95 * 0.8, "p95": p95, "n": 10}, "changed": changed or {},
            "stages": {}}


DEFAULTS = {"threads": 1, "graph_optimization": "all", "work_height": 360, "model_every_n": 1,
            "edge_mode": "guided", "opencv_pool": False, "model": "fp32"}
GOOD = {"iou_vs_reference_mean": 0.99, "iou_vs_reference_min": 0.97, "iou_vs_ground_truth": 0.90,
        "edge_alpha_diff": 0.05}
QUALITY = {
    "models": {"fp32": {**GOOD, "iou_vs_reference_mean": 1.0}, "int8_static": GOOD,
               "fp16": {**GOOD, "iou_vs_reference_mean": 0.90}},
    "matte": {"reference": GOOD, "defaults": GOOD, "work_height=240": GOOD, "work_height=180": GOOD,
              "model_every_n=2": {**GOOD, "iou_vs_ground_truth": 0.80},
              "edge_mode=gaussian": {**GOOD, "edge_alpha_diff": 0.08}},
}


def test_recommend_takes_cheapest_option_that_keeps_quality_and_speed():
    rows = [
        _row("PortraitCam 720p", "main", cpu=30.0, fps=30.0, p95=40.0),
        _row("wh240", "option", 27.0, 31.0, 39.0, {"work_height": 240}),
        _row("wh180", "option", 25.0, 32.0, 38.0, {"work_height": 180}),
        _row("int8", "option", 29.5, 30.0, 40.0, {"model": "int8_static"}),     # inside the noise
        _row("fp16", "option", 20.0, 40.0, 30.0, {"model": "fp16"}),            # fails IoU vs fp32
        _row("every2", "option", 18.0, 45.0, 40.0, {"model_every_n": 2}),       # fails ground truth
        _row("threads2", "option", 24.0, 20.0, 40.0, {"threads": 2}),           # loses FPS
        _row("gaussian", "option", 19.0, 40.0, 30.0, {"edge_mode": "gaussian"}),  # softer edges
    ]
    candidates = report.recommend(rows, QUALITY, DEFAULTS)["candidates"]
    assert [(c["key"], c["value"]) for c in candidates] == [("work_height", 180)]


def test_recommend_uses_the_better_defaults_measurement_as_baseline():
    rows = [
        _row("PortraitCam 720p", "main", cpu=40.0, fps=30.0, p95=40.0),
        _row(report.DEFAULTS_REPEAT_LABEL, "option-repeat", cpu=30.0, fps=30.0, p95=40.0),
        _row("wh240", "option", 29.0, 30.0, 40.0, {"work_height": 240}),  # beats 40, not 30
    ]
    assert report.recommend(rows, QUALITY, DEFAULTS)["candidates"] == []


def test_combine_keeps_only_options_that_hold_quality_together():
    candidates = [{"key": "model_every_n", "value": 2, "saving": 0.3, "reason": "a"},
                  {"key": "threads", "value": 2, "saving": 0.2, "reason": "b"},
                  {"key": "work_height", "value": 180, "saving": 0.1, "reason": "c"}]
    evaluated = []

    def evaluate(settings):
        evaluated.append(dict(settings))
        # every 2nd frame is fine alone; with the smaller matte on top the edges drift too far
        both = settings["model_every_n"] == 2 and settings["work_height"] == 180
        return {**GOOD, "edge_alpha_diff": 0.09 if both else 0.05}

    result = report.combine(candidates, DEFAULTS, evaluate, QUALITY["matte"]["defaults"])
    assert result["changed"] == {"model_every_n": 2, "threads": 2}
    assert "work_height" in result["rejected"]
    assert len(evaluated) == 2  # threads changes no arithmetic, so it needs no quality run


def test_edge_abs_diff_looks_only_at_the_soft_band():
    hard = np.zeros((20, 20), np.float32)
    hard[:, 10:] = 1.0
    soft = hard.copy()
    soft[:, 9:11] = 0.5
    assert edge_abs_diff(hard, hard) == 0.0  # no soft band at all
    assert 0.1 < edge_abs_diff(soft, hard) < 0.5  # the band (plus margin), not the whole frame
    assert edge_abs_diff(soft, hard) > np.abs(soft - hard).mean() * 3


def test_config_delta_maps_settings_to_worker_config():
    settings = {**DEFAULTS, "model": "int8_static", "opencv_pool": True, "work_height": 240}
    delta = report.config_delta(settings, DEFAULTS, {"int8_static": {"path": "/m/int8.onnx"}})
    assert delta == {"model": "/m/int8.onnx", "opencv_pool": True, "work_height": 240}


@pytest.mark.skipif(not PORTRAIT.is_file(), reason="needs assets/samples/portrait.jpg")
def test_pipeline_worker_measures_every_stage(tmp_path):
    import sys
    clip = prepare_clips(PORTRAIT, 6, {"small": (320, 240)}, cache_dir=tmp_path)["small"]
    result = run_worker(sys.executable, "bench.pipeline_worker",
                        {"clip": str(clip), "frames": 4, "warmup": 2, "model_every_n": 2,
                         "out_dir": str(tmp_path)})
    assert "error" not in result, result.get("error")
    assert (result["width"], result["height"]) == (320, 240)
    assert result["frames"] == 4 and result["model_runs"] == 2
    for stage in report.STAGES:
        expected = 2 if stage in ("preprocess", "inference") else 4
        assert result["stages"][stage]["n"] == expected, stage
    assert result["cpu_ms_per_frame"] > 0 and result["peak_rss_mib"] > 50
    assert json.dumps(result)  # plain JSON all the way down


def test_live_clips_still_is_stabilised_and_moving_moves(tmp_path):
    import cv2

    from bench.clips import moving_frames, stabilised_frames
    # A "hand-held" sequence: a textured picture shifted by a known amount each frame.
    rng = np.random.default_rng(0)
    room = cv2.GaussianBlur(rng.integers(0, 256, (200, 260, 3), dtype=np.uint8), (0, 0), 2)
    shaky = [np.ascontiguousarray(room[10 + d:130 + d, 10 + d:170 + d]) for d in (0, 2, 4, 3, 1)]
    steady = stabilised_frames(shaky)
    middle = (slice(30, 90), slice(40, 120))
    drift = [np.abs(f[middle].astype(int) - steady[0][middle].astype(int)).mean() for f in steady[1:]]
    shake = [np.abs(f[middle].astype(int) - shaky[0][middle].astype(int)).mean() for f in shaky[1:]]
    assert max(drift) < 0.3 * min(shake)  # the camera's motion is taken out
    moved = moving_frames([steady[0]] * 20)
    assert np.abs(moved[10].astype(int) - moved[0].astype(int)).mean() > 10  # and simulated motion added


def test_live_clips_have_the_size_they_are_named_for(tmp_path):
    import cv2

    from bench.clips import prepare_live_clips
    sizes = {"small": (160, 120), "wide": (320, 180)}  # neither is the source's own size
    clips = prepare_live_clips(PORTRAIT, 4, sizes, cache_dir=tmp_path)
    for scenario in ("still", "moving"):
        for name, (width, height) in sizes.items():
            capture = cv2.VideoCapture(str(clips[scenario][name]))
            ok, frame = capture.read()
            capture.release()
            assert ok and frame.shape[:2] == (height, width), (scenario, name)


def test_live_worker_paces_and_measures_latency(tmp_path):
    import sys

    from bench.clips import prepare_live_clips
    clips = prepare_live_clips(PORTRAIT, 12, {"small": (320, 240)}, cache_dir=tmp_path)
    start = __import__("time").monotonic()
    result = run_worker(sys.executable, "bench.live_worker",
                        {"clip": str(clips["still"]["small"]), "frames": 8, "warmup": 2, "fps": 10,
                         "sink": "none"})
    assert "error" not in result, result.get("error")
    assert result["frames"] == 8 and result["wall_s"] >= 0.5  # 8 frames at 10 FPS: paced, not flat out
    assert result["delivered_fps"] <= 10.5
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"]
    assert 0 < result["pipeline_cores"] < result["cores_busy"] and result["decode_cores"] > 0
    assert result["model_runs"] <= 2  # a still picture: the gate holds the mask
    assert __import__("time").monotonic() - start < 120
    assert json.dumps(result)


def test_live_worker_takes_matte_changes():
    """A "matte" entry changes the app's matte settings for the run (to compare edge modes live);
    without one the pipeline has the app's own."""
    from app.settings import AppSettings
    from bench.live_worker import build_pipeline

    pipeline, _ = build_pipeline({"matte": {"edge_mode": "guided", "feather": 4.0}}, AppSettings())
    assert (pipeline.refiner.settings.edge_mode, pipeline.refiner.settings.feather) == ("guided", 4.0)
    pipeline, _ = build_pipeline({}, AppSettings())
    assert pipeline.refiner.settings == AppSettings().matte_settings().clamped()


def test_live_report_names_the_cpu_and_every_row():
    from bench.live import render
    row = {"label": "PortraitCam, defaults (motion-gated)", "scenario": "still", "resolution": "720p",
           "cores_busy": 0.11, "pipeline_cores": 0.08, "model_runs_per_s": 3.2, "delivered_fps": 30.0, "dropped": 0,
           "latency_p50_ms": 12.0, "latency_p95_ms": 20.5, "cpu_ms_per_frame": 3.7}
    text = render({"rows": [row, {**row, "scenario": "moving", "error": "exit 1: boom"}], "flat": [],
                   "quality": {"moving": {"frames": 300, "model_runs": 300, "iou_mean": 1.0, "iou_p5": 1.0,
                                          "iou_min": 0.999}}},
                  {"cpu": "Test CPU 9000", "cores": 2, "training": False, "load": 0.1, "frames": 300,
                   "warmup": 30, "sink": "file", "command": "python -m bench.live"})
    assert "Test CPU 9000" in text and "| 0.11 | 0.08 | 3.2 | 30.0 | 0 | 12.0 / 20.5 | 3.7 |" in text
    assert "failed: exit 1: boom" in text and "| moving | 300 | 300 | 1.0000 |" in text
    assert "720p30: 0.11 core (0.08 without decoding) ≤ 0.12: met; 3.2 model runs/s ≤ 5: met" in text
    assert "latency p95, still, 720p30: 20.5 ms ≤ 33: met" in text and "moving speaker" not in text.split("targets")[-1]


def test_repeated_live_runs_merge_into_one_row():
    from bench.live import mean_of_runs, merge_runs
    run = {"cores_busy": 0.2, "pipeline_cores": 0.15, "cpu_ms_per_frame": 7.0, "model_runs_per_s": 4.0,
           "delivered_fps": 30.0, "latency_p50_ms": 4.0, "latency_p95_ms": 16.0, "dropped": 1}
    merged = merge_runs([run, {**run, "cores_busy": 0.3, "latency_p95_ms": 20.0, "dropped": 2}])
    assert merged["cores_busy"] == pytest.approx(0.25) and merged["cores_busy_runs"] == [0.2, 0.3]
    assert merged["latency_p95_ms"] == 20.0 and merged["dropped"] == 3  # the worse run, all drops
    assert merge_runs([run, {"error": "boom"}]) == {"error": "boom"}
    flat = mean_of_runs([{"fps": 90.0, "cpu_ms_per_frame": 19.0}, {"fps": 94.0, "cpu_ms_per_frame": 20.0}],
                        ("fps", "cpu_ms_per_frame"))
    assert flat["fps"] == pytest.approx(92.0) and flat["fps_runs"] == [90.0, 94.0]


def test_steady_edges_bench_runs_both_settings_through_the_app():
    """bench.steady_edges times the app's own pipeline with the option off and on: both passes run
    the real model over real frames (a crash or a skipped option would not time anything)."""
    from app.resources import SAMPLE_CLIP
    from app.segmentation import DEFAULT_MODEL_PATH, Segmenter
    from bench.clips import read_frames
    from bench.steady_edges import WARM_UP, cpu_ms_per_frame

    frames = [cv2.resize(f, (640, 360)) for f in read_frames(SAMPLE_CLIP, WARM_UP + 6)]
    segmenter = Segmenter(DEFAULT_MODEL_PATH, threads=1)
    (off, plain, _), (on, steady, _) = (cpu_ms_per_frame(frames, segmenter, steady=flag) for flag in (False, True))
    assert off > 0 and on > 0
    assert plain.smoother._alpha is None and steady.smoother._alpha is not None  # the option, and only it


def test_learned_edges_bench_compares_the_plain_filter_with_the_learned_edge():
    """bench.steady_edges --option learned-edges: the "off" pass runs the plain guided filter, the
    "on" pass the learned edge (the same model, frames and softness), and the learned pass's matte
    differs (its weights are loaded and used)."""
    from app.resources import SAMPLE_CLIP
    from app.segmentation import DEFAULT_MODEL_PATH, Segmenter
    from bench.clips import read_frames
    from bench.steady_edges import LEARNED_EDGE, PLAIN_EDGE, WARM_UP, cpu_ms_per_frame

    frames = [cv2.resize(f, (640, 360)) for f in read_frames(SAMPLE_CLIP, WARM_UP + 4)]
    segmenter = Segmenter(DEFAULT_MODEL_PATH, threads=1)
    _, plain, _ = cpu_ms_per_frame(frames, segmenter, False, PLAIN_EDGE)
    _, learned, _ = cpu_ms_per_frame(frames, segmenter, False, LEARNED_EDGE)
    assert (plain.refiner.settings.edge_mode, plain.refiner.settings.softness) == ("guided", 0.15)
    assert (learned.refiner.settings.edge_mode, learned.refiner.settings.softness) == ("learned", 0.15)
    assert learned.refiner.edge_model is not None
    assert not np.array_equal(plain.last_alpha, learned.last_alpha)


def test_stronger_peers_say_what_is_missing_instead_of_fetching(tmp_path):
    """Without the TF.js packages or the models, bench/stronger_peers.py reports why (and how to get
    them) rather than running npm; the report turns that into a row, not a crash."""
    result = stronger_peers.measure(tmp_path / "frame.png", runs=1, node_dir=tmp_path / "node",
                                    models_dir=tmp_path / "models")
    assert "error" in result and "training/labels.py" in result["error"]
    (tmp_path / "node" / "node_modules" / "@tensorflow" / "tfjs-backend-wasm").mkdir(parents=True)
    why = stronger_peers.missing(tmp_path / "node", tmp_path / "models")
    if why != "Node is not installed":
        assert "rvm.json" in why and "meet.bin" in why
    table = "\n".join(report._model_table(None, None, {}, result))
    assert "RVM, Google Meet | | not measured:" in table


@pytest.mark.skipif(stronger_peers.missing() is not None,
                    reason="Node, TF.js or the RVM/Meet models are not on this machine (training/labels.py)")
def test_stronger_peers_time_rvm_and_meet_in_node(tmp_path):
    """Both peers run in Node on a real frame and come back as table rows with their input."""
    frame = cv2.resize(cv2.imread(str(PORTRAIT)), (320, 180), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    result = stronger_peers.measure(tmp_path / "frame.png", runs=1)
    assert "error" not in result, result.get("error")
    assert [entry["model"] for entry in result["results"]] == ["rvm", "meet"]
    assert result["results"][0]["input"].startswith("320x180 RGB, base 320 px")  # smaller than 512: as is
    for entry in result["results"]:
        assert 0 < entry["median"] <= entry["p95"] and entry["cpu_ms_per_run"] > 0
    table = "\n".join(report._model_table(None, None, {}, result))
    assert "| RVM (MobileNetV3), TF.js WASM in Node, 1 thread | 320x180 RGB" in table
