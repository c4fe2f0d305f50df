"""People in a person-probability mask: connected components, and the main person kept steady.

Works on the model's mask (a couple of hundred pixels wide), so a frame costs a few tenths of a
millisecond. Used by the framing stage (where the people are) and, with --main-person, to keep only
the main person in the matte.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_AREA_FRACTION = 0.01   # smaller blobs are leaks or hands at the edge, not a person
CORE_LEVEL = 0.5           # probability that counts as "person" when splitting into components


@dataclass
class Person:
    """One connected component, in the mask's own pixel coordinates."""
    label: int
    area: float                      # pixels
    box: tuple[int, int, int, int]   # x, y, width, height
    centroid: tuple[float, float]    # x, y

    @property
    def top(self) -> int:
        return self.box[1]


def find_people(mask: np.ndarray, level: float = CORE_LEVEL,
                min_area_fraction: float = MIN_AREA_FRACTION) -> tuple[list[Person], np.ndarray]:
    """Components of mask >= level (mask: float 0..1 or uint8 0..255) larger than
    min_area_fraction of the picture, largest first, and the label image they refer to."""
    threshold = level * 255.0 if mask.dtype == np.uint8 else level
    binary = (mask >= threshold).astype(np.uint8)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
    min_area = min_area_fraction * mask.shape[0] * mask.shape[1]
    people = [Person(i, float(stats[i, cv2.CC_STAT_AREA]),
                     tuple(int(v) for v in stats[i, :4]), (float(centroids[i, 0]), float(centroids[i, 1])))
              for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    people.sort(key=lambda p: p.area, reverse=True)
    return people, labels


class MainPersonSelector:
    """Keeps only the main person of a mask: large, central and, above all, the one already chosen.

    Each candidate gets a score (area share + centrality in the frame). The incumbent (the component
    overlapping the last choice) keeps the place until a challenger beats it by `margin` on
    `switch_after` consecutive masks, so the matte never jumps between people on a noisy frame or
    two, yet a passer-by chosen at the start does not keep the place for ever.

    The last choice is kept in the camera frame's coordinates (a grid GRID_WIDTH wide): the model's
    mask covers a crop that follows the people and changes size from run to run, and in the crop's
    own pixels the last choice was lost whenever it did, letting the best score win at once.
    Two people who touch (a sofa) are one component: where that component holds both the last
    choice and the others last seen, its pixels go to whichever is nearer, instead of both being
    kept until they part and the other vanishes again.
    """

    GRID_WIDTH = 160

    def __init__(self, margin: float = 0.15, switch_after: int = 8) -> None:
        self.margin = margin
        self.switch_after = switch_after
        self._previous: np.ndarray | None = None   # the last chosen component on the frame's grid (uint8)
        self._grid_size: tuple[int, int] | None = None  # (width, height) of that grid
        self._others: np.ndarray | None = None     # everyone else last seen, on the same grid (uint8)
        self._challenger_runs = 0
        self.people_seen = 0                         # components in the last mask
        self.split = False                           # the last choice was cut out of a merged component

    def reset(self) -> None:
        self._previous = self._others = None
        self._challenger_runs = 0

    @classmethod
    def _to_grid(cls, shape: tuple[int, int], rect: tuple[int, int, int, int],
                 frame_size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
        """The affine map from mask pixels (a mask of `shape` covering `rect` of a frame of
        `frame_size`) to the frame's grid, and that grid's (width, height)."""
        frame_w, frame_h = frame_size
        grid_w = min(cls.GRID_WIDTH, frame_w)
        grid_h = max(1, round(frame_h * grid_w / frame_w))
        x, y, w, h = rect
        sx, sy = grid_w / frame_w, grid_h / frame_h
        du, dv = w / shape[1], h / shape[0]
        to_grid = np.float32([[du * sx, 0.0, (x + 0.5 * du) * sx - 0.5],
                              [0.0, dv * sy, (y + 0.5 * dv) * sy - 0.5]])
        return to_grid, (grid_w, grid_h)

    def _here(self, grid: np.ndarray | None, to_grid: np.ndarray, grid_size: tuple[int, int],
              shape: tuple[int, int]) -> np.ndarray | None:
        """A mask kept on the frame's grid, in this mask's pixels (None when there is none)."""
        if grid is None or self._grid_size != grid_size:
            return None
        return cv2.warpAffine(grid, to_grid, (shape[1], shape[0]),
                              flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0) > 0

    def _scores(self, people: list[Person], to_grid: np.ndarray, grid_width: int) -> list[float]:
        total = float(sum(p.area for p in people))
        scores = []
        for person in people:
            # Horizontal distance of the centroid from the frame's centre, 0 (centre) .. 1 (edge).
            grid_x = to_grid[0, 0] * person.centroid[0] + to_grid[0, 2]
            off_centre = min(1.0, abs((grid_x + 0.5) / grid_width - 0.5) * 2.0)
            scores.append(person.area / total + 0.5 * (1.0 - off_centre))
        return scores

    def choose(self, mask: np.ndarray, rect: tuple[int, int, int, int] | None = None,
               frame_size: tuple[int, int] | None = None) -> np.ndarray | None:
        """The main person's component (bool, mask-sized), or None when nobody is there. rect: where
        the mask lies in the camera frame, of frame_size (width, height); default: it is the frame."""
        height, width = mask.shape[:2]
        rect = rect or (0, 0, width, height)
        frame_size = frame_size or (rect[0] + rect[2], rect[1] + rect[3])
        to_grid, grid_size = self._to_grid((height, width), rect, frame_size)
        people, labels = find_people(mask)
        self.people_seen = len(people)
        self.split = False
        if not people:
            self._challenger_runs = 0
            return None  # keep the memory: the person may be back on the next frame
        previous = self._here(self._previous, to_grid, grid_size, labels.shape)
        others = self._here(self._others, to_grid, grid_size, labels.shape)
        scores = self._scores(people, to_grid, grid_size[0])
        best = int(np.argmax(scores))
        incumbent = None
        if previous is not None:
            overlaps = [np.count_nonzero((labels == p.label) & previous) for p in people]
            if max(overlaps) > 0:
                incumbent = int(np.argmax(overlaps))
        chosen = best
        if incumbent is not None and incumbent != best:
            if scores[best] > scores[incumbent] + self.margin:
                self._challenger_runs += 1
            else:
                self._challenger_runs = 0
            if self._challenger_runs < self.switch_after:
                chosen = incumbent
            else:
                self._challenger_runs = 0
        else:
            self._challenger_runs = 0
        component = labels == people[chosen].label
        rest = (labels > 0) & ~component
        if previous is not None and others is not None and np.any(component & others) and np.any(component & previous):
            # The main person and someone else as one component: each pixel goes to the nearer of the
            # two as last seen (a Voronoi split of the blob), unless the other's share is no person.
            to_main = cv2.distanceTransform((~previous).astype(np.uint8), cv2.DIST_L2, 3)
            to_others = cv2.distanceTransform((~others).astype(np.uint8), cv2.DIST_L2, 3)
            theirs = component & (to_others < to_main)
            if np.count_nonzero(theirs) >= MIN_AREA_FRACTION * labels.size:
                component, rest = component & ~theirs, rest | theirs
                self.split = True
        self._previous = self._to_grid_mask(component, to_grid, grid_size)
        self._others = self._to_grid_mask(rest, to_grid, grid_size) if np.any(rest) else None
        self._grid_size = grid_size
        return component

    @staticmethod
    def _to_grid_mask(mask: np.ndarray, to_grid: np.ndarray, grid_size: tuple[int, int]) -> np.ndarray:
        return cv2.warpAffine(mask.astype(np.uint8), to_grid, grid_size, flags=cv2.INTER_NEAREST, borderValue=0)

    def apply(self, mask: np.ndarray, rect: tuple[int, int, int, int] | None = None,
              frame_size: tuple[int, int] | None = None) -> np.ndarray:
        """The mask with everyone but the main person removed (same shape and dtype).

        The chosen core (>= 0.5) is grown by a few pixels so its soft edge (hair, the probability
        ramp below 0.5) stays; everything outside goes to 0."""
        component = self.choose(mask, rect, frame_size)
        if component is None or (self.people_seen <= 1 and not self.split):
            return mask
        grow = max(1, round(max(mask.shape) / 64))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        keep = cv2.dilate(component.astype(np.uint8), kernel)
        return mask * keep.astype(mask.dtype)
