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
    fold_head_into_last_upsampler(output)
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


def _phase_kernels(kernel: np.ndarray) -> np.ndarray:
    """The four 2x2 kernels, one per output phase (row parity a, column parity b; index 2a+b), that
    give KerasAlignedUpsample's 3x3 stride-2 transposed convolution as a plain convolution over the
    same replicate-padded input. Even output 2n takes K[0]·x[n] + K[2]·x[n-1], odd 2n+1 takes
    K[1]·x[n]; with the input padded by one cell at the top/left, x[n] sits at offset 1, x[n-1] at 0.
    kernel: C x 3 x 3 -> C x 4 x 2 x 2."""
    taps = {0: {1: 0, 0: 2}, 1: {1: 1}}  # parity -> {offset in the 2-cell window: kernel index}
    phases = np.zeros((kernel.shape[0], 4, 2, 2), np.float32)
    for a in (0, 1):
        for b in (0, 1):
            for dy, ky in taps[a].items():
                for dx, kx in taps[b].items():
                    phases[:, 2 * a + b, dy, dx] = kernel[:, ky, kx]
    return phases


def fold_head_into_last_upsampler(path: str | Path) -> bool:
    """Fold the 1x1 person head into the last aligned 2x upsampler (edge Pad -> depthwise 3x3 stride-2
    ConvTranspose -> two Slices -> head Conv). The head is linear and the upsampler works per channel,
    so one convolution with 2x2 kernels gives the head's single channel at half resolution in its four
    output phases, and DepthToSpace puts them in place: the same numbers, without eight
    full-resolution channels, the transposed convolution's scratch output and the Slices' two copies
    (~15 % of an int8 run in onnxruntime). The other upsamplers stay: rewritten the same way (phases +
    DepthToSpace, no head), they were no faster, since DepthToSpace copies as much as the Slices.
    Works on float and QDQ int8 exports (training/quantize.py keeps the last upsampler and the head in
    float). Returns whether it folded."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    consumers = lambda name: [n for n in graph.node if name in n.input]  # noqa: E731
    for upsample in [n for n in graph.node if n.op_type == "ConvTranspose"]:
        attrs = {a.name: helper.get_attribute_value(a) for a in upsample.attribute}
        weight = _constant(graph, upsample.input[1])
        if (weight is None or weight.shape[1:] != (1, 3, 3) or attrs.get("group") != weight.shape[0]
                or list(attrs.get("strides", [])) != [2, 2] or any(attrs.get("pads", [0])) or len(upsample.input) > 2):
            continue
        tensor, steps = upsample.output[0], []
        while len(steps) < 2 and len(consumers(tensor)) == 1 and consumers(tensor)[0].op_type == "Slice":
            steps.append(consumers(tensor)[0])
            tensor = steps[-1].output[0]
        heads = consumers(tensor)
        if len(steps) != 2 or len(heads) != 1 or heads[0].op_type != "Conv":
            continue
        head = heads[0]
        head_weight = _constant(graph, head.input[1])
        if (head_weight is None or head_weight.shape[0] != 1 or head_weight.shape[2:] != (1, 1)
                or head_weight.shape[1] != weight.shape[0]):
            continue
        # Output phase p = sum_c w_c * (phase p of channel c) + bias: 4 output channels, all 8 inputs.
        fused = (_phase_kernels(weight[:, 0]) * head_weight[0, :, 0, 0, None, None, None]).transpose(1, 0, 2, 3)
        bias = _constant(graph, head.input[2]) if len(head.input) > 2 else np.zeros(1, np.float32)
        prefix = upsample.name.rsplit("/", 1)[0]
        names = (f"{prefix}/head_phase_weight", f"{prefix}/head_phase_bias")
        graph.initializer.extend([numpy_helper.from_array(np.ascontiguousarray(fused, np.float32), names[0]),
                                  numpy_helper.from_array(np.repeat(bias, 4).astype(np.float32), names[1])])
        conv = helper.make_node("Conv", [upsample.input[0], *names], [f"{prefix}/head_phases"],
                                name=f"{prefix}/HeadPhaseConv", kernel_shape=[2, 2])
        shuffle = helper.make_node("DepthToSpace", conv.output, [head.output[0]], name=f"{prefix}/DepthToSpace",
                                   blocksize=2, mode="CRD")
        index = list(graph.node).index(head)
        graph.node.remove(head)
        graph.node.insert(index, conv)
        graph.node.insert(index + 1, shuffle)
        _drop_unused_nodes(graph)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return True
    return False


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
