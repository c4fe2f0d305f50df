"""A uniform weight soup: the mean of several fine-tuned checkpoints of one network.

    python -m training.soup --output runs/soup/last.pt runs/v4/last.pt runs/v5/last.pt runs/v6/last.pt

Wortsman et al., "Model soups" (ICML 2022): fine-tunes that start from the same weights stay in one
basin of the loss, so the mean of their weights is a model that is usually better than each of
them, at no cost at inference (same network, same size). Every float tensor is averaged, BatchNorm
running statistics included; integer tensors (BatchNorm's batch counter) come from the first.

Uniform, not greedy: a greedy soup keeps an ingredient when a held-out score improves, which would
make the held-out evaluation a selection set. The ingredients are picked without looking at any
score: runs' last iterations and the snapshots a run kept along the way (keep_checkpoints).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch


def soup(states: list[dict]) -> dict:
    """The mean of the checkpoints' "model" tensors (float ones; others from the first)."""
    if not states:
        raise ValueError("a soup needs at least one checkpoint")
    arch = {state.get("arch") for state in states}
    if len(arch) != 1:
        raise ValueError(f"checkpoints of different architectures cannot be averaged: {sorted(map(str, arch))}")
    first = states[0]["model"]
    for state in states[1:]:
        if state["model"].keys() != first.keys() or any(state["model"][k].shape != v.shape for k, v in first.items()):
            raise ValueError("checkpoints do not hold the same tensors")
    mean = {name: (torch.stack([s["model"][name].float() for s in states]).mean(0).to(tensor.dtype)
                   if tensor.is_floating_point() else tensor.clone())
            for name, tensor in first.items()}
    return {"model": mean, "arch": states[0].get("arch")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    states = [torch.load(path, map_location="cpu", weights_only=False) for path in args.checkpoints]
    result = soup(states)
    result["ingredients"] = [str(path) for path in args.checkpoints]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, args.output)
    print(f"{args.output}: the mean of {len(states)} checkpoints")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
