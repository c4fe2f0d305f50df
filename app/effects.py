"""The optional effects stage: low-light boost, main person only, auto-framing, light matching.

Pipeline calls three hooks per frame: before_segmentation (low light: the model and the output both
see the brightened picture), on_mask (main person, once per model run) and composite (framing, light
matching and light wrap, then the blend). With every effect off, composite is exactly
Compositor.composite, so nothing changes for users who do not turn them on.

The effects themselves live in app/framing.py, app/lighting.py and app/people.py; this module only
orders them and times them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from app.compositing import BlendBuffers, Compositor
from app.framing import ZOOM_MAX, ZOOM_MIN, AutoFramer, reframe
from app.imaging import FramePyramid
from app.lighting import LightMatcher, LightWrap, LowLightBoost
from app.matting import alpha_to_uint8
from app.people import MainPersonSelector

LIGHTING_MODES = ("image", "video", "color")   # a blurred room or the room itself is already its own light
EFFECTS = ("low_light", "main_person", "framing", "lighting", "wrap")


@dataclass
class EffectSettings:
    auto_frame: bool = False
    zoom: float = 1.5
    match_lighting: bool = False
    lighting_strength: float = 0.5
    low_light: bool = False
    main_person: bool = False

    def clamped(self) -> "EffectSettings":
        return EffectSettings(
            auto_frame=bool(self.auto_frame),
            zoom=float(np.clip(self.zoom, ZOOM_MIN, ZOOM_MAX)) if np.isfinite(self.zoom) else EffectSettings.zoom,
            match_lighting=bool(self.match_lighting),
            lighting_strength=float(np.clip(self.lighting_strength, 0.0, 1.0))
            if np.isfinite(self.lighting_strength) else EffectSettings.lighting_strength,
            low_light=bool(self.low_light),
            main_person=bool(self.main_person))


class Effects:
    def __init__(self, settings: EffectSettings | None = None) -> None:
        self.framer = AutoFramer()
        self.boost = LowLightBoost()
        self.matcher = LightMatcher()
        self.wrap = LightWrap()
        self.selector = MainPersonSelector()
        self._buffers = BlendBuffers()
        self.settings = settings or EffectSettings()
        self.timings: dict[str, float] = dict.fromkeys(EFFECTS, 0.0)   # ms in the last frame
        self.crop: tuple[int, int, int, int] | None = None              # the last auto-frame crop

    @property
    def settings(self) -> EffectSettings:
        return self._settings

    @settings.setter
    def settings(self, value: EffectSettings) -> None:
        previous = getattr(self, "_settings", None)
        self._settings = value.clamped()
        self.framer.zoom = self._settings.zoom
        self.matcher.settings.strength = self._settings.lighting_strength
        # An effect switched on starts from scratch rather than from what it knew long ago.
        if previous is not None:
            if self._settings.auto_frame and not previous.auto_frame:
                self.framer.reset()
            if self._settings.low_light and not previous.low_light:
                self.boost.reset()
            if self._settings.match_lighting and not previous.match_lighting:
                self.matcher.reset()
            if self._settings.main_person and not previous.main_person:
                self.selector.reset()

    @property
    def total_ms(self) -> float:
        return sum(self.timings.values())

    def reset(self) -> None:
        """Forget what was learnt about the scene (a new source)."""
        self.framer.reset()
        self.boost.reset()
        self.matcher.reset()
        self.selector.reset()
        self.crop = None

    # --- hooks ------------------------------------------------------------------------------
    def before_segmentation(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Start of a frame: the low-light boost, if on."""
        # Only this half's timings are cleared: composite() may be timing the previous frame
        # meanwhile, on another thread (app/pipeline.OverlappedFrames).
        self.timings["low_light"] = self.timings["main_person"] = 0.0
        if not self._settings.low_light:
            return frame_bgr
        start = time.perf_counter()
        frame_bgr = self.boost.apply(frame_bgr)
        self.timings["low_light"] = (time.perf_counter() - start) * 1000.0
        return frame_bgr

    def on_mask(self, mask: np.ndarray, rect: tuple[int, int, int, int] | None = None,
                frame_size: tuple[int, int] | None = None) -> np.ndarray:
        """A fresh model mask: keep only the main person, if on. rect: where the mask lies in the
        camera frame of frame_size (width, height), when it covers a crop."""
        if not self._settings.main_person:
            return mask
        start = time.perf_counter()
        mask = self.selector.apply(mask, rect, frame_size)
        self.timings["main_person"] = (time.perf_counter() - start) * 1000.0
        return mask

    def composite(self, compositor: Compositor, frame_bgr: np.ndarray, alpha_u8: np.ndarray,
                  unchanged: bool = False, pyramid: FramePyramid | None = None) -> np.ndarray:
        """Framing and light, then the blend over the compositor's background. unchanged: the
        picture and matte are as on the previous frame (Compositor.composite)."""
        s = self._settings
        self.timings["framing"] = self.timings["lighting"] = self.timings["wrap"] = 0.0
        lighting = s.match_lighting and compositor.mode in LIGHTING_MODES
        if not s.auto_frame and not lighting:
            self.crop = None
            return compositor.composite(frame_bgr, alpha_u8, unchanged=unchanged, pyramid=pyramid)
        if alpha_u8.dtype != np.uint8:
            alpha_u8 = alpha_to_uint8(np.asarray(alpha_u8, np.float32))
        if s.auto_frame:
            start = time.perf_counter()
            previous_crop = self.crop
            self.crop = self.framer.update(alpha_u8)
            # The person (and, for blur/none, the room with them) is reframed; an image, video or
            # colour background is drawn at the output's full size behind it, uncropped.
            unchanged = unchanged and self.crop == previous_crop
            frame_bgr = reframe(frame_bgr, self.crop)
            alpha_u8 = reframe(alpha_u8, self.crop)
            self.timings["framing"] = (time.perf_counter() - start) * 1000.0
        if not lighting:
            return compositor.composite(frame_bgr, alpha_u8, unchanged=unchanged, pyramid=pyramid)
        if alpha_u8.shape != frame_bgr.shape[:2]:
            raise ValueError(f"alpha shape {alpha_u8.shape} does not match frame {frame_bgr.shape[:2]}")
        if compositor.mirror:
            frame_bgr, alpha_u8 = cv2.flip(frame_bgr, 1), cv2.flip(alpha_u8, 1)
        background = compositor.background_for(frame_bgr, alpha_u8, unchanged=unchanged, pyramid=pyramid)
        start = time.perf_counter()
        self.matcher.update(frame_bgr, alpha_u8, background)
        person = self.matcher.apply(frame_bgr)
        mid = time.perf_counter()
        person = self.wrap.apply(person, alpha_u8, background, self.matcher.settings.wrap_amount,
                                 self.matcher.settings.wrap_width)
        end = time.perf_counter()
        self.timings["lighting"] = (mid - start) * 1000.0
        self.timings["wrap"] = (end - mid) * 1000.0
        return self._buffers.blend(person, background, alpha_u8)
