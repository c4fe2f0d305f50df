"""Export a trained PortraitNet checkpoint to ONNX (mask head only) and check it against PyTorch.

    python -m training.export --checkpoint runs/main/best.pt --output models/portraitnet.onnx
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from training.model import PortraitNet, PortraitNetForExport

INPUT_SIZE = 224
OPSET = 17


def load_checkpoint(path: str | Path) -> PortraitNet:
    state = torch.load(path, map_location="cpu", weights_only=True)
    # Checkpoints before v2 carry no "arch": they are the from-scratch v1 layout.
    net = PortraitNet(state.get("arch", "v1") if "model" in state else "v1")
    net.load_state_dict(state["model"] if "model" in state else state)
    return net.eval()


def export_onnx(net: PortraitNet, output: str | Path) -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    graph = PortraitNetForExport(net.eval())
    dummy = torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(
        graph,
        (dummy,),
        str(output),
        input_names=["image"],
        output_names=["mask"],
        # Height and width are dynamic (multiples of 32): the app feeds only the frame's content,
        # 224x128 for 16:9, instead of the 224x224 square; 1x3x224x224 still works.
        dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "mask": {0: "batch", 2: "height", 3: "width"}},
        opset_version=OPSET,
        dynamo=False,
    )
    return output


def max_abs_difference(net: PortraitNet, onnx_path: str | Path, images: np.ndarray) -> float:
    """Largest |PyTorch - onnxruntime| over the given N x 3 x H x W batch."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"image": images.astype(np.float32)})
    with torch.no_grad():
        torch_out = PortraitNetForExport(net.eval())(torch.from_numpy(images.astype(np.float32))).numpy()
    return float(np.abs(onnx_out - torch_out).max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="training checkpoint (.pt); omit to export an untrained network")
    parser.add_argument("--output", default="models/portraitnet.onnx")
    args = parser.parse_args(argv)
    net = load_checkpoint(args.checkpoint) if args.checkpoint else PortraitNet().eval()
    path = export_onnx(net, args.output)
    rng = np.random.default_rng(0)
    diff = max(max_abs_difference(net, path, rng.random((2, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)),
               max_abs_difference(net, path, rng.random((1, 3, 128, INPUT_SIZE), dtype=np.float32)))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); max |torch - onnxruntime| = {diff:.2e}")
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
