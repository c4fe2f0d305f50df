"""Train PortraitNet.

    python -m training.train --config training/configs/portraitnet.json            # start or resume
    python -m training.train --config training/configs/ablation_no_aux.json

Runs are resumable: the latest checkpoint in runs/<name>/last.pt is picked up automatically.
On a GPU ("device": "cuda", e.g. training/configs/portraitnet_v37.json) the samples, made by the
CPU workers, set the pace; `--seconds N` fits the iteration count to N seconds, and
`python -m training.pack_data` makes a copy of the data small enough to send to such a machine.
With "pretrained" set (the default), the encoder starts from the ImageNet MobileNetV2 converted by
`python -m training.pretrained`. Weight decay is decoupled (AdamW) and never applied to BatchNorm
parameters or biases: coupled L2 on BN weights once decayed a whole stage of v1 to zero. Every
evaluation also checks that no stage's activations have collapsed, and stops the run if one has.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from training.data import PortraitPairs, SampleSources
from training.losses import portraitnet_loss
from training.model import KerasAlignedUpsample, PortraitNet
from training.pretrained import DEFAULT_OUT as DEFAULT_PRETRAINED

DEFAULTS = {
    "name": "main",
    "data": "data",
    "iterations": 1500,
    "batch_size": 12,
    "crop": 160,                 # random crops of the 224 letterboxed input: same pixel scale, less compute
    "input_sizes": None,         # [smallest, largest]: letterbox each sample at a size drawn from this (people seen larger)
    "lr": 2e-3,
    "encoder_lr_scale": 0.5,     # pretrained encoder moves slower than the fresh decoder
    "weight_decay": 1e-4,        # decoupled (AdamW); BN parameters and biases are excluded
    "arch": "v2",
    "pretrained": str(DEFAULT_PRETRAINED),  # "" trains the encoder from scratch
    "soft_labels": True,         # cross-entropy against the soft alpha, not alpha > 0.5
    "boundary_weight": 0.1,      # paper: lambda = 0.1 on the boundary focal loss
    "consistency_weight": 2.0,   # paper: alpha = 2 on the KL consistency loss
    "temperature": 1.0,
    "edge_alpha_weight": 0.0,    # matting losses in the edge band (losses.edge_alpha_loss): alpha and gradient L1
    "real_fraction": 0.3,
    "max_shift": 0,              # view B cut up to this many px away from view A (shift consistency)
    "max_scale": 0.0,            # view B also up to (1 + this)x larger or smaller than view A (scale consistency)
    "person_motion": 0.0,        # share of composites whose view B moves the person, not the camera (data.py)
    "hole_weight": 0.0,          # cross-entropy on the background the person encloses (losses.hole_loss)
    "temporal_weight": 0.0,      # on those pairs: the mask's change A -> B against the alpha's (losses.temporal_difference_loss)
    "edge_crops": 0.0,           # share of crops whose edge is the picture's edge, as at inference
    "small_people": 0.0,         # share of composites with a far-away person (full-body scale)
    "webcam": 0.0,               # share of samples seen through a 160x120..320x240 webcam, scaled up
    "dark": 0.0,                 # share of samples in a dim room (gamma, gain, sensor noise)
    "distractors": 0.0,          # share of composites with non-person objects behind the person
    "camouflage": 0.0,           # share of composites whose room takes the person's outline colours
    "camouflage_min_lightness": 0.0,  # ... but never darker than this (8-bit Lab L; 0: as dark as the outline)
    "prints": 0.0,               # share of composites whose person wears prints (ribbons, badges, name tags)
    "poles": 0.0,                # share of composites with thin upright objects beside the person's outline
    "look_alikes": 0.0,          # share of composites with objects coloured like the person touching the outline
    "hard_weights": "",          # JSON of sampling weights by file (training/mine.py): hard examples more often
    "init_from": "",             # start from this checkpoint's weights (layers whose shapes differ stay new)
    "fake_quant": False,         # simulate int8 in training (training/fake_quant.py): quantisation-aware fine-tuning
    "eval_every": 250,
    "keep_checkpoints": False,   # also keep each evaluation's weights (iteration_<n>.pt), e.g. for a weight soup
    "eval_samples": 96,
    "threads": 2,
    "workers": 1,
    "device": "cpu",             # "cuda" (or "auto": cuda when there is one); samples are always made on the CPU
    "seed": 0,
}


def training_pairs(config: dict, sources: SampleSources, length: int, seed: int,
                   weights: dict | None = None) -> PortraitPairs:
    """The training samples a config describes (its augmentation and mix), from `seed` on."""
    return PortraitPairs(sources, length, crop=config["crop"], real_fraction=config["real_fraction"],
                         seed=seed, max_shift=config["max_shift"], edge_crops=config["edge_crops"],
                         small_people=config["small_people"], webcam=config["webcam"], dark=config["dark"],
                         distractors=config["distractors"], weights=weights, input_sizes=config["input_sizes"],
                         max_scale=config["max_scale"], person_motion=config["person_motion"],
                         camouflage=config["camouflage"], camouflage_min_lightness=config["camouflage_min_lightness"],
                         prints=config["prints"], poles=config["poles"],
                         look_alikes=config["look_alikes"])


def load_config(path: str | None) -> dict:
    config = dict(DEFAULTS)
    if path:
        config.update(json.loads(Path(path).read_text()))
    return config


def parameter_groups(net: PortraitNet, config: dict) -> list[dict]:
    """AdamW groups: weight decay only on conv/linear weights; the encoder at a lower learning rate."""
    groups = {(enc, decay): [] for enc in (True, False) for decay in (True, False)}
    for name, param in net.named_parameters():
        decay = param.ndim > 1  # BN weights/biases and conv biases are 1-D
        groups[(name.startswith("encoder."), decay)].append(param)
    return [{"params": params, "lr": config["lr"] * (config["encoder_lr_scale"] if enc else 1.0),
             "weight_decay": config["weight_decay"] if decay else 0.0}
            for (enc, decay), params in groups.items() if params]


def stage_activity(net: PortraitNet, images: torch.Tensor) -> dict[str, float]:
    """Mean |activation| at the output of every encoder stage and decoder block."""
    modules = {f"encoder.{n}": getattr(net.encoder, n) for n in ("to_stride4", "to_stride8", "to_stride16", "to_stride32")}
    modules.update({f"dblocks.{i}": block for i, block in enumerate(net.dblocks)})
    activity, hooks = {}, []
    for name, module in modules.items():
        hooks.append(module.register_forward_hook(
            lambda _m, _i, out, name=name: activity.__setitem__(name, float(out.abs().mean()))))
    was_training = net.training
    net.eval()
    with torch.no_grad():
        net(images)
    net.train(was_training)
    for hook in hooks:
        hook.remove()
    return activity


def init_from_checkpoint(net: PortraitNet, path: str) -> str:
    """Copy every tensor of a saved PortraitNet whose name and shape match; the rest keep their init.
    (v3 starts from v2 this way: same encoder, D-blocks and heads, new upsamplers.)"""
    saved = torch.load(path, map_location="cpu", weights_only=False)["model"]
    own = net.state_dict()
    matching = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(matching, strict=False)
    for name, module in net.named_modules():
        if isinstance(module, KerasAlignedUpsample) and f"{name}.weight" in saved and f"{name}.weight" not in matching:
            module.match_gain(saved[f"{name}.weight"])
    fresh = sorted({k.rsplit(".", 1)[0] for k in own if k not in matching})
    return f"{len(matching)}/{len(own)} tensors copied; new: {', '.join(fresh) or 'none'}"


def dead_stages(activity: dict[str, float], floor: float = 1e-3) -> list[str]:
    return [name for name, value in activity.items() if value < floor]


def training_device(config: dict) -> torch.device:
    wanted = config["device"]
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"config asks for device {wanted!r} but PyTorch sees no CUDA device")
    return torch.device(wanted)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def cpu_state_dict(state: dict) -> dict:
    """Checkpoints hold CPU tensors, so a run trained on a GPU loads anywhere."""
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def loss_weights(config: dict) -> dict:
    return {"boundary": config["boundary_weight"], "consistency": config["consistency_weight"],
            "temperature": config["temperature"], "edge_alpha": config["edge_alpha_weight"],
            "temporal": config["temporal_weight"], "hole": config["hole_weight"]}


def training_step(net: PortraitNet, optimizer, batch: dict, config: dict) -> dict[str, float]:
    """One optimiser step on a pair batch (already on the network's device); the loss's parts."""
    out_a = net(batch["view_a"])
    out_b = net(batch["view_b"])
    target_a, target_b = (batch["alpha"], batch["alpha_b"]) if config["soft_labels"] else (batch["mask"], batch["mask_b"])
    loss, parts = portraitnet_loss(out_a, out_b, target_a, batch["boundary"], loss_weights(config),
                                   mask_b=target_b, boundary_b=batch["boundary_b"], shifts=batch["shift"],
                                   scales=batch["scale"], still_camera=batch["still_camera"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return parts


def iterations_for_seconds(config: dict, sources: SampleSources, net: PortraitNet, device: torch.device,
                           seconds: float, probe_batches: int = 60) -> int:
    """The iteration count that makes the run last about `seconds`: real training steps are timed on
    a throwaway copy of the network, fed as the run will be, so the rate counts both the samples
    (made on the CPU: what limits a GPU run) and whatever the training process itself costs."""
    started = time.time()
    # Not part of the rate: worker start-up, image decoding, the first steps' set-up, and the batches the
    # workers make in parallel before the first step (each makes a whole batch; two each are queued).
    warm_up, timed = max(5, 2 * config["workers"]), 0
    probe = training_pairs(config, sources, (warm_up + probe_batches) * config["batch_size"], config["seed"] + 10_000)
    loader = DataLoader(probe, batch_size=config["batch_size"], num_workers=config["workers"], drop_last=True,
                        pin_memory=device.type == "cuda")
    scratch = copy.deepcopy(net).train()
    optimizer = torch.optim.AdamW(parameter_groups(scratch, config))
    for i, batch in enumerate(loader):
        if i == warm_up:
            timed_from = time.time()
        training_step(scratch, optimizer, to_device(batch, device), config)
        timed = i + 1 - warm_up
        if timed >= 3 and time.time() - started > 0.1 * seconds:  # a probe that eats the run's time measures nothing useful
            break
    per_batch = (time.time() - timed_from) / timed
    iterations = max(1, int((seconds - (time.time() - started)) / per_batch))
    print(f"{per_batch * 1000:.0f} ms a training step at batch {config['batch_size']}: "
          f"{iterations} iterations for {seconds:.0f} s")
    return iterations


def evaluate_iou(net: PortraitNet, batches) -> float:
    """Person IoU over a fixed held-out set of composites (exact alpha), summed over all pixels."""
    net.eval()
    inter = union = 0
    with torch.no_grad():
        for batch in batches:
            pred = net(batch["view_a"])[0].argmax(1)
            gt = batch["mask"]
            inter += int(((pred == 1) & (gt == 1)).sum())
            union += int(((pred == 1) | (gt == 1)).sum())
    net.train()
    return inter / max(union, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="JSON file overriding the defaults in training/train.py")
    parser.add_argument("--iterations", type=int, help="override the config's iteration count")
    parser.add_argument("--data", help="override the config's data folder (the output of training.prepare_data)")
    parser.add_argument("--seconds", type=float,
                        help="instead of the config's iteration count, as many as fit in this time (from timed steps)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.iterations:
        config["iterations"] = args.iterations
    if args.data:
        config["data"] = args.data

    torch.manual_seed(config["seed"])
    torch.set_num_threads(config["threads"])
    if config["workers"] > 1:
        # One worker process per core makes the samples; OpenCV's own threads would only contend. Set
        # here, before any worker is forked: a forked worker that resizes OpenCV's pool hangs.
        cv2.setNumThreads(1)
    run_dir = Path("runs") / config["name"]
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.seconds and (run_dir / "last.pt").exists():  # resuming a timed run: its count was fixed at its start
        config["iterations"] = json.loads((run_dir / "config.json").read_text())["iterations"]
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))

    train_sources = SampleSources.from_folder(config["data"], "train")
    eval_sources = SampleSources.from_folder(config["data"], "eval")
    eval_set = PortraitPairs(eval_sources, config["eval_samples"], real_fraction=0.0, seed=12345, augment=False)
    device = training_device(config)
    eval_batches = [to_device(batch, device) for batch in DataLoader(eval_set, batch_size=16)]

    net = PortraitNet(config["arch"])
    if config["pretrained"]:
        pretrained = torch.load(config["pretrained"], map_location="cpu", weights_only=True)
        net.encoder.load_state_dict(pretrained["encoder"])
        print(f"encoder initialised from {config['pretrained']} ({pretrained['source']})")
    if config["init_from"]:
        print(f"initialised from {config['init_from']}: {init_from_checkpoint(net, config['init_from'])}")
    if config["fake_quant"]:
        from training import fake_quant
        state_dict_of = fake_quant.float_state_dict
    else:
        state_dict_of = lambda module: module.state_dict()  # noqa: E731
    last = run_dir / "last.pt"
    resume = torch.load(last, map_location="cpu", weights_only=False) if last.exists() else None
    if resume is not None:
        net.load_state_dict(resume["model"])  # float weights under plain names, before any fake quantisation
    if config["fake_quant"]:
        fake_quant.install(net)
    net.to(device)
    if args.seconds and resume is None:
        config["iterations"] = iterations_for_seconds(config, train_sources, net, device, args.seconds)
        (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    samples = config["iterations"] * config["batch_size"]
    sample_weights = json.loads(Path(config["hard_weights"]).read_text()) if config["hard_weights"] else None
    train_set = training_pairs(config, train_sources, samples, config["seed"], sample_weights)
    optimizer = torch.optim.AdamW(parameter_groups(net, config))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=config["iterations"], pct_start=0.05)
    start, best_iou, history = 0, -1.0, []
    if resume is not None:
        state = resume
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, best_iou, history = state["iteration"], state["best_iou"], state["history"]
        print(f"resuming {run_dir} at iteration {start}")

    # The sampler order is fixed by the seed, so resuming skips exactly the samples already seen.
    remaining = torch.utils.data.Subset(train_set, range(start * config["batch_size"], samples))
    loader = DataLoader(remaining, batch_size=config["batch_size"], shuffle=False, num_workers=config["workers"],
                        persistent_workers=config["workers"] > 0, drop_last=True, pin_memory=device.type == "cuda")
    net.train()
    progress = tqdm(loader, initial=start, total=config["iterations"], desc=config["name"], dynamic_ncols=True)
    started = time.time()
    iteration = start
    for batch in progress:
        parts = training_step(net, optimizer, to_device(batch, device), config)
        scheduler.step()
        iteration += 1
        progress.set_postfix({k: f"{v:.3f}" for k, v in parts.items()})
        if iteration % config["eval_every"] == 0 or iteration == config["iterations"]:
            iou = evaluate_iou(net, eval_batches)
            activity = stage_activity(net, eval_batches[0]["view_a"])
            history.append({"iteration": iteration, "eval_iou": iou, "loss": parts, "seconds": time.time() - started,
                            "stage_activity": activity})
            progress.write(f"iteration {iteration}: held-out composite IoU {iou:.4f}")
            if iou > best_iou:
                best_iou = iou
                torch.save({"model": cpu_state_dict(state_dict_of(net)), "arch": net.arch, "iteration": iteration, "eval_iou": iou},
                           run_dir / "best.pt")
            torch.save({"model": cpu_state_dict(state_dict_of(net)), "arch": net.arch, "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "iteration": iteration, "best_iou": best_iou,
                        "history": history}, last)
            (run_dir / "history.json").write_text(json.dumps(history, indent=2))
            if config["keep_checkpoints"]:
                torch.save({"model": cpu_state_dict(state_dict_of(net)), "arch": net.arch, "iteration": iteration, "eval_iou": iou},
                           run_dir / f"iteration_{iteration}.pt")
            dead = dead_stages(activity)
            if dead:
                raise SystemExit(f"stage(s) {', '.join(dead)} output ~0 for every input (mean |activation| < 1e-3): "
                                 f"the network has collapsed there; see {run_dir / 'history.json'}")
    print(f"done: best held-out composite IoU {best_iou:.4f}; checkpoints in {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
