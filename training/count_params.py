"""Print PortraitNet's parameter count and FLOPs at 224 x 224 (inference graph and training graph).

    python -m training.count_params
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from training.model import PortraitNet, PortraitNetForExport


def count(module: torch.nn.Module, size: int = 224, height: int | None = None) -> tuple[int, int]:
    """(parameters, multiply-accumulates) for one image of size x size (or height x size)."""
    params = sum(p.numel() for p in module.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module.eval()(torch.zeros(1, 3, height or size, size))
    return params, counter.get_total_flops() // 2  # torch counts a multiply-add as two FLOPs


def main() -> int:
    net = PortraitNet("v3")
    inference = PortraitNetForExport(net)
    boundary_params = sum(p.numel() for p in net.boundary_head.parameters())
    _, macs = count(inference)
    # What the exported graph holds: encoder, decoder and the one-channel person head.
    used = (net.encoder, net.dblocks, net.upsamplers, inference.person_head)
    params = sum(p.numel() for module in used for p in module.parameters())
    print(f"PortraitNet v3 (inference graph, mask head): {params / 1e6:.3f} M parameters, "
          f"{macs / 1e9:.3f} GMACs ({2 * macs / 1e9:.3f} GFLOPs) at 224x224, "
          f"{count(inference, height=128)[1] / 1e9:.3f} GMACs at 224x128 (a 16:9 frame's content)")
    print(f"  encoder {sum(p.numel() for p in net.encoder.parameters()) / 1e6:.3f} M, "
          f"decoder+head {(params - sum(p.numel() for p in net.encoder.parameters())) / 1e6:.3f} M; "
          f"boundary head (training only) {boundary_params} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
