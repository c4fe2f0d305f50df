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

    Each candidate gets a score (area share + centrality). The incumbent (the component overlapping
    the last choice) keeps the place until a challenger beats it by `margin` on `switch_after`
    consecutive masks, so the matte never jumps between people on a noisy frame or two, yet a
    passer-by chosen at the start does not keep the place for ever.
    """

    def __init__(self, margin: float = 0.15, switch_after: int = 8) -> None:
        self.margin = margin
        self.switch_after = switch_after
        self._previous: np.ndarray | None = None   # the last chosen component (bool, mask-sized)
        self._challenger_runs = 0
        self.people_seen = 0                         # components in the last mask

    def reset(self) -> None:
        self._previous = None
        self._challenger_runs = 0

    def _scores(self, people: list[Person], labels: np.ndarray) -> list[float]:
        height, width = labels.shape
        total = float(sum(p.area for p in people))
        scores = []
        for person in people:
            # Horizontal distance of the centroid from the centre, 0 (centre) .. 1 (edge).
            off_centre = abs(person.centroid[0] / width - 0.5) * 2.0
            scores.append(person.area / total + 0.5 * (1.0 - off_centre))
        return scores

    def choose(self, mask: np.ndarray) -> np.ndarray | None:
        """The main person's component (bool, mask-sized), or None when nobody is there."""
        people, labels = find_people(mask)
        self.people_seen = len(people)
        if not people:
            self._challenger_runs = 0
            return None  # keep the memory: the person may be back on the next frame
        scores = self._scores(people, labels)
        best = int(np.argmax(scores))
        incumbent = None
        if self._previous is not None and self._previous.shape == labels.shape:
            overlaps = [np.count_nonzero((labels == p.label) & self._previous) for p in people]
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
        self._previous = component
        return component

    def apply(self, mask: np.ndarray) -> np.ndarray:
        """The mask with everyone but the main person removed (same shape and dtype).

        The chosen core (>= 0.5) is grown by a few pixels so its soft edge (hair, the probability
        ramp below 0.5) stays; everything outside goes to 0."""
        component = self.choose(mask)
        if component is None or self.people_seen <= 1:
            return mask
        grow = max(1, round(max(mask.shape) / 64))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        keep = cv2.dilate(component.astype(np.uint8), kernel)
        return mask * keep.astype(mask.dtype)
