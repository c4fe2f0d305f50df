"""Reduced-precision exports of the PortraitNet ONNX model, for the speed/accuracy comparison.

- int8 static (QDQ, per-channel weights, activation ranges from the 99.999th percentile over real
  letterboxed frames, which kept more IoU than min/max on a partly trained model);
- int8 encoder only (the same, with the decoder and mask head left in float: the encoder holds
  most of the arithmetic, the decoder most of the precision that edges need);
- int8 dynamic (weights only; activations quantised at run time);
- fp16 (weights and activations; inputs/outputs stay float32 so the app contract holds).

Files go to runs/bench/models/<model digest>/ (ignored by git) and are rebuilt when the source
model changes. Nothing here is used by the app unless a variant wins and the lead ships it.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import onnx

from bench.clips import CACHE_DIR
from training.quantize import quantize_int8

VARIANTS = ("int8_static", "int8_encoder", "int8_dynamic", "fp16")
RECIPE = 3  # bump when a recipe changes, so cached exports are rebuilt (3: training/quantize.py's int8)
ENCODER_PREFIX = "/encoder/"  # node-name prefix of the MobileNetV2 encoder in training/export.py's graph


def model_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def build_variants(model_path: Path, calibration_frames: list[np.ndarray],
                   cache_dir: Path = CACHE_DIR) -> dict[str, dict]:
    """{variant: {"path": str} or {"error": str}}; cached per source-model digest."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_path = Path(model_path)
    calibration_digest = hashlib.sha256(b"".join(f.tobytes()[::997] for f in calibration_frames)).hexdigest()[:8]
    out_dir = Path(cache_dir) / "models" / f"{model_digest(model_path)}-{calibration_digest}-r{RECIPE}"
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.getLogger().setLevel(logging.ERROR)  # quantisation tools log every node otherwise
    prepared = out_dir / "portraitnet.prep.onnx"
    results: dict[str, dict] = {}

    def build(name: str, make) -> None:
        target = out_dir / f"portraitnet.{name}.onnx"
        try:
            if not target.is_file():
                partial = target.with_suffix(".partial.onnx")
                make(partial)
                partial.replace(target)
            results[name] = {"path": str(target)}
        except Exception as exc:  # report the variant as unavailable rather than abort the run
            results[name] = {"error": " ".join(str(exc).split())[:300]}

    def prepare() -> Path:
        if not prepared.is_file():
            quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=True)
        return prepared

    def static(target: Path, keep_float: list[str]) -> None:
        quantize_int8(model_path, target, calibration_frames, nodes_to_exclude=keep_float)

    def int8_static(target: Path) -> None:
        static(target, [])

    def int8_encoder(target: Path) -> None:
        nodes = [node.name for node in onnx.load(str(prepare())).graph.node]
        if not any(name.startswith(ENCODER_PREFIX) for name in nodes):
            raise ValueError(f"no nodes named {ENCODER_PREFIX}*: cannot tell the encoder apart")
        static(target, [name for name in nodes if not name.startswith(ENCODER_PREFIX)])

    def int8_dynamic(target: Path) -> None:
        quantize_dynamic(str(prepare()), str(target), weight_type=QuantType.QUInt8)

    def fp16(target: Path) -> None:
        from onnxruntime.transformers.float16 import convert_float_to_float16
        model = convert_float_to_float16(onnx.load(str(model_path)), keep_io_types=True)
        onnx.save(model, str(target))

    build("int8_static", int8_static)
    build("int8_encoder", int8_encoder)
    build("int8_dynamic", int8_dynamic)
    build("fp16", fp16)
    return results


def main(argv: list[str] | None = None) -> int:
    """Export one variant to a chosen path, e.g. to ship the int8 model if the lead decides to."""
    import argparse
    import shutil

    from app.resources import SAMPLE_CLIP
    from app.segmentation import DEFAULT_MODEL_PATH
    from bench.clips import read_frames

    parser = argparse.ArgumentParser(prog="python -m bench.variants", description=main.__doc__)
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH.with_name("portraitnet_fp32.onnx"),
                        help="float ONNX model (default: the shipped model's float export)")
    parser.add_argument("--calibration-clip", type=Path, default=SAMPLE_CLIP,
                        help="video whose frames calibrate int8_static (16 frames, every 2nd)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    frames = read_frames(args.calibration_clip, 16, step=2)
    if args.variant == "int8_static" and not frames:
        parser.error(f"no frames could be read from {args.calibration_clip}")
    result = build_variants(args.model, frames)[args.variant]
    if "error" in result:
        print(f"{args.variant} failed: {result['error']}")
        return 1
    shutil.copyfile(result["path"], args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
