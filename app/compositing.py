"""Puts the person (frame x alpha) over the chosen background: blur, image, colour, video or none."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.capture import (AnimatedPictureSource, SourceError, VideoFileSource, file_problem, image_problem,
                         is_animated_picture, local_file_path, plays_as_video, read_picture)
from app.imaging import FramePyramid, reduce_by_power_of_two
from app.matting import alpha_to_uint8, band_pixels, sample_bilinear

BACKGROUND_MODES = ("none", "blur", "image", "color", "video")
BLUR_MAX = 100.0  # the window's slider range; a larger sigma only costs time (and can hang)
DEFAULT_BLUR = 21.0  # the blur's strength unless one is chosen (px of blur at 720p)
# A background picture is kept at most this long side (8K): it is scaled to each frame anyway, and a
# 20000x20000 one held 1.2 GB (a JPEG is decoded at a reduced size where that suffices:
# app/capture.read_picture). A camera's 24 MP photo (6000 px) is kept as it is: scaling it down
# would cost more than it saves.
BACKGROUND_MAX_SIDE = 7680


class BackgroundError(RuntimeError):
    """A background could not be loaded; the previous background stays in effect."""


@dataclass(frozen=True)
class BackgroundPicture:
    """A background picture decoded and ready to show: its file, colours (BGR) and transparency."""
    path: Path
    image: np.ndarray
    transparency: np.ndarray | None


def load_background_picture(path: str | os.PathLike) -> BackgroundPicture:
    """Decode a background picture (BackgroundError when it cannot be). It touches no compositor,
    so the window runs it off the frame thread: a 48 MP PNG took 1.9 s, the call's picture froze."""
    given, path = os.fspath(path), Path(_local_file(path, "image"))  # given: as the user wrote it
    # The file's own checks first: OpenCV would half-decode a truncated JPEG into a grey band.
    reason = file_problem(path) or image_problem(path)
    image, transparency = read_picture(path, BACKGROUND_MAX_SIDE) if reason is None else (None, None)
    if image is None:
        raise BackgroundError(f"Cannot load background image {given}: {reason or 'unsupported format or corrupt'}")
    return BackgroundPicture(path, image, transparency)


def is_background_clip(path: str | os.PathLike) -> bool:
    """Whether a background named as a picture plays (a video, an animated WebP): False for a
    network address or a file that is not there, which load_background_picture refuses in words."""
    try:
        return plays_as_video(local_file_path(path))
    except (SourceError, OSError, TypeError, ValueError):
        return False


def cover_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale so the image covers width x height with its aspect kept, then centre-crop.

    The part of the image that stays in view is cut out first and only that is scaled, so memory is
    bounded by the output size: scaling the whole of a 2x4000 strip to cover 640x360 first made a
    640x1280000 picture (2.5 GB) to keep 0.03 % of it."""
    src_h, src_w = image.shape[:2]
    scale = max(width / src_w, height / src_h)
    crop_w = min(src_w, max(1, round(width / scale)))
    crop_h = min(src_h, max(1, round(height / scale)))
    x = (src_w - crop_w) // 2
    y = (src_h - crop_h) // 2
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image[y:y + crop_h, x:x + crop_w]), (width, height),
                      interpolation=interpolation)


class Compositor:
    def __init__(self) -> None:
        self.mode = "none"
        self.mirror = False
        self.blur_strength = DEFAULT_BLUR
        self.color: tuple[int, int, int] = (0, 0, 0)
        self.background_path: Path | None = None
        self._image: np.ndarray | None = None
        self._image_alpha: np.ndarray | None = None  # the picture's own transparency, if it has any
        # (frame size, the picture covering it, its transparency at that size or None)
        self._image_cache: tuple[tuple[int, int], np.ndarray, np.ndarray | None] | None = None
        self._see_through: np.ndarray | None = None  # a transparent picture over the last blurred room
        self._see_through_buffers = BlendBuffers()  # its own scratch: the output blend's is reused across frames
        self._video: VideoFileSource | AnimatedPictureSource | None = None
        # The output's frame rate when its frames are not shown as they come (a file written from a
        # file, faster or slower than real time): a background video then advances 1/output_fps
        # of a second a frame. None: by the clock (a camera, the window).
        self.output_fps: float | None = None
        self._video_timeline: _VideoTimeline | None = None
        self._video_frame: np.ndarray | None = None  # the background video's frame now shown
        self._video_cache: tuple[tuple[int, int], np.ndarray] | None = None  # (size, that frame covering it)
        self._buffers = BlendBuffers()
        self._color_cache: tuple[tuple, np.ndarray] | None = None
        # Layers built from the frame and its matte, reused while the pipeline says the picture is
        # unchanged (composite(..., unchanged=True)): (key, blurred room) and (key, edge pixels and
        # the edge's colour means). The key holds whatever else they depend on.
        self._blur_cache: tuple[tuple, np.ndarray] | None = None
        self._edge_cache: tuple[tuple, tuple] | None = None
        self._frames = 0  # background layers made: one a frame, whichever path composites it
        self._blended: tuple | None = None  # (frame number, mirror, shape) of composite's last blend
        # Composite the edge with the person's estimated colour, not the camera pixel (which still
        # holds the old room behind hair and soft edges): no fringe of the room on the new background.
        self.estimate_foreground = True
        # The source repeats one picture (the pipeline says): its edge layers are made once and
        # reused, so they are made finer (PHOTO_FOREGROUND_WORK_HEIGHT).
        self.still = False

    # --- background selection -------------------------------------------------------------
    def set_none(self) -> None:
        self._close_video()
        self.mode = "none"

    def set_blur(self, strength: float = DEFAULT_BLUR) -> None:
        """Blur the real background; strength is the Gaussian sigma in pixels at 720p."""
        self._close_video()
        self.blur_strength = float(np.clip(strength, 0.0, BLUR_MAX)) if np.isfinite(strength) else DEFAULT_BLUR
        self.mode = "blur"

    def set_color(self, bgr: tuple[int, int, int]) -> None:
        values = tuple(int(c) for c in bgr)
        if len(values) != 3 or not all(0 <= c <= 255 for c in values):
            raise BackgroundError(f"Colour must be three values 0..255, got {bgr!r}")
        self._close_video()
        self.color = values
        self.mode = "color"

    def set_image(self, path: str | os.PathLike) -> None:
        if is_background_clip(path):  # a clip named like a picture plays as the clip it is
            self.set_video(path)
            return
        self.use_picture(load_background_picture(path))

    def use_picture(self, picture: BackgroundPicture) -> None:
        """Show a picture that load_background_picture decoded (maybe on another thread)."""
        self._close_video()
        self._image = picture.image
        self._image_alpha = picture.transparency
        self._image_cache = None
        self.background_path = picture.path
        self.mode = "image"

    def set_video(self, path: str | os.PathLike) -> None:
        path = Path(_local_file(path, "video"))
        try:
            video = AnimatedPictureSource(path) if is_animated_picture(path) else VideoFileSource(path, loop=True)
        except SourceError as exc:
            raise BackgroundError(f"Cannot load background video: {exc}") from exc
        self._close_video()
        self._video = video
        self._video_timeline = _VideoTimeline(video.fps)
        self._video_frame = self._video_cache = None
        self.background_path = path
        self.mode = "video"

    def close(self) -> None:
        self._close_video()

    def _close_video(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None

    # --- compositing ----------------------------------------------------------------------
    def background_for(self, frame_bgr: np.ndarray, alpha_u8: np.ndarray, unchanged: bool = False,
                       pyramid: FramePyramid | None = None) -> np.ndarray:
        """The background layer at the frame's size (the frame itself in mode 'none').
        alpha_u8 (0..255) is used only by 'blur', which keeps the person out of the blurred room.
        unchanged: the frame and alpha are, up to noise, those of the last call, so the last
        blurred room may be reused. pyramid: the frame's shared halvings (app/imaging.py)."""
        return self._background_layer(frame_bgr, alpha_u8, unchanged, pyramid)[0]

    def _background_layer(self, frame_bgr: np.ndarray, alpha_u8: np.ndarray, unchanged: bool,
                          pyramid: FramePyramid | None) -> tuple[np.ndarray, bool]:
        """background_for's layer, and whether it is, pixel for pixel, the one the last call returned
        (with an unchanged alpha the blend then reuses its share of the output: BlendBuffers.blend)."""
        height, width = frame_bgr.shape[:2]
        self._frames += 1
        if self.mode == "color":
            # Cached like the image: a fresh 720p fill cost as much as the blend itself.
            key = ("color", self.color, frame_bgr.shape)
            reused = self._color_cache is not None and self._color_cache[0] == key
            if not reused:
                self._color_cache = (key, np.full_like(frame_bgr, self.color))
            return self._color_cache[1], reused
        if self.mode == "image":
            reused = self._image_cache is not None and self._image_cache[0] == (width, height)
            if not reused:
                transparency = (None if self._image_alpha is None
                                else alpha_to_uint8(cover_resize(self._image_alpha, width, height)))
                self._image_cache = ((width, height), cover_resize(self._image, width, height), transparency)
            _, picture, transparency = self._image_cache
            if transparency is None:
                return picture, reused
            # Where the picture is transparent the room shows through, blurred as the blur mode
            # blurs it: never the colours the transparent pixels hide, nor the room sharp behind a
            # background that was picked to hide it.
            room, room_reused = self._blurred_room(frame_bgr, alpha_u8, unchanged, pyramid)
            if not (reused and room_reused and self._see_through is not None):
                self._see_through = self._see_through_buffers.blend(picture, room, transparency)
            return self._see_through, reused and room_reused
        if self.mode == "video":
            try:
                fresh = False
                # Played at its own frame rate: one read a frame made a 10-FPS clip run three
                # times too fast behind a 30-FPS camera and a 60-FPS one at half speed.
                for _ in range(self._video_timeline.frames_due(self.output_fps)):
                    frame, fresh = self._video.read(), True
            except SourceError as exc:
                # Fail closed: blur the room rather than show it ("none") until a new choice.
                self.set_blur(self.blur_strength)
                raise BackgroundError(f"Background video stopped: {exc}") from exc
            if fresh:
                self._video_frame = frame
            reused = not fresh and self._video_cache is not None and self._video_cache[0] == (width, height)
            if not reused:
                self._video_cache = ((width, height), cover_resize(self._video_frame, width, height))
            return self._video_cache[1], reused
        if self.mode == "blur":
            return self._blurred_room(frame_bgr, alpha_u8, unchanged, pyramid)
        return frame_bgr, False

    def _blurred_room(self, frame_bgr: np.ndarray, alpha_u8: np.ndarray, unchanged: bool,
                      pyramid: FramePyramid | None) -> tuple[np.ndarray, bool]:
        """The blurred room (the last one when unchanged allows), and whether it is the last one."""
        key = (self.blur_strength, self.mirror, frame_bgr.shape)
        if unchanged and self._blur_cache is not None and self._blur_cache[0] == key:
            return self._blur_cache[1], True
        background = self._blurred_background(frame_bgr, alpha_u8, pyramid)
        # A blur too weak to run gives the frame itself: that is never kept for the next frame.
        self._blur_cache = None if background is frame_bgr else (key, background)
        return background, False

    def _blurred_background(self, frame_bgr: np.ndarray, alpha_u8: np.ndarray,
                            pyramid: FramePyramid | None = None) -> np.ndarray:
        height, width = frame_bgr.shape[:2]
        sigma = self.blur_strength * height / 720.0
        if sigma < 0.5:
            return frame_bgr
        # Blur at reduced size: a strong blur loses nothing there and costs a fraction. The factor is
        # a power of two, reached in halvings (app/imaging.py: at 1080p a ratio of 7 cost three times
        # a ratio of 8, and one /8 step twice as much as three halvings).
        factor = 1 << int(np.log2(np.clip(sigma / 2.0, 1, 8)))  # and a blur of >= 2 px left to do there
        small = reduce_by_power_of_two(frame_bgr, height // factor, width // factor, pyramid).astype(np.float32)
        weight = 1.0 - reduce_by_power_of_two(alpha_u8, height // factor, width // factor).astype(np.float32) * (1.0 / 255.0)
        # Normalised blur of the background pixels only, so the person does not bleed a halo
        # into the blurred background around them.
        small_sigma = sigma / factor
        blurred = cv2.GaussianBlur(small * weight[..., None], (0, 0), small_sigma)
        norm = cv2.GaussianBlur(weight, (0, 0), small_sigma)
        plain = cv2.GaussianBlur(small, (0, 0), small_sigma)
        # Where no background is near (norm ~ 0) fall back to the plain blur.
        trust = np.clip(norm * 20.0, 0.0, 1.0)[..., None]
        mixed = blurred / np.maximum(norm, 1e-4)[..., None] * trust + plain * (1.0 - trust)
        mixed = np.clip(mixed, 0, 255).astype(np.uint8)
        return cv2.resize(mixed, (width, height), dst=self._buffers.get("background", frame_bgr),
                          interpolation=cv2.INTER_LINEAR)

    def composite(self, frame_bgr: np.ndarray, alpha: np.ndarray, unchanged: bool = False,
                  pyramid: FramePyramid | None = None) -> np.ndarray:
        """frame*alpha + background*(1-alpha) as uint8 BGR; mirrored if self.mirror.
        alpha: float (0..1) or uint8 (0..255), the frame's height x width.
        unchanged: the caller vouches that alpha is the last call's and the frame differs from the
        last one by noise only (app/scheduling.py), so layers derived from them are reused; the
        blend itself always takes this frame's pixels. pyramid: the frame's shared halvings
        (app/imaging.FramePyramid; not used for a mirrored frame, which is another picture)."""
        if alpha.shape != frame_bgr.shape[:2]:
            raise ValueError(f"alpha shape {alpha.shape} does not match frame {frame_bgr.shape[:2]}")
        if self.mirror:
            frame_bgr = cv2.flip(frame_bgr, 1)
            alpha = cv2.flip(alpha, 1)
        if self.mode == "none":
            self._blended = None  # the matte may change meanwhile: the next blend starts afresh
            return frame_bgr.copy() if not self.mirror else frame_bgr
        if alpha.dtype != np.uint8:
            alpha = alpha_to_uint8(np.asarray(alpha, np.float32))
        background, reused = self._background_layer(frame_bgr, alpha, unchanged, pyramid)
        # The blend's background share is the last frame's if that frame was blended here too (not by
        # the effects stage), with the same matte (unchanged), background and orientation.
        last = (self._frames - 1, self.mirror, frame_bgr.shape)
        output = self._buffers.blend(frame_bgr, background, alpha,
                                     same_layers=unchanged and reused and self._blended == last)
        self._blended = (self._frames, self.mirror, frame_bgr.shape)
        # Not with blur: there the new background is the same room, so its colour at the edge is right.
        if self.estimate_foreground and self.mode != "blur":
            key = (self.mirror, frame_bgr.shape, self.still)
            if not (unchanged and self._edge_cache is not None and self._edge_cache[0] == key):
                self._edge_cache = (key, edge_layers(frame_bgr, alpha, pyramid, self.still))
            replace_edge_background(output, frame_bgr, background, alpha, self._edge_cache[1])
        return output


class _VideoTimeline:
    """How many frames of a background video to read for each output frame, so that it plays at its
    own rate: none while it is ahead (a 10-FPS clip behind a 30-FPS camera shows each frame three
    times), several while it is behind (a 60-FPS clip drops every other frame)."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.shown = 0            # frames read since the first output frame
        self.outputs = 0          # output frames composited over it
        self.started: float | None = None
        self.skipped_s = 0.0      # time the video was held back (a stall), not played through

    def frames_due(self, output_fps: float | None) -> int:
        if output_fps:
            elapsed = self.outputs / output_fps
        else:
            now = time.monotonic()
            self.started = now if self.started is None else self.started
            elapsed = now - self.started
        self.outputs += 1
        due = math.floor((elapsed - self.skipped_s) * self.fps + 1e-6) + 1  # the first at time 0
        behind = due - self.shown
        if behind > max(2.0, self.fps / 2):
            # Over half a second behind: the window or the disk stalled (or the clip's rate dwarfs the
            # output's). Decoding every frame missed would stall this one too: go on from here.
            self.skipped_s += (behind - 1) / self.fps
            behind = 1
        behind = max(behind, 1 if self.shown == 0 else 0)
        self.shown += behind
        return behind


class BlendBuffers:
    """Per-frame-size scratch images, reused from frame to frame: at 1080p every fresh 6 MB array
    costs page faults, which took as long as the arithmetic on it."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, like: np.ndarray) -> np.ndarray:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = self._buffers[name] = np.empty_like(like)
        return buffer

    def blend(self, frame_bgr: np.ndarray, background: np.ndarray, alpha_u8: np.ndarray,
              same_layers: bool = False) -> np.ndarray:
        """frame*a/255 + background*(255-a)/255 in 8-bit fixed point (OpenCV's saturating SIMD ops):
        a = 255 gives the frame and a = 0 the background exactly; in between it is within 1 level of
        the float blend. The result is a new array (it goes on to other threads); scratch is reused.
        same_layers: the caller vouches that the background and alpha are the last call's, so their
        product (the scene's share) is too: only the frame's share is computed (half the work)."""
        scene = self._buffers.get("scene")
        if same_layers and scene is not None and scene.shape == frame_bgr.shape:
            alpha3 = self._buffers["alpha3"]
        else:
            alpha3 = cv2.merge((alpha_u8, alpha_u8, alpha_u8), dst=self.get("alpha3", frame_bgr))
            # Inverted in place and back (not a fourth frame-sized buffer: more memory traffic cost more)
            cv2.bitwise_not(alpha3, dst=alpha3)
            scene = cv2.multiply(background, alpha3, dst=self.get("scene", frame_bgr), scale=1.0 / 255.0)
            cv2.bitwise_not(alpha3, dst=alpha3)
        person = cv2.multiply(frame_bgr, alpha3, dst=self.get("person", frame_bgr), scale=1.0 / 255.0)
        return cv2.add(person, scene)


# Foreground colour estimation: blur-fusion (Forte & Pitie, "Approximate fast foreground colour
# estimation", ICIP 2021). A camera pixel in the soft edge is I = a*F + (1 - a)*B_old; blending I
# over a new background keeps (1 - a)*B_old, the fringe of the old room. Blur-fusion estimates F from
# local alpha-weighted means of the person (F_hat) and the room (B_hat) and puts back the part of I
# that they do not explain: F = F_hat + a*(I - a*F_hat - (1 - a)*B_hat). Both means are smooth, so
# they are computed at a small size; only the edge band's pixels are touched at full size.
# Below a of about 1.5 % (or above 98.5 %) the correction a*(1 - a)*(...) stays under 4 levels: skipped.
EDGE_ALPHA_MIN = 4
FOREGROUND_WORK_HEIGHT = 64  # at least this high after a power-of-two reduction
FOREGROUND_WIDE_RADIUS = 0.08   # first pass, fraction of the frame height (the paper's r = 90 at ~1 MP)
FOREGROUND_FINE_RADIUS = 0.008  # second pass (the paper's r = 6)
# A still picture's edge layers are made once and reused (Compositor.still): its means are finer,
# 512 rows and a fine radius of 0.002 of them (the picture's own size at 1280 px), which at 720p
# would cost five times the video's a frame. On fresh held-out photos the re-background error (the
# old room's fringe) fell 1.3 % at 320 px and 1.7 % at 1280 px (models/MODEL_CARD.md, session 32).
PHOTO_FOREGROUND_WORK_HEIGHT = 512
PHOTO_FOREGROUND_FINE_RADIUS = 0.002


def _box(image: np.ndarray, radius: float) -> np.ndarray:
    size = 2 * max(1, round(radius)) + 1
    return cv2.boxFilter(image, -1, (size, size), borderType=cv2.BORDER_REPLICATE)


def _blur_fusion_means(image: np.ndarray, fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray,
                       radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Alpha-weighted local means of the foreground and background layers (float32, same size)."""
    a3 = alpha[..., None]
    mean_alpha = _box(alpha, radius)[..., None]
    fg_mean = _box(fg * a3, radius) / (mean_alpha + 1e-5)
    bg_mean = _box(bg * (1.0 - a3), radius) / (1.0 - mean_alpha + 1e-5)
    return fg_mean, bg_mean


def estimate_foreground_means(frame_bgr: np.ndarray, alpha_u8: np.ndarray,
                              pyramid: FramePyramid | None = None, still: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Blur-fusion's two passes at FOREGROUND_WORK_HEIGHT (a still picture's: at
    PHOTO_FOREGROUND_WORK_HEIGHT): the person's and the room's local colour means (float32 BGR,
    0..255, small size), for `foreground_at`."""
    rows, fine = ((PHOTO_FOREGROUND_WORK_HEIGHT, PHOTO_FOREGROUND_FINE_RADIUS) if still
                  else (FOREGROUND_WORK_HEIGHT, FOREGROUND_FINE_RADIUS))
    # Power-of-two halvings (app/imaging.py): a factor of 6 at 720p cost 3x more.
    image = reduce_by_power_of_two(frame_bgr, rows, pyramid=pyramid).astype(np.float32)
    alpha = reduce_by_power_of_two(alpha_u8, rows).astype(np.float32) * (1 / 255)
    work_h = image.shape[0]
    fg_mean, bg_mean = _blur_fusion_means(image, image, image, alpha, FOREGROUND_WIDE_RADIUS * work_h)
    a3 = alpha[..., None]
    fg = np.clip(fg_mean + a3 * (image - a3 * fg_mean - (1.0 - a3) * bg_mean), 0.0, 255.0)
    return _blur_fusion_means(image, fg, bg_mean, alpha, fine * work_h)


def foreground_at(frame_bgr: np.ndarray, alpha_u8: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                  means: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Estimated foreground colour (N x 3 float32, 0..255) and alpha (N x 1, 0..1) at pixels (ys, xs)."""
    height, width = frame_bgr.shape[:2]
    fg_mean, bg_mean = means
    work_h, work_w = fg_mean.shape[:2]
    x = (xs + 0.5) * (work_w / width) - 0.5
    y = (ys + 0.5) * (work_h / height) - 0.5
    fg_hat = sample_bilinear(fg_mean, x, y)
    bg_hat = sample_bilinear(bg_mean, x, y)
    a = alpha_u8[ys, xs].astype(np.float32)[:, None] * (1 / 255)
    image = frame_bgr[ys, xs].astype(np.float32)
    # F = F_hat + a*(I - a*F_hat - (1 - a)*B_hat) = F_hat + a*((I - B_hat) - a*(F_hat - B_hat))
    image -= bg_hat
    image -= a * (fg_hat - bg_hat)
    image *= a
    image += fg_hat
    return np.clip(image, 0.0, 255.0, out=image), a


def edge_layers(frame_bgr: np.ndarray, alpha_u8: np.ndarray, pyramid: FramePyramid | None = None,
                still: bool = False) -> tuple | None:
    """What foreground estimation needs besides the frame's own edge pixels: the soft edge's pixel
    positions and blur-fusion's colour means (None without a soft edge). Changes with the matte and
    the scene, not with a frame's noise, so a still picture reuses it (and gets finer means: still)."""
    band = band_pixels(alpha_u8, low=EDGE_ALPHA_MIN)
    if band is None:
        return None
    return band, estimate_foreground_means(frame_bgr, alpha_u8, pyramid, still)


def replace_edge_background(output: np.ndarray, frame_bgr: np.ndarray, background: np.ndarray,
                            alpha_u8: np.ndarray, layers: tuple | None = None) -> None:
    """Re-blend the soft edge of `output` (in place) as F*a + background*(1 - a), with F estimated.
    layers: edge_layers(frame_bgr, alpha_u8), or that of an unchanged earlier frame."""
    layers = edge_layers(frame_bgr, alpha_u8) if layers is None else layers
    if layers is None:
        return
    (ys, xs), means = layers
    fg, a = foreground_at(frame_bgr, alpha_u8, ys, xs, means)
    blended = fg * a + background[ys, xs].astype(np.float32) * (1.0 - a)
    output[ys, xs] = (blended + 0.5).astype(np.uint8)


def _local_file(path: str | os.PathLike, kind: str) -> str | os.PathLike:
    """The local file a background names (a file:// link's path); BackgroundError for a network address."""
    try:
        return local_file_path(path)
    except SourceError as exc:
        raise BackgroundError(f"Cannot load background {kind}: {exc}") from exc
