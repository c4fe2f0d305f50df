"""When the model runs: on frames where the picture changed (motion-gated), or on every Nth frame.

Motion gating: each frame is reduced to a small grey thumbnail (THUMB_WIDTH px wide: power-of-two
INTER_AREA halvings, app/imaging.py, then INTER_LINEAR to the exact size; ~0.3 ms at 720p) and
compared with the thumbnail of the last frame the model ran on. Pixels that changed by more than
camera noise are counted, weighted toward the person's edge band (from the last mask), where a
move changes the cut-out most; a talking mouth inside the face or a flicker in the room counts less.
The model runs when that weighted count passes a threshold, so it runs on every frame while the user
moves and rarely while they sit still; it still runs at least every `max_interval` frames, so slow
light changes and drifts too small to count are caught.

In an empty room (nobody in the last mask) every pixel weighs as the edge band does: whoever walks in
brings an edge. In a dim picture levels are counted as if it were lit (DIM_MEAN), since a move there
changes fewer of them.

Comparing with the last model frame, not the previous frame, means slow motion adds up until it
triggers a run: a slow lean cannot creep away from the mask a little every frame.

The same measure, with a lower trigger, tells the later stages what they may reuse between model
runs. The matte depends on the model's mask (unchanged between runs) and the frame's pixels around
its edge, so it is refined again only when the edge band changed since it was last refined
(`matte_unchanged()`: the band's pixels alone). The layers built from the frame (the blurred room,
the edge's colour means) also see the room and the person's inside, so they are rebuilt when the
weighted measure of the whole picture changed (`layers_unchanged()`), and whenever the matte was.
A still speaker's frames differ by sensor noise, a talking mouth inside the face and a room that
jitters a little, which change neither the cut-out's edge nor a blurred room much; that frame-by-
frame work was most of the CPU while still. On the bench's still speaker 46 of 48 refinements came
from changes outside the edge band (mostly the room), none of which can move the matte.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.imaging import FramePyramid, reduce_by_power_of_two

SCHEDULES = ("motion", "every-n")
MAX_INTERVAL_RANGE = (1, 300)
EVERY_N_RANGE = (1, 10)

THUMB_WIDTH = 64
# A thumbnail pixel "changed" from NOISE_LEVEL grey levels on, fully at CHANGE_LEVEL (linear between).
# At 64 px wide one thumbnail pixel averages ~20x20 pixels of a 720p frame, so sensor noise (a few
# levels per pixel) is well under one level there, while an edge of contrast 100 that moves 3 px
# changes its thumbnail pixels by ~15.
NOISE_LEVEL, CHANGE_LEVEL = 4.0, 12.0
# Weights of a changed pixel: in the person's edge band (BAND_RADIUS thumbnail px either side of the
# mask's 0.5 contour), elsewhere (inside the person, or the room).
BAND_WEIGHT, OTHER_WEIGHT = 1.0, 0.3
BAND_RADIUS = 2
# The model runs when the weighted count of changed thumbnail pixels reaches this (of 64x36 = 2304
# at 16:9, ~450 of them in the band of a head-and-shoulders outline): a hand-sized move near the
# outline, a head turn. Chosen on the talking-speaker clip (bench/live.py, 720p): 3 ran the model 16
# times a second, 20 about 6, 30 under 5, while the matte's mean IoU with the model-on-every-frame
# matte stayed at 0.997 (20: 0.997; 1.000 on the moving clip, where it runs on every frame).
TRIGGER_COUNT = 30.0
# The matte is refined again (not reused) from this weighted count on, against the frame it was last
# refined on: well under the model's trigger, so an edge that moved a little follows the picture
# while the model's mask is reused. Chosen on the talking-speaker clip at 720p (bench/live.py): 4
# reused the matte on 49 % of frames, 8 on 60 %, 12 on 65 %; against refining every frame the IoU
# stayed 0.999 and the edge band's mean alpha error went 0.008 -> 0.010 -> 0.012.
REFINE_TRIGGER = 8.0
# In an empty room (nobody in the last mask) the model runs from this weighted count: the first
# sliver of someone stepping back in from the side changed 23 thumbnail pixels, and they were cut
# away for a frame; an empty room's own changes (noise, a lamp) cost at most a run.
EMPTY_ROOM_TRIGGER = 15.0
# The model also runs when this share of the person's own thumbnail pixels (the last mask's) changed,
# whatever the weighted count: a person small in the picture, or the last of one leaving it, changes
# fewer pixels than TRIGGER_COUNT, and the room they left showed through their old mask until the
# next forced run (half a second).
PERSON_CHANGE_SHARE = 0.5
PERSON_COVERAGE = 0.1  # a thumbnail pixel is the person's from this share of it on
# A dim picture's moves change fewer grey levels (a room at 40 % light: 0.4x as many), and the gate
# ran the model 2.5x less often there: changes are measured as if the reference frame's thumbnail
# were lit to DIM_MEAN grey levels on average, by at most DIM_GAIN times.
DIM_MEAN, DIM_GAIN = 100.0, 3.0
# Motion beside the model's crop asks for a glance at the whole frame (app/segmentation.PersonRegion)
# when it is this many times as dense as the motion inside the crop.
OUTSIDE_CONTRAST = 3.0
OUTSIDE_SOLID = 10  # thumbnail pixels of solid change (3x3 erosion) outside the crop, at least
# A model run is "calm" when it comes at least this many frames after the last one (or is the first):
# the motion gate lets the model run rarely, a speaker sitting still. Such runs may take more looks
# (app/segmentation.Segmenter.mirror_when_calm); while the model runs on every frame they stay single.
# A gap, not the reason the gate ran: a talking head's occasional motion runs must not be single
# among mirrored ones, where the two answers would alternate and flicker.
CALM_GAP = 3
# After a burst of this many runs for motion in a row (a move), the first frame the gate would skip runs
# the model once more: the burst's last run saw the move's last frame (a blur, someone half gone),
# and its answer was otherwise kept until the forced run (a smear of room beside the shoulder of
# a still speaker for 14 frames, where the model on every frame showed it for one).
SETTLE_BURST = 3


@dataclass
class ScheduleSettings:
    # AppSettings' model_* fields (the window's and the CLI's) take their defaults from these.
    mode: str = "motion"        # one of SCHEDULES
    every_n: int = 2            # "every-n": the model on every Nth frame, its mask reused between
    max_interval: int = 15      # "motion": the model at least every this many frames (0.5 s at 30 fps)

    def clamped(self) -> "ScheduleSettings":
        return ScheduleSettings(
            mode=self.mode if self.mode in SCHEDULES else ScheduleSettings.mode,
            every_n=int(min(max(int(self.every_n), EVERY_N_RANGE[0]), EVERY_N_RANGE[1])),
            max_interval=int(min(max(int(self.max_interval), MAX_INTERVAL_RANGE[0]), MAX_INTERVAL_RANGE[1])))


def thumbnail(frame_bgr: np.ndarray, width: int = THUMB_WIDTH, pyramid: FramePyramid | None = None) -> np.ndarray:
    """Grey float32 thumbnail `width` px wide (height by the frame's aspect, at least 1).
    pyramid: the frame's shared halvings (app/imaging.py)."""
    height_in, width_in = frame_bgr.shape[:2]
    width = min(width, width_in)
    height = max(1, round(height_in * width / width_in))
    grey = cv2.cvtColor(reduce_by_power_of_two(frame_bgr, height, width, pyramid), cv2.COLOR_BGR2GRAY)
    if grey.shape != (height, width):
        grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_LINEAR)
    return grey.astype(np.float32)


def changed_pixels(thumb: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """How much each thumbnail pixel changed from `reference`: 0 up to NOISE_LEVEL grey levels, 1
    from CHANGE_LEVEL on, linear between; in a dim picture, levels as if it were lit (DIM_MEAN)."""
    gain = min(DIM_GAIN, max(1.0, DIM_MEAN / max(float(reference.mean()), 1.0)))
    diff = cv2.absdiff(thumb, reference) * gain
    return np.clip((diff - NOISE_LEVEL) * (1.0 / (CHANGE_LEVEL - NOISE_LEVEL)), 0.0, 1.0)


def person_coverage(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The share of each thumbnail pixel (of a thumbnail of `shape`) that `mask` calls person."""
    return cv2.resize(np.asarray(mask, np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def change_weights(mask: np.ndarray | None, shape: tuple[int, int], coverage: np.ndarray | None = None) -> np.ndarray:
    """Per-thumbnail-pixel weights: BAND_WEIGHT in the mask's edge band, OTHER_WEIGHT elsewhere;
    BAND_WEIGHT everywhere when the mask has nobody in it (anyone who walks into an empty room
    brings an edge with them: at 0.3 the model first ran five frames after they came in).
    coverage: person_coverage(mask, shape) when the caller has it already."""
    weights = np.full(shape, OTHER_WEIGHT, np.float32)
    if mask is None:
        return weights
    small = person_coverage(mask, shape) if coverage is None else coverage
    person = (small > 0.5).astype(np.uint8)
    if not person.any():
        return np.full(shape, BAND_WEIGHT, np.float32)
    kernel = np.ones((2 * BAND_RADIUS + 1, 2 * BAND_RADIUS + 1), np.uint8)
    band = cv2.dilate(person, kernel) != cv2.erode(person, kernel)
    weights[band] = BAND_WEIGHT
    return weights


class ModelSchedule:
    """Decides per frame whether the model runs (see the module doc).

    Call due(frame) for every frame, then ran(mask) when the model ran on it (whatever due() said:
    the caller also runs it when it has no mask yet) or skipped() when the last mask was reused.
    reset() forgets the scene."""

    def __init__(self, settings: ScheduleSettings | None = None) -> None:
        self.settings = settings or ScheduleSettings()
        self.reset()

    @property
    def settings(self) -> ScheduleSettings:
        return self._settings

    @settings.setter
    def settings(self, value: ScheduleSettings) -> None:
        self._settings = value.clamped()

    def reset(self) -> None:
        self._reference: np.ndarray | None = None   # thumbnail of the last frame the model ran on
        self._weights: np.ndarray | None = None
        self._current: np.ndarray | None = None     # thumbnail of the frame due() saw last
        self._band: np.ndarray | None = None        # 1 in the last mask's edge band, 0 elsewhere
        self._person: np.ndarray | None = None      # 1 where the last mask is person, 0 elsewhere
        self._refined: np.ndarray | None = None     # thumbnail of the frame the matte was refined on
        self._layered: np.ndarray | None = None     # of the frame the frame-derived layers were built on
        self._changed: np.ndarray | None = None     # changed_pixels(_current, _reference), once a frame
        self._since_run = 0                         # frames since the last model run
        self._burst = 0                             # runs for motion in a row (SETTLE_BURST)
        self._nobody = False                        # the last mask has nobody in it
        self._moved = False                         # due() asked for a run for motion
        self._settling = False                      # due() asked for the run after a burst
        self.last_change = 0.0                      # the weighted count due() measured last

    def due(self, frame_bgr: np.ndarray, pyramid: FramePyramid | None = None) -> bool:
        """Whether the model should run on this frame. pyramid: its shared halvings."""
        s = self._settings
        self._moved = self._settling = False
        # Kept in both modes: the fixed one too looks for motion beside the model's crop (moved_outside).
        self._current = thumbnail(frame_bgr, pyramid=pyramid)
        self._changed = None
        if s.mode == "every-n":
            return self._since_run + 1 >= s.every_n
        if self._reference is None or self._reference.shape != self._current.shape:
            return True
        if self._since_run + 1 >= s.max_interval:
            return True
        self.last_change = self.change(self._current)
        trigger = EMPTY_ROOM_TRIGGER if self._nobody else TRIGGER_COUNT
        self._moved = self.last_change >= trigger or self._person_changed(self._current)
        self._settling = not self._moved and self._burst >= SETTLE_BURST  # the move ended: one more look
        return self._moved or self._settling

    def moved_outside(self, rect: tuple[int, int, int, int], frame_shape: tuple[int, ...]) -> bool:
        """Whether the picture changed since the last model run outside `rect` (x, y, w, h of a
        frame of frame_shape), where a model run on that crop cannot see: a solid blob of change
        (OUTSIDE_SOLID), OUTSIDE_CONTRAST times as dense as the change inside it (someone stepping
        in beside a still speaker; not a room's shimmering edges, nor the speaker's own move)."""
        if self._current is None or self._reference is None or self._reference.shape != self._current.shape:
            return False
        thumb_h, thumb_w = self._current.shape
        frame_h, frame_w = frame_shape[:2]
        x, y, w, h = rect
        inside = np.zeros((thumb_h, thumb_w), bool)
        # Thumbnail pixels wholly inside the crop; one it only touches is outside.
        inside[int(np.ceil(y * thumb_h / frame_h)):int((y + h) * thumb_h // frame_h),
               int(np.ceil(x * thumb_w / frame_w)):int((x + w) * thumb_w // frame_w)] = True
        changed = self._changed_since_run()
        outside_area, inside_area = np.count_nonzero(~inside), np.count_nonzero(inside)
        if outside_area == 0:
            return False
        # Solid change only: a room's edges that shimmer (a camera's residual shake) change thin lines
        # of thumbnail pixels, which an erosion removes; someone walking in changes a blob.
        solid = cv2.erode((changed > 0.5).astype(np.uint8), np.ones((3, 3), np.uint8))
        if np.count_nonzero(solid[~inside]) < OUTSIDE_SOLID:
            return False
        outside_count = float(changed[~inside].sum())
        inside_density = float(changed[inside].sum()) / inside_area if inside_area else 0.0
        return outside_count / outside_area >= OUTSIDE_CONTRAST * inside_density

    def _person_changed(self, thumb: np.ndarray) -> bool:
        """Whether PERSON_CHANGE_SHARE of the last mask's person pixels changed since that run."""
        if self._person is None or self._person.shape != thumb.shape:
            return False
        area = float(np.count_nonzero(self._person))
        return area > 0 and self.change(thumb, weights=self._person) >= PERSON_CHANGE_SHARE * area

    def _changed_since_run(self) -> np.ndarray:
        """changed_pixels of the frame due() saw last against the last model run's: the gate, the
        person's share and the look beside the crop all ask, once computed a frame."""
        if self._changed is None:
            self._changed = changed_pixels(self._current, self._reference)
        return self._changed

    @property
    def calm(self) -> bool:
        """Whether a run on the frame due() saw last is a calm one (CALM_GAP): with motion gating,
        the first run, or one at least CALM_GAP frames after the last. Never with the fixed
        every-Nth schedule, whose runs are spaced by choice, to save CPU."""
        return self._settings.mode == "motion" and (self._reference is None or self._since_run + 1 >= CALM_GAP)

    def matte_unchanged(self) -> bool:
        """Whether the frame due() saw last is, for the matte, the frame it was last refined on: its
        edge band changed by less than REFINE_TRIGGER (see the module doc). Never in the fixed
        every-Nth mode, which refines every frame as it always did."""
        return self._same_as(self._refined, self._band)

    def layers_unchanged(self) -> bool:
        """Whether the frame due() saw last is, for the layers built from the frame, the frame they
        were last built on: the whole picture's weighted change under REFINE_TRIGGER."""
        return self._same_as(self._layered, None)

    def _same_as(self, reference: np.ndarray | None, weights: np.ndarray | None) -> bool:
        if (self._settings.mode == "every-n" or self._current is None or reference is None
                or reference.shape != self._current.shape):
            return False
        return self.change(self._current, reference, weights) < REFINE_TRIGGER

    def refined(self) -> None:
        """The matte was refined on the frame due() saw last."""
        self._refined = self._current

    def layered(self) -> None:
        """The frame-derived layers were built from the frame due() saw last."""
        self._layered = self._current

    def change(self, thumb: np.ndarray, reference: np.ndarray | None = None,
               weights: np.ndarray | None = None) -> float:
        """The weighted count of thumbnail pixels that changed since the last model run (or since
        `reference`), weighted by `weights` (default: the edge band's and elsewhere's, change_weights)."""
        if reference is None and thumb is self._current:
            changed = self._changed_since_run()
        else:
            changed = changed_pixels(thumb, self._reference if reference is None else reference)
        weights = self._weights if weights is None else weights
        if weights is None or weights.shape != changed.shape:
            weights = 1.0
        return float(np.sum(changed * weights))

    def ran(self, mask: np.ndarray | None) -> None:
        """The model ran on the frame due() saw last and gave `mask` (model resolution is fine)."""
        self._since_run = 0
        # Runs for other reasons (the forced one, a look through a new crop) neither make a burst
        # nor end one; the settling run ends it.
        self._burst = self._burst + 1 if self._moved else 0 if self._settling else self._burst
        self._moved = self._settling = False
        if self._current is not None:
            self._reference, self._changed = self._current, None
            coverage = None if mask is None else person_coverage(mask, self._current.shape)
            self._weights = change_weights(mask, self._current.shape, coverage)
            self._nobody = coverage is not None and not (coverage > 0.5).any()
            # No mask, no band: the matte then goes by the whole picture's measure (change()'s
            # default). A mask with nobody in it has no band either: its matte is empty, whatever moves.
            self._band = None if mask is None else (
                np.zeros_like(self._weights) if self._nobody else (self._weights == BAND_WEIGHT).astype(np.float32))
            # Every thumbnail pixel with some of the person in it: the last sliver of one leaving
            # covers less than half of any.
            self._person = None if coverage is None else (coverage > PERSON_COVERAGE).astype(np.float32)

    def skipped(self) -> None:
        """The frame due() saw last reused the previous mask."""
        self._since_run += 1
        self._burst = 0
