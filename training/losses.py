"""PortraitNet's training losses: mask cross-entropy, boundary focal loss, consistency constraint (KL)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def mask_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy. target: N x H x W, either class indices (0 = background, 1 = person) or soft
    person probabilities (float): soft labels keep the teacher's uncertainty at hair and edges."""
    if target.is_floating_point():
        return F.cross_entropy(logits, torch.stack([1.0 - target, target], dim=1))
    return F.cross_entropy(logits, target)


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


def portraitnet_loss(out_a, out_b, mask, boundary, weights: dict) -> tuple[torch.Tensor, dict]:
    """Total loss for a pair of views: A (deformation only) and B (deformation + texture).

    out_a / out_b: (mask logits, boundary logits). weights: boundary, consistency, temperature.
    """
    (mask_a, edge_a), (mask_b, edge_b) = out_a, out_b
    parts = {"mask": mask_loss(mask_a, mask) + mask_loss(mask_b, mask)}
    if weights["boundary"] > 0:
        parts["boundary"] = weights["boundary"] * (boundary_focal_loss(edge_a, boundary) + boundary_focal_loss(edge_b, boundary))
    if weights["consistency"] > 0:
        parts["consistency"] = weights["consistency"] * consistency_loss(mask_b, mask_a, weights["temperature"])
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}
