"""PortraitCam benchmark: one command, every number in bench/RESULTS.md.

    python -m bench.run                 # full run (~2.5 min on 2 quiet cores), writes bench/RESULTS.md
    python -m bench.run --quick         # smoke test: few frames, prints only

PortraitCam rows run in this interpreter (the app's environment). The peer (MediaPipe selfie
segmentation, mediapipe==0.10.14) runs through the teacher venv's interpreter
(.venv-teacher/bin/python, or --peer-python); without it the peer rows are skipped with a note.
Every configuration runs in a fresh subprocess, so peak memory and thread pools do not mix.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from app.resources import resource_root
from app.segmentation import DEFAULT_MODEL_PATH, default_threads

FLOAT_MODEL_PATH = DEFAULT_MODEL_PATH.with_name("portraitnet_fp32.onnx")  # the shipped model's float export
from app.settings import AppSettings
from app.matting import MatteSettings
from bench import report
from bench.clips import (PORTRAIT, PORTRAIT_MASK, RESOLUTIONS, ClipError, default_source, prepare_clips,
                         read_frames)

REPO = resource_root()
DEFAULT_PEER_PYTHON = REPO / ".venv-teacher" / "bin" / "python"
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
OPTION_RESOLUTION = "720p"
WORK_HEIGHTS = (720, 540, 360, 240, 180)
MATTE_SEQUENCE_FRAMES = 60  # consecutive frames for the matte-option quality checks
MODEL_EVERY_LABELS = {1: "model on every frame", 2: "model every 2nd frame (matte smoothing between)"}
MATTE_QUALITY_KEYS = ("work_height", "model_every_n", "edge_mode", "model")  # settings that change alpha
PEER_SETUP = (".venv-teacher must hold mediapipe==0.10.14 (requirements-teacher.txt) plus "
              "bench/requirements-peer.txt: .venv-teacher/bin/pip install -r bench/requirements-peer.txt")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _last_json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON result line")


def run_worker(python: str, module: str, config: dict, timeout: float = 300) -> dict:
    """One configuration in a fresh process; errors come back as {"error": ...} rather than abort."""
    env = dict(os.environ)
    env.update({"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        completed = subprocess.run([python, "-m", module, json.dumps(config)], cwd=REPO, env=env,
                                   capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if completed.returncode != 0:
        tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
        return {"error": f"exit {completed.returncode}: {tail}"}
    try:
        return _last_json_line(completed.stdout)
    except ValueError as exc:
        return {"error": str(exc)}


def check_peer(python: Path) -> str | None:
    """None when the peer interpreter can run the peer benchmark, else why not."""
    if not python.exists():
        return f"peer interpreter {python} not found; {PEER_SETUP}"
    probe = subprocess.run(
        [str(python), "-c", "import mediapipe, onnxruntime, tqdm, pyvirtualcam; print(mediapipe.__version__)"],
        cwd=REPO, capture_output=True, text=True)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"{python} cannot import the peer's packages ({reason}); {PEER_SETUP}"
    return None


def virtual_camera_status() -> str:
    """Whether the virtual camera sink opens here (it is the live output; files are the fallback)."""
    from app.sinks import SinkError, VirtualCameraSink
    try:
        VirtualCameraSink(640, 480, 30).close()
    except SinkError as exc:
        first_sentence = " ".join(str(exc).split()).split(". ")[0]
        first_sentence += ")" * (first_sentence.count("(") - first_sentence.count(")"))
        return f"unavailable here: {first_sentence}"
    return "available"


def training_running() -> bool:
    return subprocess.run(["pgrep", "-f", "training.train"], capture_output=True).returncode == 0


def machine_info(peer_python: Path | None) -> dict:
    cpu = platform.processor() or "unknown"
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        cpu = fields.get("model name", cpu)
        if fields.get("cpu MHz"):
            cpu += f" @ {float(fields['cpu MHz']):.0f} MHz"
    except (OSError, ValueError):
        pass
    try:
        memory_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                              if line.startswith("MemTotal")))
        memory = f"{memory_kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "memory": memory,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "peer_python": str(peer_python) if peer_python else None}


def _model_label(path: Path) -> str:
    stat = Path(path).stat()
    from bench.variants import model_digest
    stamp = dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{Path(path).name} (sha256 {model_digest(path)}, {stat.st_size / 1e6:.1f} MB, modified {stamp})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=90, help="measured frames per configuration")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured frames first")
    parser.add_argument("--model-runs", type=int, default=150, help="runs per model-alone variant")
    parser.add_argument("--quick", action="store_true", help="smoke test: 12 frames, prints only")
    parser.add_argument("--clip", type=Path, help="video or photo to build the clips from "
                        "(default: assets/samples/sample_clip.mp4, else portrait.jpg)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--resolutions", default=",".join(RESOLUTIONS),
                        help=f"comma-separated subset of {', '.join(RESOLUTIONS)}")
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER_PYTHON,
                        help="interpreter with mediapipe (default: .venv-teacher/bin/python)")
    parser.add_argument("--no-peer", action="store_true", help="skip the MediaPipe rows")
    parser.add_argument("--no-options", action="store_true", help="skip the speed-option sweep")
    parser.add_argument("--no-live", action="store_true", help="skip the camera-paced call rows (bench/live.py)")
    parser.add_argument("--sink", choices=("file", "vcam", "none"), default="file",
                        help="output stage: the app's FileSink writing mp4 (default), its virtual camera "
                             "sink (needs a virtual camera device), or nothing")
    parser.add_argument("--results", type=Path, help=f"write the Markdown report here "
                        f"(default: {DEFAULT_RESULTS.relative_to(REPO)}, not with --quick)")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.warmup, args.model_runs = 12, 3, 20
    results_path = args.results or (None if args.quick else DEFAULT_RESULTS)
    names = [name.strip() for name in args.resolutions.split(",") if name.strip()]
    unknown = [name for name in names if name not in RESOLUTIONS]
    if unknown or not names:
        parser.error(f"--resolutions takes names from {', '.join(RESOLUTIONS)}, got {args.resolutions!r}")
    resolutions = {name: RESOLUTIONS[name] for name in names}
    if OPTION_RESOLUTION not in resolutions:
        args.no_options = True
    started = time.perf_counter()
    load_before = os.getloadavg()
    training_at_start = training_running()
    if training_at_start:
        log("NOTE: training.train is running: timings will be noisy (shared cores)")

    peer_python = None if args.no_peer else args.peer_python
    peer_problem = "skipped (--no-peer)" if args.no_peer else check_peer(args.peer_python)
    if peer_problem and not args.no_peer:
        log(f"PEER ROWS SKIPPED: {peer_problem}")
        peer_python = None

    try:
        source = args.clip or default_source()
    except ClipError as exc:
        log(f"error: {exc}")
        return 1
    log(f"clips from {source} ...")
    # At least 100 frames: calibration (frames 0-30) and quality checks (34-68) need their own frames.
    clips = prepare_clips(source, max(100, args.warmup + args.frames), resolutions)
    option_clip = clips.get(OPTION_RESOLUTION)

    settings = AppSettings()
    app_defaults = {"threads": settings.threads or default_threads(), "graph_optimization": "all",
                    "work_height": MatteSettings().work_height, "model_schedule": settings.model_schedule,
                    # Motion gating runs the model on every frame that moved: the sweep's alternative to
                    # it is then the fixed every-2nd schedule (bench/live.py has the every-frame rows).
                    "model_every_n": 1 if settings.model_schedule == "motion" else settings.model_every_n,
                    "edge_mode": settings.edge_mode, "opencv_pool": False, "model": "fp32"}
    model_path = Path(args.model)
    base = {"frames": args.frames, "warmup": args.warmup, "sink": args.sink, "model": str(model_path)}
    main_python = sys.executable
    ground_truth_paths = [str(PORTRAIT), str(PORTRAIT_MASK)] if PORTRAIT.is_file() and PORTRAIT_MASK.is_file() else None

    # --- int8 / fp16 exports (calibrated on frames the quality check does not use) -------------
    # Built from the float export beside the shipped model (models/portraitnet_fp32.onnx: the
    # shipped one is itself int8, training/quantize.py), else from the model given.
    float_model = FLOAT_MODEL_PATH if model_path == DEFAULT_MODEL_PATH and FLOAT_MODEL_PATH.is_file() else model_path
    variant_files: dict[str, dict] = {}
    calibration = read_frames(option_clip or next(iter(clips.values())), 16, step=2, start=0)
    if not args.no_options:
        log("building int8 / fp16 exports ...")
        from bench.variants import build_variants
        with contextlib.redirect_stdout(sys.stderr):  # the calibrator prints progress; stdout is the report
            variant_files = build_variants(float_model, calibration)

    # --- main table: defaults at each resolution, PortraitCam vs peer --------------------------
    rows: list[dict] = []

    def measure(label: str, group: str, python: str, config: dict, settings_changed: dict | None = None) -> dict:
        log(f"  [{group}] {label} ...")
        result = run_worker(python, "bench.pipeline_worker", config)
        result.update(label=label, group=group, config=config, changed=settings_changed or {})
        rows.append(result)
        if "error" in result:
            log(f"    failed: {result['error']}")
        return result

    log("pipeline, app defaults vs peer ...")
    for name, clip in clips.items():
        measure(f"PortraitCam {name}", "main", main_python, {**base, "engine": "portraitcam", "clip": str(clip)})
        if peer_python:
            measure(f"MediaPipe {name}", "main", str(peer_python),
                    {**base, "engine": "mediapipe", "clip": str(clip), "model_selection": 0})
    if peer_python and option_clip:
        clip = str(option_clip)
        measure("MediaPipe landscape model (256x144)", "peer", str(peer_python),
                {**base, "engine": "mediapipe", "clip": clip, "model_selection": 1})
        measure("MediaPipe mask straight to compositor (no matte refiner)", "peer", str(peer_python),
                {**base, "engine": "mediapipe", "clip": clip, "model_selection": 0, "peer_matte": "raw"})
        measure("PortraitCam in the peer's venv (numpy 1.26, OpenCV 4.10)", "peer", str(peer_python),
                {**base, "engine": "portraitcam", "clip": clip})

    # --- speed options, one at a time from the defaults, at 720p -------------------------------
    option_specs: list[tuple[str, dict, dict]] = []  # label, config delta, changed
    if not args.no_options:
        for threads in (1, 2):
            if threads != app_defaults["threads"]:
                option_specs.append((f"intra-op threads {threads}", {"threads": threads}, {"threads": threads}))
        for level in ("disabled", "basic", "extended"):
            option_specs.append((f"graph optimisation '{level}'", {"graph_optimization": level},
                                 {"graph_optimization": level}))
        for variant, info in variant_files.items():
            if "path" in info:
                option_specs.append((f"model {variant}", {"model": info["path"]}, {"model": variant}))
        for height in WORK_HEIGHTS:
            if height != app_defaults["work_height"]:
                option_specs.append((f"matte work height {height}", {"work_height": height},
                                     {"work_height": height}))
        other_every = 1 if app_defaults["model_every_n"] != 1 else 2
        option_specs.append((MODEL_EVERY_LABELS[other_every], {"model_every_n": other_every},
                             {"model_every_n": other_every}))
        other_edge = "gaussian" if app_defaults["edge_mode"] != "gaussian" else "guided"
        option_specs.append((f"edge mode '{other_edge}'", {"edge_mode": other_edge}, {"edge_mode": other_edge}))
        # The app runs OpenCV on one thread up to 720p (app/imaging.py); the option is its pool there too.
        option_specs.append(("OpenCV's thread pool at every size", {"opencv_pool": True}, {"opencv_pool": True}))

    if option_specs:
        log(f"speed options at {OPTION_RESOLUTION} ...")
        for label, delta, changed in option_specs:
            config = {**base, "engine": "portraitcam", "clip": str(option_clip), **delta}
            measure(label, "option", main_python, config, changed)
        # The defaults once more: the spread between the two runs is the noise floor of the sweep.
        measure(report.DEFAULTS_REPEAT_LABEL, "option-repeat", main_python,
                {**base, "engine": "portraitcam", "clip": str(option_clip)})

    # --- model alone ---------------------------------------------------------------------------
    log("models alone ...")
    frame_path = str(PORTRAIT)
    if not PORTRAIT.is_file():
        import cv2
        frame_path = str(REPO / "runs" / "bench" / "model_input.png")
        cv2.imwrite(frame_path, calibration[0])
    model_variants = [{"label": f"PortraitNet as shipped ({model_path.name}), {t} thread{'s' if t > 1 else ''}",
                       "model": str(model_path), "threads": t} for t in (1, 2)]
    model_variants += [{"label": f"PortraitNet fp32, {t} thread{'s' if t > 1 else ''}", "model": str(float_model),
                        "threads": t} for t in (1, 2)]
    model_variants.append({"label": "PortraitNet fp32, 2 threads, no spinning", "model": str(float_model),
                           "threads": 2, "spinning": False})
    if not args.no_options:
        for level in ("disabled", "basic", "extended"):
            model_variants.append({"label": f"PortraitNet fp32, 1 thread, optimisation '{level}'",
                                   "model": str(float_model), "threads": 1, "graph_optimization": level})
        for variant, info in variant_files.items():
            if "path" in info:
                model_variants.append({"label": f"PortraitNet {variant}, 1 thread", "model": info["path"],
                                       "threads": 1})
    model_rows = run_worker(main_python, "bench.model_worker",
                            {"engine": "onnx", "frame": frame_path, "runs": args.model_runs,
                             "variants": model_variants})
    peer_model_rows = None
    if peer_python:
        peer_model_rows = run_worker(str(peer_python), "bench.model_worker",
                                     {"engine": "mediapipe", "frame": frame_path, "runs": args.model_runs,
                                      "ground_truth": ground_truth_paths})

    # The stronger peers (RVM, Meet) for cost, as the web runs them (bench/stronger_peers.py).
    from bench import stronger_peers
    log("stronger peers (RVM, Meet; TF.js in Node) ...")
    peer_frame = stronger_peers.first_frame_png(Path(option_clip)) if option_clip else Path(frame_path)
    stronger_rows = stronger_peers.measure(peer_frame, runs=max(3, min(args.model_runs, 20)))

    # --- quality of the options ----------------------------------------------------------------
    quality: dict = {}
    matte_quality = None
    if not args.no_options:
        log("quality of the options ...")
        from bench.quality import MatteQuality, load_ground_truth, model_quality
        ground_truth = load_ground_truth(PORTRAIT, PORTRAIT_MASK)
        eval_frames = read_frames(option_clip, 18, step=2, start=34)  # none used for calibration
        models = {"fp32": str(float_model), "shipped": str(model_path)}
        models.update({name: info["path"] for name, info in variant_files.items() if "path" in info})
        quality["models"] = model_quality(models, eval_frames, ground_truth)
        matte_quality = MatteQuality(str(model_path), read_frames(option_clip, MATTE_SEQUENCE_FRAMES), ground_truth)
        matte = {"reference": matte_quality.evaluate(MatteQuality.REFERENCE), "defaults": matte_quality.evaluate({})}
        for height in WORK_HEIGHTS:
            if height != app_defaults["work_height"]:
                matte[f"work_height={height}"] = matte_quality.evaluate({"work_height": height})
        matte[f"model_every_n={other_every}"] = matte_quality.evaluate({"model_every_n": other_every})
        other_edge = "gaussian" if app_defaults["edge_mode"] != "gaussian" else "guided"
        matte[f"edge_mode={other_edge}"] = matte_quality.evaluate({"edge_mode": other_edge})
        for name, path in models.items():
            if name != "fp32":
                matte[f"model={name}"] = matte_quality.evaluate({"model": path})
        quality["matte"] = matte

    # --- recommendation: candidates alone, combined greedily, then measured together ------------
    recommendation = None
    if matte_quality is not None:
        candidates = report.recommend(rows, quality, app_defaults)["candidates"]

        def evaluate_settings(settings: dict) -> dict:
            delta = report.config_delta(settings, app_defaults, variant_files)
            return matte_quality.evaluate({k: v for k, v in delta.items() if k in MATTE_QUALITY_KEYS})

        recommendation = report.combine(candidates, app_defaults, evaluate_settings, quality["matte"]["defaults"])
        delta = report.config_delta(recommendation["settings"], app_defaults, variant_files)
        if delta:
            log("recommended combination ...")
            for name, clip in clips.items():
                measure(f"recommended {name}", "recommended", main_python,
                        {**base, "engine": "portraitcam", "clip": str(clip), **delta},
                        recommendation["changed"])
            if recommendation["quality"] is None:  # only quality-neutral settings changed
                recommendation["quality"] = quality["matte"]["defaults"]

    elapsed = time.perf_counter() - started
    context = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(peer_python),
        "model": _model_label(model_path),
        "clip_source": str(Path(source).resolve().relative_to(REPO)) if Path(source).resolve().is_relative_to(REPO) else str(source),
        "frames": args.frames, "warmup": args.warmup, "model_runs": args.model_runs, "sink": args.sink,
        "load_before": load_before, "load_after": os.getloadavg(),
        "training_at_start": training_at_start, "training_at_end": training_running(),
        "peer_problem": peer_problem, "elapsed_s": elapsed, "app_defaults": app_defaults,
        "virtual_camera": virtual_camera_status(),
        "background": f"{settings.background_mode}"
                      + (f" {settings.blur_strength:g}" if settings.background_mode == "blur" else "")
                      + (", mirrored" if settings.mirror else ", not mirrored"),
        "variant_files": variant_files,
        "stronger_peers": stronger_rows,
    }
    markdown = report.render(context, rows, model_rows, peer_model_rows, quality, recommendation)
    if not args.no_live:
        from bench import live
        log("live call rows, camera-paced ...")
        # A call hands frames to the virtual camera, not an encoder: no file sink there.
        live_args = live.parse_args((["--quick"] if args.quick else []) + ["--sink", "vcam" if args.sink == "vcam" else "none"])
        live_args.clip = args.clip
        live_context = {"cpu": live.cpu_model(), "cores": os.cpu_count(), "training": training_running(),
                        "load": os.getloadavg()[0], "frames": live_args.frames, "warmup": live_args.warmup,
                        "sink": live_args.sink, "command": context["command"], "model": live.model_label()}
        markdown += "\n" + live.render(live.measure(live_args, str(peer_python) if peer_python else None),
                                        live_context)
    print(markdown)
    if results_path:
        Path(results_path).write_text(markdown)
        log(f"wrote {results_path} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
