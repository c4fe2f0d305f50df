"""Light: a low-light boost for dim cameras, and matching the person's light to the new background.

Everything is measured on a sample of about 160 pixels across and smoothed over time; the full
frame only ever sees one cheap per-pixel operation (a lookup table, a 3x4 colour matrix, a blend).

- LowLightBoost: a gain curve (black point, then a Reinhard-style shoulder y = Gx / (1 + (G-1)x))
  chosen so the picture's mean luminance reaches a target; G is capped so noise is not amplified
  without limit, and follows the scene slowly so the picture never pulses.
- LightMatcher: moves the person's Lab statistics (mean and spread of L; mean of a and b) toward the
  background's, by `strength`, with the hue change of skin limited; realised on the full frame as a
  3x4 BGR colour matrix fitted to the Lab result.
- light_wrap: a thin band of the blurred background spilled over the inside of the person's edge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.imaging import strided_sample

SAMPLE_WIDTH = 160
MATCH_SAMPLE_WIDTH = 80   # light statistics: 80 x 45 samples of a 16:9 frame


def _sample(image: np.ndarray, across: int = SAMPLE_WIDTH) -> np.ndarray:
    """Every k-th pixel, about `across` pixels wide: statistics need no more, and it costs nothing."""
    return strided_sample(image, across)[0]


# --- low light -----------------------------------------------------------------------------------
@dataclass
class LowLightSettings:
    target: float = 0.42       # mean luminance (0..1) a dim picture is brought up to
    trigger: float = 0.30      # pictures brighter than this are left alone
    max_gain: float = 4.0      # slope of the curve in the shadows, at most (noise grows with it)
    smoothing: float = 0.9     # per-frame EMA weight of the previous gain (~1 s to adapt at 30 fps)


def gain_curve(gain: float, black: float) -> np.ndarray:
    """256-entry LUT: subtract the black point, then y = Gx / (1 + (G-1)x) (slope G at black,
    1 maps to 1, so highlights never clip)."""
    x = np.clip((np.arange(256, dtype=np.float64) / 255.0 - black) / max(1e-3, 1.0 - black), 0.0, 1.0)
    y = gain * x / (1.0 + (gain - 1.0) * x)
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


class LowLightBoost:
    def __init__(self, settings: LowLightSettings | None = None) -> None:
        self.settings = settings or LowLightSettings()
        self.reset()

    def reset(self) -> None:
        self.gain = 1.0
        self.black = 0.0
        self._lut: np.ndarray | None = None
        self._lut_key: tuple[float, float] | None = None

    def wanted(self, frame_bgr: np.ndarray) -> tuple[float, float]:
        """(gain, black point) this frame alone asks for."""
        s = self.settings
        grey = cv2.cvtColor(np.ascontiguousarray(_sample(frame_bgr)), cv2.COLOR_BGR2GRAY)
        histogram = np.bincount(grey.reshape(-1), minlength=256)
        black = float(np.searchsorted(np.cumsum(histogram), 0.01 * grey.size)) / 255.0   # 1st percentile
        black = min(black, 0.08)   # a black point, not a crush: only the sensor's floor is removed
        mean = float(histogram @ np.arange(256)) / grey.size / 255.0
        if mean >= s.trigger:
            return 1.0, 0.0
        x = max((mean - black) / (1.0 - black), 1e-3)
        y = s.target
        gain = y * (1.0 - x) / (x * (1.0 - y))    # the curve's G that maps x to y
        gain = float(np.clip(gain, 1.0, s.max_gain))
        # Fade in just below the trigger, so a picture hovering at the trigger does not toggle.
        fade = float(np.clip((s.trigger - mean) / (0.25 * s.trigger), 0.0, 1.0))
        return 1.0 + (gain - 1.0) * fade, black * fade

    def apply(self, frame_bgr: np.ndarray) -> np.ndarray:
        gain, black = self.wanted(frame_bgr)
        keep = self.settings.smoothing if self._lut is not None else 0.0
        # Smoothed in log gain, so brightening and darkening take equally long.
        self.gain = math.exp(keep * math.log(self.gain) + (1.0 - keep) * math.log(gain))
        self.black = keep * self.black + (1.0 - keep) * black
        if self.gain < 1.01 and self.black < 0.002:
            self._lut = np.arange(256, dtype=np.uint8)  # marks "started" for the smoothing
            return frame_bgr
        key = (round(self.gain, 3), round(self.black, 4))
        if key != self._lut_key:
            self._lut, self._lut_key = gain_curve(self.gain, self.black), key
        return cv2.LUT(frame_bgr, self._lut)


# --- light matching ------------------------------------------------------------------------------
SKIN_CHROMA = np.array([14.0, 18.0])   # a typical skin's (a, b) in OpenCV's float Lab


@dataclass
class LightMatchSettings:
    strength: float = 0.5        # 0: leave the person as shot; 1: full (limited) transfer
    max_l_shift: float = 25.0    # L units (0..100), at strength 1
    max_chroma_shift: float = 10.0   # a/b units, at strength 1
    max_hue_deg: float = 6.0     # the largest hue change the shift may cause on skin
    exposure_range: tuple[float, float] = (0.67, 1.5)    # gain on L, at strength 1
    contrast_range: tuple[float, float] = (0.9, 1.11)    # L spread ratio around the mean, at strength 1
    smoothing: float = 0.85      # EMA weight of the previous colour matrix, per update
    wrap: float = 0.35           # light-wrap opacity at the very edge (0 = off), from strength 0.5 up
    wrap_width: float = 10.0     # light-wrap band width, pixels at 720p

    @property
    def wrap_amount(self) -> float:
        """The wrap's opacity at this strength: full from the default 0.5 up, fading to none at 0,
        so strength 0 leaves the person exactly as shot."""
        return self.wrap * float(np.clip(2.0 * self.strength, 0.0, 1.0))


def _lab(bgr_u8: np.ndarray) -> np.ndarray:
    """N x 3 Lab (L 0..100, a/b about -128..127) of N x 3 BGR uint8 pixels."""
    pixels = bgr_u8.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2Lab).reshape(-1, 3)


def _bgr(lab: np.ndarray) -> np.ndarray:
    """N x 3 BGR in 0..255 (float) of N x 3 Lab."""
    return cv2.cvtColor(lab.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_Lab2BGR).reshape(-1, 3) * 255.0


def skin_pixels(lab: np.ndarray) -> np.ndarray:
    """Boolean: the Lab pixels whose colour is in the skin range (all tones: hue 20-80 degrees,
    moderate chroma, not too dark or bright)."""
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    return (hue > 20) & (hue < 80) & (chroma > 8) & (chroma < 50) & (lab[:, 0] > 20) & (lab[:, 0] < 90)


def skin_hue_change(before_lab: np.ndarray, after_lab: np.ndarray) -> float:
    """Chroma-weighted mean |hue change| in degrees between two Lab versions of the same pixels
    (a nearly grey pixel's hue means little, so it counts little)."""
    turn = np.degrees(np.arctan2(after_lab[:, 2], after_lab[:, 1]) - np.arctan2(before_lab[:, 2], before_lab[:, 1]))
    turn = np.abs((turn + 180.0) % 360.0 - 180.0)
    weight = np.hypot(before_lab[:, 1], before_lab[:, 2])
    return float((turn * weight).sum() / max(weight.sum(), 1e-6))


def limit_chroma_shift(shift: np.ndarray, skin: np.ndarray, max_shift: float, max_hue_deg: float) -> np.ndarray:
    """The a/b shift, capped in size, with its component across the skin's chroma direction cut so
    skin's hue turns by at most max_hue_deg; along that direction it may warm (more chroma) or cool
    (at most half the chroma removed), which keeps skin skin-coloured."""
    norm = float(np.hypot(*skin))
    direction = skin / norm
    along = float(shift @ direction)
    across = shift - along * direction
    along = max(along, -0.5 * norm)
    # After the shift skin's chroma vector is (norm + along) * direction + across: its angle is the hue change.
    limit = (norm + along) * math.tan(math.radians(max_hue_deg))
    across_norm = float(np.hypot(*across))
    if across_norm > limit:
        across *= limit / across_norm
    limited = along * direction + across
    size = float(np.hypot(*limited))
    if size > max_shift:
        limited *= max_shift / size
    return limited


class LightMatcher:
    """Fits the colour matrix that moves the person's light toward the background's."""

    update_every = 2

    def __init__(self, settings: LightMatchSettings | None = None) -> None:
        self.settings = settings or LightMatchSettings()
        self.reset()

    def reset(self) -> None:
        self.matrix = np.hstack([np.eye(3), np.zeros((3, 1))]).astype(np.float32)
        self._started = False
        self._frames = 0
        self.shift: np.ndarray | None = None   # the last Lab change asked for: dL, da, db

    def target_lab(self, person_lab: np.ndarray, background_lab: np.ndarray) -> np.ndarray:
        """The person's Lab pixels after the (strength-weighted, limited) transfer."""
        s = self.settings
        k = float(np.clip(s.strength, 0.0, 1.0))
        mean_p, std_p = person_lab.mean(axis=0), person_lab.std(axis=0) + 1e-3
        mean_b, std_b = background_lab.mean(axis=0), background_lab.std(axis=0) + 1e-3
        # Brightness as exposure (a gain on L), not an offset: an offset lifts blacks to grey and
        # washes the picture out; a gain keeps black clothes black and moves the face most.
        exposure = float(np.clip(mean_b[0] / max(mean_p[0], 1.0), *s.exposure_range)) ** k
        d_l = float(np.clip(mean_p[0] * (exposure - 1.0), -s.max_l_shift * k, s.max_l_shift * k))
        exposure = 1.0 + d_l / max(mean_p[0], 1.0)
        contrast = float(np.clip(std_b[0] / std_p[0], *s.contrast_range)) ** k
        skin = person_lab[skin_pixels(person_lab)]
        skin_chroma = skin[:, 1:].mean(axis=0) if len(skin) >= 20 else SKIN_CHROMA
        if np.hypot(*skin_chroma) < 4.0:
            skin_chroma = SKIN_CHROMA
        chroma = limit_chroma_shift((mean_b[1:] - mean_p[1:]) * k, skin_chroma,
                                    s.max_chroma_shift * k, s.max_hue_deg)
        self.shift = np.array([d_l, *chroma])
        out = person_lab.copy()
        lit = person_lab[:, 0] * exposure
        out[:, 0] = np.clip((lit - lit.mean()) * contrast + lit.mean(), 0.0, 100.0)
        out[:, 1:] += chroma
        return out

    def update(self, person_bgr: np.ndarray, alpha_u8: np.ndarray, background_bgr: np.ndarray) -> np.ndarray:
        """Measure this frame (at low resolution) and return the smoothed 3x4 colour matrix.

        Measured on every `update_every`-th frame only: the matrix is smoothed over ~10 updates
        anyway, so light still follows a change within a second, at half the cost."""
        self._frames += 1
        if self._started and (self._frames - 1) % self.update_every:
            return self.matrix
        pixels = _sample(person_bgr, MATCH_SAMPLE_WIDTH).reshape(-1, 3)
        inside = _sample(alpha_u8, MATCH_SAMPLE_WIDTH).reshape(-1) > 200
        if np.count_nonzero(inside) < 50 or self.settings.strength <= 0.0:
            return self.matrix  # nobody (or off): keep the light as it was rather than jump
        pixels = pixels[inside]
        person_lab = _lab(pixels)
        background_lab = _lab(_sample(background_bgr, MATCH_SAMPLE_WIDTH).reshape(-1, 3))
        wanted = _bgr(self.target_lab(person_lab, background_lab))
        # Least squares: [B G R 1] @ M.T ~ wanted. A matrix is one fast pass over the full frame
        # (cv2.transform) and, fitted over all the person's colours, cannot posterise or invert.
        design = np.hstack([pixels.astype(np.float32), np.ones((len(pixels), 1), np.float32)])
        normal = design.T @ design + np.diag([1e-3, 1e-3, 1e-3, 0.0])   # a flat-coloured person stays solvable
        matrix = np.linalg.solve(normal, design.T @ wanted.astype(np.float32)).T.astype(np.float32)
        matrix = self._limit_skin_hue(matrix, design, person_lab)
        keep = self.settings.smoothing if self._started else 0.0
        self.matrix = (keep * self.matrix + (1.0 - keep) * matrix).astype(np.float32)
        self._started = True
        return self.matrix

    def _limit_skin_hue(self, matrix: np.ndarray, design: np.ndarray, person_lab: np.ndarray) -> np.ndarray:
        """The matrix, pulled back toward identity until skin's hue turns by at most max_hue_deg.

        The Lab shift is already limited, but the fitted matrix (and the L change, through BGR
        clipping) can still turn hues; this checks the result itself on the person's skin samples."""
        skin = skin_pixels(person_lab)
        if np.count_nonzero(skin) < 20:
            return matrix
        identity = np.hstack([np.eye(3), np.zeros((3, 1))]).astype(np.float32)
        for share in (1.0, 0.75, 0.5, 0.25):
            candidate = identity + share * (matrix - identity)
            after = _lab(np.clip(design[skin] @ candidate.T, 0, 255).astype(np.uint8))
            if skin_hue_change(person_lab[skin], after) <= self.settings.max_hue_deg:
                return candidate
        return identity + 0.1 * (matrix - identity)

    def apply(self, person_bgr: np.ndarray) -> np.ndarray:
        return cv2.transform(person_bgr, self.matrix)


class LightWrap:
    """A thin band of the blurred background's light spilled over the inside of the person's edge:
    person += w * (blur(background) - person), w = amount * (1 - blur(alpha)), so w is largest at the
    edge and fades over `width` pixels inside (outside the person the blend's alpha hides it).

    Everything but the final add is done at an eighth of the resolution: the correction
    w * (light - person) is smooth, so only it is upsampled (as its positive and negative parts,
    uint8 both, for OpenCV's saturating add and subtract), and only over the rows and columns where
    the band meets the person. The person's own detail (hair) is kept, the light is added to it."""

    FACTOR = 8

    def apply(self, person_bgr: np.ndarray, alpha_u8: np.ndarray, background_bgr: np.ndarray,
              amount: float, width_720p: float) -> np.ndarray:
        height, width = alpha_u8.shape
        f = self.FACTOR
        if amount <= 0.0 or min(height, width) <= f // 2:  # no sample of the eighth-size grid lies inside
            return person_bgr
        alpha_small = alpha_u8[f // 2::f, f // 2::f].astype(np.float32) * (1.0 / 255.0)
        sigma = max(0.7, width_720p * height / 720.0 / f)
        band = amount * (1.0 - cv2.GaussianBlur(alpha_small, (0, 0), sigma))
        # Where the band meets the person (alpha above ~0), grown by two cells for the interpolation.
        touched = (band > 1.0 / 255.0) & (cv2.dilate(alpha_small, np.ones((5, 5), np.uint8)) > 1.0 / 255.0)
        rows = np.nonzero(touched.any(axis=1))[0]
        cols = np.nonzero(touched.any(axis=0))[0]
        if not len(rows):
            return person_bgr
        # Strided samples, blurred: the light is meant to be soft, and the blur removes the aliasing.
        light = cv2.GaussianBlur(background_bgr[f // 2::f, f // 2::f].astype(np.float32), (0, 0), sigma + 1.0)
        person_small = person_bgr[f // 2::f, f // 2::f].astype(np.float32)
        r0, r1 = max(0, rows[0] - 1), min(band.shape[0], rows[-1] + 2)
        c0, c1 = max(0, cols[0] - 1), min(band.shape[1], cols[-1] + 2)
        delta = (light[r0:r1, c0:c1] - person_small[r0:r1, c0:c1]) * band[r0:r1, c0:c1, None]
        y0, y1 = r0 * f, min(height, r1 * f)
        x0, x1 = c0 * f, min(width, c1 * f)
        size = (x1 - x0, y1 - y0)
        lighter = cv2.resize(np.clip(delta, 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_LINEAR)
        darker = cv2.resize(np.clip(-delta, 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_LINEAR)
        out = person_bgr.copy()
        region = out[y0:y1, x0:x1]
        cv2.add(region, lighter, dst=region)
        cv2.subtract(region, darker, dst=region)
        return out
