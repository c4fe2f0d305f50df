"""Hard examples: which training people, backgrounds and photos the model still gets wrong.

    python -m training.mine --checkpoint runs/v6/last.pt --config training/configs/portraitnet_v7.json \
        --output runs/v7_hard_weights.json

Makes training samples as training does (the config's augmentation, a seed of its own), runs the
checkpoint on each and scores it (1 - IoU at 0.5 against the label). Every file a sample was made
from (the person, the background, or the real photo) gets the mean error of its samples (shrunk
toward the overall mean by PRIOR_SAMPLES); its sampling weight is that error over the mean error of
all samples, clipped to [MIN_WEIGHT, MAX_WEIGHT], so the next run sees a background the model mistakes for a person, or a person it
loses against a dark room, up to MAX_WEIGHT times as often, and what it already gets right a little
less. The weights go to the config's "hard_weights".
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from training.data import PortraitPairs, SampleSources
from training.export import load_checkpoint
from training.train import load_config, training_pairs

MIN_WEIGHT, MAX_WEIGHT = 0.5, 4.0
PRIOR_SAMPLES = 2  # each file's mean error starts as this many samples at the overall mean: one bad draw is not a hard file
MINING_SEED = 9001  # not a training seed: the samples scored are not the ones trained on


def sample_errors(net, dataset: PortraitPairs, count: int, batch_size: int = 16) -> list[tuple[float, dict]]:
    """(1 - IoU, the files it was made from) for the first `count` samples of the dataset."""
    results = []
    with torch.no_grad():
        for start in range(0, count, batch_size):
            items, picks = [], []
            for index in range(start, min(count, start + batch_size)):
                chosen: dict = {}
                items.append(dataset.sample(index, chosen))
                picks.append(chosen)
            images = torch.stack([item["view_a"] for item in items])
            predicted = torch.softmax(net(images)[0], dim=1)[:, 1] > 0.5
            for item, chosen, mask in zip(items, picks, predicted):
                truth = item["alpha"] > 0.5
                union = (mask | truth).sum().item()
                iou = (mask & truth).sum().item() / union if union else 1.0
                results.append((1.0 - iou, chosen))
    return results


def weights_from_errors(errors: list[tuple[float, dict]]) -> dict[str, dict[str, float]]:
    """Per kind and file name: its samples' mean error (shrunk toward the overall mean) over the
    mean error of all samples, clipped."""
    overall = max(float(np.mean([e for e, _ in errors])), 1e-6)
    by_file: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for error, chosen in errors:
        for kind, name in chosen.items():
            by_file[kind][name].append(error)
    def weight(values: list[float]) -> float:
        shrunk = (sum(values) + PRIOR_SAMPLES * overall) / (len(values) + PRIOR_SAMPLES)
        return float(np.clip(shrunk / overall, MIN_WEIGHT, MAX_WEIGHT))

    return {kind: {name: weight(values)
                   for name, values in sorted(files.items())}
            for kind, files in sorted(by_file.items())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--config", help="the training config whose augmentation to use")
    parser.add_argument("--samples", type=int, default=1600)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    torch.set_num_threads(config["threads"])
    sources = SampleSources.from_folder(config["data"], "train")
    dataset = training_pairs(config, sources, args.samples, MINING_SEED)  # uniform: what the model meets
    net = load_checkpoint(args.checkpoint)
    errors = sample_errors(net, dataset, args.samples)
    weights = weights_from_errors(errors)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(weights, indent=1))
    worst = sorted(((w, kind, name) for kind, files in weights.items() for name, w in files.items()), reverse=True)
    print(f"{len(errors)} samples, mean IoU {1 - np.mean([e for e, _ in errors]):.4f}; hardest files:")
    for w, kind, name in worst[:12]:
        print(f"  {w:.2f}  {kind:12s} {name}")
    print(f"weights written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
