"""Export a trained PortraitNet checkpoint to ONNX (mask head only) and check it against PyTorch.

    python -m training.export --checkpoint runs/main/best.pt --output models/portraitnet_fp32.onnx

The app ships the int8 model made from this float export by training/quantize.py.
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
    fold_zero_pads_into_convs(output)
    return output


def _constant(graph, name: str) -> np.ndarray | None:
    """Value of `name` if it is an initializer or a Constant (through Casts), else None."""
    import onnx.numpy_helper as nh

    for init in graph.initializer:
        if init.name == name:
            return nh.to_array(init)
    for node in graph.node:
        if name in node.output:
            if node.op_type == "Constant":
                return nh.to_array(node.attribute[0].t)
            if node.op_type == "Cast":
                return _constant(graph, node.input[0])
    return None


def fold_zero_pads_into_convs(path: str | Path) -> int:
    """Keras' bottom/right zero padding (F.pad before a stride-2 conv) exports as Pad -> Conv; an
    ONNX Conv takes asymmetric pads itself, so the Pad node and its extra copy of the feature map
    go (they cost ~5-10 % of the model's time in onnxruntime). Returns how many were folded."""
    import onnx
    import onnxruntime as ort

    # torch computes F.pad's amounts with shape ops; onnxruntime's basic level (hardware-independent,
    # standard ONNX ops only) folds them into constants first.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    model = onnx.load(str(path))
    graph = model.graph
    folded = 0
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in pad.attribute}
        consumers = [n for n in graph.node if pad.output[0] in n.input]
        pads = _constant(graph, pad.input[1])
        zero_value = len(pad.input) < 3 or not pad.input[2] or _constant(graph, pad.input[2]) == 0
        if (attrs.get("mode", b"constant") != b"constant" or pads is None or not zero_value
                or len(consumers) != 1 or consumers[0].op_type != "Conv" or len(pads) != 8
                or pads[[0, 1, 4, 5]].any()):
            continue
        conv = consumers[0]
        current = next((a for a in conv.attribute if a.name == "pads"), None)
        base = list(current.ints) if current is not None else [0, 0, 0, 0]
        new = [base[0] + int(pads[2]), base[1] + int(pads[3]), base[2] + int(pads[6]), base[3] + int(pads[7])]
        if current is not None:
            conv.attribute.remove(current)
        conv.attribute.append(onnx.helper.make_attribute("pads", new))
        conv.input[0] = pad.input[0]
        graph.node.remove(pad)
        folded += 1
    _drop_unused_nodes(graph)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return folded


def _drop_unused_nodes(graph) -> None:
    outputs = {o.name for o in graph.output}
    while True:
        used = outputs | {i for n in graph.node for i in n.input}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


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
    parser.add_argument("--output", default="models/portraitnet_fp32.onnx")
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
