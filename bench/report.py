"""Turns the workers' measurements into the recommendation and the Markdown report (bench/RESULTS.md)."""
from __future__ import annotations

import math

STAGES = ("capture", "preprocess", "inference", "matte", "composite", "output")

# Targets from the speed issue ("faster than the MediaPipe pipeline at every resolution, on half a
# core"); reported against, never asserted.
TARGET_FPS = 30.0                 # the rate cores are counted at
TARGET_RATIO = 1.2                # end-to-end FPS, PortraitCam / MediaPipe, same run, each resolution
TARGET_CORES = 0.5                # 1280x720 at 30 FPS
TARGET_P95_MS = 20.0              # 1280x720
TARGET_FPS_1080P = 40.0           # 1920x1080 flat out
TARGET_MODEL_MS = 5.0             # PortraitNet alone, median per frame
RESOLUTIONS = ("480p", "720p", "1080p")

# "Keeps quality". Exports (int8/fp16): their masks agree with the fp32 model's at IoU >= this on
# average, and lose at most MAX_GROUND_TRUTH_DROP IoU on the sample portrait's reference mask.
MIN_IOU_VS_REFERENCE = 0.98
MAX_GROUND_TRUTH_DROP = 0.005
# Matte options (and the exports run through the matte stage): no worse than the app's current
# defaults, both measured against the full-resolution, every-frame fp32 matte, by more than these,
# and the same MAX_GROUND_TRUTH_DROP on the portrait.
MAX_IOU_LOSS_VS_DEFAULTS = 0.01      # mean over the clip
MAX_WORST_IOU_LOSS_VS_DEFAULTS = 0.02  # worst frame: catches lag on fast motion
MAX_EDGE_DIFF_GAIN = 0.02            # 2 % alpha on edge pixels
# An option must save at least this share of CPU time per frame to beat the default (smaller
# differences are within run-to-run noise on shared cores)...
MIN_CPU_SAVING = 0.05
# ...without losing throughput or latency beyond noise.
MAX_FPS_LOSS = 0.05
MAX_P95_GAIN = 0.10

# Option key -> where its quality figures live ("neutral": same arithmetic, nothing to measure).
NEUTRAL_KEYS = ("threads", "graph_optimization", "opencv_pool")
# Where each setting lives in the app, for the recommendation.
SETTING_HOMES = {
    "threads": "AppSettings.threads / Segmenter(threads=)",
    "graph_optimization": "Segmenter(graph_optimization=)",
    "work_height": "MatteSettings.work_height",
    "model_every_n": "AppSettings.model_every_n",
    "edge_mode": "AppSettings.edge_mode / MatteSettings.edge_mode",
    "opencv_pool": "app/imaging.SINGLE_THREAD_MAX_PIXELS (0: OpenCV's thread pool at every frame size)",
    "model": "models/portraitnet.onnx (ship the export: python -m bench.variants NAME --out ...)",
}
DEFAULTS_LABEL = "PortraitCam 720p"
DEFAULTS_REPEAT_LABEL = "app defaults, measured again after the sweep"


def cores_at(cpu_ms_per_frame: float, fps: float = TARGET_FPS) -> float:
    """Cores kept busy when frames arrive at `fps` and each costs cpu_ms_per_frame."""
    return cpu_ms_per_frame * fps / 1000.0


def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _cell(summary: dict | None) -> str:
    if not summary or not summary.get("n"):
        return "–"
    return f"{summary['median']:.1f} / {summary['p95']:.1f}"


def _find(rows: list[dict], label: str) -> dict | None:
    return next((r for r in rows if r.get("label") == label and "error" not in r), None)


def _defaults_baseline(rows: list[dict]) -> dict | None:
    """The better of the two measurements of the defaults (the conservative baseline to beat)."""
    candidates = [r for r in (_find(rows, DEFAULTS_LABEL), _find(rows, DEFAULTS_REPEAT_LABEL)) if r]
    return min(candidates, key=lambda r: r["cpu_ms_per_frame"]) if candidates else None


# --- recommendation ---------------------------------------------------------------------------
def option_quality(changed: dict, quality: dict) -> dict | None:
    """The quality entry measured for a one-setting change (None: quality-neutral or unmeasured)."""
    (key, value), = changed.items()
    if key in NEUTRAL_KEYS:
        return None
    if key == "model":
        return quality.get("models", {}).get(value)
    return quality.get("matte", {}).get(f"{key}={value}")


def _matte_limits(entry: dict, defaults: dict | None) -> tuple[bool, str]:
    if defaults is None:
        return False, "defaults' quality not measured"
    if entry["iou_vs_reference_mean"] < defaults["iou_vs_reference_mean"] - MAX_IOU_LOSS_VS_DEFAULTS:
        return False, (f"IoU vs reference {entry['iou_vs_reference_mean']:.3f}, defaults "
                       f"{defaults['iou_vs_reference_mean']:.3f}")
    if entry["iou_vs_reference_min"] < defaults["iou_vs_reference_min"] - MAX_WORST_IOU_LOSS_VS_DEFAULTS:
        return False, (f"worst-frame IoU vs reference {entry['iou_vs_reference_min']:.3f}, defaults "
                       f"{defaults['iou_vs_reference_min']:.3f}")
    if entry["edge_alpha_diff"] > defaults["edge_alpha_diff"] + MAX_EDGE_DIFF_GAIN:
        return False, f"edge alpha diff {entry['edge_alpha_diff']:.3f}, defaults {defaults['edge_alpha_diff']:.3f}"
    if "iou_vs_ground_truth" in entry and "iou_vs_ground_truth" in defaults:
        drop = defaults["iou_vs_ground_truth"] - entry["iou_vs_ground_truth"]
        if drop > MAX_GROUND_TRUTH_DROP:
            return False, f"portrait IoU drops {drop:.3f} > {MAX_GROUND_TRUTH_DROP}"
    return True, "within limits"


def keeps_quality(changed: dict, quality: dict) -> tuple[bool, str]:
    (key, _), = changed.items()
    if key in NEUTRAL_KEYS:
        return True, "same arithmetic"
    entry = option_quality(changed, quality)
    if entry is None:
        return False, "quality not measured"
    matte_defaults = quality.get("matte", {}).get("defaults")
    if key != "model":
        return _matte_limits(entry, matte_defaults)
    if entry["iou_vs_reference_mean"] < MIN_IOU_VS_REFERENCE:
        return False, f"IoU vs fp32 {entry['iou_vs_reference_mean']:.3f} < {MIN_IOU_VS_REFERENCE}"
    reference = quality.get("models", {}).get("fp32")
    if "iou_vs_ground_truth" in entry and reference and "iou_vs_ground_truth" in reference:
        drop = reference["iou_vs_ground_truth"] - entry["iou_vs_ground_truth"]
        if drop > MAX_GROUND_TRUTH_DROP:
            return False, f"portrait IoU drops {drop:.3f} > {MAX_GROUND_TRUTH_DROP}"
    # The export's masks through the whole matte stage, so softer or shifted edges count too.
    matte_entry = quality.get("matte", {}).get(f"model={changed['model']}")
    if matte_entry is None:
        return False, "matte quality not measured"
    return _matte_limits(matte_entry, matte_defaults)


def recommend(rows: list[dict], quality: dict, app_defaults: dict) -> dict:
    """Per setting, the value with the least CPU per frame that keeps quality and speed, alone.

    Each option was measured alone against the defaults at 720p; a value is a candidate only when it
    saves at least MIN_CPU_SAVING of the CPU time per frame, keeps quality, keeps FPS within
    MAX_FPS_LOSS and p95 frame latency within MAX_P95_GAIN. Candidates come largest saving first.
    """
    default = _defaults_baseline(rows)
    if default is None:
        return {"candidates": [], "note": "no measurement of the defaults at 720p"}
    best: dict[str, dict] = {}
    for row in rows:
        if row.get("group") != "option" or "error" in row:
            continue
        (key, value), = row["changed"].items()
        ok, why = keeps_quality(row["changed"], quality)
        saving = 1.0 - row["cpu_ms_per_frame"] / default["cpu_ms_per_frame"]
        fps_ok = row["fps"] >= default["fps"] * (1.0 - MAX_FPS_LOSS)
        p95_ok = row["frame"]["p95"] <= default["frame"]["p95"] * (1.0 + MAX_P95_GAIN)
        if ok and saving >= MIN_CPU_SAVING and fps_ok and p95_ok:
            if key not in best or saving > best[key]["saving"]:
                best[key] = {"key": key, "value": value, "saving": saving,
                             "reason": f"{saving:.0%} less CPU per frame alone, FPS {row['fps']:.1f} vs "
                                       f"{default['fps']:.1f}, quality {why}"}
    return {"candidates": sorted(best.values(), key=lambda c: -c["saving"])}


def combine(candidates: list[dict], app_defaults: dict, evaluate_matte, defaults_quality: dict) -> dict:
    """Add the candidates one by one, largest saving first, keeping each only if the settings so far
    still keep quality together (matte limits against the defaults' quality, defaults_quality).
    evaluate_matte(settings) -> matte quality entry for those settings."""
    settings = dict(app_defaults)
    accepted: dict[str, str] = {}
    rejected: dict[str, str] = {}
    entry = None
    for candidate in candidates:
        trial = {**settings, candidate["key"]: candidate["value"]}
        if candidate["key"] in NEUTRAL_KEYS:
            settings = trial
            accepted[candidate["key"]] = candidate["reason"]
            continue
        trial_entry = evaluate_matte(trial)
        ok, why = _matte_limits(trial_entry, defaults_quality)
        if ok:
            settings, entry = trial, trial_entry
            accepted[candidate["key"]] = candidate["reason"]
        else:
            rejected[candidate["key"]] = f"{candidate['value']}: fails together with the others ({why})"
    changed = {k: v for k, v in settings.items() if v != app_defaults.get(k)}
    return {"settings": settings, "changed": changed, "reasons": accepted, "rejected": rejected,
            "quality": entry}


def config_delta(settings: dict, app_defaults: dict, variant_files: dict) -> dict:
    """Worker config keys that apply the recommended settings (every option is a config key)."""
    return {key: variant_files[value]["path"] if key == "model" else value
            for key, value in settings.items() if value != app_defaults.get(key)}


# --- Markdown ---------------------------------------------------------------------------------
def _pipeline_table(rows: list[dict]) -> list[str]:
    lines = ["| configuration | " + " | ".join(STAGES) + " | frame | FPS | CPU ms/frame | cores @30 FPS | peak MiB |",
             "|---|" + "---:|" * (len(STAGES) + 5)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['label']} | failed: {row['error']} |" + " |" * (len(STAGES) + 4))
            continue
        stages = " | ".join(_cell(row["stages"].get(stage)) for stage in STAGES)
        lines.append(f"| {row['label']} | {stages} | {_cell(row['frame'])} | {row['fps']:.1f} | "
                     f"{row['cpu_ms_per_frame']:.1f} | {cores_at(row['cpu_ms_per_frame']):.2f} | "
                     f"{row['peak_rss_mib']:.0f} |")
    return lines


def _segmentation_ms(row: dict) -> float:
    """Median preprocess + inference: MediaPipe resizes inside its inference call, PortraitCam before."""
    return row["stages"]["preprocess"]["median"] + row["stages"]["inference"]["median"]


def _ratio_table(rows: list[dict]) -> list[str]:
    lines = ["| resolution | frame median | frame p95 | FPS | CPU ms/frame | segmentation median | peak memory |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    found = False
    for row in rows:
        if row.get("group") != "main" or not row["label"].startswith("PortraitCam ") or "error" in row:
            continue
        name = row["label"].split()[-1]
        peer = _find(rows, f"MediaPipe {name}")
        if peer is None:
            continue
        found = True
        ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
        lines.append(
            f"| {name} | {ratio(row['frame']['median'], peer['frame']['median']):.2f} | "
            f"{ratio(row['frame']['p95'], peer['frame']['p95']):.2f} | {ratio(row['fps'], peer['fps']):.2f} | "
            f"{ratio(row['cpu_ms_per_frame'], peer['cpu_ms_per_frame']):.2f} | "
            f"{ratio(_segmentation_ms(row), _segmentation_ms(peer)):.2f} | "
            f"{ratio(row['peak_rss_mib'], peer['peak_rss_mib']):.2f} |")
    return lines if found else []


def _model_table(model_rows: dict | None, peer_model_rows: dict | None, quality: dict,
                 stronger: dict | None = None) -> list[str]:
    lines = ["| model | input | median ms | p95 ms | CPU ms/run | IoU vs portrait_mask.png |",
             "|---|---|---:|---:|---:|---:|"]
    portrait_iou = {name: entry.get("iou_vs_ground_truth") for name, entry in quality.get("models", {}).items()}
    for entry in (model_rows or {}).get("results", []):
        if "error" in entry:
            lines.append(f"| {entry['label']} | {entry.get('input', '')} | failed: {entry['error']} | | | |")
            continue
        variant = next((v for v in ("int8_static", "int8_encoder", "int8_dynamic", "fp16") if v in entry["label"]),
                       "shipped" if "as shipped" in entry["label"] else "fp32")
        lines.append(f"| {entry['label']} | {entry.get('input', '')} | {entry['median']:.2f} | {entry['p95']:.2f} | "
                     f"{entry['cpu_ms_per_run']:.2f} | {_fmt(portrait_iou.get(variant), 3)} |")
    if model_rows and "error" in model_rows:
        lines.append(f"| PortraitNet | | failed: {model_rows['error']} | | | |")
    names = {0: "MediaPipe selfie general (selfie_segmentation.tflite)",
             1: "MediaPipe selfie landscape (selfie_segmentation_landscape.tflite)"}
    for entry in (peer_model_rows or {}).get("results", []):
        lines.append(f"| {names[entry['model_selection']]}, mediapipe API | {entry['input']} RGB | "
                     f"{entry['median']:.2f} | {entry['p95']:.2f} | {entry['cpu_ms_per_run']:.2f} | "
                     f"{_fmt(entry.get('iou_vs_ground_truth'), 3)} |")
    if peer_model_rows and "error" in peer_model_rows:
        lines.append(f"| MediaPipe | | failed: {peer_model_rows['error']} | | | |")
    for entry in (stronger or {}).get("results", []):
        lines.append(f"| {entry['label']} | {entry['input']} | {entry['median']:.2f} | {entry['p95']:.2f} | "
                     f"{entry['cpu_ms_per_run']:.2f} | – |")
    if stronger and "error" in stronger:
        lines.append(f"| RVM, Google Meet | | not measured: {stronger['error']} | | | |")
    return lines


def _options_table(rows: list[dict], quality: dict) -> list[str]:
    default = _find(rows, DEFAULTS_LABEL)
    baseline = _defaults_baseline(rows)
    lines = ["| option (alone, vs defaults) | inference | matte | frame | FPS | CPU ms/frame | CPU vs defaults | "
             "IoU vs reference mean / min | edge Δα | IoU vs portrait_mask | keeps quality |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    if default:
        q = quality.get("matte", {}).get("defaults", {})
        lines.append(f"| **app defaults** | {_cell(default['stages']['inference'])} | {_cell(default['stages']['matte'])} | "
                     f"{_cell(default['frame'])} | {default['fps']:.1f} | {default['cpu_ms_per_frame']:.1f} | – | "
                     f"{_fmt(q.get('iou_vs_reference_mean'), 3)} / {_fmt(q.get('iou_vs_reference_min'), 3)} | "
                     f"{_fmt(q.get('edge_alpha_diff'), 3)} | {_fmt(q.get('iou_vs_ground_truth'), 3)} | (baseline) |")
    repeat = _find(rows, DEFAULTS_REPEAT_LABEL)
    if default and repeat:
        change = repeat["cpu_ms_per_frame"] / default["cpu_ms_per_frame"] - 1.0
        lines.append(f"| {DEFAULTS_REPEAT_LABEL} (noise check) | {_cell(repeat['stages']['inference'])} | "
                     f"{_cell(repeat['stages']['matte'])} | {_cell(repeat['frame'])} | {repeat['fps']:.1f} | "
                     f"{repeat['cpu_ms_per_frame']:.1f} | {change:+.0%} | – | – | – | – |")
    for row in rows:
        if row.get("group") != "option":
            continue
        if "error" in row:
            lines.append(f"| {row['label']} | failed: {row['error']} |" + " |" * 9)
            continue
        entry = dict(option_quality(row["changed"], quality) or {})
        if "model" in row["changed"]:  # edge figure from the export run through the matte stage
            matte_entry = quality.get("matte", {}).get(f"model={row['changed']['model']}", {})
            entry["edge_alpha_diff"] = matte_entry.get("edge_alpha_diff")
        ok, why = keeps_quality(row["changed"], quality)
        change = (row["cpu_ms_per_frame"] / baseline["cpu_ms_per_frame"] - 1.0) if baseline else float("nan")
        lines.append(
            f"| {row['label']} | {_cell(row['stages']['inference'])} | {_cell(row['stages']['matte'])} | "
            f"{_cell(row['frame'])} | {row['fps']:.1f} | {row['cpu_ms_per_frame']:.1f} | {change:+.0%} | "
            f"{_fmt(entry.get('iou_vs_reference_mean'), 3)} / {_fmt(entry.get('iou_vs_reference_min'), 3)} | "
            f"{_fmt(entry.get('edge_alpha_diff'), 3)} | {_fmt(entry.get('iou_vs_ground_truth'), 3)} | "
            f"{'yes' if ok else 'no'} ({why}) |")
    return lines


def _targets(rows: list[dict], model_rows: dict | None) -> list[str]:
    lines = ["| target | " + " | ".join(label for label in ("app defaults", "recommended")) + " |",
             "|---|---:|---:|"]
    measured = [_find(rows, DEFAULTS_LABEL), _find(rows, "recommended 720p")]

    def cells(fn) -> str:
        out = []
        for row in measured:
            if row is None:
                out.append("–")
                continue
            value, met = fn(row)
            out.append(f"{value} {'✅' if met else '❌'}")
        return " | ".join(out)

    for resolution in RESOLUTIONS:
        ours, peer = _find(rows, f"PortraitCam {resolution}"), _find(rows, f"MediaPipe {resolution}")
        if ours is None or peer is None:
            continue
        ratio = ours["fps"] / peer["fps"]
        # Only the defaults' row has a same-run peer; the recommended column stays empty here.
        lines.append(f"| {resolution}: FPS >= {TARGET_RATIO}x MediaPipe's (same run) | {ratio:.2f}x "
                     f"({ours['fps']:.1f} vs {peer['fps']:.1f} FPS) {'✅' if ratio >= TARGET_RATIO else '❌'} | – |")
    lines.append(f"| 1280x720: <= {TARGET_CORES} core busy at {TARGET_FPS:.0f} FPS | " + cells(
        lambda r: (f"{cores_at(r['cpu_ms_per_frame']):.2f} cores", cores_at(r["cpu_ms_per_frame"]) <= TARGET_CORES)) + " |")
    lines.append(f"| 1280x720: p95 frame latency <= {TARGET_P95_MS:.0f} ms | " + cells(
        lambda r: (f"{r['frame']['p95']:.1f} ms", r["frame"]["p95"] <= TARGET_P95_MS)) + " |")
    full_hd = _find(rows, "PortraitCam 1080p")
    if full_hd is not None:
        lines.append(f"| 1920x1080: >= {TARGET_FPS_1080P:.0f} FPS flat out | {full_hd['fps']:.1f} FPS "
                     f"{'✅' if full_hd['fps'] >= TARGET_FPS_1080P else '❌'} | – |")

    def model_ms(row: dict) -> tuple[str, bool]:
        per_run = row["stages"]["inference"]["median"]
        per_frame = per_run * row["model_runs"] / row["frames"]  # amortised when the model skips frames
        text = f"{per_run:.1f} ms" if row["model_runs"] == row["frames"] else \
            f"{per_run:.1f} ms a run, {per_frame:.1f} ms a frame"
        return text, per_frame <= TARGET_MODEL_MS

    lines.append(f"| PortraitNet <= {TARGET_MODEL_MS:.0f} ms per frame (inference median in the 720p pipeline) | "
                 + cells(model_ms) + " |")
    for resolution in ("480p", "1080p"):
        row = _find(rows, f"PortraitCam {resolution}")
        if row is not None:
            text, met = model_ms(row)
            lines.append(f"| PortraitNet <= {TARGET_MODEL_MS:.0f} ms per frame, {resolution} pipeline | "
                         f"{text} {'✅' if met else '❌'} | – |")
    return lines


def render(context: dict, rows: list[dict], model_rows: dict | None, peer_model_rows: dict | None,
           quality: dict, recommendation: dict | None) -> str:
    m = context["machine"]
    main_versions = next((r["versions"] for r in rows if r.get("engine") == "portraitcam" and "versions" in r
                          and "mediapipe" not in r["versions"]), {})
    peer_versions = next((r["versions"] for r in rows if r.get("engine") == "mediapipe" and "versions" in r), {})
    version_text = lambda v: ", ".join(f"{k} {val}" for k, val in v.items()) or "–"  # noqa: E731
    noisy = context["training_at_start"] or context["training_at_end"]
    out = [
        "# PortraitCam benchmark results",
        "",
        f"Generated by `{context['command'].strip()}` on {context['date']} in {context['elapsed_s']:.0f} s.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} logical cores ({m['usable_cores']} usable); memory {m['memory']}; "
        f"{m['os']}; Python {m['python']}",
        f"- PortraitCam environment: {version_text(main_versions)}",
        f"- Peer environment ({m['peer_python'] or 'not available'}): {version_text(peer_versions)}",
        f"- Load average (1/5/15 min) before: {' / '.join(f'{x:.2f}' for x in context['load_before'])}, "
        f"after: {' / '.join(f'{x:.2f}' for x in context['load_after'])}",
        ("- **Ran beside the training job (training.train), which shares the same cores: timings are "
         "pessimistic and noisy.**" if noisy else "- No training job was running (`pgrep -f training.train` found nothing)."),
        f"- Model: {context['model']}",
        f"- Clip: built from `{context['clip_source']}`, re-encoded (mp4v) at each resolution; "
        f"{context['warmup']} warm-up + {context['frames']} measured frames per configuration, each in a fresh process.",
        "",
    ]
    if context.get("peer_problem"):
        out += [f"**Peer rows missing:** {context['peer_problem']}", ""]
    main_rows = [r for r in rows if r.get("group") == "main"]
    out += [
        "## End to end, app defaults, PortraitCam vs MediaPipe",
        "",
        "Per stage: median / p95 in ms. frame = capture to output for one frame; FPS = frames / wall time, "
        "running flat out; CPU ms/frame = process CPU time (all threads) / frames; cores @30 FPS = CPU "
        "ms/frame x 30 / 1000; peak MiB = the process's peak resident memory (VmHWM).",
        "",
        f"Stages: capture = decode the clip (app VideoFileSource); preprocess = scale to a 224 long side and edge-pad (224x128 for 16:9 with a dynamic-size model; MediaPipe: "
        f"BGR->RGB, its resize happens inside its graph); inference = ONNX Runtime run and crop (MediaPipe: "
        f"`SelfieSegmentation.process`, which returns the mask at frame size); matte = app MatteRefiner; "
        f"composite = app Compositor (app default background: {context['background']}); output = "
        f"{ {'file': 'app FileSink writing mp4v', 'vcam': 'app VirtualCameraSink'}.get(context['sink'], 'none')} "
        f"(virtual camera: {context.get('virtual_camera', 'not checked')}). "
        f"Both engines get the same matte refiner and compositor with the app's default settings.",
        "",
        *_pipeline_table(main_rows),
        "",
    ]
    ratio = _ratio_table(rows)
    if ratio:
        out += ["Ratio PortraitCam / MediaPipe, same run (below 1 = PortraitCam smaller/faster, except FPS "
                "where above 1 = PortraitCam faster; segmentation = preprocess + inference medians, because "
                "MediaPipe resizes inside its own call):", "", *ratio, ""]
    peer_rows = [r for r in rows if r.get("group") == "peer"]
    if peer_rows:
        out += ["Peer variants and a control at 720p (the control runs PortraitCam in the peer's venv, so the "
                "difference from the PortraitCam 720p row is the library versions, not the model):", "",
                *_pipeline_table(peer_rows), ""]
    out += ["## Models alone, native input sizes", "",
            f"{context['model_runs']} runs each after 10 warm-up runs, on the sample portrait letterboxed/resized to "
            "the model's input. MediaPipe goes through its own API (`SelfieSegmentation.process` on an image "
            "already at the model's input size), so its figure includes MediaPipe's graph overhead.", "",
            *_model_table(model_rows, peer_model_rows, quality, context.get("stronger_peers")), "",
            "RVM and Meet ship only as TF.js graph models, so they run as the web runs them (TF.js WASM "
            "in Node, one thread; bench/stronger_peers.py): another runtime than the rows above (onnxruntime, "
            "TFLite), so compare them with each other and with their quality (models/MODEL_CARD.md), not one "
            "for one with PortraitNet or MediaPipe.", "",
            "Caution on the IoU column: assets/samples/portrait_mask.png was made by the MediaPipe teacher "
            "(selfie + pose, thresholded; see assets/README.md), so it favours the peer; it is a sanity check "
            "for the exports and options, not a fair PortraitCam-vs-peer accuracy comparison "
            "(training.evaluate has that).", ""]
    if any(r.get("group") == "option" for r in rows):
        out += [
            "## Speed options (1280x720, each changed alone from the app defaults)", "",
            "Quality: IoU at 0.5 against a reference, mean / worst frame over 60 frames of the clip (exports: "
            "18 frames not used for calibration). For the int8/fp16 exports the reference is the fp32 model's "
            "mask; for matte options it is the best the matte stage can do: the guided-filter matte refined at "
            "full frame resolution, the model run on every frame. Edge Δα = mean |alpha - reference alpha| over the soft edge band "
            "(what feathering and matte scale change; IoU barely sees it). IoU vs portrait_mask: the held-out "
            "portrait's reference mask (assets/samples/portrait_mask.png, made by the MediaPipe teacher). "
            f"Keeps quality: exports, IoU vs fp32 >= {MIN_IOU_VS_REFERENCE} and at most {MAX_GROUND_TRUTH_DROP} "
            f"portrait IoU lost, and through the matte stage the matte limits; matte options, no worse than the "
            f"app defaults by more than {MAX_IOU_LOSS_VS_DEFAULTS} mean IoU, {MAX_WORST_IOU_LOSS_VS_DEFAULTS} "
            f"worst-frame IoU, {MAX_EDGE_DIFF_GAIN} edge Δα and {MAX_GROUND_TRUTH_DROP} portrait IoU. "
            "CPU vs defaults is against the lower of the two measurements of the defaults. With the model on "
            "every 2nd frame, preprocess and inference figures are over the frames that ran the model; FPS and "
            "CPU/frame cover all frames.", "",
            *_options_table(rows, quality), ""]
    if recommendation is not None:
        out += ["## Recommended defaults", "",
                f"Rule: an option is a candidate when, alone, it saves at least {MIN_CPU_SAVING:.0%} CPU per frame "
                f"(less is noise on shared cores), keeps quality, and keeps FPS within {MAX_FPS_LOSS:.0%} and p95 "
                f"within {MAX_P95_GAIN:.0%} of the defaults. Candidates are then added largest saving first, each "
                "kept only if the settings so far still keep quality together (matte limits above, measured on the "
                "combined settings).", ""]
        for key, value in recommendation["changed"].items():
            out.append(f"- {SETTING_HOMES.get(key, key)}: {context['app_defaults'].get(key)} -> **{value}** "
                       f"({recommendation['reasons'].get(key, '')})")
        for key, why in recommendation.get("rejected", {}).items():
            out.append(f"- {SETTING_HOMES.get(key, key)} stays {context['app_defaults'].get(key)}: {why}")
        if not recommendation["changed"]:
            out.append("- The app defaults are already the fastest settings that keep quality on this machine.")
        out.append("")
        rec_rows = [r for r in rows if r.get("group") == "recommended"]
        if rec_rows:
            out += ["The combination, measured:", "", *_pipeline_table(rec_rows), ""]
        q, d = recommendation.get("quality"), quality.get("matte", {}).get("defaults", {})
        if q:
            out += [f"Quality of the combination at 720p (app defaults in brackets): IoU vs reference "
                    f"{q['iou_vs_reference_mean']:.3f} mean / {q['iou_vs_reference_min']:.3f} worst frame "
                    f"({_fmt(d.get('iou_vs_reference_mean'), 3)} / {_fmt(d.get('iou_vs_reference_min'), 3)}); "
                    f"edge Δα {q['edge_alpha_diff']:.3f} ({_fmt(d.get('edge_alpha_diff'), 3)}); IoU vs "
                    f"portrait_mask {_fmt(q.get('iou_vs_ground_truth'), 3)} ({_fmt(d.get('iou_vs_ground_truth'), 3)}).",
                    ""]
    out += ["## Targets", "", *_targets(rows, model_rows), ""]
    return "\n".join(out)
