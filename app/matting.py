"""Turns the model's low-resolution probability mask into a clean, stable alpha matte.

Steps: temporal smoothing (EMA) at model resolution, where it is cheapest; upsampling to a
working resolution; a threshold/softness curve (smoothstep); edge feathering with a guided
filter (edges snap to the frame's own edges, e.g. hair) or a Gaussian; upsampling to the frame.

With the guided filter the edge is finished at the frame's own resolution: the filter's local
linear model (alpha = a . colour + b, a colour guide) is fitted at the working size and applied to the full-size
frame's pixels in the boundary band (He & Sun's fast guided filter, the non-learned form of the
deep guided filter that Robust Video Matting uses), so a strand of hair that the 180-px working
image cannot hold still gets its own alpha. Outside the band the alpha is 0 or 1 anyway.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from app.imaging import FramePyramid, reduce_by_power_of_two
from app.resources import resource_root

EDGE_MODES = ("learned", "guided", "gaussian")  # learned: the guided filter with EdgeModel's correction
FEATHER_MAX = 30.0  # the window's slider range; larger radii only cost time (and can hang)
GUIDED_EPS = 1e-3  # the guided filter's regularisation (guide in 0..1): small, so edges follow the picture
MAX_SMOOTHING = 0.99  # at 1 the first mask would stay forever


@dataclass
class MatteSettings:
    threshold: float = 0.5   # probability that maps to alpha 0.5
    softness: float = 0.15   # width of the soft band around the threshold (0 = hard cut)
    feather: float = 8.0     # edge feathering radius, pixels at 720p (scaled for other sizes): 2 px at the 180-px work height
    smoothing: float = 0.5   # EMA weight of the previous frames' mask (0 = none, <1)
    edge_mode: str = "learned"    # the app's default: edges finished at the frame's resolution, their softness refined by EdgeModel; "guided": the plain filter (less CPU); "gaussian" is cheaper still
    work_height: int = 180   # refinement resolution cap (bench/RESULTS.md: 360 costs 6-7 % more CPU; 180 stays within its edge-quality limits)
    # Motion-compensated smoothing of the finished matte (MotionSmoother): with v4.3 and the plain
    # filter, held-out dtSSD 3.17 -> 2.79 (RVM 2.99); with v4.8 and the learned edge less gain and a
    # softer moving edge (fresh sets: 3.55 -> 3.34, edge MAD +4.7 %; the usual 17 clips: 3.44 -> 3.41;
    # models/MODEL_CARD.md, session 33). About 3.3 CPU ms more a moving 720p frame; off.
    steady_edges: bool = False
    # With the learned edge: where the plain filter's alpha is within this of 0.5 (it is unsure which
    # side a pixel is on), the learned edge may put the pixel on the other side (keep_outline), with
    # no new pieces (new_islands). At a call camera's size the outline is where RVM led: on fresh
    # held-out 1280-px sets 0.2 raised boundary F 0.819 -> 0.839 (session 24), with session 25's
    # edge 0.4 raised it 0.832 -> 0.839 over 0.2 (at 320 px boundary F -0.0001, the rest gained),
    # and 0.5, the largest (free wherever the plain alpha is not exactly 0 or 1), 0.8435 -> 0.8440
    # over 0.4 with every other column at both sizes a little better (models/MODEL_CARD.md).
    # 0 keeps the plain filter's outline everywhere.
    outline_give: float = 0.5
    # A video's memory of the room (RoomMemory): near the outline, alpha goes where the frame repeats
    # the room's texture as the camera saw it beside the person earlier (models/MODEL_CARD.md, session 34).
    room_memory: bool = True

    def clamped(self) -> "MatteSettings":
        """A copy with every value inside its valid range."""
        return MatteSettings(
            threshold=float(np.clip(self.threshold, 0.0, 1.0)),
            softness=float(np.clip(self.softness, 0.0, 1.0)),
            feather=float(np.clip(self.feather, 0.0, FEATHER_MAX)) if np.isfinite(self.feather) else MatteSettings.feather,
            smoothing=float(np.clip(self.smoothing, 0.0, MAX_SMOOTHING)),
            edge_mode=self.edge_mode if self.edge_mode in EDGE_MODES else MatteSettings.edge_mode,
            work_height=int(max(16, self.work_height)),
            steady_edges=bool(self.steady_edges),
            outline_give=float(np.clip(self.outline_give, 0.0, 0.5)) if np.isfinite(self.outline_give) else 0.0,
            room_memory=bool(self.room_memory),
        )


def drop_detached_pieces(alpha_u8: np.ndarray, core: int = 128) -> np.ndarray:
    """`alpha_u8` without its pieces (alpha > 0, 8-connected at full size) that hold no pixel of
    at least `core`: the guided filter's finish at full size gives single room pixels some alpha
    where a window's colour model reaches them (a flag's bright stripe beside a dark hat: a dotted
    line on a plain background), and such pieces touch no part of the person. About 7 ms for a
    1280-px picture: a photo's matte (made once) gets it, not every video frame."""
    count, labels = cv2.connectedComponents((alpha_u8 > 0).view(np.uint8), connectivity=8)
    if count <= 2:  # nothing, or one piece
        return alpha_u8
    keep = np.zeros(count, bool)
    keep[np.unique(labels[alpha_u8 >= core])] = True
    keep[0] = False
    return alpha_u8 if keep[1:].all() else np.where(keep[labels], alpha_u8, np.uint8(0))


def keep_outline(learned: np.ndarray, plain: np.ndarray, give: float = 0.0,
                 side: np.ndarray | None = None) -> np.ndarray:
    """The learned edge's alpha where it is on the plain filter's side of 0.5, or where the plain
    filter's alpha is within `give` of 0.5 (unsure itself; and, given `side`, only where the learned
    alpha is on that side: the working size's decision for the full-size pixels); else the plain
    filter's. Left to move the outline everywhere the learned edge gained on every column but
    boundary F: a busy room's texture lifted into specks across 0.5 where the plain filter was sure
    (models/MODEL_CARD.md, session 22)."""
    learned_side = learned >= 0.5
    same_side = learned_side == (plain >= 0.5)
    if give > 0.0:
        unsure = np.abs(plain - 0.5) < give
        same_side |= unsure if side is None else unsure & (learned_side == side)
    return np.where(same_side, learned, plain)


def new_islands(kept: np.ndarray, plain: np.ndarray) -> np.ndarray:
    """Where `kept` (alpha) has a piece of person or of room that `plain` does not: each of kept's
    person (alpha >= 0.5) and room components with no pixel on the same side in plain. A give may
    move the outline, not add specks."""
    person = (kept >= 0.5).astype(np.uint8)
    plain_person = plain >= 0.5
    islands = np.zeros(kept.shape, bool)
    for side, plain_side in ((person, plain_person), (1 - person, ~plain_person)):
        count, labels = cv2.connectedComponents(side, connectivity=8)
        anchored = np.zeros(count, bool)
        anchored[labels[plain_side & (side > 0)]] = True
        anchored[0] = True  # label 0 is the other side
        islands |= ~anchored[labels]
    return islands


def smoothstep_threshold(prob: np.ndarray, threshold: float, softness: float) -> np.ndarray:
    """Map probabilities to alpha: 0 below the soft band, 1 above it, smoothstep inside it."""
    if softness <= 0.0:
        return (prob >= threshold).astype(np.float32)
    low = threshold - softness / 2.0
    t = np.clip((prob - low) * (1.0 / softness), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32, copy=False)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a colour guide (H x W x 3, 0..1), built from box filters.

    cv2.ximgproc.guidedFilter is not in the opencv-python-headless wheel; box filters are.
    """
    return apply_linear_model(guided_coefficients(guide, src, radius, eps), guide)


def apply_linear_model(model: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The guided filter's output from its linear model (last axis: the three colour weights and the
    offset): model . colour + offset, per pixel, for images (H x W x 4 with H x W x 3) and for lists of
    pixels (N x 4 with N x 3) alike."""
    return (model[..., 0] * colour[..., 0] + model[..., 1] * colour[..., 1]
            + model[..., 2] * colour[..., 2] + model[..., 3])


def guided_coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float,
                        edge_model: "EdgeModel | None" = None) -> np.ndarray:
    """The guided filter's window-averaged linear model, H x W x 4 (three colour weights and an
    offset: alpha = model . colour + offset). Kept apart so the model fitted on a small image can be
    applied to a larger one (the fast guided filter).

    The guide is colour: alpha is fitted to all three channels (a 3 x 3 solve per window), so an edge
    between a person and a room of the same brightness but another colour still has a slope to
    follow, where a grey guide sees none and leaves the network's blurred edge. The solve runs only
    for windows in which the source varies (a few percent of a matte: its edge); elsewhere the
    weights are 0 and the offset is the source itself, which is what the solve would give.
    `edge_model`: a learned correction of each window's solve (EdgeModel), None for the plain filter."""
    stats = window_statistics(guide, src, radius, spread=edge_model is not None)
    return linear_model(stats, src, radius, eps, edge_model)


def guided_coefficient_pair(guide: np.ndarray, plain_src: np.ndarray, learned_src: np.ndarray, radius: int,
                            eps: float, edge_model: "EdgeModel") -> tuple[np.ndarray, np.ndarray]:
    """guided_coefficients of the plain filter on `plain_src` and of the learned edge on
    `learned_src`, with one guide: the guide's own window statistics (its colour means and
    covariances, 9 of each fit's 14 box filters) are computed once, for the windows of both."""
    plain_mask, learned_mask = varying_mask(plain_src, radius), varying_mask(learned_src, radius)
    at_plain, at_learned = flat_indices(plain_mask), flat_indices(learned_mask)
    at_either = flat_indices(cv2.bitwise_or(plain_mask, learned_mask))
    shared = guide_windows(guide, at_either, radius) if at_either is not None else None
    plain = window_statistics(guide, plain_src, radius, spread=False, at=at_plain, shared=shared)
    learned = window_statistics(guide, learned_src, radius, spread=True, at=at_learned, shared=shared)
    return (linear_model(plain, plain_src, radius, eps),
            linear_model(learned, learned_src, radius, eps, edge_model))


def linear_model(stats: "WindowStatistics | None", src: np.ndarray, radius: int, eps: float,
                 edge_model: "EdgeModel | None" = None) -> np.ndarray:
    """guided_coefficients' model from the window statistics of `src` (None: it varies nowhere)."""
    ksize = (2 * radius + 1, 2 * radius + 1)
    height, width = src.shape
    model = np.zeros((height, width, 4), np.float32)
    model[..., 3] = src
    if stats is not None:
        weights = stats.solve(eps)
        shift = 0.0
        if edge_model is not None:
            weights, shift = edge_model.adjust(stats, weights)
        a0, a1, a2 = weights
        m0, m1, m2 = stats.mean
        flat = model.reshape(-1)
        for channel, value in enumerate((a0, a1, a2, stats.mean_src - a0 * m0 - a1 * m1 - a2 * m2 + shift)):
            np.put(flat, stats.at * 4 + channel, value)
    return cv2.boxFilter(model, cv2.CV_32F, ksize, dst=model, borderType=cv2.BORDER_REFLECT)


@dataclass
class WindowStatistics:
    """The guided filter's statistics of the windows in which the source varies: their flat indices
    `at`, the guide's colour means, the source's mean and variance (None unless asked for: only the
    learned edge reads it), the colour-source covariances and the colour covariance (v00, v01, v02,
    v11, v12, v22; not regularised)."""
    at: np.ndarray
    mean: tuple[np.ndarray, np.ndarray, np.ndarray]
    mean_src: np.ndarray
    var_src: np.ndarray | None
    cross: tuple[np.ndarray, np.ndarray, np.ndarray]
    cov: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    def solve(self, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The guided filter's colour weights: (cov + eps I)^-1 cross, by cofactors."""
        p0, p1, p2 = self.cross
        v00, v01, v02, v11, v12, v22 = self.cov
        v00, v11, v22 = v00 + eps, v11 + eps, v22 + eps
        i00, i01, i02 = v11 * v22 - v12 * v12, v12 * v02 - v01 * v22, v01 * v12 - v11 * v02
        i11, i12, i22 = v00 * v22 - v02 * v02, v02 * v01 - v00 * v12, v00 * v11 - v01 * v01
        inverse_det = 1.0 / (v00 * i00 + v01 * i01 + v02 * i02)
        return ((i00 * p0 + i01 * p1 + i02 * p2) * inverse_det,
                (i01 * p0 + i11 * p1 + i12 * p2) * inverse_det,
                (i02 * p0 + i12 * p1 + i22 * p2) * inverse_det)


def varying_mask(src: np.ndarray, radius: int) -> np.ndarray:
    """uint8, 1 at the centre of each (2 radius + 1)-px window in which `src` varies."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return (cv2.dilate(src, kernel) > cv2.erode(src, kernel)).view(np.uint8)


def flat_indices(mask: np.ndarray) -> np.ndarray | None:
    """Flat indices, in row order, of the set pixels of a uint8 mask, or None."""
    points = cv2.findNonZero(mask)
    if points is None:
        return None
    points = points.reshape(-1, 2)
    return points[:, 1] * mask.shape[1] + points[:, 0]


def varying_windows(src: np.ndarray, radius: int) -> np.ndarray | None:
    """Flat indices, in row order, of the (2 radius + 1)-px windows in which `src` varies, or None."""
    return flat_indices(varying_mask(src, radius))


class _WindowMeans:
    """Window means of image planes and of their products, read at flat indices only. One plane at a
    time through two scratch images: 26 fresh ones cost twice the arithmetic in the running app
    (memory traffic, page faults)."""

    def __init__(self, shape: tuple[int, int], radius: int, at: np.ndarray) -> None:
        self.ksize, self.at = (2 * radius + 1, 2 * radius + 1), at
        self.product, self.boxed = np.empty(shape, np.float32), np.empty(shape, np.float32)

    def __call__(self, first: np.ndarray, second: np.ndarray | None = None) -> np.ndarray:
        plane = first if second is None else cv2.multiply(first, second, dst=self.product)
        cv2.boxFilter(plane, cv2.CV_32F, self.ksize, dst=self.boxed, borderType=cv2.BORDER_REFLECT)
        return np.take(self.boxed, self.at)


@dataclass
class GuideWindows:
    """The guide's own statistics at the windows `at` (sorted flat indices): its colour planes,
    colour means and covariances (v00, v01, v02, v11, v12, v22), which do not depend on the source."""
    at: np.ndarray
    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    mean: tuple[np.ndarray, np.ndarray, np.ndarray]
    cov: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    def at_windows(self, at: np.ndarray) -> tuple[tuple, tuple]:
        """(mean, cov) at the windows `at`, which must be among this one's."""
        if at is self.at:
            return self.mean, self.cov
        rows = np.searchsorted(self.at, at)
        return tuple(m[rows] for m in self.mean), tuple(v[rows] for v in self.cov)


def guide_windows(guide: np.ndarray, at: np.ndarray, radius: int) -> GuideWindows:
    """The guide's own window statistics at the windows `at` (flat indices, sorted)."""
    planes = c0, c1, c2 = cv2.split(guide)
    window_mean = _WindowMeans(c0.shape, radius, at)
    m0, m1, m2 = window_mean(c0), window_mean(c1), window_mean(c2)
    cov = (window_mean(c0, c0) - m0 * m0, window_mean(c0, c1) - m0 * m1, window_mean(c0, c2) - m0 * m2,
           window_mean(c1, c1) - m1 * m1, window_mean(c1, c2) - m1 * m2, window_mean(c2, c2) - m2 * m2)
    return GuideWindows(at=at, planes=planes, mean=(m0, m1, m2), cov=cov)


def window_statistics(guide: np.ndarray, src: np.ndarray, radius: int, spread: bool = True,
                      at: np.ndarray | None = None, shared: GuideWindows | None = None) -> WindowStatistics | None:
    """The statistics of each (2 radius + 1)-px window in which `src` varies, or None if it varies
    nowhere. spread: also the source's variance. at: those windows when known (varying_windows);
    shared: the guide's statistics at (at least) those windows, when another fit already has them."""
    if at is None:
        at = varying_windows(src, radius)
        if at is None:
            return None
    if shared is None:
        shared = guide_windows(guide, at, radius)
    (m0, m1, m2), cov = shared.at_windows(at)
    c0, c1, c2 = shared.planes
    window_mean = _WindowMeans(src.shape, radius, at)
    mean_p = window_mean(src)
    return WindowStatistics(
        at=at, mean=(m0, m1, m2), mean_src=mean_p,
        var_src=window_mean(src, src) - mean_p * mean_p if spread else None,
        cross=(window_mean(c0, src) - m0 * mean_p, window_mean(c1, src) - m1 * mean_p,
               window_mean(c2, src) - m2 * mean_p),
        cov=cov)


EDGE_FEATURES = 14  # EdgeModel.features' columns


class EdgeModel:
    """A learned correction of the guided filter's solve, window by window (the idea of the deep
    guided filter that Robust Video Matting finishes its matte with: the local linear model's
    coefficients come from a small network over the window's statistics, not from least squares
    alone). The closed-form fit follows the network's blurred 224-px matte as faithfully as it can,
    blur included; the learned one has seen, on training composites with exact alpha, how far the
    frame's own colour edge should sharpen it (or soften it, on a busy room).

    A per-window MLP (1x1 convolutions in the deep guided filter's terms) of 14 scale-free
    statistics, two hidden layers: a gain on the closed-form weights, a colour-scaled change of each
    weight and a shift of the offset. Its last layer starts at zero, where it is the plain filter.
    Weights: models/edge_model.npz (training/edge_model.py)."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        if not layers or layers[0][0].shape[0] != EDGE_FEATURES or layers[-1][0].shape[1] != 5:
            raise ValueError("an edge model takes 14 features and gives 5 values")
        for (w, b), (w_next, _) in zip(layers, layers[1:]):
            if w.shape[1] != b.shape[0] or w.shape[1] != w_next.shape[0]:
                raise ValueError("an edge model's layers do not fit together")
        self.layers = [(np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in layers]
        # windows per matrix product: MLP_PRODUCT multiply-adds in the widest layer
        self.block_rows = max(1, MLP_PRODUCT // max(w.size for w, _ in self.layers))

    @classmethod
    def load(cls, path) -> "EdgeModel":
        """Raises OSError / ValueError on a missing or malformed file."""
        with np.load(path) as weights:
            count = len([k for k in weights.files if k.startswith("w")])
            layers = [(weights[f"w{i}"], weights[f"b{i}"]) for i in range(count)]
        if not all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in layers):
            raise ValueError("an edge model with non-finite weights")
        return cls(layers)

    @staticmethod
    def spreads(stats: WindowStatistics) -> tuple[np.ndarray, ...]:
        """Standard deviations in each window: of the three colour channels, then of the source."""
        v00, v11, v22 = stats.cov[0], stats.cov[3], stats.cov[5]
        return tuple(np.sqrt(np.maximum(v, 0.0)) for v in (v00, v11, v22, stats.var_src))

    @classmethod
    def features(cls, stats: WindowStatistics, weights: tuple[np.ndarray, ...],
                 spreads: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
        """N x 14: the colour's spread per channel and its correlations, the source's spread and
        mean, each channel's correlation with the source, and the closed-form weight of each channel
        times its spread (alpha per colour standard deviation). Scale-free where they can be, so a
        dim room and a bright one read alike. spreads: cls.spreads(stats), when already known."""
        _, v01, v02, _, v12, _ = stats.cov
        s0, s1, s2, sp = spreads or cls.spreads(stats)
        tiny = np.float32(1e-6)
        p0, p1, p2 = stats.cross
        a0, a1, a2 = weights
        columns = (10 * s0, 10 * s1, 10 * s2,
                   v01 / (s0 * s1 + tiny), v02 / (s0 * s2 + tiny), v12 / (s1 * s2 + tiny),
                   4 * sp, stats.mean_src,
                   p0 / (s0 * sp + tiny), p1 / (s1 * sp + tiny), p2 / (s2 * sp + tiny),
                   a0 * s0, a1 * s1, a2 * s2)
        return np.stack(columns, axis=1).astype(np.float32, copy=False)

    def _mlp(self, out: np.ndarray) -> np.ndarray:
        for i, (w, b) in enumerate(self.layers):
            out = out @ w + b
            if i < len(self.layers) - 1:
                np.maximum(out, 0.0, out=out)
        return out

    def adjust(self, stats: WindowStatistics, weights: tuple[np.ndarray, ...]):
        """The corrected colour weights and the offset's shift (training/edge_model.py's forward)."""
        spreads = self.spreads(stats)
        features = self.features(stats, weights, spreads)
        # In blocks small enough that each product stays on this thread: one over all the windows woke
        # OpenBLAS's threads, which spin on after it (the matte's CPU time doubled).
        rows = self.block_rows
        out = np.concatenate([self._mlp(features[i:i + rows]) for i in range(0, len(features), rows)])
        sp = spreads[3]
        gain = 1.0 + out[:, 0]
        adjusted = tuple(a * gain + out[:, 1 + c] * sp / (spread + EDGE_SPREAD_FLOOR)
                         for c, (a, spread) in enumerate(zip(weights, spreads[:3])))
        return adjusted, out[:, 4] * sp


# multiply-adds per matrix product (EdgeModel.adjust): 256 windows through 32 x 32, the most that
# stayed on one thread here (48 x 48 at 256 windows went to OpenBLAS's threads, 2-3x the CPU time;
# the shipped 64-unit net runs 64 windows a product)
MLP_PRODUCT = 256 * 32 * 32
EDGE_SPREAD_FLOOR = 0.02  # a colour spread below this (flat colour) gets no larger weight change
EDGE_MODEL_SOFTNESS = 0.35  # the working matte's softness the learned edge was trained on (training/edge_model.py)
EDGE_MODEL_PATH = resource_root() / "models" / "edge_model.npz"


@functools.lru_cache(maxsize=None)
def bundled_edge_model(path=EDGE_MODEL_PATH) -> EdgeModel | None:
    """The app's learned edge, read once; None (the plain guided filter, said once in the log) when
    the file is missing or unreadable: the matte still works, its edge a little softer."""
    try:
        return EdgeModel.load(path)
    except (OSError, ValueError, KeyError) as error:
        logging.getLogger(__name__).warning(
            "The learned edge (%s) could not be read (%s); the matte's edge uses the plain guided filter.",
            path, error)
        return None


# Motion-adaptive smoothing: a change of the mask-sized grey thumbnail below NOISE_LEVEL grey levels
# is sensor noise (full smoothing), above MOTION_LEVEL it is motion (no smoothing), linear between.
NOISE_LEVEL, MOTION_LEVEL = 3, 12
# Before the comparison the last mask and its grey frame are moved with the person (affine_motion),
# so a swaying person's edge is smoothed too, not only a still one's (models/MODEL_CARD.md, session
# 36, rule 15). Where the motion is not found, the change is widened by this window instead, so the
# edge beside a moving region follows it (the unmoved history would trail it).
UNMOVED_WIDENING = 5
# Where the history was shifted, the picture's own change is what the shift did not explain (a bend,
# the room beside a moving edge): a change under this many grey levels still counts partly as still
# (validation dtSSD 4.109 -> 4.071 against MOTION_LEVEL; models/MODEL_CARD.md, session 36, rule 19).
MOVED_MOTION_LEVEL = 30
# The moved history is clamped into the range this frame's mask takes within this window (mask px; the
# history rectification of temporal anti-aliasing): where the person bent in a way the affine motion
# does not follow, the history cannot keep a piece the mask has left. 0: no clamp.
MOVED_HISTORY_RANGE_PX = 5
# The person's motion for the smoothing: a shift, found on the grey frames reduced to this width.
# On the validation clips a shift at 64 px steadied as much as within 0.5 % of an affine motion at
# the mask's own size (dtSSD 4.109 against 4.089), where the affine fit cost 1.3-2.4 ms a frame and
# the shift costs about a fifth of that (models/MODEL_CARD.md, session 36, rule 17).
SMOOTHING_MOTION_WIDTH = 64
# Three ECC iterations from no motion: validation dtSSD 4.56 (ten: 4.59, one: 4.70) at 0.95 ms instead
# of 2.5 (each iteration ~0.2 ms on the 160-px frame); starting from the last frame's motion did not help.
MOTION_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 3, 1e-4)
MIN_MOTION_CORRELATION = 0.8  # below: a cut or a change the motion does not explain; no history


def affine_motion(previous_grey: np.ndarray, grey: np.ndarray, person: np.ndarray,
                  motion: int = cv2.MOTION_AFFINE) -> np.ndarray | None:
    """The person's affine motion (or `motion`: cv2.MOTION_TRANSLATION, a shift alone) from
    `previous_grey` to `grey` (same size), fitted by OpenCV's ECC
    over `person` (a bool mask in the previous frame, dilated by a few pixels so the outline counts):
    a 2x3 matrix that maps previous pixels to this frame's. None when there is nobody to follow or the
    motion does not explain the change (a cut, a new scene: ECC fails or correlates under
    MIN_MOTION_CORRELATION)."""
    if not person.any():
        return None
    region = cv2.dilate(person.astype(np.uint8), np.ones((7, 7), np.uint8))
    try:
        correlation, warp = cv2.findTransformECC(previous_grey, grey, np.eye(2, 3, dtype=np.float32),
                                                 motion, MOTION_ECC_CRITERIA, region, 3)
    except cv2.error:  # no convergence, or nothing to align on
        return None
    return warp if correlation >= MIN_MOTION_CORRELATION else None

# The boundary band: working-size alpha strictly between these is refined at full size. Its pixel
# count sets the finish's cost (the 2-px guided window widens the soft edge): 0.002 / 0.01 / 0.06
# scored the same to four decimals in training.matte_eval, and 0.06 took 2.3 ms less a 720p frame
# than 0.01 on the moving bench clip.
BAND_LOW, BAND_HIGH = 0.06, 0.94
_REMAP_ROW = 1024  # cv2.remap maps must stay under SHRT_MAX columns: sample the band in rows of this


def sample_bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """image (float32, HxW or HxWxC) at the float pixel positions (x, y) (1-D), bilinear, edges
    repeated: N values, or N x C."""
    count = x.size
    rows = -(-count // _REMAP_ROW)
    map_x = np.zeros(rows * _REMAP_ROW, np.float32)
    map_y = np.zeros(rows * _REMAP_ROW, np.float32)
    map_x[:count], map_y[:count] = x, y
    sampled = cv2.remap(image, map_x.reshape(rows, _REMAP_ROW), map_y.reshape(rows, _REMAP_ROW),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return sampled.reshape(rows * _REMAP_ROW, *image.shape[2:])[:count]


def _block_spans(work: int, full: int) -> tuple[np.ndarray, np.ndarray]:
    """For each working-size index, the first full-size index whose nearest working pixel it is,
    and how many there are (cv2.INTER_NEAREST's mapping: floor(i * work / full))."""
    owner = np.floor(np.arange(full) * (work / full)).astype(np.int32)
    starts = np.searchsorted(owner, np.arange(work + 1))
    return starts[:-1].astype(np.int32), np.diff(starts).astype(np.int32)


def band_block_pixels(band_small: np.ndarray, full_shape: tuple[int, int], owners: bool = False
                      ) -> tuple[np.ndarray, ...] | None:
    """Full-size rows and columns of every pixel whose nearest working-size pixel is set in
    `band_small` (what resizing it with INTER_NEAREST and listing the set pixels gives), built from
    the few working-size points: a 720p mask and its scan cost three times as much. With `owners`,
    also each pixel's working-size pixel (a flat index into band_small)."""
    points = cv2.findNonZero(band_small)
    if points is None:
        return None
    points = points.reshape(-1, 2)
    (work_h, work_w), (full_h, full_w) = band_small.shape, full_shape
    row_start, row_count = _block_spans(work_h, full_h)
    col_start, col_count = _block_spans(work_w, full_w)
    # Each point's block as a (rows x columns) grid of the largest block's size, the cells beyond
    # the point's own block masked off: a few broadcast operations instead of per-pixel index
    # arithmetic (half the time at 720p).
    offset_y = np.arange(row_count.max(), dtype=np.int32)[None, :, None]
    offset_x = np.arange(col_count.max(), dtype=np.int32)[None, None, :]
    shape = (len(points), offset_y.shape[1], offset_x.shape[2])
    grids = [np.broadcast_to(row_start[points[:, 1]][:, None, None] + offset_y, shape),
             np.broadcast_to(col_start[points[:, 0]][:, None, None] + offset_x, shape)]
    if owners:
        grids.append(np.broadcast_to((points[:, 1] * work_w + points[:, 0])[:, None, None], shape))
    if row_count.min() == shape[1] and col_count.min() == shape[2]:
        return tuple(g.reshape(-1) for g in grids)  # blocks all one size (a frame 4 or 6 times the working size)
    inside = ((offset_y < row_count[points[:, 1]][:, None, None])
              & (offset_x < col_count[points[:, 0]][:, None, None]))
    return tuple(g[inside] for g in grids)


def band_pixels(alpha_u8: np.ndarray, low: int = 1) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows and columns of the pixels where alpha is between low and 255 - low (the soft edge), or
    None. (cv2.findNonZero: np.nonzero on a 720p mask costs four times as much.)"""
    points = cv2.findNonZero(cv2.inRange(alpha_u8, low, 255 - low))
    if points is None:
        return None
    points = points.reshape(-1, 2)
    return points[:, 1], points[:, 0]


def pixels_at(image_bgr: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """image_bgr[ys, xs] (N x 3), by flat indices and np.take: a third of the time of indexing with
    two arrays. The image may be a crop of a larger frame (rows a stride apart): its pixels are then
    read in place through a flat view of those rows, never copied."""
    row_stride, pixel_stride, channel_stride = image_bgr.strides
    if pixel_stride != 3 or channel_stride != 1 or row_stride % 3 or image_bgr.dtype != np.uint8:
        return image_bgr[ys, xs]
    height, width = image_bgr.shape[:2]
    row_pixels = row_stride // 3
    rows = np.lib.stride_tricks.as_strided(image_bgr, shape=((height - 1) * row_pixels + width, 3),
                                           strides=(3, 1), writeable=False)
    return np.take(rows, ys * row_pixels + xs, axis=0)


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """Float alpha (any range) -> 0..255, rounded and clipped. (Not cv2.convertScaleAbs: it takes the
    absolute value, and the guided filter overshoots below 0.)"""
    return np.clip(alpha * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


class MatteRefiner:
    def __init__(self, settings: MatteSettings | None = None, edge_model: "EdgeModel | None | str" = "bundled") -> None:
        """edge_model: the learned edge's weights for edge mode "learned" ("bundled": the app's own,
        models/edge_model.npz; None: the plain guided filter in that mode too)."""
        self.settings = settings or MatteSettings()
        self.edge_model = bundled_edge_model() if edge_model == "bundled" else edge_model
        self._previous: np.ndarray | None = None
        self._previous_thumb: np.ndarray | None = None
        self._state_rect: tuple[int, int, int, int] | None = None  # where the state lies in the frame
        # The smoothing's history moved with the person before it is averaged in (_moved_with_person);
        # False: it stays where it was, as before session 36 (for comparisons: bench.steady_edges).
        self.move_history = True

    @property
    def settings(self) -> MatteSettings:
        return self._settings

    @settings.setter
    def settings(self, value: MatteSettings) -> None:
        self._settings = value.clamped()

    def reset(self) -> None:
        """Forget the temporal state (call on source change or seek)."""
        self._previous = None
        self._previous_thumb = None
        self._state_rect = None

    def _carry_state(self, rect: tuple[int, int, int, int], mask: np.ndarray) -> None:
        """Move the temporal state from the part of the frame it was kept for to `rect`, at the size
        of `mask` (this frame's), so a new crop around the person keeps the smoothing of the old one;
        where the old crop did not reach there is no history: the state there is `mask` itself."""
        old_x, old_y, old_w, old_h = self._state_rect
        x, y, w, h = rect
        old_sx, old_sy = old_w / self._previous.shape[1], old_h / self._previous.shape[0]
        sx, sy = w / mask.shape[1], h / mask.shape[0]
        # new mask pixel -> frame (pixel centres) -> old mask pixel
        to_old = np.float32([[sx / old_sx, 0.0, (x - old_x + 0.5 * sx) / old_sx - 0.5],
                             [0.0, sy / old_sy, (y - old_y + 0.5 * sy) / old_sy - 0.5]])
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        size = (mask.shape[1], mask.shape[0])
        self._previous = cv2.warpAffine(self._previous, to_old, size, flags=flags,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)
        self._previous_thumb = cv2.warpAffine(self._previous_thumb, to_old, size, flags=flags,
                                              borderMode=cv2.BORDER_REPLICATE)
        unknown = self._previous < 0.0  # beyond the old crop (or blended with beyond)
        self._previous[unknown] = mask[unknown]

    def _smooth(self, mask: np.ndarray, reduced_bgr: np.ndarray,
                rect: tuple[int, int, int, int] | None = None, fresh: bool = True) -> np.ndarray:
        """Temporal EMA of the mask, per pixel: where the picture is still, the previous frames'
        mask weighs `smoothing` (no flicker); where it moved, the new mask takes over (no lag:
        a plain EMA trailed a waving hand by a frame or more). `reduced_bgr`: the frame, smaller;
        `rect`: where the mask lies in the camera frame (a crop), so that the state can follow a crop
        that moved (_carry_state); None: the state stays where it is. `fresh`: the model made `mask`
        from this frame; False: it is an earlier frame's, reused (a motion-gated schedule). Motion is
        measured from the frame the last fresh mask came from: measured from the last refinement,
        a person who left between two model runs was "still" by the next run, and half of them stayed
        as a ghost of the room for two more runs (a second)."""
        weight = self._settings.smoothing
        thumb = None
        if weight > 0.0:
            thumb = cv2.resize(cv2.cvtColor(reduced_bgr, cv2.COLOR_BGR2GRAY), (mask.shape[1], mask.shape[0]),
                               interpolation=cv2.INTER_LINEAR)
        if (rect is not None and self._state_rect is not None and rect != self._state_rect
                and self._previous is not None and self._previous_thumb is not None and weight > 0.0):
            self._carry_state(rect, mask)
        self._state_rect = rect
        if (self._previous is None or self._previous.shape != mask.shape or weight <= 0.0
                or self._previous_thumb is None or self._previous_thumb.shape != mask.shape):
            self._previous = mask.copy()
            self._previous_thumb = thumb
            return mask
        previous, previous_thumb = self._previous, self._previous_thumb
        moved = self._moved_with_person(thumb) if fresh and self.move_history else None
        if moved is not None:
            previous, previous_thumb = moved
            if MOVED_HISTORY_RANGE_PX > 1:
                window = np.ones((MOVED_HISTORY_RANGE_PX, MOVED_HISTORY_RANGE_PX), np.uint8)
                previous = np.clip(previous, cv2.erode(mask, window), cv2.dilate(mask, window))
        change = cv2.absdiff(thumb, previous_thumb)
        if fresh:
            self._previous_thumb = thumb
        if moved is None:  # the history stayed where it was: the edge beside a moving region must follow it
            change = cv2.dilate(change, np.ones((UNMOVED_WIDENING, UNMOVED_WIDENING), np.uint8))
        # Still below the noise level (a few grey levels after averaging), moving above it.
        level = MOTION_LEVEL if moved is None else MOVED_MOTION_LEVEL
        still = np.clip((level - change.astype(np.float32)) * (1.0 / (level - NOISE_LEVEL)), 0.0, 1.0)
        keep = still * weight
        # previous = keep*previous + (1-keep)*mask, in place to avoid an allocation a frame
        previous += (1.0 - keep) * (mask - previous)
        self._previous = previous
        return previous

    def _moved_with_person(self, thumb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The last mask and its grey frame shifted with the person to where they are in `thumb` (this
        frame's grey, at the mask's size), or None where their motion is not found (affine_motion).
        The shift is found at SMOOTHING_MOTION_WIDTH and scaled (a shift needs no pixel-centre
        correction)."""
        height, width = thumb.shape
        small_w = min(width, SMOOTHING_MOTION_WIDTH)
        small_h = max(1, round(height * small_w / width))

        def reduced(image):
            return image if small_w == width else cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)

        shift = affine_motion(reduced(self._previous_thumb), reduced(thumb), reduced(self._previous) > 0.5,
                              cv2.MOTION_TRANSLATION)
        if shift is None:
            return None
        warp = np.float32([[1.0, 0.0, shift[0, 2] * width / small_w], [0.0, 1.0, shift[1, 2] * height / small_h]])
        size = (width, height)
        return (cv2.warpAffine(self._previous, warp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
                cv2.warpAffine(self._previous_thumb, warp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))

    def refine(self, mask_small: np.ndarray, frame_bgr: np.ndarray, dtype=np.float32,
               pyramid: FramePyramid | None = None, rect: tuple[int, int, int, int] | None = None,
               fresh: bool = True) -> np.ndarray:
        """Alpha matte at the frame's height x width: float32 in [0, 1], or with dtype=np.uint8 in
        0..255, which the pipeline uses: a quarter of the memory to fill at 1080p, and what the
        compositor's fixed-point blend takes as it is. pyramid: the frame's halvings (app/imaging.py).
        rect: where frame_bgr lies in the camera's frame when it is a crop of it (x, y, w, h), so
        the temporal smoothing follows a crop that moves between frames."""
        alpha, model, outline, side = self._work_alpha(mask_small, frame_bgr, pyramid, rect, fresh)
        frame_h, frame_w = frame_bgr.shape[:2]
        # Clipped at working size: linear upsampling cannot leave the range, so the big array needs no pass.
        as_uint8 = np.dtype(dtype) == np.uint8
        band = None
        if model is not None:
            band = cv2.inRange(alpha, BAND_LOW, BAND_HIGH)
            if outline is not None:  # the plain filter's edge too: where it is soft, the outline is decided at full size
                band = cv2.bitwise_or(band, cv2.inRange(outline, BAND_LOW, BAND_HIGH))
            band = cv2.dilate(band, np.ones((3, 3), np.uint8))
        if as_uint8:
            alpha = alpha_to_uint8(alpha)
        else:
            alpha = np.clip(alpha, 0.0, 1.0, out=alpha)
        if alpha.shape != (frame_h, frame_w):
            alpha = cv2.resize(alpha, (frame_w, frame_h), interpolation=cv2.INTER_LINEAR)
        if band is not None:
            self._finish_band(alpha, band, model, frame_bgr, as_uint8, self._settings.outline_give, side)
        return alpha

    @staticmethod
    def _finish_band(alpha: np.ndarray, band_small: np.ndarray, model: np.ndarray | tuple[np.ndarray, np.ndarray],
                     frame_bgr: np.ndarray, as_uint8: bool, give: float = 0.0,
                     side: np.ndarray | None = None) -> None:
        """Apply the guided filter's linear model, fitted at working size, to the full-size frame's
        own colours in the boundary band (in place). A pair of models: the learned edge's and the
        plain filter's, joined by keep_outline with `give`."""
        frame_h, frame_w = frame_bgr.shape[:2]
        work_h, work_w = band_small.shape
        band = band_block_pixels(band_small, (frame_h, frame_w), owners=side is not None)
        if band is None:
            return
        ys, xs = band[:2]
        # Pixel centres of the full frame in working-image coordinates (what cv2.resize uses).
        x = (xs + 0.5) * (work_w / frame_w) - 0.5
        y = (ys + 0.5) * (work_h / frame_h) - 0.5
        colour = pixels_at(frame_bgr, ys, xs).astype(np.float32) * np.float32(1.0 / 255.0)
        if isinstance(model, tuple):  # the learned edge's model, then the plain one that keeps the outline
            learned, plain = (apply_linear_model(sample_bilinear(m, x, y), colour) for m in model)
            if side is not None:  # each full-size pixel takes its own block's working pixel's side
                side = np.take(side, band[2])
            value = np.clip(keep_outline(learned, plain, give, side), 0.0, 1.0)
        else:
            value = np.clip(apply_linear_model(sample_bilinear(model, x, y), colour), 0.0, 1.0)
        # np.put by flat index (any layout, in place): half the time of alpha[ys, xs] = ...
        np.put(alpha, ys * frame_w + xs, alpha_to_uint8(value) if as_uint8 else value)

    def _work_alpha(self, mask_small: np.ndarray, frame_bgr: np.ndarray, pyramid: FramePyramid | None = None,
                    rect: tuple[int, int, int, int] | None = None, fresh: bool = True) -> tuple[np.ndarray, np.ndarray | tuple | None, np.ndarray | None, np.ndarray | None]:
        """Smoothed, thresholded and feathered alpha at the working resolution (may overshoot [0, 1]),
        and, when the guided filter ran below the frame's size, its linear model (guided_coefficients) at
        that size, to finish the edge at full size; with the learned edge, also the plain filter's
        alpha, whose outline it keeps (else None); with a give, each working pixel's side of 0.5,
        which the full-size pixels it covers may take (else None)."""
        s = self._settings
        frame_h, frame_w = frame_bgr.shape[:2]
        mask = np.clip(np.asarray(mask_small, np.float32), 0.0, 1.0)
        work_h = min(frame_h, s.work_height)
        work_w = max(1, round(frame_w * work_h / frame_h))
        if mask.shape[0] > work_h:  # a model that answers at frame size (MediaPipe's does): smooth small
            mask = cv2.resize(mask, (work_w, work_h), interpolation=cv2.INTER_AREA)
        # One reduction of the frame serves the motion measure and the guided filter's guide.
        guided = s.edge_mode != "gaussian"
        reduced = reduce_by_power_of_two(frame_bgr, work_h if guided else mask.shape[0], pyramid=pyramid)
        mask = self._smooth(mask, reduced, rect, fresh)

        prob = cv2.resize(mask, (work_w, work_h), interpolation=cv2.INTER_LINEAR)
        alpha = smoothstep_threshold(prob, s.threshold, s.softness)

        radius = s.feather * work_h / 720.0
        model = outline = side = None
        if radius >= 0.5:
            if guided:
                small = reduced if reduced.shape[:2] == (work_h, work_w) else cv2.resize(
                    reduced, (work_w, work_h), interpolation=cv2.INTER_AREA)
                guide = small.astype(np.float32) * np.float32(1.0 / 255.0)  # colour: see guided_coefficients
                window = max(1, round(radius))
                if s.edge_mode == "learned" and self.edge_model is not None:
                    # The learned edge works from the softer matte it was trained on; the plain
                    # filter's fit keeps the outline (which side of 0.5 each pixel is on).
                    learned_src = smoothstep_threshold(prob, s.threshold, EDGE_MODEL_SOFTNESS)
                    model, learned = guided_coefficient_pair(guide, alpha, learned_src, window, GUIDED_EPS,
                                                             self.edge_model)
                    outline = apply_linear_model(model, guide)
                    alpha = keep_outline(apply_linear_model(learned, guide), outline, s.outline_give)
                    if s.outline_give > 0.0:  # no new pieces of person or room, here or at full size
                        alpha = np.where(new_islands(alpha, outline), outline, alpha)
                        side = alpha >= 0.5
                    model = (learned, model)
                else:
                    model = guided_coefficients(guide, alpha, window, eps=GUIDED_EPS)
                    alpha = apply_linear_model(model, guide)
                if work_h == frame_h:
                    model = outline = None
            else:
                alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=radius / 2.0)
        return alpha, model, outline, side


# Motion-compensated smoothing of the finished matte. MatteRefiner's own smoothing is gated per pixel
# by stillness, so on a moving person it is off exactly where the network's edge flickers most (a
# sway: its error pattern changes with the person's place on the network's stride grid). Here the
# last frame's matte is first moved with the person (their affine motion, OpenCV's ECC alignment on
# small grey frames over the person), then averaged with this frame's. The moved history is clamped
# into the range this frame's matte takes within HISTORY_CLAMP_PX (the history rectification of
# temporal anti-aliasing): where something moved that the affine motion does not follow (a waving
# hand), the history cannot leave a ghost farther than that. training.matte_eval --matte
# steady_edges=true: validation clips (training people) moving IoU 0.9616 -> 0.9625, dtSSD
# 4.94 -> 4.56; held-out 0.9818 -> 0.9823, 3.17 -> 2.79 (RVM 2.99), with v4.3 and the plain filter
# (with v4.8 and the learned edge: 3.55 -> 3.34 on fresh sets, session 33). The alignment and the band cost about
# 3.3 CPU ms a moving 720p frame and 10.3 at 1080p (bench.steady_edges), so it is the user's choice
# (MatteSettings.steady_edges).
MOTION_MIN_WIDTH = 160   # the grey frames ECC aligns: the frame's halving at least this wide
HISTORY_CLAMP_PX = 9     # window (frame px) whose min/max bound the moved history


class MotionSmoother:
    """smooth() each refined matte of a video, in order; reset() on a new source."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._alpha: np.ndarray | None = None  # the last output (uint8, frame size)
        self._grey: np.ndarray | None = None   # its frame's grey, MOTION_MIN_WIDTH+ wide

    def smooth(self, alpha_u8: np.ndarray, pyramid: FramePyramid, weight: float) -> np.ndarray:
        """This frame's matte averaged with the last one moved along with the person: `weight` of
        the history (0: the matte as it is). pyramid: this frame's halvings."""
        grey = cv2.cvtColor(pyramid.reduce(1, MOTION_MIN_WIDTH), cv2.COLOR_BGR2GRAY).astype(np.float32)
        previous, previous_grey = self._alpha, self._grey
        self._grey = grey
        self._alpha = alpha_u8
        if (weight <= 0.0 or previous is None or previous.shape != alpha_u8.shape
                or previous_grey.shape != grey.shape):
            return alpha_u8
        height, width = grey.shape
        person = reduce_by_power_of_two(previous, 1, MOTION_MIN_WIDTH) > 127
        warp = affine_motion(previous_grey, grey, person) if person.shape == grey.shape else None
        if warp is None:
            return alpha_u8
        # Only where this frame's matte varies within the clamp window can the history count (elsewhere
        # it is clamped to the matte itself): the edge band, a few percent of the frame.
        window = np.ones((HISTORY_CLAMP_PX, HISTORY_CLAMP_PX), np.uint8)
        low, high = cv2.erode(alpha_u8, window), cv2.dilate(alpha_u8, window)
        points = cv2.findNonZero(cv2.absdiff(high, low))
        if points is None:
            return alpha_u8
        points = points.reshape(-1, 2)
        xs, ys = points[:, 0], points[:, 1]
        # Where each band pixel was in the last frame, as one affine map: frame px -> grey px (pixel
        # centres), back through the motion, -> frame px.
        sx, sy = width / alpha_u8.shape[1], height / alpha_u8.shape[0]
        to_grey = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        back = np.vstack([cv2.invertAffineTransform(warp).astype(np.float64), [0.0, 0.0, 1.0]])
        m = (np.linalg.inv(to_grey) @ back @ to_grey).astype(np.float32)
        fx, fy = xs.astype(np.float32), ys.astype(np.float32)
        history = sample_bilinear(previous, m[0, 0] * fx + m[0, 1] * fy + m[0, 2],
                                  m[1, 0] * fx + m[1, 1] * fy + m[1, 2])
        at = ys * alpha_u8.shape[1] + xs
        history = np.clip(history, np.take(low, at), np.take(high, at))  # uint8 throughout
        out = alpha_u8.copy()
        # (1 - w) * alpha + w * history, rounded, in 16-bit fixed point
        w = int(round(weight * 256))
        blended = (np.take(alpha_u8, at).astype(np.uint16) * (256 - w) + history.astype(np.uint16) * w + 128) >> 8
        np.put(out, at, blended.astype(np.uint8))
        self._alpha = out
        return out


# A video's memory of the room. Once a person has moved, the camera has seen the room behind the
# pieces the network now calls person (a gap between arm and head, a wedge of door beside a
# shoulder); where this frame repeats that room's texture, the piece is room. The memory is learned
# at the matte's working size only from pixels the matte calls room, a few pixels clear of the
# person, and a pixel unseen for ROOM_FORGET_FRAMES is forgotten (a piece of the person that the
# network once missed cannot be kept out for long). It only lowers alpha, within ROOM_BAND_PX of the
# outline, and only where the remembered room has texture that this frame repeats: a flat wall
# cannot tell a jacket of its colour from itself, and a frame that differs (a shadow, a new exposure,
# a camera that moved) says nothing. models/MODEL_CARD.md, session 34 (rule 13b): on two fresh sets
# of 90 held-out moving clips IoU +0.0007, edge MAD -1.9 %, dtSSD 3.64 -> 3.58 and 3.66 -> 3.61;
# clips of people over walls the colour of their clothes unchanged (IoU -0.0001). Session 35 (rule
# 14): learning the room 1 working px from the outline after 2 sightings (was 3 and 3) gained on two
# more fresh sets (IoU +0.0003, edge MAD -0.6 %, dtSSD -0.7 %) and left still speakers as they were;
# one sighting would learn a still speaker's once-missed piece as room (training.matte_eval --still).
# Session 37 (rule 20): at 180 working rows with a 10-px band (90 and 4 before) on two more fresh sets
# edge MAD -1.5 %, dtSSD -0.3 %, IoU level; still speakers unchanged. Rule 21: a 30-px band, a little
# more (edge MAD -0.14 %, dtSSD -0.07 % on two more), for 0.17 ms a moving 720p frame.
ROOM_ROWS = 180            # the working size: the frame's halving at least this many rows, scaled to this many where it has more than 5/4 of them (session 37, rule 20: 90 rows left steps beside an arm; 0.86 CPU ms a moving 720p frame, 0.56 at 90)
ROOM_LEVEL = 5             # alpha (of 255) under which a pixel counts as room for the memory
ROOM_CLEARANCE_PX = 1      # ... and only this far inside the room (working px): no edge colour in it (0 took the soft edge's)
ROOM_RATE = 0.2            # each sighting's share of the remembered colour (a slow light change follows)
ROOM_MIN_SIGHTINGS = 2     # sightings before a pixel is remembered (1: a matte's one-frame miss would be)
ROOM_FORGET_FRAMES = 90    # frames unseen before a pixel is forgotten (3 s at 30 fps)
ROOM_BAND_PX = 30          # the memory acts within this of the matte's outline (working px; rule 21: a gap between arm and head lies deeper than 10)
ROOM_WINDOW = 3            # the neighbourhood compared (working px)
ROOM_NOISE = 100.0         # squared colour difference (summed over channels) that sensor noise makes
ROOM_TEXTURE_MIN = 100.0   # the room's local variance (summed) below which it is flat: no judgement
# The neighbourhood's squared difference from the room, over the room's variance plus the noise:
# below MATCH_FULL the pixel is room (alpha 0), above MATCH_NONE the memory says nothing.
ROOM_MATCH_FULL, ROOM_MATCH_NONE = 0.3, 1.0


class RoomMemory:
    """apply() each finished matte of a video, in order; reset() on a new source."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._room: np.ndarray | None = None       # remembered colour (float32, working size)
        self._sightings: np.ndarray | None = None  # times each pixel was seen as room (uint8, saturating)
        self._unseen: np.ndarray | None = None     # frames since each pixel was last seen as room (saturating)

    def apply(self, alpha_u8: np.ndarray, pyramid: FramePyramid) -> np.ndarray:
        """`alpha_u8` (frame size) with the remembered room taken out near its outline; learns
        this frame's room from it (before that change, so the memory never feeds on itself)."""
        work = pyramid.reduce(ROOM_ROWS)
        if work.shape[0] > ROOM_ROWS * 5 // 4:
            # 1080p's halving has 270 rows, 2.3x the work of 180 (session 37). Bilinear: INTER_AREA
            # takes OpenCV's slow path at a ratio of 1.5 (0.58 ms against 0.11 for 270 -> 180 rows).
            work = cv2.resize(work, (max(1, round(work.shape[1] * ROOM_ROWS / work.shape[0])), ROOM_ROWS),
                              interpolation=cv2.INTER_LINEAR)
        work = work.astype(np.float32)
        height, width = work.shape[:2]
        if min(height, width) < ROOM_WINDOW:
            # No neighbourhood to compare (a frame a few pixels across); OpenCV would also take a
            # 1x1 or 4x1 array for a scalar. The memory says nothing, as for a photo.
            self.reset()
            return alpha_u8
        # The matte sampled at the working size (nearest: it only decides room, person and outline).
        alpha = cv2.resize(alpha_u8, (width, height), interpolation=cv2.INTER_NEAREST)
        if self._room is None or self._room.shape != work.shape:
            self._room = work.copy()
            self._sightings = np.zeros((height, width), np.uint8)
            self._unseen = np.zeros((height, width), np.uint8)
        out = alpha_u8
        cap = self._cap(work, alpha)
        if cap is not None:
            out = self._capped(alpha_u8, *cap, work.shape)
        clearance = np.ones((2 * ROOM_CLEARANCE_PX + 1,) * 2, np.uint8)
        seen = cv2.erode(cv2.compare(alpha, ROOM_LEVEL, cv2.CMP_LT), clearance)  # 255 where seen
        first = cv2.compare(self._sightings, 0, cv2.CMP_EQ) & seen
        cv2.accumulateWeighted(work, self._room, ROOM_RATE, mask=seen)
        cv2.copyTo(work, first, self._room)
        cv2.add(self._sightings, 1, dst=self._sightings, mask=seen)
        cv2.add(self._unseen, 1, dst=self._unseen)
        self._unseen[seen > 0] = 0
        return out

    def _cap(self, work: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """The most alpha each working pixel may keep (uint8) within the box (x, y, w, h) outside
        which it is 255, or None where the memory says nothing."""
        known = cv2.compare(self._sightings, ROOM_MIN_SIGHTINGS, cv2.CMP_GE) & cv2.compare(
            self._unseen, ROOM_FORGET_FRAMES, cv2.CMP_LE)
        if not cv2.countNonZero(known):
            return None
        # The band: pixels with both person and room within ROOM_BAND_PX (a box filter's square
        # reach: a fifth of a morphological gradient's cost)
        reach = cv2.blur(cv2.compare(alpha, 127, cv2.CMP_GT), (2 * ROOM_BAND_PX + 1,) * 2)
        band = known & cv2.compare(reach, 0, cv2.CMP_GT) & cv2.compare(reach, 255, cv2.CMP_LT)
        box = cv2.boundingRect(band)
        if box[2] == 0:
            return None
        # Judged within the band's box (and the window's reach around it) only.
        x, y, w, h = box
        r = ROOM_WINDOW // 2
        x0, y0 = max(0, x - r), max(0, y - r)
        x1, y1 = min(work.shape[1], x + w + r), min(work.shape[0], y + h + r)
        frame, room = work[y0:y1, x0:x1], self._room[y0:y1, x0:x1]
        window = (ROOM_WINDOW, ROOM_WINDOW)
        channels_sum = np.ones((1, 3), np.float32)
        change = cv2.subtract(frame, room)
        difference = cv2.blur(cv2.transform(cv2.multiply(change, change), channels_sum), window)
        spread = cv2.subtract(room, cv2.blur(room, window))
        texture = cv2.blur(cv2.transform(cv2.multiply(spread, spread), channels_sum), window)
        match = cv2.max(cv2.divide(difference, cv2.add(texture, ROOM_NOISE)), ROOM_MATCH_FULL)
        scale = 255.0 / (ROOM_MATCH_NONE - ROOM_MATCH_FULL)
        cap = cv2.convertScaleAbs(match, alpha=scale, beta=-ROOM_MATCH_FULL * scale)  # 0..255, saturated
        # 255 (no say) off the band and where the room is flat
        cap = cv2.max(cap, cv2.bitwise_not(band[y0:y1, x0:x1]))
        cap = cv2.max(cap, cv2.compare(texture, ROOM_TEXTURE_MIN, cv2.CMP_LE))
        # Only the part that caps anything is scaled to the frame (with a pixel of 255 around it).
        cx, cy, cw, ch = cv2.boundingRect(cv2.compare(cap, 255, cv2.CMP_LT))
        if cw == 0:
            return None
        left, top = max(0, cx - 1), max(0, cy - 1)
        right, bottom = min(cap.shape[1], cx + cw + 1), min(cap.shape[0], cy + ch + 1)
        return cap[top:bottom, left:right], (x0 + left, y0 + top, right - left, bottom - top)

    @staticmethod
    def _capped(alpha_u8: np.ndarray, cap: np.ndarray, box: tuple[int, int, int, int],
                work_shape: tuple[int, ...]) -> np.ndarray:
        """alpha_u8 no higher than `cap`, which covers `box` (x, y, w, h) of the working picture
        (work_shape), scaled to the frame: only that part of the frame is touched."""
        frame_h, frame_w = alpha_u8.shape
        sx, sy = frame_w / work_shape[1], frame_h / work_shape[0]
        x, y, w, h = box
        x0, y0 = round(x * sx), round(y * sy)
        x1, y1 = max(x0 + 1, round((x + w) * sx)), max(y0 + 1, round((y + h) * sy))
        out = alpha_u8.copy()
        part = out[y0:y1, x0:x1]
        cv2.min(part, cv2.resize(cap, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR), dst=part)
        return out
