"""Auto-framing: a crop of the camera picture that keeps the head and shoulders centred, moved like
a calm camera operator would move it.

AutoFramer.update(alpha) measures where the people are (on a ~160-pixel-wide sample of the matte)
and returns the crop rectangle for this frame; reframe() cuts it out and scales it to the output
size. The crop follows a goal that changes only when the subject leaves a dead zone around it, and
glides there with a critically damped spring (no overshoot) whose speed is capped. With nobody in
view for `empty_delay` seconds it glides back to the full frame; several people are framed together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.imaging import strided_sample
from app.people import find_people

ZOOM_MIN, ZOOM_MAX = 1.0, 3.0
SAMPLE_WIDTH = 160   # the matte is measured at about this width: plenty for a crop, costs ~0.1 ms
# The head: the rows from its top down to HEAD_ROWS of the crop's height (a framed head is about a
# third of it, the crown's widest part in the first fifth); at most HEAD_SHARE of the crop's width.
HEAD_ROWS, HEAD_SHARE = 0.2, 0.5


@dataclass
class FramingSettings:
    zoom: float = 1.5           # frame size / crop size for one person
    head_room: float = 0.12     # space above the head, fraction of the crop height
    dead_zone: float = 0.04     # the subject may move this fraction of the frame before the crop follows
    size_dead_zone: float = 0.12  # relative change in the wanted crop width before it zooms
    max_speed: float = 0.012    # fraction of the frame width per frame (0.36 widths/s at 30 fps)
    smooth_time: float = 0.35   # seconds: the glide's time constant
    empty_delay: float = 2.0    # seconds with nobody in view before going back to the full frame
    group_margin: float = 0.15  # extra width around a group of people, fraction of their span
    fps: float = 30.0           # frame rate the times above are counted in


def smooth_damp(current: float, target: float, velocity: float, smooth_time: float, dt: float,
                max_step: float) -> tuple[float, float]:
    """One step of a critically damped spring toward target (Game Programming Gems 4, 1.10).

    Returns (position, velocity). The step is capped at max_step, and the spring never passes the
    target: where it would, it stops on it with zero velocity (so a goal that changes mid-glide
    cannot cause an overshoot either)."""
    omega = 2.0 / max(smooth_time, 1e-4)
    x = omega * dt
    decay = 1.0 / (1.0 + x + 0.48 * x * x + 0.235 * x * x * x)
    change = current - target
    temp = (velocity + omega * change) * dt
    velocity = (velocity - omega * temp) * decay
    position = target + (change + temp) * decay
    step = position - current
    if abs(step) > max_step:
        position = current + math.copysign(max_step, step)
        velocity = math.copysign(max_step, step) / dt
    if (target - current > 0) == (position > target) and current != target:
        position, velocity = target, 0.0
    if abs(target - position) < 0.01 and abs(velocity) * dt < 0.01:
        position, velocity = target, 0.0   # a hundredth of a pixel: arrived (the spring only nears it)
    return position, velocity


class AutoFramer:
    """The crop follower. Coordinates are the frame's pixels; the crop keeps the frame's aspect."""

    def __init__(self, settings: FramingSettings | None = None) -> None:
        self.settings = settings or FramingSettings()
        self.reset()

    def reset(self) -> None:
        self._size: tuple[int, int] | None = None      # frame width, height
        self._state: np.ndarray | None = None          # crop centre x, centre y, width
        self._velocity = np.zeros(3)
        self._goal: np.ndarray | None = None
        self._empty_frames = 0
        self.people = 0                                # people seen in the last frame
        self.target: np.ndarray | None = None          # the last measured ideal crop (cx, cy, w)

    @property
    def zoom(self) -> float:
        return self.settings.zoom

    @zoom.setter
    def zoom(self, value: float) -> None:
        self.settings.zoom = float(np.clip(value, ZOOM_MIN, ZOOM_MAX))

    # --- measuring ----------------------------------------------------------------------------
    def measure(self, alpha: np.ndarray) -> np.ndarray | None:
        """The ideal crop (cx, cy, width) for this matte, or None when nobody is in it."""
        height, width = alpha.shape[:2]
        # Strided sampling, not a resize: the matte is already smooth (it was upsampled), so
        # nothing aliases, and it costs nothing.
        small, step = strided_sample(alpha, SAMPLE_WIDTH)
        people, labels = find_people(small)
        self.people = len(people)
        if not people:
            return None
        s = self.settings
        aspect = height / width
        crop_w = width / max(s.zoom, ZOOM_MIN)
        top = min(p.top for p in people) * step
        # Head and shoulders: the rows from the top of the head down to mid-crop.
        band_end = int((top + 0.5 * crop_w * aspect) / step) + 1
        band = np.isin(labels[: band_end], [p.label for p in people])
        cols = np.nonzero(band.any(axis=0))[0]
        if len(people) == 1:
            weights = band.sum(axis=0).astype(np.float64)
            centre_x = float((weights * np.arange(weights.size)).sum() / weights.sum() + 0.5) * step
            # A head that is already close (a face filling the frame) is not zoomed into further: the
            # crop keeps the head's width at most HEAD_SHARE of its own, which a usual framing
            # never reaches (a 1.5x zoom gave a face 83 % of the picture, cutting chin and forehead).
            head_end = int((top + HEAD_ROWS * crop_w * aspect) / step) + 1
            head_cols = np.nonzero(np.isin(labels[: head_end], [people[0].label]).any(axis=0))[0]
            if head_cols.size:
                crop_w = max(crop_w, (head_cols[-1] + 1 - head_cols[0]) * step / HEAD_SHARE)
        else:
            # A group: centre on their span and widen the crop until all of them fit.
            left, right = cols[0] * step, (cols[-1] + 1) * step
            centre_x = (left + right) / 2.0
            crop_w = max(crop_w, (right - left) * (1.0 + 2 * s.group_margin))
        crop_w = min(crop_w, float(width))
        crop_h = crop_w * aspect
        centre_y = top - s.head_room * crop_h + crop_h / 2.0
        return self._clamp(np.array([centre_x, centre_y, crop_w]), width, height)

    @staticmethod
    def _clamp(crop: np.ndarray, width: int, height: int) -> np.ndarray:
        crop_w = min(max(crop[2], 16.0), float(width))
        crop_h = crop_w * height / width
        cx = min(max(crop[0], crop_w / 2.0), width - crop_w / 2.0)
        cy = min(max(crop[1], crop_h / 2.0), height - crop_h / 2.0)
        return np.array([cx, cy, crop_w])

    # --- following ----------------------------------------------------------------------------
    def update(self, alpha: np.ndarray) -> tuple[int, int, int, int]:
        """Advance one frame; the crop (x, y, width, height) in whole pixels."""
        height, width = alpha.shape[:2]
        s = self.settings
        full = np.array([width / 2.0, height / 2.0, float(width)])
        if self._size != (width, height):
            self.reset()
            self._size = (width, height)
        target = self.measure(alpha)
        self.target = target
        if target is None:
            self._empty_frames += 1
            if self._empty_frames >= s.empty_delay * s.fps:
                target = full
        else:
            self._empty_frames = 0
        if self._state is None:
            # The first sight of someone is framed at once; gliding in from nowhere looks odd.
            self._state = target.copy() if target is not None else full.copy()
            self._goal = self._state.copy()
        if target is not None:
            self._update_goal(target, width, height)
        dt = 1.0 / s.fps
        max_step = s.max_speed * width
        for axis in range(3):
            self._state[axis], self._velocity[axis] = smooth_damp(
                self._state[axis], self._goal[axis], self._velocity[axis], s.smooth_time, dt, max_step)
        self._state = self._clamp(self._state, width, height)
        return self.rect()

    def _update_goal(self, target: np.ndarray, width: int, height: int) -> None:
        """The goal moves to the target only when the target leaves the dead zone around it; then it
        moves all the way (re-centring), so small sways never move the picture."""
        s = self.settings
        goal = self._goal
        if abs(target[0] - goal[0]) > s.dead_zone * width or abs(target[1] - goal[1]) > s.dead_zone * height:
            goal[0], goal[1] = target[0], target[1]
        if abs(target[2] - goal[2]) > s.size_dead_zone * goal[2]:
            goal[2] = target[2]
        self._goal = self._clamp(goal, width, height)

    def rect(self) -> tuple[int, int, int, int]:
        """The current crop in whole pixels, inside the frame, with the frame's aspect."""
        width, height = self._size
        cx, cy, crop_w = self._state
        w = int(round(crop_w))
        h = min(height, int(round(w * height / width)))
        x = int(round(cx - w / 2.0))
        y = int(round(cy - h / 2.0))
        return min(max(x, 0), width - w), min(max(y, 0), height - h), w, h

    @property
    def state(self) -> np.ndarray | None:
        """The crop's exact (sub-pixel) centre x, centre y and width."""
        return None if self._state is None else self._state.copy()


def reframe(image: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """The crop rect of image, scaled back to image's size (image itself when rect is all of it)."""
    height, width = image.shape[:2]
    x, y, w, h = rect
    if (x, y, w, h) == (0, 0, width, height):
        return image
    return cv2.resize(image[y:y + h, x:x + w], (width, height), interpolation=cv2.INTER_LINEAR)
