"""PortraitNet's training losses: mask cross-entropy, boundary focal loss, consistency constraint (KL)."""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def mask_loss(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy. target: N x H x W, either class indices (0 = background, 1 = person) or soft
    person probabilities (float): soft labels keep the teacher's uncertainty at hair and edges.
    reduction: as F.cross_entropy's ("none": per pixel)."""
    if target.is_floating_point():
        return F.cross_entropy(logits, torch.stack([1.0 - target, target], dim=1), reduction=reduction)
    return F.cross_entropy(logits, target, reduction=reduction)


def boundary_focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al.): boundary pixels are a few percent of the image, so easy pixels are down-weighted."""
    log_p = F.log_softmax(logits, dim=1)
    log_pt = log_p.gather(1, target.unsqueeze(1)).squeeze(1)
    return (-((1.0 - log_pt.exp()) ** gamma) * log_pt).mean()


def consistency_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) between soft masks at temperature T, scaled by T^2 as in distillation.

    The teacher is the deformation-only view, detached: the texture-augmented view must match it.
    """
    t = temperature
    teacher = F.softmax(teacher_logits.detach() / t, dim=1)
    student_log = F.log_softmax(student_logits / t, dim=1)
    return F.kl_div(student_log, teacher, reduction="none").sum(1).mean() * (t * t)


def soft(alpha: torch.Tensor) -> torch.Tensor:
    """Where the alpha is neither background nor person: hair, soft edges."""
    return (alpha > 0.02) & (alpha < 0.98)


def edge_band(alpha: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
    """Pixels where the edge is decided: the boundary label's band and wherever the alpha is soft (hair)."""
    return (boundary > 0) | soft(alpha)


def edge_alpha_loss(logits: torch.Tensor, alpha: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
    """Matting losses in the edge band: L1 between the person probability and the soft alpha, plus L1
    between their Sobel gradients. Cross-entropy averages over the whole picture, where edge pixels
    are a few percent, and scores a soft edge placed a pixel off almost as well as a right one; these
    weigh only the band, where the app's matte (edge MAD, boundary F) is decided."""
    prob = F.softmax(logits, dim=1)[:, 1:2]
    target = alpha.unsqueeze(1).to(prob.dtype)
    band = edge_band(alpha, boundary).unsqueeze(1).to(prob.dtype)
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=prob.dtype, device=prob.device) / 4.0
    kernels = torch.stack([sobel_x, sobel_x.t()]).unsqueeze(1)
    grad_error = (F.conv2d(prob, kernels, padding=1) - F.conv2d(target, kernels, padding=1)).abs().sum(1, keepdim=True)
    count = band.sum().clamp(min=1.0)
    return (((prob - target).abs() + grad_error) * band).sum() / count


HOLE_MIN_SHARE = 0.001  # enclosed background under this share of the picture is a label speck, not a hole


def enclosed_background(alpha: torch.Tensor, min_share: float = HOLE_MIN_SHARE) -> torch.Tensor:
    """N x H x W bool: background (alpha < 0.5) that the person encloses, i.e. not joined to the
    picture's border through background (4-connected): the gap between a raised arm and the head, or
    between an arm on the hip and the body. Pockets under min_share of the picture do not count: a
    teacher's speck inside a dark shirt is label noise, not a hole to learn."""
    out = np.zeros(alpha.shape, bool)
    for i, a in enumerate(alpha.detach().cpu().numpy()):
        background = (a < 0.5).astype(np.uint8)
        padded = cv2.copyMakeBorder(background, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)  # one border component
        _, labels, stats, _ = cv2.connectedComponentsWithStats(padded, connectivity=4)
        keep = stats[:, cv2.CC_STAT_AREA] >= min_share * a.size
        keep[labels[0, 0]] = False  # the room around the person
        keep[0] = False             # the person
        out[i] = keep[labels[1:-1, 1:-1]]
    return torch.from_numpy(out).to(alpha.device)


def hole_loss(logits: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the soft alpha on the enclosed background, summed and divided by all the
    pixels, as the mask loss is: with weight w a hole pixel counts 1 + w times. Holes are a fraction of
    a percent of the pixels, and a network that fills them loses little; on a room the colour of the
    person it has only the shape to go on (models/MODEL_CARD.md, session 15's camouflaged clip).
    (Averaged over the hole pixels alone, v33, a batch's one small pocket took the whole weight, and
    the held-out IoU fell 0.02 in 200 iterations.)"""
    holes = enclosed_background(alpha).to(logits.device)
    if not bool(holes.any()):
        return logits.sum() * 0.0
    return (mask_loss(logits, alpha.to(logits.dtype), reduction="none") * holes).sum() / holes.numel()


def temporal_difference_loss(logits_a, logits_b, alpha_a, alpha_b, still_camera) -> torch.Tensor:
    """For pairs that are two frames of one still camera (the person moved, the room did not): L1
    between the change of the person probability from A to B and the change of the alpha, per pixel,
    in the band where either changes or is soft. This is what dtSSD scores on video: an error that
    stays put between frames costs nothing here, one that comes and goes (flicker) does. 0 for a
    batch without such pairs."""
    if not bool(still_camera.any()):
        return logits_a.new_zeros(())
    pick = still_camera.bool()
    prob_a = F.softmax(logits_a[pick], dim=1)[:, 1]
    prob_b = F.softmax(logits_b[pick], dim=1)[:, 1]
    alpha_a, alpha_b = alpha_a[pick].to(prob_a.dtype), alpha_b[pick].to(prob_a.dtype)
    error = ((prob_b - prob_a) - (alpha_b - alpha_a)).abs()
    band = soft(alpha_a) | soft(alpha_b) | ((alpha_b - alpha_a).abs() > 0.02) | ((prob_b - prob_a).detach().abs() > 0.02)
    band = band.to(error.dtype)
    return ((error * band).flatten(1).sum(1) / band.flatten(1).sum(1).clamp(min=1.0)).mean()


def overlap(size: int, offset: int) -> tuple[slice, slice]:
    """Along one axis, view B starts `offset` px into view A (both `size` long): the common part as
    (slice in A, slice in B)."""
    if offset >= 0:
        return slice(offset, size), slice(0, size - offset)
    return slice(0, size + offset), slice(-offset, size)


def shifted_consistency_loss(student_logits, teacher_logits, shifts, temperature: float = 1.0) -> torch.Tensor:
    """consistency_loss where view B (student) was cut `shifts[i] = (dy, dx)` px away from view A: only
    the pixels both views see are compared, each against the same picture pixel."""
    height, width = teacher_logits.shape[-2:]
    losses = []
    # Samples carry B's origin as floats (shared with scaled views); unscaled, it is whole pixels.
    for i, (dy, dx) in enumerate(shifts.round().long().tolist()):
        (ya, yb), (xa, xb) = overlap(height, dy), overlap(width, dx)
        losses.append(consistency_loss(student_logits[i : i + 1, :, yb, xb], teacher_logits[i : i + 1, :, ya, xa], temperature))
    return torch.stack(losses).mean()


def scaled_consistency_loss(student_logits, teacher_logits, origins, scales, temperature: float = 1.0) -> torch.Tensor:
    """consistency_loss where view B (student) starts at `origins[i]` = (top, left) of view A, in A's
    pixels, and shows `scales[i]` of its pixels per A pixel: B's logits are sampled at each A pixel's
    place (bilinear), and only the A pixels that B also sees are compared."""
    height, width = teacher_logits.shape[-2:]
    rows = torch.arange(height, dtype=torch.float32, device=teacher_logits.device).view(1, height, 1) + 0.5
    cols = torch.arange(width, dtype=torch.float32, device=teacher_logits.device).view(1, 1, width) + 0.5
    scales = scales.float().view(-1, 1, 1)
    # An A pixel centre in B's pixels, then in grid_sample's [-1, 1] (align_corners=False)
    b_rows = scales * (rows - origins[:, 0].float().view(-1, 1, 1))
    b_cols = scales * (cols - origins[:, 1].float().view(-1, 1, 1))
    b_rows, b_cols = torch.broadcast_tensors(b_rows, b_cols)
    grid = torch.stack([b_cols / student_logits.shape[-1] * 2 - 1, b_rows / student_logits.shape[-2] * 2 - 1], dim=-1)
    seen = ((grid > -1) & (grid < 1)).all(-1)
    student = F.grid_sample(student_logits, grid, mode="bilinear", padding_mode="border", align_corners=False)
    t = temperature
    teacher = F.softmax(teacher_logits.detach() / t, dim=1)
    per_pixel = F.kl_div(F.log_softmax(student / t, dim=1), teacher, reduction="none").sum(1)
    return (per_pixel * seen).sum() / seen.sum().clamp(min=1) * (t * t)


def portraitnet_loss(out_a, out_b, mask, boundary, weights: dict, mask_b=None, boundary_b=None, shifts=None,
                     scales=None, still_camera=None):
    """Total loss for a pair of views: A (deformation only) and B (deformation + texture, optionally cut
    `shifts` px away from A and, with `scales`, at another pixel scale; with its own labels mask_b / boundary_b).

    out_a / out_b: (mask logits, boundary logits). weights: boundary, consistency, temperature and
    optionally edge_alpha (edge_alpha_loss on both views; needs soft targets), hole (hole_loss on
    both views; soft targets) and temporal
    (temporal_difference_loss on the pairs flagged still_camera; soft targets).
    Returns (total, {part: float}).
    """
    (mask_a, edge_a), (mask_b_logits, edge_b) = out_a, out_b
    mask_b = mask if mask_b is None else mask_b
    boundary_b = boundary if boundary_b is None else boundary_b
    parts = {"mask": mask_loss(mask_a, mask) + mask_loss(mask_b_logits, mask_b)}
    if weights["boundary"] > 0:
        parts["boundary"] = weights["boundary"] * (boundary_focal_loss(edge_a, boundary) + boundary_focal_loss(edge_b, boundary_b))
    def soft_targets_for(loss: str) -> None:
        if not (mask.is_floating_point() and mask_b.is_floating_point()):
            raise ValueError(f"the {loss} loss needs soft alpha targets (soft_labels)")

    if weights.get("edge_alpha", 0) > 0:
        soft_targets_for("edge alpha")
        parts["edge_alpha"] = weights["edge_alpha"] * (edge_alpha_loss(mask_a, mask, boundary)
                                                       + edge_alpha_loss(mask_b_logits, mask_b, boundary_b))
    if weights["consistency"] > 0:
        if scales is not None and bool((scales != 1).any()):
            consistency = scaled_consistency_loss(mask_b_logits, mask_a, shifts, scales, weights["temperature"])
        elif shifts is None or not shifts.any():
            consistency = consistency_loss(mask_b_logits, mask_a, weights["temperature"])
        else:
            consistency = shifted_consistency_loss(mask_b_logits, mask_a, shifts, weights["temperature"])
        parts["consistency"] = weights["consistency"] * consistency
    if weights.get("hole", 0) > 0:
        soft_targets_for("hole")
        parts["hole"] = weights["hole"] * (hole_loss(mask_a, mask) + hole_loss(mask_b_logits, mask_b))
    if weights.get("temporal", 0) > 0 and still_camera is not None:
        parts["temporal"] = weights["temporal"] * temporal_difference_loss(mask_a, mask_b_logits, mask, mask_b, still_camera)
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}
