"""Person segmentation with the PortraitNet ONNX model (see the model contract in the README).

The frame is scaled so its long side is 224 (the paper's scale). A model with dynamic height/width
gets just the content rounded up to a multiple of 32 (224x128 for 16:9: ~40 % less work than the
square); a fixed 224x224 model gets the square. Either way the padding repeats the picture's edge
pixels, as in training, so the border of the picture is never a black wall the model reads as the
end of the person. The mask is cropped back to the content so later stages never see the padding.

PersonRegion chooses what the model sees: the whole frame, or a still crop around the person once
a run has found them (see the comment above it); app/pipeline.py places the crop's mask back in
the frame.
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from app.imaging import FramePyramid, reduce_by_power_of_two
from app.resources import resource_root

INPUT_NAME = "image"
OUTPUT_NAME = "mask"


DEFAULT_MODEL_PATH = resource_root() / "models" / "portraitnet.onnx"

_GRAPH_OPTIMIZATION = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def default_threads() -> int:
    """Half the cores (at least 1, at most 4): leaves room for capture, the GUI and the call app."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


MODEL_STRIDE = 32  # the network downsamples 5 times: its input sides must be multiples of 32

@functools.cache
def _second_look() -> ThreadPoolExecutor:
    """One worker thread, shared by all segmenters, for the mirrored look of a two-look run."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="portraitcam-second-look")


def letterbox_rect(width: int, height: int, size: int, fit_content: bool = False,
                   margin: int = 0) -> tuple[int, int, int, int]:
    """Where a width x height frame lands in the model input: long side scaled to `size` (less a
    `margin` on each side), centred in a size x size square, or (fit_content) in the content plus
    its margins rounded up to a multiple of 32."""
    scale = (size - 2 * margin) / max(width, height)
    content_w = min(size, max(1, round(width * scale)))
    content_h = min(size, max(1, round(height * scale)))
    input_w, input_h = input_size_for(content_w, content_h, size, fit_content, margin)
    return (input_w - content_w) // 2, (input_h - content_h) // 2, content_w, content_h


def input_size_for(content_w: int, content_h: int, size: int, fit_content: bool,
                   margin: int = 0) -> tuple[int, int]:
    if not fit_content:
        return size, size
    up = lambda n: min(size, -(-(n + 2 * margin) // MODEL_STRIDE) * MODEL_STRIDE)  # noqa: E731
    return up(content_w), up(content_h)


def letterbox(image: np.ndarray, size: int, fit_content: bool = False,
              interpolation: int | None = None, margin: int = 0,
              pyramid: FramePyramid | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Scale `image` (H x W or H x W x C) into the model input and pad it by repeating its edge
    pixels. Returns (input picture, content rect (x, y, w, h)). Training uses this same function.
    pyramid: the image's halvings (app/imaging.FramePyramid), shared with the other stages."""
    height, width = image.shape[:2]
    x, y, w, h = letterbox_rect(width, height, size, fit_content, margin)
    input_w, input_h = input_size_for(w, h, size, fit_content, margin)
    if interpolation is None:
        interpolation = cv2.INTER_AREA if w < width else cv2.INTER_LINEAR
    if interpolation == cv2.INTER_AREA:  # halvings first, then one small step (app/imaging.py)
        image = reduce_by_power_of_two(image, h, w, pyramid)
    resized = cv2.resize(image, (w, h), interpolation=interpolation)
    canvas = cv2.copyMakeBorder(resized, y, input_h - h - y, x, input_w - w - x, cv2.BORDER_REPLICATE)
    return canvas, (x, y, w, h)


# ---------------------------------------------------------------------------------------------
# Where the model looks. After a run has found the person, later runs see a crop around them
# (padded), so a person far from the camera fills more of the model's 224 px: a full-body framing
# or someone sitting back gets up to 2x the model pixels, and the edge is placed that much finer.
# Each run's crop is centred on the person as the last run found them (it used to hold still while
# they stayed inside it, for fear that a moving sampling grid would flicker; with the matte's temporal
# state carried from crop to crop, app/matting.MatteRefiner, following the person measured better on
# the validation clips: moving IoU 0.9526 -> 0.9542, edge MAD 0.1034 -> 0.1018, dtSSD 4.71 both),
# and gives way to the whole frame when the person reaches a side of the crop that cuts the frame
# (at once, in the same frame). Every REGION_GLANCE_EVERY runs the
# model also glances at the whole frame at REGION_GLANCE_SIZE px (a third of a run's work): when
# someone new or a part of the person shows up beside the crop, the next run sees the whole frame
# (and when that run finds nobody outside the crop after all, the frame is seen through the crop).
# (Running the whole frame at full size instead changed the matte for that frame: a visible pulse;
# watching the picture outside the crop for change fired on every shake of a hand-held camera.)
REGION_PAD = 0.15         # the crop's margin around the person's box, a share of the box each side
REGION_MIN_SIDE = 0.5     # the crop is at least this share of the frame's width and of its height
# The crop starts on a multiple of 8 px (and ends on one, or at the frame's edge), so its first three
# halvings are slices of the frame's (app/imaging.FramePyramid.region): the model's input and the
# matte's working image then cost no reduction of their own.
REGION_ALIGN = 8
REGION_PERSON = 0.3       # mask level that counts as person for the crop's box
REGION_TOUCH = 0.02       # person within this share of a crop side that cuts the frame: whole frame
REGION_SLIVER = 0.15      # a person this narrow (share of the frame's width) at its side: a crop of full height
# Only a confident part of the person, not a speck, sends the next run to the whole frame (seen at
# about half the pixels there: a worse matte for a frame, a visible pulse). The model's faint smears
# and few-pixel specks at a crop's side used to: telling them apart took 17 held-out moving clips
# from IoU 0.9717 / dtSSD 3.90 to 0.9733 / 3.77.
REGION_TOUCH_LEVEL = 0.5  # mask level that counts as person for the side test
REGION_SPECK = 0.002      # blobs under this share of the mask's pixels are specks for the side test
REGION_GLANCE_EVERY = 15  # model runs on a crop between glances at the whole frame
REGION_GLANCE_SIZE = 128  # the glance's long side (model input px; a multiple of MODEL_STRIDE)


def person_box(mask: np.ndarray, rect: tuple[int, int, int, int], level: float = REGION_PERSON,
               min_share: float = 0.0) -> tuple[float, float, float, float] | None:
    """Box (x0, y0, x1, y1) in frame pixels of the mask's person pixels; `rect` is where the mask
    lies in the frame. None when nobody is there. min_share: blobs under this share of the mask's
    pixels do not count (specks)."""
    person = (mask > level).astype(np.uint8)
    if min_share > 0.0:  # the union of the boxes of the blobs that are not specks
        _, _, stats, _ = cv2.connectedComponentsWithStats(person, connectivity=8)
        blobs = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= min_share * mask.size]
        if not len(blobs):
            return None
        bx, by = blobs[:, cv2.CC_STAT_LEFT].min(), blobs[:, cv2.CC_STAT_TOP].min()
        bw = (blobs[:, cv2.CC_STAT_LEFT] + blobs[:, cv2.CC_STAT_WIDTH]).max() - bx
        bh = (blobs[:, cv2.CC_STAT_TOP] + blobs[:, cv2.CC_STAT_HEIGHT]).max() - by
    else:
        points = cv2.findNonZero(person)
        if points is None:
            return None
        bx, by, bw, bh = cv2.boundingRect(points)
    sx, sy = rect[2] / mask.shape[1], rect[3] / mask.shape[0]
    return rect[0] + bx * sx, rect[1] + by * sy, rect[0] + (bx + bw) * sx, rect[1] + (by + bh) * sy


class PersonRegion:
    """The crop of the frame the model runs on next (see the comment above): call rect() before a
    run, update() with its mask after it."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled  # False: always the whole frame (for comparisons)
        self.reset()

    def reset(self) -> None:
        self._rect: tuple[int, int, int, int] | None = None  # None: the whole frame
        self._runs_on_crop = 0
        self._whole_frame_next = True
        self._fresh = True  # no run since the reset
        self._checking_glance = False  # this whole-frame run checks what a glance saw beside the crop

    def rect(self, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the frame that the next run sees."""
        height, width = frame_shape[:2]
        whole = (0, 0, width, height)
        if (not self.enabled or self._whole_frame_next or self._rect is None
                or self._rect[0] + self._rect[2] > width or self._rect[1] + self._rect[3] > height):
            return whole
        return self._rect

    def glance_due(self, frame_shape: tuple[int, ...], motion_outside: bool = False) -> bool:
        """Whether the next run on a crop should first glance at the whole frame: every
        REGION_GLANCE_EVERY runs, and at every other run while the picture moves outside the crop
        (counted in runs, the glance came 7 s apart when a still speaker's model ran twice a second,
        and someone who stepped in beside them stayed cut out until it came)."""
        return self.rect(frame_shape) != (0, 0, frame_shape[1], frame_shape[0]) and (
            self._runs_on_crop >= REGION_GLANCE_EVERY or (motion_outside and self._runs_on_crop >= 1))

    def after_glance(self, mask: np.ndarray | None, frame_shape: tuple[int, ...]) -> None:
        """The glance's mask (for the whole frame): the whole frame next unless all of the person
        it found is inside the crop. None (a model that cannot glance): the whole frame next."""
        height, width = frame_shape[:2]
        self._runs_on_crop = 0
        if mask is None:
            self._whole_frame_next = True
            return
        box = person_box(mask, (0, 0, width, height), level=0.5)
        if box is not None and self._rect is not None:
            x0, y0, x1, y1 = box
            pad_x, pad_y = REGION_PAD * (x1 - x0) / 2, REGION_PAD * (y1 - y0) / 2
            if not self._contains(self._rect, (x0 + pad_x, y0 + pad_y, x1 - pad_x, y1 - pad_y), width, height):
                self._whole_frame_next = True
                self._checking_glance = True

    def update(self, mask: np.ndarray, rect: tuple[int, int, int, int], frame_shape: tuple[int, ...]) -> bool:
        """The run on `rect` of the frame answered `mask` (for that rect): choose the next crop.
        True when this frame deserves a second run on rect() at once: the first run after a reset
        found someone to look at closer (a still photo gets one frame), the person reached a side
        of the crop that cuts the frame (they would be cut there), or the crop showed nobody."""
        height, width = frame_shape[:2]
        if not self.enabled:
            return False
        whole = rect == (0, 0, width, height)
        fresh, self._fresh = self._fresh, False
        checking_glance, self._checking_glance = self._checking_glance, False
        self._runs_on_crop = 0 if whole else self._runs_on_crop + 1
        self._whole_frame_next = False
        box = person_box(mask, rect)
        if box is None:
            # A crop is made only around someone: nobody in it (the first sliver of a person walking
            # in, which the crop shows as a torso without a head, or one who just left) is checked
            # on the whole frame at once, not kept as an empty mask until the next run.
            self._rect = None
            return not whole
        if not whole and self._reaches_a_cut_side(mask, rect, width, height):
            self._whole_frame_next = True
            return True
        x0, y0, x1, y1 = box
        if (x1 - x0 < REGION_SLIVER * width
                and (x0 <= REGION_TOUCH * width or x1 >= (1.0 - REGION_TOUCH) * width)):
            # A sliver at the frame's side: someone walking in (or out), a shoulder first and the
            # head above it next. A crop around the shoulder missed the head, and the model called
            # the headless torso it showed room (cut away for two frames): the crop spans the
            # frame's height until they are in.
            y0, y1 = 0.0, float(height)
        pad_x, pad_y = REGION_PAD * (x1 - x0), REGION_PAD * (y1 - y0)
        current = self._rect
        # When this whole-frame run only checked a glance's alarm and the person is still inside the
        # crop, look again through the crop for this frame: the whole frame, at half the pixels,
        # gives a worse matte and a visible pulse.
        recheck = (checking_glance and whole and current is not None and self._contains(
            current, (x0 - pad_x / 2, y0 - pad_y / 2, x1 + pad_x / 2, y1 + pad_y / 2), width, height))
        crop_w = min(width, max(x1 - x0 + 2 * pad_x, REGION_MIN_SIDE * width))
        crop_h = min(height, max(y1 - y0 + 2 * pad_y, REGION_MIN_SIDE * height))
        left = int(np.clip(round((x0 + x1 - crop_w) / 2), 0, width - round(crop_w)))
        top = int(np.clip(round((y0 + y1 - crop_h) / 2), 0, height - round(crop_h)))
        candidate = aligned_rect(left, top, int(round(crop_w)), int(round(crop_h)), width, height)
        self._rect = None if candidate == (0, 0, width, height) else candidate
        return (fresh and whole or recheck) and self._rect is not None

    @staticmethod
    def _contains(rect, box, width, height) -> bool:
        """Whether rect holds box, where the box's parts beyond the frame do not count."""
        x, y, w, h = rect
        x0, y0, x1, y1 = max(0.0, box[0]), max(0.0, box[1]), min(width, box[2]), min(height, box[3])
        return x <= x0 and y <= y0 and x + w >= x1 and y + h >= y1

    @classmethod
    def _reaches_a_cut_side(cls, mask, rect, width, height) -> bool:
        """Whether a confident part of the person (not a speck) is at a side of the crop `rect` that
        cuts the frame. Specks are told apart (0.2 ms) only when the plain test says yes."""
        return (cls._touches_a_cut_side(person_box(mask, rect, REGION_TOUCH_LEVEL), rect, width, height)
                and cls._touches_a_cut_side(person_box(mask, rect, REGION_TOUCH_LEVEL, REGION_SPECK),
                                            rect, width, height))

    @staticmethod
    def _touches_a_cut_side(box, rect, width, height) -> bool:
        if box is None:
            return False
        x, y, w, h = rect
        near_x, near_y = REGION_TOUCH * width, REGION_TOUCH * height
        x0, y0, x1, y1 = box
        return ((x > 0 and x0 <= x + near_x) or (y > 0 and y0 <= y + near_y)
                or (x + w < width and x1 >= x + w - near_x) or (y + h < height and y1 >= y + h - near_y))


def rect_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two rectangles (x, y, w, h)."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    common = max(0, width) * max(0, height)
    union = a[2] * a[3] + b[2] * b[3] - common
    return common / union if union > 0 else 1.0


def aligned_rect(x: int, y: int, w: int, h: int, frame_w: int, frame_h: int,
                 align: int = REGION_ALIGN) -> tuple[int, int, int, int]:
    """(x, y, w, h) with each side moved to the nearest multiple of `align` (the right and bottom
    sides to the frame's edge when that is nearer): on average the same crop, not a larger one (a
    crop grown to the next multiples, 8 px, cost held-out composites 0.0015 IoU and 0.0015 edge MAD)."""
    def snap_end(end: int, limit: int) -> int:
        return limit if limit - end <= align // 2 else min(limit, int(round(end / align)) * align)
    x0 = min(int(round(x / align)) * align, max(0, frame_w - align))
    y0 = min(int(round(y / align)) * align, max(0, frame_h - align))
    x1 = max(snap_end(x + w, frame_w), min(frame_w, x0 + align))
    y1 = max(snap_end(y + h, frame_h), min(frame_h, y0 + align))
    return x0, y0, x1 - x0, y1 - y0


def mask_in_frame(mask: np.ndarray, rect: tuple[int, int, int, int], frame_shape: tuple[int, ...],
                  size: tuple[int, int]) -> np.ndarray:
    """The crop's mask placed in the whole frame, at `size` (height, width): 0 outside the crop."""
    height, width = frame_shape[:2]
    if rect == (0, 0, width, height):
        return cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    sx, sy = size[1] / width, size[0] / height
    x0, y0 = round(rect[0] * sx), round(rect[1] * sy)
    x1, y1 = max(x0 + 1, round((rect[0] + rect[2]) * sx)), max(y0 + 1, round((rect[1] + rect[3]) * sy))
    canvas = np.zeros(size, np.float32)
    canvas[y0:y1, x0:x1] = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return canvas


class ModelError(RuntimeError):
    """The segmentation model is missing, unreadable or does not match the contract."""


# A probability leaves [0, 1] only through a model error (a sigmoid cannot): beyond this rounding
# slack the mask is refused, not clipped, since clipping 1e30 to 1 would call the whole room "person".
MASK_RANGE_TOLERANCE = 1e-3


def mask_range_error(mask: np.ndarray) -> str | None:
    """Why mask is not a finite probability map (NaN, infinite, outside [0, 1]); None when it is."""
    if not np.isfinite(mask).all():
        return "the mask holds NaN or infinite values"
    if mask.size and (mask.min() < -MASK_RANGE_TOLERANCE or mask.max() > 1.0 + MASK_RANGE_TOLERANCE):
        return (f"the mask holds values from {mask.min():.3g} to {mask.max():.3g}, outside the "
                "probabilities 0..1 the model must answer")
    return None


def _dim_matches(actual, expected: int) -> bool:
    # Symbolic (str) or unknown (None) dims are dynamic and accept any size.
    return not isinstance(actual, int) or actual == expected


# Model-input pixels of repeated edge around the picture (v4's card: with 16 the flag strip at the
# portrait's left edge went from 19 % to 0.1 % person and the sample clip's wall from 0.07 to 0.02;
# held-out real photos' IoU 0.969 -> 0.972; a 16:9 frame's input grows from 224x128 to 224x160).
INPUT_MARGIN = 16
PHOTO_EXTRA_INPUT_SIZES = (288,)  # a photo's second input size (Segmenter.use_photo_looks)


class Segmenter:
    """Runs the ONNX model on CPU. Raises ModelError naming the file when it cannot be used."""

    input_size = 224

    def __init__(self, model_path: str | os.PathLike = DEFAULT_MODEL_PATH,
                 threads: int | None = None, graph_optimization: str = "all", margin: int = INPUT_MARGIN) -> None:
        self.model_path = Path(model_path)
        # Edge-replicated margin around the picture (model-input pixels per side): the picture's own
        # edge is then not the network's edge, where its one-sided Keras padding shows.
        self.margin = int(margin)
        self.threads = int(threads) if threads else default_threads()
        if graph_optimization not in _GRAPH_OPTIMIZATION:
            raise ValueError(f"graph_optimization must be one of {sorted(_GRAPH_OPTIMIZATION)}")
        if not self.model_path.is_file():
            if self.model_path.is_dir():
                raise ModelError(f"Model file {self.model_path} is a folder, not an ONNX model")
            raise ModelError(f"Model file not found: {self.model_path}")

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = _GRAPH_OPTIMIZATION[graph_optimization]
        options.log_severity_level = 3  # errors only; ModelError carries the explanation
        # Idle worker threads sleep instead of spinning: a frame every 33 ms leaves them idle most of
        # the time, and spinning would burn that time as CPU the call app needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"Model file {self.model_path} is not a usable ONNX model (truncated or corrupt): {reason}"
            ) from exc
        self.fit_content = self._check_signature()
        # More looks at a picture, for a photo, where time is to spare (use_photo_looks; off for video,
        # where they would multiply the model's share of the CPU; models/MODEL_CARD.md, session 13).
        # mirror_average: each run also sees the picture mirrored, and the two answers (the second
        # mirrored back) are averaged. extra_input_sizes: the picture is also run at these long sides
        # and the answers averaged, each scaled to the first's size.
        self.mirror_average = False
        self.extra_input_sizes: tuple[int, ...] = ()
        # mirror_when_calm: a run the caller marks calm (app/scheduling.CALM_GAP: the model runs
        # rarely, a speaker sitting still) is mirror-averaged too, where it costs little.
        self.mirror_when_calm = True
        # Runs at start-up validate the output (shape, finite values in [0, 1]) and take the first-call cost now:
        # a model that answers NaN would otherwise composite garbage on every frame.
        probe_sizes = [(self.input_size, self.input_size)] + ([(self.input_size, 128)] if self.fit_content else [])
        probe_values = np.linspace(0.0, 1.0, 3 * self.input_size * self.input_size, dtype=np.float32)
        for width, height in probe_sizes:
            probe = probe_values[:3 * height * width].reshape(1, 3, height, width)
            self._run_checked(probe, failure=f"Model file {self.model_path} failed on a test input")

    def _run_checked(self, tensor: np.ndarray, failure: str) -> np.ndarray:
        """Run the model; raise ModelError (starting with `failure`) unless it returns a finite
        N x 1 x H x W mask the size of the input."""
        try:
            output = self._session.run([OUTPUT_NAME], {INPUT_NAME: tensor})[0]
        except Exception as exc:
            raise ModelError(f"{failure}: {exc}") from exc
        expected = (tensor.shape[0], 1) + tensor.shape[2:]
        if output.shape != expected:
            raise ModelError(f"{failure}: mask shape {output.shape}, expected {expected}")
        problem = mask_range_error(output)
        if problem:
            raise ModelError(f"{failure}: {problem}")
        return output

    def _check_signature(self) -> bool:
        """Validates names and shapes; returns whether height and width are dynamic (fit_content)."""
        size = self.input_size
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            names = [i.name for i in inputs]
            raise ModelError(
                f"Model file {self.model_path} has inputs {names}, expected one input '{INPUT_NAME}'")
        shape = inputs[0].shape
        if len(shape) != 4 or not all(_dim_matches(a, e) for a, e in zip(shape[1:], (3, size, size))):
            raise ModelError(
                f"Model file {self.model_path} has input shape {shape}, expected [N, 3, {size}, {size}]")
        if OUTPUT_NAME not in [o.name for o in outputs]:
            names = [o.name for o in outputs]
            raise ModelError(
                f"Model file {self.model_path} has outputs {names}, expected an output '{OUTPUT_NAME}'")
        return not isinstance(shape[2], int) and not isinstance(shape[3], int)

    def use_photo_looks(self, on: bool) -> None:
        """A photo's looks (on) or video's single run (off): mirror-averaged runs at 224 and 288 px.
        288 was chosen over 256 and 256+288 on the validation composites (training people); held
        out, against mirror averaging alone: boundary F 0.930 -> 0.932, edge error 0.061 -> 0.058,
        real photos' boundary F 0.912 -> 0.917, composites IoU 0.959 both, worst decile 0.789 -> 0.782."""
        self.mirror_average = bool(on)
        self.extra_input_sizes = PHOTO_EXTRA_INPUT_SIZES if on and self.fit_content else ()

    def use_looks(self, still: bool, mirror_video: bool = False, calm: bool = True) -> None:
        """A photo's looks for a still picture; for a camera or video two looks (mirrored) on calm
        runs (calm), and on every run when mirror_video is asked for (twice the model's CPU)."""
        self.use_photo_looks(still)
        self.mirror_when_calm = bool(calm)
        if not still:
            self.mirror_average = bool(mirror_video)

    def average_other_sizes(self, mask: np.ndarray, image: np.ndarray,
                            pyramid: FramePyramid | None = None) -> np.ndarray:
        """`mask` (the answer for `image` at input_size) averaged with the answers at
        extra_input_sizes, each scaled to its size; `mask` itself when there are none."""
        if not self.extra_input_sizes:
            return mask
        total = mask.astype(np.float32, copy=True)
        for size in self.extra_input_sizes:
            tensor, content = self.preprocess(image, size, pyramid=pyramid)
            total += cv2.resize(self.infer(tensor, content), (mask.shape[1], mask.shape[0]),
                                interpolation=cv2.INTER_LINEAR)
        return total / (1 + len(self.extra_input_sizes))

    def letterbox_geometry(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Content rectangle (x, y, w, h) of a width x height frame inside the model input."""
        return letterbox_rect(width, height, self.input_size, self.fit_content, self.margin if self.fit_content else 0)

    def margin_for(self, size: int) -> int:
        """The input margin for a model input of `size` px long side: the same share of it."""
        return round(self.margin * size / self.input_size)

    def preprocess(self, frame_bgr: np.ndarray, size: int | None = None,
                   pyramid: FramePyramid | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """Scale and edge-pad into a 1x3xHxW float32 RGB tensor in [0,1]; returns it and the content rect.
        size: a smaller long side than input_size, for a quick glance (dynamic-size models only).
        pyramid: the frame's halvings (app/imaging.FramePyramid), shared with the other stages."""
        if size is not None and size != self.input_size:
            if not self.fit_content:
                raise ValueError(f"{self.model_path.name} takes {self.input_size} px inputs only")
            margin = self.margin_for(size)
            canvas, rect = letterbox(frame_bgr, size, True, margin=margin, pyramid=pyramid)
            return cv2.dnn.blobFromImage(canvas, scalefactor=1.0 / 255.0, swapRB=True), rect
        canvas, rect = letterbox(frame_bgr, self.input_size, self.fit_content,
                                 margin=self.margin if self.fit_content else 0, pyramid=pyramid)
        tensor = cv2.dnn.blobFromImage(canvas, scalefactor=1.0 / 255.0, swapRB=True)
        return tensor, rect

    def infer(self, tensor: np.ndarray, content_rect: tuple[int, int, int, int], calm: bool = False) -> np.ndarray:
        """Run the model on a preprocessed tensor and crop the mask to the content rect; calm: the
        caller's scene is calm (mirror_when_calm). Raises ModelError if the model fails or answers
        NaN or values outside [0, 1], so callers can fail closed; only rounding slack
        (MASK_RANGE_TOLERANCE) is clipped."""
        x, y, w, h = content_rect
        failure = f"Model {self.model_path.name} failed on a frame"
        if self.mirror_average or (calm and self.mirror_when_calm):
            # The mirrored look runs beside the plain one (onnxruntime releases the GIL; a session
            # takes concurrent runs): the frame waits for about one run, not two, when a core is free.
            mirrored = _second_look().submit(self._run_checked, np.ascontiguousarray(tensor[..., ::-1]), failure)
            try:
                mask = self._run_checked(tensor, failure=failure)[0, 0]
            finally:
                mirrored_mask = mirrored.result()[0, 0, :, ::-1]  # waited for even when the plain run failed
            mask = (mask + mirrored_mask) * 0.5
        else:
            mask = self._run_checked(tensor, failure=failure)[0, 0]
        return np.clip(mask[y:y + h, x:x + w], 0.0, 1.0).astype(np.float32, copy=False)

    def segment(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Foreground probability (float32, 0..1) at model resolution, cropped to the content."""
        tensor, rect = self.preprocess(frame_bgr)
        return self.infer(tensor, rect)
