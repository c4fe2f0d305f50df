"""Command-line (no GUI) runner: a camera, video or photo in; a video file and/or virtual camera out."""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
from pathlib import Path

from tqdm import tqdm

from app import segmentation
from app.capture import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, LatestFrameSource, PrefetchingSource, SourceError,
                         VideoFileSource, file_problem, image_problem, local_file_path, open_source,
                         plays_as_video)
from app.compositing import BLUR_MAX, DEFAULT_BLUR, BackgroundError, Compositor
from app.effects import LIGHTING_MODES, EffectSettings
from app.framing import ZOOM_MAX, ZOOM_MIN
from app.matting import EDGE_MODES, FEATHER_MAX, MAX_SMOOTHING, MatteRefiner, MatteSettings
from app.livestats import LatencyRecorder
from app.pipeline import STAGES, OverlappedFrames, Pipeline
from app.scheduling import EVERY_N_RANGE, MAX_INTERVAL_RANGE, SCHEDULES, ScheduleSettings
from app.settings import AppSettings
from app.segmentation import ModelError, Segmenter
from app.stop_signals import STOP_SIGNALS, handle_stop_signals, restore_signals
from app.sinks import (IMAGE_OUTPUT_EXTENSIONS, VIDEO_OUTPUT_EXTENSIONS, BackgroundSink, FileSink, ImageFileSink,
                       SinkError, VirtualCameraSink, unsupported_output_message)

PROG = "portraitcam"
FPS_RANGE = (1.0, 240.0)  # camera and still-image rates; FFmpeg hangs on inf and rejects 0


def parse_color(text: str) -> tuple[int, int, int]:
    """'#RRGGBB' or 'R,G,B' (0..255) to a BGR tuple."""
    value = text.strip()
    # Plain ASCII hex digits and decimal numbers only: int() would also take "+1", "1_0" and other
    # scripts' digits.
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        rgb = tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))
    elif re.fullmatch(r"\d{1,3}( *, *\d{1,3}){2}", value, re.ASCII):
        rgb = tuple(int(part) for part in value.split(","))
    else:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise argparse.ArgumentTypeError(f"invalid colour '{text}': use #RRGGBB or R,G,B")
    return rgb[2], rgb[1], rgb[0]


# argparse names the option in front of an ArgumentTypeError's text ("argument --fps: ...");
# a ValueError would say only "invalid _finite_float value".
def _int_in(low: int, high: int | None = None):
    def parse(text: str) -> int:
        stripped = text.strip()
        if not (stripped.lstrip("+-").isascii() and stripped.lstrip("+-").isdecimal()):
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}")
        if len(stripped) > 12:  # int() of a 5000-digit text is slow, and no count here needs 13 digits
            raise argparse.ArgumentTypeError(f"must be at most 12 digits long, got {stripped[:20]}"
                                             f"{'…' if len(stripped) > 20 else ''}")
        value = int(stripped)
        if value < low or (high is not None and value > high):
            limits = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {limits}, got {value}")
        return value
    return parse


_positive_int = _int_in(1)


def _finite_float(text: str) -> float:
    try:
        # Python reads "0_1" as 1 and "2_1" as 21 (digit grouping): a typo, not a number given.
        value = math.nan if "_" in text else float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}")
    return value


def _float_in(low: float, high: float):
    def parse(text: str) -> float:
        value = _finite_float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
        return value
    return parse


_unit_float = _float_in(0.0, 1.0)


def _file_name(text: str) -> str:
    """A path option's value: an empty one is a mistake, never 'use the default'."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file, got an empty value")
    return text


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' where there is a default to show (not None/False, not said already)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, with an abbreviated option (--out) answered with its full spelling, not only
    "unrecognized arguments"."""

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        for extra in extras:
            name = extra.split("=")[0]
            matches = sorted(o for o in self._option_string_actions if name.startswith("--") and o.startswith(name))
            if len(name) > 2 and matches:
                self.error(f"{name}: spell it {' or '.join(matches)} (options are not abbreviated)")
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        # No abbreviations: main.py tells a headless job from the window by its options' full names.
        prog=PROG, formatter_class=_HelpFormatter, allow_abbrev=False,
        description="Replace the background of a webcam, video or photo; write a file and/or "
                    "publish to a virtual camera. With no arguments, PortraitCam opens its window "
                    "(or, with no display, processes the bundled sample clip headless); "
                    "--source FILE|INDEX and --model FILE also apply to the window.",
        epilog="Settings of the window are not used here. Exit status: 0 done, 1 error, 2 bad "
               "arguments, 130/143/129 stopped by Ctrl+C/SIGTERM/SIGHUP (what was written is kept as "
               "NAME.partial.EXT). An existing output is replaced only by a complete file.")
    parser.add_argument("-i", "--input", "--source", default="0", type=_file_name,
                        help="camera index (0 is the first camera), video file or image; --source "
                             "is the same option (default: camera 0)")
    parser.add_argument("-o", "--output", type=_file_name,
                        help=f"output video ({' '.join(VIDEO_OUTPUT_EXTENSIONS)}) or picture "
                             f"({' '.join(IMAGE_OUTPUT_EXTENSIONS)})")
    parser.add_argument("--headless", action="store_true",
                        help="run without the window even when a display is available (implied "
                             "by --input/--output/--virtual-camera)")
    parser.add_argument("--check-camera", action="store_true",
                        help="check the virtual-camera set-up on this system, print the fix for "
                             "what is missing and exit (0 usable, 1 not)")
    parser.add_argument("--virtual-camera", action="store_true", help="publish to the virtual camera")
    parser.add_argument("--vcam-backend", help="pyvirtualcam backend (v4l2loopback, obs, unitycapture; "
                                               "default: the first that works)")
    parser.add_argument("--vcam-device", help="virtual camera device, e.g. /dev/video10 (default: the "
                                              "first free one)")
    background = parser.add_mutually_exclusive_group()
    background.add_argument("-b", "--background", type=_file_name, help="background image or video file")
    background.add_argument("--blur", type=_finite_float, nargs="?", const=DEFAULT_BLUR, metavar="STRENGTH",
                            help=f"blur the real background, 0..{BLUR_MAX:g} (default strength "
                                 f"{DEFAULT_BLUR:g}; the default background when none is given)")
    background.add_argument("--color", type=parse_color, help="solid background, #RRGGBB or R,G,B")
    background.add_argument("--no-background", action="store_true",
                            help="keep the real background (segmentation still runs)")
    parser.add_argument("--mirror", action="store_true", help="flip the output horizontally")
    parser.add_argument("--max-frames", type=_positive_int, help="stop after this many frames")
    parser.add_argument("--threads", type=_positive_int,
                        help="inference threads, at most the cores (default: half the cores)")
    parser.add_argument("--model", default=None, type=_file_name, help="ONNX model (default: the bundled one)")
    app_defaults = AppSettings()  # the window's defaults too: one set for both
    parser.add_argument("--model-schedule", choices=SCHEDULES, default=None,
                        help="when the model runs: 'motion' on frames that changed (every frame while "
                             "you move, every --model-max-interval-th while you sit still), 'every-n' on "
                             f"every --model-every-n-th frame (default: {app_defaults.model_schedule}; "
                             "every-n when only --model-every-n is given)")
    parser.add_argument("--model-every-n", type=_positive_int, default=None,
                        help=f"run the model on every Nth frame ({EVERY_N_RANGE[0]}..{EVERY_N_RANGE[1]}) and "
                             "reuse its mask in between "
                             f"(default: {app_defaults.model_every_n}, with --model-schedule every-n)")
    parser.add_argument("--model-max-interval", type=_int_in(*MAX_INTERVAL_RANGE), default=None,
                        help="with --model-schedule motion: run the model at least every N frames, so "
                             f"light changes are caught (default: {app_defaults.model_max_interval})")
    defaults = MatteSettings()
    parser.add_argument("--threshold", type=_unit_float, default=defaults.threshold,
                        help="person probability that counts as foreground (0..1)")
    parser.add_argument("--softness", type=_unit_float, default=defaults.softness,
                        help="width of the soft edge band around the threshold (0 = hard)")
    parser.add_argument("--feather", type=_finite_float, default=defaults.feather,
                        help=f"edge feather, px at 720p, 0..{FEATHER_MAX:g}")
    parser.add_argument("--smoothing", type=_unit_float, default=defaults.smoothing,
                        help=f"temporal smoothing 0..{MAX_SMOOTHING:g} (higher: steadier, slower to follow)")
    parser.add_argument("--steady-edges", action=argparse.BooleanOptionalAction, default=defaults.steady_edges,
                        help="average the edge with the last frame's, moved along with the person: "
                             "a little less flicker while you move, a slightly softer moving edge "
                             "(--mirror-average gains more); about 3.3 ms more CPU a moving 720p "
                             "frame (default: off)")
    parser.add_argument("--room-memory", action=argparse.BooleanOptionalAction, default=defaults.room_memory,
                        help="remember the room seen beside you, and keep it out of the outline where "
                             "the camera shows it again (a gap between arm and head, a piece of door "
                             "beside a shoulder); acts only where the room has texture that the frame "
                             "repeats; a camera or video (default: on)")
    parser.add_argument("--mirror-average", action=argparse.BooleanOptionalAction, default=None,
                        help="each model run also sees the picture mirrored, and the two answers are "
                             "averaged: a better-placed, steadier edge for twice the model's time "
                             "(default for a camera or video: only on the rare runs while you sit "
                             "still, as the window with 'Two looks per model run' off; a photo gets "
                             "it, and a second input size; --no-mirror-average: one plain run always)")
    parser.add_argument("--edge-mode", choices=EDGE_MODES, default=defaults.edge_mode,
                        help="edge refinement: learned (the default) follows the picture's edges at its resolution and refines their softness with a trained correction (models/edge_model.npz); guided: the plain filter, less CPU; gaussian blurs")
    parser.add_argument("--width", type=_int_in(16, 7680), default=1280, help="camera capture width")
    parser.add_argument("--height", type=_int_in(16, 4320), default=720, help="camera capture height")
    parser.add_argument("--fps", type=_float_in(*FPS_RANGE), default=30.0,
                        help=f"camera capture frame rate, also the output rate for a still image "
                             f"({FPS_RANGE[0]:g}..{FPS_RANGE[1]:g})")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    effects = parser.add_argument_group("effects")
    effects.add_argument("--auto-frame", type=_finite_float, nargs="?", const=1.5, metavar="ZOOM",
                         help=f"keep head and shoulders centred, zoomed in {ZOOM_MIN:g}..{ZOOM_MAX:g} "
                              "(default 1.5); the background stays uncropped")
    effects.add_argument("--match-lighting", type=_finite_float, nargs="?", const=0.5, metavar="STRENGTH",
                         help="nudge your light toward the background's and spill its light over your "
                              "edge, 0..1 (default 0.5; image, video and colour backgrounds)")
    effects.add_argument("--low-light", action="store_true",
                         help="brighten a dim camera picture before segmentation")
    effects.add_argument("--main-person", action="store_true",
                         help="keep only the main person when several are in view")
    return parser


def _configure_background(compositor: Compositor, args: argparse.Namespace) -> None:
    if args.background:
        if _background_kind(args.background) == "video":
            compositor.set_video(args.background)
        else:
            compositor.set_image(args.background)
    elif args.color is not None:
        compositor.set_color(args.color)
    elif args.no_background:
        compositor.set_none()
    else:
        compositor.set_blur(args.blur if args.blur is not None else DEFAULT_BLUR)
    compositor.mirror = args.mirror


def schedule_settings(args: argparse.Namespace) -> tuple[ScheduleSettings, str | None]:
    """When the model runs, from the command line (AppSettings' defaults), and a note when an
    option has no effect."""
    defaults = AppSettings()
    mode = args.model_schedule or ("every-n" if args.model_every_n is not None else defaults.model_schedule)
    every_n = args.model_every_n if args.model_every_n is not None else defaults.model_every_n
    max_interval = args.model_max_interval if args.model_max_interval is not None else defaults.model_max_interval
    note = None
    if mode == "motion" and args.model_every_n is not None:
        note = (f"--model-every-n {args.model_every_n} applies to --model-schedule every-n; "
                "with motion the model runs on frames that changed")
    elif mode == "every-n" and args.model_max_interval is not None:
        note = (f"--model-max-interval {args.model_max_interval} applies to --model-schedule motion; "
                f"with every-n the model runs on one frame in {every_n}")
    return ScheduleSettings(mode=mode, every_n=every_n, max_interval=max_interval), note


def effect_settings(args: argparse.Namespace) -> EffectSettings:
    """The effects the command line asked for (app/effects.py)."""
    return EffectSettings(
        auto_frame=args.auto_frame is not None, zoom=args.auto_frame or 1.5,
        match_lighting=args.match_lighting is not None,
        lighting_strength=args.match_lighting if args.match_lighting is not None else 0.5,
        low_light=args.low_light, main_person=args.main_person)


def _error(message: str) -> int:
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    return 1


def _shown(path: str | os.PathLike) -> str:
    """A file name on one line: a newline or another control character in it is shown escaped
    ("no\\ndir/m.png"), so a script reading the line gets the whole name."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in os.fspath(path))


def _note(message: str) -> None:
    print(f"{PROG}: note: {message}", file=sys.stderr)


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cap_threads(requested: int | None) -> tuple[int | None, str | None]:
    """More inference threads than cores only slow everything down: cap, and say why."""
    cores = available_cores()
    if requested is not None and requested > cores:
        return cores, f"--threads {requested} is more than the {cores} cores here; using {cores}"
    return requested, None


def _clamp_option(args: argparse.Namespace, name: str, low: float, high: float) -> None:
    value = getattr(args, name)
    if value is not None and not low <= value <= high:
        clamped = min(max(value, low), high)
        setattr(args, name, clamped)
        _note(f"--{name.replace('_', '-')} {value:g} is outside {low:g}..{high:g}; using {clamped:g}")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: through symlinks, '..', hard links (inode)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: they cannot be the same file
        return False


class Interrupted(BaseException):  # like KeyboardInterrupt: "except Exception" lets it through
    """Ctrl+C (SIGINT) or SIGTERM arrived; the job stops and keeps what it wrote as partial."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SegmentationStopped(RuntimeError):
    """The pipeline failed mid-stream (model error, NaN mask, bad frame)."""


class _SignalState:
    """While the job starts (opening the input, the model), SIGINT/SIGTERM/SIGHUP raise Interrupted
    at once. While frames flow they only ask the loop to stop before its next frame (stop_due): an
    exception raised wherever the signal lands could leave a queue's lock taken (inside Queue.put),
    and the clean-up that ends the encoder then waited on it for ever. While the job finishes (the
    read-back and rename of the output, the clean-up) they are recorded and honoured after it:
    raised there they broke the end halfway and escaped as a traceback (exit 1 after "Wrote 60
    frames")."""

    interruptible = False
    at_frame_boundary = False  # frames flow: a signal stops the loop before its next frame
    stop: int | None = None     # the signal the loop is to stop for
    pending: int | None = None
    received: int | None = None  # any signal this run; a library may turn Interrupted into its own error

    def stop_due(self) -> None:
        """Raise Interrupted here, between two frames, if a signal asked the loop to stop."""
        if self.stop is not None:
            signum, self.stop = self.stop, None
            raise Interrupted(signum)

    @contextlib.contextmanager
    def at_once(self):
        """Meanwhile a signal raises Interrupted at once again: while the loop waits for the source's
        next frame, which a stalled camera may never deliver. Raised there it can only leave the
        source's own hand-off locked, which its close() does not wait on for long; the encoder's
        queue is not in use."""
        self.stop_due()
        self.at_frame_boundary = False
        try:
            yield
        finally:
            self.at_frame_boundary = True


_SIGNALS = _SignalState()


class _Interruptible:
    """The part of a job that a signal may stop at once."""

    def __enter__(self) -> None:
        _SIGNALS.interruptible = True

    def __exit__(self, *exc) -> bool:
        _SIGNALS.interruptible = False
        return False


def _raise_interrupted(signum, _frame) -> None:
    # A second signal during the clean-up would cut the partial file short: ignore it.
    for other in STOP_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    _SIGNALS.received = signum
    if not _SIGNALS.interruptible:
        _SIGNALS.pending = signum  # the job is finishing: stop when it has
        return
    if _SIGNALS.at_frame_boundary:
        _SIGNALS.stop = signum  # the frame loop stops before its next frame
        return
    raise Interrupted(signum)


class _NativeStderrSilenced:
    """Silences the process's stderr descriptor (fd 2) meanwhile: libjpeg ("Premature end of JPEG
    file"), libpng and FFmpeg write there themselves, beside the one-line error that says what was
    wrong. Python's own messages are flushed first and are never written inside."""

    def __enter__(self) -> None:
        self._saved = None
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            return  # no stderr descriptor (a windowed app): nothing to silence
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
        except OSError:
            os.close(saved)
            return
        self._saved = saved

    def __exit__(self, *exc) -> bool:
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
        return False


def _install_signal_handlers() -> dict:
    """SIGINT, SIGTERM and SIGHUP all stop the job cleanly (one the parent ignores stays ignored:
    `nohup`); returns the handlers to restore."""
    return handle_stop_signals(_raise_interrupted)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 runtime error, 2 usage error,
    130 / 143 / 129 interrupted by SIGINT / SIGTERM / SIGHUP)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed usage and the error
        return int(exc.code or 0)
    if args.check_camera:
        from app.vcam_check import main as check_camera

        others = [a for a in argv if a != "--check-camera"]
        if others:
            _note(f"--check-camera checks the virtual camera only; ignoring {' '.join(others)}")
        return check_camera()
    if not args.output and not args.virtual_camera:
        return _error("nothing to do: give --output FILE and/or --virtual-camera")
    problem = _local_files(args) or _file_problems(args)
    if problem:
        return _error(problem)
    if args.output:
        # Checked before anything is opened: the output must never overwrite an input.
        for name, value in (("--input", args.input), ("--background", args.background)):
            if value and same_file(value, args.output):
                return _error(f"--output {args.output} is the same file as {name} {value}: "
                              "choose another output file")
    args.threads, note = cap_threads(args.threads)
    if note:
        _note(note)
    _clamp_option(args, "blur", 0.0, BLUR_MAX)
    _clamp_option(args, "feather", 0.0, FEATHER_MAX)
    _clamp_option(args, "model_every_n", *EVERY_N_RANGE)  # the window's range
    _clamp_option(args, "auto_frame", ZOOM_MIN, ZOOM_MAX)
    _clamp_option(args, "match_lighting", 0.0, 1.0)
    _clamp_option(args, "smoothing", 0.0, MAX_SMOOTHING)
    if not args.virtual_camera and (args.vcam_backend or args.vcam_device):
        _note("--vcam-backend and --vcam-device apply to --virtual-camera, which was not given")
    _SIGNALS.interruptible, _SIGNALS.pending, _SIGNALS.received = False, None, None
    _SIGNALS.at_frame_boundary, _SIGNALS.stop = False, None
    previous_handlers = _install_signal_handlers()
    job = _JobState()
    try:
        code = _run(args, job)
    except Interrupted as exc:  # only _run's own handlers could let one through; never a traceback
        code = _report_interrupted(exc.signum, job, "")
    except BaseException:
        if _SIGNALS.received is None:
            raise
        # The signal, raised inside a library's callback, came out as that library's error.
        code = _report_interrupted(_SIGNALS.received, job, "")
    finally:
        restore_signals(previous_handlers)
    if _SIGNALS.pending is not None:  # arrived while the job was finishing, which it did first
        signum, _SIGNALS.pending = _SIGNALS.pending, None
        outcome = f"; the output is complete: {job.completed}" if job.completed else ""
        code = _report_interrupted(signum, job, f" as the job was finishing{outcome}")
    return code


class _JobState:
    frames = 0
    completed: str | None = None  # the output file, once it is complete and in place


def _report_interrupted(signum: int, job: _JobState, detail: str) -> int:
    name = signal.Signals(signum).name
    print(f"{PROG}: interrupted ({name}) after {job.frames} frame{'s' if job.frames != 1 else ''}"
          f"{detail}", file=sys.stderr)
    return 128 + signum


def _local_files(args: argparse.Namespace) -> str | None:
    """File manager's file:// links in the file options become their paths (so the checks below,
    and the output-overwrite check, see the file); a network address is refused in words."""
    for name in ("input", "background", "output"):
        value = getattr(args, name)
        if not value:
            continue
        try:
            setattr(args, name, local_file_path(value))
        except SourceError as exc:
            if name == "output":
                return f"--output {value.strip()} is a network address: PortraitCam writes files only"
            return f"Cannot load background {_background_kind(value)}: {exc}" if name == "background" else str(exc)
    return None


def _background_kind(path: str) -> str:
    return "video" if Path(path).suffix.lower() in VIDEO_EXTENSIONS or plays_as_video(path) else "image"


def _file_problems(args: argparse.Namespace) -> str | None:
    """The first file option that cannot work, in words (checked before anything is opened, and
    before OpenCV, which says only "cannot open" or prints its own lines)."""
    if args.output:
        if args.output.endswith(("/", os.sep)):  # Path() drops the slash and would write "out.mp4"
            return f"--output {args.output} ends with a slash, like a folder: name the file to write"
        suffix = Path(args.output).suffix.lower()
        if suffix not in IMAGE_EXTENSIONS and suffix not in VIDEO_OUTPUT_EXTENSIONS:
            return unsupported_output_message(args.output)
    if args.background:
        kind = _background_kind(args.background)
        problem = file_problem(args.background)
        if problem is None and kind == "image":
            problem = image_problem(args.background)
        if problem:
            return f"Cannot load background {kind} {args.background}: {problem}"
    if args.model:
        problem = file_problem(args.model)
        if problem == "not found":
            return f"Model file not found: {args.model}"
        if problem:
            return f"Model file {args.model} cannot be used: {problem}"
    return None


def _run(args: argparse.Namespace, job: _JobState) -> int:
    output_is_image = bool(args.output) and Path(args.output).suffix.lower() in IMAGE_EXTENSIONS
    source = compositor = None
    sinks: list = []
    progress = None
    frames = 0
    try:
        with _Interruptible():  # the job proper; its end below is not cut short by a signal
            compositor = Compositor()
            with _NativeStderrSilenced():
                _configure_background(compositor, args)
            # Stream a file endlessly only when nobody needs it to end (virtual camera alone).
            loop = args.virtual_camera and not args.output and args.max_frames is None
            with _NativeStderrSilenced():
                source = open_source(args.input, width=args.width, height=args.height, fps=args.fps, loop=loop)
            for note in getattr(source, "header_notes", []):  # a video's or an animation's
                _note(f"{source.description}: {note}")
            if isinstance(source, VideoFileSource):
                source = PrefetchingSource(source)  # decode the next frames while this one is processed
            elif source.is_live:
                source = LatestFrameSource(source)  # the newest camera frame, never a backlog
            model_path = args.model or segmentation.DEFAULT_MODEL_PATH
            with _NativeStderrSilenced():
                segmenter = Segmenter(model_path, threads=args.threads)
            if args.mirror_average is False:  # one plain run, even for a photo or a calm scene
                segmenter.use_looks(False, calm=False)
            else:  # a photo: more looks at it (time is to spare); video: two on calm runs, or every run if asked
                segmenter.use_looks(source.is_still, mirror_video=bool(args.mirror_average))
            refiner = MatteRefiner(MatteSettings(
                threshold=args.threshold, softness=args.softness, feather=args.feather,
                smoothing=args.smoothing, edge_mode=args.edge_mode, steady_edges=args.steady_edges,
                room_memory=args.room_memory))
            schedule, note = schedule_settings(args)
            if note:
                _note(note)
            pipeline = Pipeline(segmenter, refiner, compositor, schedule=schedule)
            pipeline.still_source = source.is_still
            pipeline.effects.settings = effect_settings(args)
            pipeline.effects.framer.settings.fps = source.fps or 30.0  # the framing's delays are in seconds
            # A file is processed faster or slower than it plays: a background video keeps the
            # output's time, not the clock's. A camera's frames come as they happen.
            compositor.output_fps = None if source.is_live else (source.fps or 30.0)
            if args.match_lighting is not None and compositor.mode not in LIGHTING_MODES:
                _note("--match-lighting needs an image, video or colour background; it has no effect here")

            width, height = source.size
            max_frames = args.max_frames
            if max_frames is None and (output_is_image or source.is_still) and args.output:
                max_frames = 1  # a still image makes one output frame unless told otherwise
            elif max_frames is not None and max_frames > 1 and source.is_still and output_is_image \
                    and not args.virtual_camera:
                # The same photo N times for a picture that keeps one: N model runs (a huge N ran
                # until interrupted) for the picture one run gives.
                _note(f"--max-frames {max_frames} has no effect on a photo written to a picture: "
                      "it is processed once")
                max_frames = 1
            virtual_camera = None
            # The virtual camera first: when it is missing, no output file has been started.
            if args.virtual_camera:
                virtual_camera = VirtualCameraSink(width, height, source.fps,
                                                   backend=args.vcam_backend, device=args.vcam_device)
                sinks.append(virtual_camera)
                print(f"Publishing to virtual camera {virtual_camera.device} (Ctrl+C to stop)", file=sys.stderr)
            if args.output:
                # A video file is encoded on a thread of its own, overlapping the next frame's work.
                file_sink = (ImageFileSink(args.output) if output_is_image
                             else BackgroundSink(FileSink(args.output, width, height, source.fps)))
                sinks.append(file_sink)
                leftovers = getattr(file_sink, "leftovers_removed", [])
                if leftovers:
                    _note(f"removed {len(leftovers)} temporary file{'s' if len(leftovers) != 1 else ''} "
                          f"left by an earlier job that was killed: "
                          f"{', '.join(p.name for p in leftovers[:3])}{' …' if len(leftovers) > 3 else ''}")
                if getattr(file_sink, "padded", False):
                    out_w, out_h = file_sink.output_size
                    _note(f"{Path(args.output).suffix} needs an even width and height: the "
                          f"{width}x{height} input is written as {out_w}x{out_h} (last column/row "
                          f"repeated); use .avi to keep {width}x{height}")

            total = max_frames
            if source.frame_count is not None and not loop:
                total = min(total, source.frame_count) if total else source.frame_count
            progress = tqdm(total=total, unit="frame", desc=source.description,
                            disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)
            totals = dict.fromkeys(STAGES, 0.0)
            latency = LatencyRecorder()  # capture -> hand-off to the sinks (app/livestats.py)
            warned = False

            source_failure: list[SourceError] = []
            file_stopped = None  # why the output file stopped while the virtual camera went on

            def read_frames():
                read = 0
                while max_frames is None or read < max_frames:
                    try:
                        with _SIGNALS.at_once():  # Ctrl+C stops here, between frames (_SignalState)
                            frame = source.read()
                    except SourceError as exc:
                        # Raised after the loop: the frames read before it are still being worked
                        # on (OverlappedFrames), and they belong in the partial file.
                        source_failure.append(exc)
                        return
                    if frame is None:
                        return
                    read += 1
                    yield frame, source.captured_at

            # A file to a file runs flat out: the next frame's model on a thread of its own while this
            # frame's matte and composite run here. A camera or a virtual camera is paced by the clock,
            # where that overlap would only hold a frame back.
            overlap = isinstance(source, PrefetchingSource) and virtual_camera is None
            _SIGNALS.at_frame_boundary = True  # until the last frame is in (or run() starts again)
            processed = (OverlappedFrames(pipeline)(read_frames()) if overlap
                         else ((*pipeline.process(frame), captured_at) for frame, captured_at in read_frames()))
            for output, timings, captured_at in processed:
                if pipeline.last_error is not None:
                    # Fail closed: stop rather than put a broken frame in the file or on the camera.
                    raise SegmentationStopped(f"processing failed on frame {frames + 1} of "
                                              f"{source.description}: {pipeline.last_error}")
                if pipeline.warning and not warned:  # the background alone goes out meanwhile
                    warned = True
                    _note(pipeline.warning)
                latency.add(captured_at)
                for sink in list(sinks):
                    try:
                        sink.send(output)
                    except SinkError as exc:
                        if len(sinks) == 1:
                            raise
                        sinks.remove(sink)
                        if sink is virtual_camera:
                            # Publishing stopped; the file is the job too, and it goes on.
                            _note(f"{_describe(exc).rstrip('.')}; publishing stopped, the file goes on")
                            _abort_sinks([sink])  # a device that failed may fail to close too
                            virtual_camera = None
                        else:
                            # The file stopped (a full disk): a call on the virtual camera goes on,
                            # and the job ends in this error when it does.
                            message = _describe(exc).rstrip('.')
                            file_stopped = f"{message}{_kept([sink], frames, 'before it', message)}"
                            _note(f"{file_stopped}; publishing goes on")
                for stage in STAGES:
                    totals[stage] += timings[stage]
                frames += 1
                job.frames = frames
                progress.update(1)
                if virtual_camera is not None and not source.is_live:
                    virtual_camera.wait_for_next_frame()  # play files at their own frame rate
            # The last frame is in: a signal from here on stops the job at once again, and one
            # that came during the last frame stops it now.
            _SIGNALS.at_frame_boundary = False
            _SIGNALS.stop_due()
        progress.close()
        if source_failure:
            raise source_failure[0]
        if frames == 0:
            return _error(f"no frames could be read from {source.description}")
        # The file first: a virtual camera that fails to close must not cost the finished video.
        closing_problem = None
        for sink in sorted(sinks, key=lambda sink: isinstance(sink, VirtualCameraSink)):
            try:
                sink.close()
            except SinkError as exc:
                if not isinstance(sink, VirtualCameraSink):
                    raise
                closing_problem = str(exc)
        if closing_problem:
            _note(closing_problem)
        if pipeline.all_person and not warned:  # a video that ended before the warning's runs
            runs = pipeline.all_person_runs
            _note(f"the model marked the whole picture as you on its last {runs} run{'s' if runs != 1 else ''}, "
                  "so those frames show the background alone (a face right at the lens does this; if the "
                  "picture shows some of the room, the model file is faulty)")
        average = ", ".join(f"{stage} {totals[stage] / frames:.1f}" for stage in STAGES)
        if total and frames < total - 1 and getattr(source, "count_is_estimate", False):
            _note(f"the input ended after {frames} of about {total} frames (its container gives only an "
                  "estimate of the count; if the file was cut short, the rest of it is missing)")
        if file_stopped:
            return _error(file_stopped)
        if args.output:
            job.completed = args.output
            if frames > 1 and Path(args.output).suffix.lower() in IMAGE_EXTENSIONS:
                print(f"Wrote the last of {frames} frames to {_shown(args.output)} (a picture holds one frame)")
            else:
                print(f"Wrote {frames} frame{'s' if frames != 1 else ''} to {_shown(args.output)}")
        print(f"Average ms per frame: {average}", file=sys.stderr)
        runs = f"model ran on {pipeline.model_runs} of {frames} frames ({pipeline.schedule.settings.mode})"
        # A file runs flat out: a frame decoded ahead waits for the model and finishing threads.
        queued = " (flat out: includes frames queued between the decode, model and finish threads)" if overlap else ""
        print(f"Latency capture to output: {latency.summary()}{queued}; {runs}", file=sys.stderr)
        return 0
    except Interrupted as exc:
        if progress is not None:
            progress.close()
        kept = _kept(sinks, frames, "so far")
        print(f"{PROG}: interrupted ({exc}) after {frames} frame{'s' if frames != 1 else ''}"
              f"{kept}", file=sys.stderr)
        return 128 + exc.signum
    except (SourceError, ModelError, BackgroundError, SinkError, SegmentationStopped, OSError,
            MemoryError) as exc:
        if progress is not None:
            progress.close()
        if _SIGNALS.received is not None and _SIGNALS.pending is None:
            # Raised by a library while our Interrupted went through it: it is the signal.
            return _report_interrupted(_SIGNALS.received, job, _kept(sinks, frames, "so far"))
        message = _describe(exc).rstrip('.')
        return _error(f"{message}{_kept(sinks, frames, 'before it', message)}")
    finally:
        _abort_sinks(sinks)  # no-op for sinks already closed
        if source is not None:
            source.close()
        if compositor is not None:
            compositor.close()


def _describe(exc: BaseException) -> str:
    """One line for an error: ours carry their message; the OS's get their reason and file."""
    if isinstance(exc, MemoryError):
        return "not enough memory for this job (try a smaller input or background)"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return str(exc)


def _abort_sinks(sinks: list) -> Path | None:
    """End every sink without completing it; the partial video file's path, if one was kept."""
    partial = None
    for sink in sinks:
        try:
            sink.abort()
        except Exception:  # noqa: BLE001 - ending the others and naming the first error matters more
            pass
        partial = partial or getattr(sink, "partial_path", None)
    return partial


def _kept(sinks: list, frames: int, when: str, message: str = "") -> str:
    """Abort the sinks; what the user is told of the partial file kept, if any, unless `message`
    (the error's own) names it already. Its own count of frames, not the job's: a file encoded on
    a thread of its own may be a frame behind the job."""
    partial = _abort_sinks(sinks)
    if partial is None or str(partial) in message:
        return ""
    written = next((getattr(s, "frames_written", None) for s in sinks if getattr(s, "partial_path", None)), None)
    count = frames if written is None else written
    return f"; the {count} frame{'s' if count != 1 else ''} written {when} {'is' if count == 1 else 'are'} in {partial}"


if __name__ == "__main__":
    sys.exit(run())
