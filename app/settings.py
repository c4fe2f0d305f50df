"""User settings shared by the GUI (persisted through QSettings) and the headless CLI."""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from app.capture import MAX_CAMERA_INDEX
from app.compositing import BACKGROUND_MODES, BLUR_MAX, DEFAULT_BLUR, Compositor
from app.effects import EffectSettings
from app.framing import ZOOM_MAX, ZOOM_MIN
from app.matting import EDGE_MODES, FEATHER_MAX, MatteSettings
from app.scheduling import EVERY_N_RANGE, MAX_INTERVAL_RANGE, SCHEDULES, ScheduleSettings

log = logging.getLogger(__name__)

# The settings' format version, saved with them. When a default changes, the stored value of an
# older version that still equals the old default is taken as "never chosen" and follows the new
# one: (version that changed it, field, the old default).
SETTINGS_VERSION = 3
_CHANGED_DEFAULTS = (
    (2, "feather", 4.0),  # the colour-guided matte's 2-px window (models/MODEL_CARD.md)
    (3, "edge_mode", "guided"),  # the learned edge (models/MODEL_CARD.md, session 22)
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass
class AppSettings:
    camera_index: int = 0
    width: int = 1280
    height: int = 720
    fps: int = 30
    background_mode: str = "blur"            # one of BACKGROUND_MODES
    background_path: str = ""                # image or video file for those modes
    background_color: tuple[int, int, int] = (64, 177, 0)  # BGR of #00b140, the README's green
    blur_strength: float = DEFAULT_BLUR
    threshold: float = MatteSettings.threshold
    softness: float = MatteSettings.softness
    feather: float = MatteSettings.feather   # px at 720p; the matte stage's default
    smoothing: float = MatteSettings.smoothing
    steady_edges: bool = MatteSettings.steady_edges  # motion-compensated smoothing (app/matting.MotionSmoother): more CPU
    room_memory: bool = MatteSettings.room_memory  # video: the room seen beside you earlier is kept out of the outline (app/matting.RoomMemory)
    mirror_average: bool = False  # video's model runs also see the frame mirrored (a photo always does): twice the model's CPU
    edge_mode: str = MatteSettings.edge_mode  # edges at the frame's own resolution (app/matting.py); "gaussian" costs less
    mirror: bool = False   # what the call sees; a mirrored outgoing picture shows text reversed
    model_path: str = ""                     # empty: the bundled model
    # When the model runs (app/scheduling.py), for the window and the command line alike: "motion"
    # runs it on frames that changed (every frame while you move, every max_interval-th while you sit
    # still); "every-n" on every model_every_n-th frame. bench/RESULTS.md, "Live" section.
    model_schedule: str = ScheduleSettings.mode
    model_every_n: int = ScheduleSettings.every_n  # "every-n" only
    model_max_interval: int = ScheduleSettings.max_interval  # "motion": the model at least every this many frames
    threads: int = 0                         # 0: automatic
    virtual_camera_enabled: bool = False
    virtual_camera_backend: str = ""         # empty: first that works
    virtual_camera_device: str = ""          # empty: first free device
    # Effects (app/effects.py), all off by default.
    auto_frame: bool = EffectSettings.auto_frame
    auto_frame_zoom: float = EffectSettings.zoom
    match_lighting: bool = EffectSettings.match_lighting
    lighting_strength: float = EffectSettings.lighting_strength
    low_light: bool = EffectSettings.low_light
    main_person: bool = EffectSettings.main_person
    settings_version: int = SETTINGS_VERSION  # the format these were saved in (see _CHANGED_DEFAULTS)
    extra: dict = field(default_factory=dict)  # unknown keys from newer versions, kept verbatim

    # Valid ranges; from_dict clamps into them.
    _RANGES = {
        "camera_index": (0, MAX_CAMERA_INDEX), "width": (160, 3840), "height": (120, 2160), "fps": (1, 120),
        "blur_strength": (0.0, BLUR_MAX), "threshold": (0.0, 1.0), "softness": (0.0, 1.0),
        "feather": (0.0, FEATHER_MAX), "smoothing": (0.0, 0.95), "model_every_n": EVERY_N_RANGE,
        "model_max_interval": MAX_INTERVAL_RANGE,
        "threads": (0, 64), "auto_frame_zoom": (ZOOM_MIN, ZOOM_MAX), "lighting_strength": (0.0, 1.0),
        # Room for versions to come, within what QSettings can store (it raises past 64 bits).
        "settings_version": (1, 2**31 - 1),
    }
    _CHOICES = {"background_mode": BACKGROUND_MODES, "edge_mode": EDGE_MODES, "model_schedule": SCHEDULES}

    def copy(self) -> "AppSettings":
        """An independent copy (its own `extra`)."""
        return dataclasses.replace(self, extra=dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"})
        data["background_color"] = list(self.background_color)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "AppSettings":
        """Build settings from stored values; missing or invalid entries fall back to defaults.

        QSettings hands back strings on some platforms, so strings are converted too.
        """
        settings = cls()
        if not isinstance(data, dict):
            return settings
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        for key, raw in data.items():
            if key not in known:
                settings.extra[key] = raw
                continue
            default = getattr(settings, key)
            try:
                value = _coerce(raw, default)
                if key in cls._RANGES:
                    low, high = cls._RANGES[key]
                    clamped = type(default)(min(max(value, low), high))
                    if clamped != value:
                        log.warning("settings: %s=%r is outside %s..%s; using %r", key, raw, low, high, clamped)
                    value = clamped
            except Exception as exc:  # noqa: BLE001 - one bad value must never stop the app starting
                # (a hand-edited or damaged file: "inf" and "1e999" overflow int(), for example)
                log.warning("settings: ignoring %s=%r (%s: %s); using the default %r",
                            key, raw, type(exc).__name__, exc, default)
                continue
            if key in cls._CHOICES and value not in cls._CHOICES[key]:
                log.warning("settings: ignoring %s=%r (not one of %s); using the default %r",
                            key, raw, ", ".join(cls._CHOICES[key]), default)
                continue
            setattr(settings, key, value)
        # Settings saved before "settings_version" existed are version 1.
        stored_version = settings.settings_version if "settings_version" in data else 1
        for version, key, old_default in _CHANGED_DEFAULTS:
            if stored_version < version and key in data and getattr(settings, key) == old_default:
                setattr(settings, key, getattr(cls, key))
        settings.settings_version = max(stored_version, SETTINGS_VERSION)
        return settings

    def effect_settings(self) -> EffectSettings:
        return EffectSettings(auto_frame=self.auto_frame, zoom=self.auto_frame_zoom,
                              match_lighting=self.match_lighting, lighting_strength=self.lighting_strength,
                              low_light=self.low_light, main_person=self.main_person)

    def schedule_settings(self) -> ScheduleSettings:
        return ScheduleSettings(mode=self.model_schedule, every_n=self.model_every_n,
                                max_interval=self.model_max_interval)

    def matte_settings(self) -> MatteSettings:
        return MatteSettings(threshold=self.threshold, softness=self.softness, feather=self.feather,
                             smoothing=self.smoothing, edge_mode=self.edge_mode, steady_edges=self.steady_edges,
                             room_memory=self.room_memory)

    def apply_background(self, compositor: Compositor) -> None:
        """Configure the compositor; raises BackgroundError (keeping its previous state) on failure."""
        compositor.mirror = self.mirror
        if self.background_mode == "blur":
            compositor.set_blur(self.blur_strength)
        elif self.background_mode == "color":
            compositor.set_color(self.background_color)
        elif self.background_mode == "image":
            compositor.set_image(self.background_path)
        elif self.background_mode == "video":
            compositor.set_video(self.background_path)
        else:
            compositor.set_none()


def with_changes(stored: AppSettings, before: AppSettings, after: AppSettings) -> AppSettings:
    """`stored` (what the settings file holds now: a second window may have saved there since)
    with the fields that went from `before` to `after` here. Saving a window's whole settings
    undid the other window's choices: the last to close won every field."""
    merged = stored.copy()
    for f in dataclasses.fields(AppSettings):
        if f.name != "extra" and getattr(after, f.name) != getattr(before, f.name):
            setattr(merged, f.name, getattr(after, f.name))
    return merged


def parse_yes_no(text: str) -> bool:
    """'1', 'true', 'yes', 'on' (any case) -> True; '0', 'false', 'no', 'off', '' -> False; else ValueError."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"not a yes/no value: {text!r}")


def _coerce(raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (int, float)):
            return bool(raw)
        return parse_yes_no(str(raw))
    if isinstance(default, int):
        number = float(raw) if isinstance(raw, str) else raw
        if isinstance(number, float) and not number.is_integer():  # "1.5" is no count: not 1
            raise ValueError(raw)
        return int(number)
    if isinstance(default, float):
        value = float(raw)
        if not math.isfinite(value):  # NaN or inf: a damaged value, not a wish for the maximum
            raise ValueError(raw)
        return value
    if isinstance(default, tuple):
        items = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
        numbers = [float(v) for v in items]
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError(raw)
        values = tuple(int(v) for v in numbers)
        if len(values) != len(default) or not all(0 <= v <= 255 for v in values):
            raise ValueError(raw)
        return values
    if isinstance(default, str):
        if raw is None:
            return ""
        if not isinstance(raw, (str, int, float)):
            raise TypeError(raw)
        return str(raw)
    return raw
