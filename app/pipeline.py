"""Wires the stages for one frame: segment (when app/scheduling.py says so), refine the matte, composite.

Fails closed: when a stage fails for a frame (the model raises or answers NaN, values outside
[0, 1] or a mask of the wrong size, the frame is malformed), process() returns the last good
composite, or the background alone, never the camera frame, and says why in last_error.

A mask that calls (almost) the whole picture "person" is not an error (someone can fill the frame),
but it is also what a broken model that lets the whole room through looks like. So while the
current mask is all person, the output is the background alone (the safer choice: a close-up
briefly shows the background; a broken model never shows the room), and after ALL_PERSON_RUNS
such model runs in a row `warning` says so. Both end with the first plausible mask.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from app.compositing import BackgroundError, Compositor
from app.effects import Effects
from app.imaging import FramePyramid, keep_image_memory, use_opencv_threads_for
from app.matting import MatteRefiner, MotionSmoother, RoomMemory, drop_detached_pieces
from app.scheduling import ModelSchedule, ScheduleSettings
from app.segmentation import (REGION_GLANCE_SIZE, PersonRegion, Segmenter, mask_in_frame, mask_range_error,
                              rect_overlap)

STAGES = ("preprocess", "inference", "matte", "composite", "effects")  # effects: app/effects.py, 0 when all off

# "All person": more than this share of the mask above 0.5. The sample clip's person covers at most
# 28 %; only a face right at the lens, a covered lens or a broken model reaches 98 %.
ALL_PERSON_FRACTION = 0.98
# A run whose crop overlaps the next crop by less than this (intersection over union) is run again
# on the next frame, through the new crop.
RECROP_OVERLAP = 0.5
ALL_PERSON_RUNS = 30  # model runs in a row (1-2 s at the defaults) before the user is warned
ALL_PERSON_WARNING = (
    "The model has marked the whole picture as you {runs} times in a row, so the background alone "
    "goes out instead. Step back so the camera sees some of the room; if that does not help, the "
    "model file is faulty: reinstall PortraitCam or pick another model.")
# A still picture as the source shows the model the same picture on every run: its first such run
# says all that thirty would, and the user should not wait (the window loops a photo) to hear it.
STILL_ALL_PERSON_WARNING = (
    "The model has marked the whole picture as you, so the background alone goes out instead. A face "
    "right at the lens does this; if the picture shows some of the room, the model file is faulty: "
    "reinstall PortraitCam or pick another model.")


@dataclass
class SegmentedFrame:
    """A frame after the pipeline's first half (Pipeline.segment), all that finish() needs of it."""
    frame: np.ndarray                       # as segmented: after the low-light boost, when it is on
    pyramid: FramePyramid | None = None     # the frame's halvings, shared by the stages (app/imaging.py)
    mask: np.ndarray | None = None          # the model's mask for rect: this frame's run or the last
    rect: tuple[int, int, int, int] | None = None  # (x, y, w, h): where the model looked
    model_ran: bool = False
    matte_changed: bool = True              # the edge band changed since the matte was last refined
    layers_changed: bool = True             # the picture changed since the frame's layers were built
    all_person: bool = False                # the mask calls the whole picture person (module doc)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    error: str | None = None                # why this frame failed (finish() gives the safe frame)


class Pipeline:
    def __init__(self, segmenter: Segmenter, refiner: MatteRefiner, compositor: Compositor,
                 model_every_n: int | None = None, schedule: ScheduleSettings | None = None) -> None:
        """schedule: when the model runs (app/scheduling.py; callers pass AppSettings'); a bare
        model_every_n means the fixed every-Nth schedule, as before motion gating existed."""
        keep_image_memory()  # each frame's images reuse the last one's memory (app/imaging.py)
        self.segmenter = segmenter
        self.refiner = refiner
        self.smoother = MotionSmoother()
        self.room = RoomMemory()  # a video's memory of the room behind the person
        self.compositor = compositor
        self.schedule = ModelSchedule(schedule)
        if model_every_n is not None and schedule is None:
            self.model_every_n = model_every_n
        self.last_mask: np.ndarray | None = None   # the model's mask for last_rect of the frame
        self.last_rect: tuple[int, int, int, int] | None = None  # (x, y, w, h): where the model looked
        self.region = PersonRegion()
        self.last_alpha: np.ndarray | None = None  # uint8, 0..255, frame-sized
        self.frames_processed = 0
        self.model_runs = 0
        self.model_ran = False      # whether the model ran on the last frame processed
        self.matte_reused = False   # whether the last frame reused the matte (picture unchanged)
        self._refined_with: object = None  # the refiner settings last_alpha was refined with
        self._matte_shape: tuple[int, ...] | None = None  # the frame size the refiner's state is for
        self._segment_afresh = False  # a frame failed after its segmentation: run the model next
        self._recrop = False  # the last run's mask came from a crop far from the next one: run again
        self._frame_shape: tuple[int, ...] | None = None
        self.last_error: str | None = None   # why the last frame failed; None after a good one
        self.failures = 0
        self._last_good: np.ndarray | None = None
        self.all_person = False     # the current mask says all person: the background alone goes out
        self.all_person_runs = 0    # model runs in a row that said so
        self.warning: str | None = None  # for the user, while all_person_runs >= ALL_PERSON_RUNS
        # The source repeats one picture: warn on its first all-person run; its matte and edge
        # colour, made once, get what would cost too much a video frame (detached specks dropped,
        # finer colour means: Compositor.still).
        self.still_source = False
        self.effects = Effects()  # optional effects (low light, main person, framing, light); all off

    @property
    def model_every_n(self) -> int:
        return self.schedule.settings.every_n

    @model_every_n.setter
    def model_every_n(self, value: int) -> None:
        """The fixed schedule: the model on every Nth frame (switches motion gating off)."""
        self.schedule.settings = ScheduleSettings(mode="every-n", every_n=max(1, int(value)),
                                                  max_interval=self.schedule.settings.max_interval)

    def reset(self) -> None:
        """Drop the mask and temporal state (call when the source changes)."""
        self.last_mask = None
        self.last_rect = None
        self.last_alpha = None
        self.frames_processed = 0
        self._frame_shape = None
        self._last_good = None  # a new source's size and scene: the old picture no longer fits
        self.last_error = None
        self._matte_shape = None
        self._segment_afresh = False
        self._recrop = False
        self.refiner.reset()
        self.smoother.reset()
        self.room.reset()
        self.effects.reset()
        self.schedule.reset()
        self.region.reset()

    def process(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Composite one frame; returns it and the milliseconds each stage took.

        Between model runs the last mask is reused (preprocess/inference then report 0 ms);
        the matte is still refined on the current frame, so edges follow the picture.
        A BackgroundError (the background video stopped) is raised to the caller; any other
        failure gives the safe frame described in the module doc and sets last_error.
        The same as finish(segment(frame)): see OverlappedFrames for the two halves on two threads.
        """
        return self.finish(self.segment(frame_bgr))

    def segment(self, frame_bgr: np.ndarray) -> SegmentedFrame:
        """The first half of process(): the model (when due) and what the matte needs from it.
        Never raises: a failure is carried to finish() in the result's `error`."""
        result = SegmentedFrame(frame_bgr)
        try:
            self._segment_frame(result)
        except Exception as exc:  # noqa: BLE001 - finish() turns it into the safe frame
            result.error = str(exc) or type(exc).__name__
            self.last_mask = None  # segment afresh on the next frame
        return result

    def finish(self, segmented: SegmentedFrame) -> tuple[np.ndarray, dict[str, float]]:
        """The second half of process(): the matte on the frame, effects and the composite."""
        timings = segmented.timings
        if segmented.error is None:
            try:
                output = self._finish(segmented, timings)
            except BackgroundError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever failed, the raw frame must not go out
                segmented.error = str(exc) or type(exc).__name__
                self._segment_afresh = True  # read by segment(), maybe on the other thread
        self.model_ran = segmented.model_ran and segmented.error is None
        if segmented.error is not None:
            self.failures += 1
            self.last_error = segmented.error
            self.refiner.reset()
            self.smoother.reset()
            return self._safe_output(segmented.frame), timings
        self.last_error = None
        self._last_good = output
        return output, timings

    def _segment_frame(self, result: SegmentedFrame) -> None:
        frame_bgr, timings = result.frame, result.timings
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8 or not frame_bgr.size:
            raise ValueError(f"frame of shape {frame_bgr.shape} and type {frame_bgr.dtype} is not a "
                             "BGR picture")
        if frame_bgr.shape != self._frame_shape:
            use_opencv_threads_for(frame_bgr.shape)
        frame_bgr = result.frame = self.effects.before_segmentation(frame_bgr)  # low light: the model sees it too
        result.pyramid = FramePyramid(frame_bgr)
        due = self.schedule.due(frame_bgr, result.pyramid)  # always asked: it keeps the frame's thumbnail
        whole = (0, 0, frame_bgr.shape[1], frame_bgr.shape[0])
        moved_outside = None  # the picture moved beside the crop the model would look through
        if (not due and self.last_mask is not None and frame_bgr.shape == self._frame_shape
                and self.schedule.settings.mode == "motion"):
            crop = self.region.rect(frame_bgr.shape)
            if crop != whole:
                # Someone popping up beside a still speaker counts at the room's weight (0.3 a pixel)
                # and stayed under the gate's trigger for 2-3 frames, cut out meanwhile.
                moved_outside = due = self.schedule.moved_outside(crop, frame_bgr.shape)
        # A size change makes the old mask's geometry wrong, so segment again at once; so does a
        # frame that failed after its segmentation (finish() sets the flag).
        if (due or self.last_mask is None or frame_bgr.shape != self._frame_shape or self._segment_afresh
                or self._recrop):
            recropping = self._recrop
            self._segment_afresh = self._recrop = False
            if frame_bgr.shape != self._frame_shape:
                self.region.reset()
            crop = self.region.rect(frame_bgr.shape)
            if moved_outside is None:
                moved_outside = self.schedule.moved_outside(crop, frame_bgr.shape)
            if self.region.glance_due(frame_bgr.shape, moved_outside):  # anyone new beside the crop?
                can_glance = getattr(self.segmenter, "fit_content", False)  # else: a whole-frame run
                glance = self._segment(result.pyramid, whole, timings, REGION_GLANCE_SIZE) if can_glance else None
                self.region.after_glance(glance, frame_bgr.shape)
            rect = self.region.rect(frame_bgr.shape)
            calm = self.schedule.calm  # the model runs rarely: a run may take two looks
            mask = self._segment(result.pyramid, rect, timings, calm=calm)
            if self.region.update(mask, rect, frame_bgr.shape):
                # A second look now: the first frame's person, seen closer; or a person who
                # reached past the crop, seen whole, instead of cut at its side for a frame.
                rect = self.region.rect(frame_bgr.shape)
                mask = self._segment(result.pyramid, rect, timings, calm=calm)
                self.region.update(mask, rect, frame_bgr.shape)
            # The person is far from the crop this mask came from (a cut to another scene, someone a
            # glance found), or this mask came from the whole frame (seen at about half the pixels:
            # a worse matte) and the region now has a crop (a second person left): the next frame
            # looks again, through the crop made for them. On a still picture the motion gate would
            # keep this mask until its forced run, half a second on. Not twice in a row: a run made
            # for that reason waits for the gate, whatever crop it leads to.
            next_rect = self.region.rect(frame_bgr.shape)
            self._recrop = not recropping and (rect_overlap(rect, next_rect) < RECROP_OVERLAP
                                               or rect == whole != next_rect)
            in_frame = mask_in_frame(mask, rect, frame_bgr.shape, self._mask_frame_size(
                mask, rect, frame_bgr.shape, getattr(self.segmenter, "input_size", Segmenter.input_size)))
            self._judge_mask(in_frame)
            self.last_rect = rect
            self.last_mask = self.effects.on_mask(np.clip(mask, 0.0, 1.0), rect,  # main person only, if on
                                                  (frame_bgr.shape[1], frame_bgr.shape[0]))
            self.model_runs += 1
            result.model_ran = True
            self._frame_shape = frame_bgr.shape
            self.schedule.ran(in_frame)
        else:
            self.schedule.skipped()
        result.mask, result.rect, result.all_person = self.last_mask, self.last_rect, self.all_person
        # Between model runs, an edge band unchanged since the last refinement keeps its matte, and a
        # picture unchanged since the layers were built keeps the compositor's frame-derived layers
        # (app/scheduling.py): a still speaker costs a blend.
        result.matte_changed = result.model_ran or not self.schedule.matte_unchanged()
        result.layers_changed = result.matte_changed or not self.schedule.layers_unchanged()
        if result.matte_changed:
            self.schedule.refined()  # finish() refines this frame's matte
        if result.layers_changed:
            self.schedule.layered()
        effects = self.effects.timings
        timings["effects"] = effects["low_light"] + effects["main_person"]

    def _finish(self, segmented: SegmentedFrame, timings: dict[str, float]) -> np.ndarray:
        frame_bgr = segmented.frame
        start = time.perf_counter()
        if frame_bgr.shape != self._matte_shape:
            self.refiner.reset()  # its temporal state is in the old frame size's coordinates
            self._matte_shape = frame_bgr.shape
        unchanged = (not segmented.matte_changed and self.last_alpha is not None
                     and self.last_alpha.shape == frame_bgr.shape[:2]
                     and self._refined_with is self.refiner.settings)
        if not unchanged:
            self.last_alpha = self._refine(segmented)  # 0..255
            if self.refiner.settings.steady_edges:  # averaged with the last matte, moved with the person
                self.last_alpha = self.smoother.smooth(self.last_alpha, segmented.pyramid,
                                                       self.refiner.settings.smoothing)
            else:
                self.smoother.reset()  # no stale history when it is switched on again
            if self.refiner.settings.room_memory and not self.still_source:  # a photo has no history
                self.last_alpha = self.room.apply(self.last_alpha, segmented.pyramid)
            else:
                self.room.reset()
            self._refined_with = self.refiner.settings
        self.matte_reused = unchanged
        mid = time.perf_counter()
        # The matte is still refined, so smoothing has the current state when the mask recovers.
        alpha = np.zeros_like(self.last_alpha) if segmented.all_person else self.last_alpha
        layers_unchanged = unchanged and not segmented.layers_changed
        self.compositor.still = self.still_source  # a photo's edge colour: finer, made once
        output = self.effects.composite(self.compositor, frame_bgr, alpha, unchanged=layers_unchanged,  # framing, light, blend
                                        pyramid=segmented.pyramid)
        end = time.perf_counter()
        effects = self.effects.timings
        composite_effects = effects["framing"] + effects["lighting"] + effects["wrap"]
        timings["effects"] += composite_effects
        timings["matte"] = (mid - start) * 1000.0
        # The effects' own share of the composite call is counted under effects.
        timings["composite"] = (end - mid) * 1000.0 - composite_effects
        self.frames_processed += 1
        return output

    def _segment(self, pyramid: FramePyramid, rect: tuple[int, int, int, int], timings: dict[str, float],
                 size: int | None = None, calm: bool = False) -> np.ndarray:
        """The model's mask for `rect` of the frame (pyramid.image), checked (raises ValueError when
        it is faulty); size: a smaller input for a glance; calm: the scene is calm (Segmenter.infer)."""
        x, y, w, h = rect
        start = time.perf_counter()
        region = pyramid.region(x, y, w, h)  # the crop, with the frame's halvings for its reductions
        tensor, content = self.segmenter.preprocess(region.image, size, pyramid=region)
        mid = time.perf_counter()
        if calm and getattr(self.segmenter, "mirror_when_calm", False):  # others (a peer's) take no `calm`
            mask = self.segmenter.infer(tensor, content, calm=True)
        else:
            mask = self.segmenter.infer(tensor, content)
        if size is None and getattr(self.segmenter, "extra_input_sizes", ()):  # a photo's other looks
            mask = self.segmenter.average_other_sizes(mask, region.image, pyramid=region)
        end = time.perf_counter()
        if mask.shape != (content[3], content[2]):
            raise ValueError(f"the model returned a mask of shape {mask.shape}, "
                             f"expected {(content[3], content[2])}")
        problem = mask_range_error(mask)  # any segmenter, not only ours, is checked
        if problem:
            raise ValueError(f"the model is faulty: {problem}")
        timings["preprocess"] += (mid - start) * 1000.0
        timings["inference"] += (end - mid) * 1000.0
        return mask

    @staticmethod
    def _mask_frame_size(mask: np.ndarray, rect: tuple[int, int, int, int], frame_shape,
                         input_size: int) -> tuple[int, int]:
        """The whole frame at the mask's own pixel density (at most twice the model's input size)."""
        scale = min(mask.shape[1] / rect[2], 2 * input_size / max(frame_shape[:2]))
        return max(1, round(frame_shape[0] * scale)), max(1, round(frame_shape[1] * scale))

    def _refine(self, segmented: SegmentedFrame) -> np.ndarray:
        """The matte (uint8) at the frame's size: refined inside the model's crop, 0 outside it."""
        frame_bgr, mask, (x, y, w, h) = segmented.frame, segmented.mask, segmented.rect
        region = segmented.pyramid.region(x, y, w, h)  # the frame's own pyramid for the whole frame
        # rect: the refiner carries its temporal state over when the crop moves
        fresh = segmented.model_ran  # else the mask is an earlier frame's (the refiner's smoothing asks)
        if (w, h) == (frame_bgr.shape[1], frame_bgr.shape[0]):
            alpha = self.refiner.refine(mask, frame_bgr, np.uint8, pyramid=region, rect=segmented.rect, fresh=fresh)
        else:
            alpha = np.zeros(frame_bgr.shape[:2], np.uint8)
            alpha[y:y + h, x:x + w] = self.refiner.refine(mask, region.image, np.uint8, pyramid=region,
                                                          rect=segmented.rect, fresh=fresh)
        # A photo's matte is made once: no faint specks of room apart from the person (models/
        # MODEL_CARD.md, session 32, rule 10); a video frame's would cost some 7 ms at 1280 px.
        return drop_detached_pieces(alpha) if self.still_source else alpha

    def _judge_mask(self, mask: np.ndarray) -> None:
        """Track masks that call the whole picture person (see the module doc)."""
        person = np.count_nonzero(mask > 0.5)
        self.all_person = person > ALL_PERSON_FRACTION * mask.size
        if self.all_person:
            self.all_person_runs += 1
            if self.still_source:
                self.warning = STILL_ALL_PERSON_WARNING
            elif self.all_person_runs >= ALL_PERSON_RUNS:
                self.warning = ALL_PERSON_WARNING.format(runs=ALL_PERSON_RUNS)  # one text: one report
        else:
            self.all_person_runs = 0
            self.warning = None

    def _safe_output(self, frame_bgr: np.ndarray) -> np.ndarray:
        """What goes out when a frame failed: the last good composite, else the background alone
        (alpha 0: the chosen image, colour or a fully blurred frame), else black."""
        if self._last_good is not None:
            return self._last_good.copy()
        shape = frame_bgr.shape[:2] if frame_bgr.ndim >= 2 and frame_bgr.size else (720, 1280)
        try:
            if frame_bgr.ndim == 3 and frame_bgr.shape[2] == 3 and frame_bgr.dtype == np.uint8:
                return self.compositor.composite(frame_bgr, np.zeros(shape, np.float32))
        except Exception:  # noqa: BLE001 - even the background failed: black is still safe
            pass
        return np.zeros((*shape, 3), np.uint8)


# Frames segmented ahead of the one finishing. Measured with bench.pipeline_worker's file job, 720p,
# the model on every frame, 2 cores: 83 FPS one ahead, 87-88 two, 89-90 three, 88-90 four or six
# (deeper decoding and encoding queues changed nothing).
SEGMENT_AHEAD = 3


class OverlappedFrames:
    """A file job's frames through the pipeline's two halves on two threads: the next frames'
    segment() (the model) on a worker thread while this frame's finish() (matte, composite) runs
    on the caller's. Each half keeps its own state, so the frames that come out are those of
    process() called frame by frame, in order; a flat-out job on two cores gets up to twice the
    throughput. `ahead` frames are segmented ahead of the one finishing, so the worker does not wait
    for a slow finish(). Not for a live camera: it holds frames back, which a call would see as
    latency.

        for output, timings, tag in OverlappedFrames(pipeline)(frames):  # frames: (frame, tag) pairs
    """

    def __init__(self, pipeline: Pipeline, ahead: int = SEGMENT_AHEAD) -> None:
        self.pipeline = pipeline
        self.ahead = max(1, int(ahead))

    def __call__(self, frames: Iterable[tuple[np.ndarray, Any]]) -> Iterator[tuple[np.ndarray, dict[str, float], Any]]:
        pending: deque = deque()  # (future of segment(frame), tag), oldest first
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="portraitcam-segment") as worker:
            try:
                for frame, tag in frames:
                    pending.append((worker.submit(self.pipeline.segment, frame), tag))
                    if len(pending) > self.ahead:
                        yield self._finish(pending.popleft())
                while pending:
                    yield self._finish(pending.popleft())
            finally:
                for future, _ in pending:
                    future.cancel()

    def _finish(self, pending) -> tuple[np.ndarray, dict[str, float], Any]:
        future, tag = pending
        output, timings = self.pipeline.finish(future.result())
        return output, timings, tag
