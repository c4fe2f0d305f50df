"""Static int8 quantisation of an exported PortraitNet with ONNX Runtime (QDQ format).

    python -m training.quantize --model models/portraitnet_fp32.onnx --output models/portraitnet.onnx

Per-channel symmetric int8 weights, per-tensor uint8 activations, ranges from percentile
calibration on letterboxed pictures as the app feeds them (16:9, the app's input margin); the
recipe training/fake_quant.py simulates in quantisation-aware fine-tuning. Calibration pictures:
the training split's real photos and frames (never the held-out ones) and the bundled sample clip.

The encoder's stride-4 stem (its first convolution and first two blocks) stays in float: quantised,
it lost the person in dark clothes (the portrait's dark jacket corner: 78 % kept instead of 100 %,
and 82 % even after quantisation-aware fine-tuning); in float, 99.9 %. So do the decoder's last two
stages and the head (FLOAT_PREFIXES): they work at half and full resolution with 16 and 8 channels,
where int8 saved no time (7.0 ms a run at 224x224 either way, one thread) and cost the weight soup
(training/soup.py) its gain (held-out composites' worst decile 0.748 instead of 0.753, dtSSD 3.67
instead of 3.61). The rest of the network in int8 runs 5.2 instead of 7.3 ms (224x160).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from app.compositing import cover_resize
from app.segmentation import INPUT_NAME, Segmenter

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_SIZE = (640, 360)  # the app's usual 16:9 input: 224x160 with the margin
# ONNX node names (training/export.py) kept in float: the encoder's stride-4 stem, and the decoder
# from its last skip (the stride-4 features) on: the last two D-blocks, their upsamplers and the head.
FLOAT_PREFIXES = ("/encoder/to_stride4/", "/Add_2", "/dblocks.3/", "/dblocks.4/", "/upsamplers.3/",
                  "/upsamplers.4/", "/person_head/", "/Sigmoid")


class CalibrationReader:
    """onnxruntime CalibrationDataReader over preprocessed model inputs."""

    def __init__(self, tensors: list[np.ndarray]) -> None:
        self._iterator = iter({INPUT_NAME: t} for t in tensors)

    def get_next(self):
        return next(self._iterator, None)

    def rewind(self):  # not needed by the percentile calibrator, kept for the reader protocol
        pass


def calibration_pictures(data: Path = ROOT / "data", clip_frames: int = 16) -> list[np.ndarray]:
    """Training-split real pictures and every 2nd frame of the bundled sample clip, as BGR frames."""
    pictures = [cv2.imread(str(p)) for p in sorted((data / "real" / "train").glob("*.jpg"))]
    capture = cv2.VideoCapture(str(ROOT / "assets" / "samples" / "sample_clip.mp4"))
    for index in range(2 * clip_frames):
        ok, frame = capture.read()
        if not ok:
            break
        if index % 2 == 0:
            pictures.append(frame)
    capture.release()
    return [p for p in pictures if p is not None]


def float_nodes(prepared_model: Path, prefixes: tuple[str, ...] = FLOAT_PREFIXES) -> list[str]:
    import onnx

    return [n.name for n in onnx.load(str(prepared_model)).graph.node if n.name.startswith(prefixes)]


def quantize_int8(model: Path, output: Path, pictures: list[np.ndarray], nodes_to_exclude: list[str] | None = None) -> Path:
    """int8 QDQ model of `model`; nodes_to_exclude=None keeps FLOAT_PREFIXES in float ([]: none)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger().setLevel(logging.ERROR)  # the quantisation tools log every node otherwise
    preprocess = Segmenter(model, threads=1).preprocess
    tensors = [preprocess(cover_resize(p, *CALIBRATION_SIZE))[0] for p in pictures]
    prepared = output.with_suffix(".prep.onnx")
    partial = output.with_suffix(".partial.onnx")
    try:
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        keep_float = float_nodes(prepared) if nodes_to_exclude is None else nodes_to_exclude
        quantize_static(str(prepared), str(partial), CalibrationReader(tensors), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=keep_float)
        partial.replace(output)
    finally:
        prepared.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="float ONNX export (training.export)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    args = parser.parse_args(argv)
    pictures = calibration_pictures(args.data)
    path = quantize_int8(args.model, args.output, pictures)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB), calibrated on {len(pictures)} pictures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
