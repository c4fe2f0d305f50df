"""Command-line (no GUI) runner: a camera, video or photo in; a video file and/or virtual camera out."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from app import segmentation
from app.capture import IMAGE_EXTENSIONS, SourceError, is_image_path, open_source
from app.compositing import BackgroundError, Compositor
from app.matting import EDGE_MODES, MatteRefiner, MatteSettings
from app.pipeline import STAGES, Pipeline
from app.segmentation import ModelError, Segmenter
from app.sinks import FileSink, ImageFileSink, SinkError, VirtualCameraSink

PROG = "portraitcam"
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"}


def parse_color(text: str) -> tuple[int, int, int]:
    """'#RRGGBB' or 'R,G,B' (0..255) to a BGR tuple."""
    value = text.strip()
    try:
        if value.startswith("#") and len(value) == 7:
            rgb = tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))
        else:
            rgb = tuple(int(part) for part in value.replace(" ", "").split(","))
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise argparse.ArgumentTypeError(f"invalid colour '{text}': use #RRGGBB or R,G,B")
    return rgb[2], rgb[1], rgb[0]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Replace the background of a webcam, video or photo; write a file and/or "
                    "publish to a virtual camera.")
    parser.add_argument("-i", "--input", default="0",
                        help="camera index, video file or image (default: camera 0)")
    parser.add_argument("-o", "--output", help="output video (.mp4 .avi .mkv .mov) or image (.png .jpg)")
    parser.add_argument("--virtual-camera", action="store_true", help="publish to the virtual camera")
    parser.add_argument("--vcam-backend", help="pyvirtualcam backend (v4l2loopback, obs, unitycapture)")
    parser.add_argument("--vcam-device", help="virtual camera device, e.g. /dev/video10")
    background = parser.add_mutually_exclusive_group()
    background.add_argument("-b", "--background", help="background image or video file")
    background.add_argument("--blur", type=float, nargs="?", const=21.0, metavar="STRENGTH",
                            help="blur the real background (default when no background is given)")
    background.add_argument("--color", type=parse_color, help="solid background, #RRGGBB or R,G,B")
    background.add_argument("--no-background", action="store_true",
                            help="keep the real background (segmentation still runs)")
    parser.add_argument("--mirror", action="store_true", help="flip the output horizontally")
    parser.add_argument("--max-frames", type=_positive_int, help="stop after this many frames")
    parser.add_argument("--threads", type=_positive_int, help="inference threads (default: half the cores)")
    parser.add_argument("--model", default=None, help="ONNX model (default: the bundled one)")
    parser.add_argument("--model-every-n", type=_positive_int, default=1,
                        help="run the model on every Nth frame and reuse its mask in between")
    defaults = MatteSettings()
    parser.add_argument("--threshold", type=_unit_float, default=defaults.threshold,
                        help="person probability that counts as foreground (0..1)")
    parser.add_argument("--softness", type=_unit_float, default=defaults.softness,
                        help="width of the soft edge band around the threshold (0 = hard)")
    parser.add_argument("--feather", type=float, default=defaults.feather, help="edge feather, px at 720p")
    parser.add_argument("--smoothing", type=_unit_float, default=defaults.smoothing,
                        help="temporal smoothing 0..1 (higher: steadier, slower to follow)")
    parser.add_argument("--edge-mode", choices=EDGE_MODES, default=defaults.edge_mode,
                        help="edge refinement: guided follows the picture's edges, gaussian blurs")
    parser.add_argument("--width", type=_positive_int, default=1280, help="camera capture width")
    parser.add_argument("--height", type=_positive_int, default=720, help="camera capture height")
    parser.add_argument("--fps", type=float, default=30.0, help="camera capture frame rate")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _configure_background(compositor: Compositor, args: argparse.Namespace) -> None:
    if args.background:
        path = Path(args.background)
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            compositor.set_video(path)
        else:
            compositor.set_image(path)
    elif args.color is not None:
        compositor.set_color(args.color)
    elif args.no_background:
        compositor.set_none()
    else:
        compositor.set_blur(args.blur if args.blur is not None else 21.0)
    compositor.mirror = args.mirror


def _error(message: str) -> int:
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    return 1


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 runtime error, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed usage and the error
        return int(exc.code or 0)
    if not args.output and not args.virtual_camera:
        return _error("nothing to do: give --output FILE and/or --virtual-camera")
    output_is_image = bool(args.output) and Path(args.output).suffix.lower() in IMAGE_EXTENSIONS

    source = compositor = segmenter = None
    sinks: list = []
    progress = None
    try:
        compositor = Compositor()
        _configure_background(compositor, args)
        # Stream a file endlessly only when nobody needs it to end (virtual camera alone).
        loop = args.virtual_camera and not args.output and args.max_frames is None
        source = open_source(args.input, width=args.width, height=args.height, fps=args.fps, loop=loop)
        model_path = args.model or segmentation.DEFAULT_MODEL_PATH
        segmenter = Segmenter(model_path, threads=args.threads)
        refiner = MatteRefiner(MatteSettings(
            threshold=args.threshold, softness=args.softness, feather=args.feather,
            smoothing=args.smoothing, edge_mode=args.edge_mode))
        pipeline = Pipeline(segmenter, refiner, compositor, model_every_n=args.model_every_n)

        width, height = source.size
        max_frames = args.max_frames
        if max_frames is None and (output_is_image or is_image_path(str(args.input))) and args.output:
            max_frames = 1  # a still image makes one output frame unless told otherwise
        virtual_camera = None
        if args.output:
            sinks.append(ImageFileSink(args.output) if output_is_image
                         else FileSink(args.output, width, height, source.fps))
        if args.virtual_camera:
            virtual_camera = VirtualCameraSink(width, height, source.fps,
                                               backend=args.vcam_backend, device=args.vcam_device)
            sinks.append(virtual_camera)
            print(f"Publishing to virtual camera {virtual_camera.device} (Ctrl+C to stop)", file=sys.stderr)

        total = max_frames
        if source.frame_count is not None and not loop:
            total = min(total, source.frame_count) if total else source.frame_count
        progress = tqdm(total=total, unit="frame", desc=source.description,
                        disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)
        totals = dict.fromkeys(STAGES, 0.0)
        frames = 0
        try:
            while max_frames is None or frames < max_frames:
                frame = source.read()
                if frame is None:
                    break
                output, timings = pipeline.process(frame)
                for sink in sinks:
                    sink.send(output)
                for stage in STAGES:
                    totals[stage] += timings[stage]
                frames += 1
                progress.update(1)
                if virtual_camera is not None and not source.is_live:
                    virtual_camera.wait_for_next_frame()  # play files at their own frame rate
        except KeyboardInterrupt:
            pass
        progress.close()
        for sink in sinks:
            sink.close()
        if frames == 0:
            return _error(f"no frames could be read from {source.description}")
        average = ", ".join(f"{stage} {totals[stage] / frames:.1f}" for stage in STAGES)
        if args.output:
            print(f"Wrote {frames} frame{'s' if frames != 1 else ''} to {args.output}")
        print(f"Average ms per frame: {average}", file=sys.stderr)
        return 0
    except (SourceError, ModelError, BackgroundError, SinkError) as exc:
        if progress is not None:
            progress.close()
        return _error(str(exc))
    finally:
        for sink in sinks:
            try:
                sink.close()
            except SinkError:
                pass
        if source is not None:
            source.close()
        if compositor is not None:
            compositor.close()


if __name__ == "__main__":
    sys.exit(run())
