"""Training samples for PortraitNet, made on the fly from the prepared data/ folder.

Each sample is a pair of views of one image, as the paper trains:
  view A: deformation augmentation only (flip, rotation, scale, translation);
  view B: view A plus texture augmentation (brightness, contrast, hue, blur, noise, JPEG), optionally
          cut a few pixels away from view A (max_shift) so the consistency loss also covers small motion,
          or (person_motion) showing the person moved over the same, still room, as between two video frames.
The image is either a composite of a person cut-out onto a real background (its alpha is exact ground
truth) or a real photo with the teacher's soft pseudo-label. Every image is letterboxed into the square
model input by the app's own function (app.segmentation.letterbox): long side 224, padded by repeating
the picture's edge pixels, so training sees the same borders as inference and never a black bar.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from app.segmentation import letterbox
from training.composites import composite_person, fit_long_side, random_canvas_size



def boundary_from_mask(mask: np.ndarray, width: int = 4) -> np.ndarray:
    """Boundary label: pixels within about `width` px of the mask's edge (morphological gradient)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width + 1, width + 1))
    return (cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, kernel) > 0).astype(np.uint8)


@dataclass
class SampleSources:
    people: list[Path]          # RGBA cut-outs
    real: list[Path]            # photos with <name>_mask.png beside them
    backgrounds: list[Path]

    @classmethod
    def from_folder(cls, root: str | Path, split: str) -> "SampleSources":
        root = Path(root)
        real = sorted(p for p in (root / "real" / split).glob("*.jpg"))
        sources = cls(
            people=sorted(p for p in (root / "people" / split).iterdir() if p.suffix in (".png", ".webp"))
            if (root / "people" / split).is_dir() else [],
            real=[p for p in real if p.with_name(p.stem + "_mask.png").exists()],
            backgrounds=sorted((root / "backgrounds" / split).glob("*.jpg")),
        )
        if not sources.people or not sources.backgrounds:
            raise FileNotFoundError(f"no people or backgrounds under {root} for split {split!r}: run python -m training.prepare_data")
        return sources


MAX_SIDE = 800  # nothing downstream needs more than the canvas size


class ImageCache:
    """Decoded images kept in memory: the sets are small and decoding dominates sample time otherwise."""

    def __init__(self):
        self._images: dict[Path, np.ndarray] = {}

    def get(self, path: Path, flags=cv2.IMREAD_COLOR) -> np.ndarray:
        if path not in self._images:
            image = cv2.imread(str(path), flags)
            if image is None:
                raise OSError(f"cannot read {path}")
            self._images[path] = fit_long_side(image, MAX_SIDE)
        return self._images[path]


def real_photo(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """A real photo with its pseudo-label, cropped to a random webcam aspect."""
    width, height = random_canvas_size(rng)
    h, w = image.shape[:2]
    target = width / height
    if w / h > target:  # too wide: crop width
        cw, ch = round(h * target), h
    else:
        cw, ch = w, round(w / target)
    x = int(rng.integers(w - cw + 1))
    y = int(rng.integers(h - ch + 1))
    crop = image[y : y + ch, x : x + cw]
    alpha = mask[y : y + ch, x : x + cw].astype(np.float32) / 255.0
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA), cv2.resize(alpha, (width, height))


def deform(image: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, border: int = cv2.BORDER_REPLICATE):
    """The paper's deformation augmentation: flip, rotation, scale and translation, same on image and label.

    Uncovered corners repeat the edge pixels, as the app's padding does. (Mirroring them, BORDER_REFLECT101,
    made upside-down mirrored people at the sides; the held-out composites were built that way and keep it.)"""
    if rng.random() < 0.5:
        image, alpha = image[:, ::-1], alpha[:, ::-1]
    h, w = alpha.shape
    angle = rng.uniform(-30, 30) if rng.random() < 0.7 else 0.0
    scale = rng.uniform(0.75, 1.25)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += (rng.uniform(-0.15, 0.15) * w, rng.uniform(-0.1, 0.1) * h)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
    alpha = cv2.warpAffine(np.ascontiguousarray(alpha), matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
    return image, alpha


def texture(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The paper's texture augmentation: lighting, colour, blur, noise and JPEG artefacts; geometry untouched."""
    out = image.astype(np.float32)
    out = out * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40)  # contrast, brightness
    if rng.random() < 0.5:
        hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(rng.integers(-10, 11))) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.6, 1.4), 0, 255)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32)
    if rng.random() < 0.4:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < 0.5:
        out = out + rng.normal(0, rng.uniform(2, 12), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def webcam_degradation(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a cheap or old webcam delivers: the picture captured small (160x120 to 320x240) and
    scaled up, with sensor noise and JPEG blocks. Labels are untouched: the person is where they were."""
    h, w = image.shape[:2]
    scale = rng.uniform(120, 240) / min(h, w)
    if scale < 1:
        small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
        small = np.clip(small + rng.normal(0, rng.uniform(2, 10), small.shape), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 80))])
        image = cv2.resize(cv2.imdecode(buf, cv2.IMREAD_COLOR), (w, h), interpolation=cv2.INTER_LINEAR)
    return image


def low_light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dim room: darker and flatter (gamma and gain), with the noise a sensor adds at high gain.
    Dark clothes then meet a dark room, where holes and leaks start."""
    gamma = rng.uniform(1.3, 2.5)
    gain = rng.uniform(0.35, 0.8)
    out = 255.0 * gain * (image.astype(np.float32) / 255.0) ** gamma
    out += rng.normal(0, rng.uniform(1, 6), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


SIDES = ("top", "bottom", "left", "right")


def flush_to_side(canvas: np.ndarray, rect: tuple[int, int, int, int], side: int) -> np.ndarray:
    """Move the picture inside the letterboxed canvas against one side (edge padding elsewhere).

    The app feeds the picture's content alone, so at inference the picture's edge is the input's
    edge; a centred letterbox plus random crops almost never showed the network that (v3's last
    checkpoint then lost the bottom corner of a dark jacket on the held-out portrait)."""
    x, y, w, h = rect
    content = canvas[y : y + h, x : x + w]
    size_h, size_w = canvas.shape[:2]
    top = {0: 0, 1: size_h - h}.get(side, y)
    left = {2: 0, 3: size_w - w}.get(side, x)
    return cv2.copyMakeBorder(content, top, size_h - h - top, left, size_w - w - left, cv2.BORDER_REPLICATE)


def edge_crop_origin(side: int, room: int, y: int, x: int) -> tuple[int, int]:
    """Crop origin flush with `side` (keeping the random position along the other axis)."""
    return {0: (0, x), 1: (room, x), 2: (y, 0), 3: (y, room)}[side]


def view_matrix(top: float, left: float, scale: float) -> np.ndarray:
    """cv2.warpAffine's matrix from picture pixels to a view whose top-left corner lies at (top, left)
    of the picture (pixel corners, not centres) and that shows `scale` of its pixels per picture pixel."""
    # Pixel centres: view x + 0.5 = scale * (picture x + 0.5 - left)
    return np.float32([[scale, 0, scale * (0.5 - left) - 0.5], [0, scale, scale * (0.5 - top) - 0.5]])


def scaled_view(image: np.ndarray, alpha: np.ndarray, top: float, left: float, scale: float, size: int):
    """The size x size view of view_matrix(top, left, scale), and the alpha seen the same way."""
    matrix = view_matrix(top, left, scale)

    def warp(picture):
        return cv2.warpAffine(picture, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warp(image), warp(alpha)


def to_tensor(image_bgr: np.ndarray) -> torch.Tensor:
    """BGR uint8 H x W x 3 -> RGB float 3 x H x W in [0, 1], the model's input convention."""
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)


class PortraitPairs(Dataset):
    """Endless-style dataset: index only seeds the generator, so epochs are just a sample count."""

    def __init__(self, sources: SampleSources, length: int, input_size: int = 224, crop: int | None = None,
                 real_fraction: float = 0.3, seed: int = 0, augment: bool = True, max_shift: int = 0,
                 edge_crops: float = 0.0, small_people: float = 0.0, webcam: float = 0.0, dark: float = 0.0,
                 distractors: float = 0.0, weights: dict[str, dict[str, float]] | None = None,
                 input_sizes: tuple[int, int] | None = None, max_scale: float = 0.0, person_motion: float = 0.0,
                 camouflage: float = 0.0, camouflage_min_lightness: float = 0.0, prints: float = 0.0,
                 poles: float = 0.0, look_alikes: float = 0.0):
        self.sources = sources
        self.length = length
        self.input_size = input_size
        # (smallest, largest): each sample letterboxed at a size drawn from this range instead
        self.input_sizes = tuple(input_sizes) if input_sizes and augment else None
        self.crop = crop
        self.real_fraction = real_fraction if sources.real else 0.0
        self.seed = seed
        self.augment = augment
        self.max_shift = max_shift if augment else 0
        # View B also seen up to (1 + max_scale)x larger or smaller than view A (a person leaning in
        # or out between frames): the consistency loss then asks for the same mask, rescaled.
        self.max_scale = max_scale if augment else 0.0
        # Share of composites whose view B moves the person (by the same shift and scale ranges) over
        # the room left where it was: the camera is still on a call and the person moves in front of
        # it, so what the network sees beside an edge changes while the edge only moves.
        self.person_motion = person_motion if augment else 0.0
        self.edge_crops = edge_crops if augment else 0.0
        # Shares of samples with a far-away (full-body scale) person, a low-resolution webcam, a dim room.
        self.small_people = small_people if augment else 0.0
        self.webcam = webcam if augment else 0.0
        self.dark = dark if augment else 0.0
        # Share of composites with objects that are not people pasted behind the person.
        self.distractors = distractors if augment else 0.0
        # Share of composites whose room takes the colours of the person's outline (composites.camouflage).
        self.camouflage = camouflage if augment else 0.0
        self.camouflage_min_lightness = camouflage_min_lightness
        # Share of composites whose person wears prints: ribbons, badges, name tags (composites.paste_prints).
        self.prints = prints if augment else 0.0
        # Share of composites with thin upright objects beside the person's outline (composites.paste_poles).
        self.poles = poles if augment else 0.0
        # Share of composites with objects coloured like the person touching the outline
        # (composites.paste_look_alikes).
        self.look_alikes = look_alikes if augment else 0.0
        # Sampling weights by file name per kind ("people", "backgrounds", "real"), e.g. the hard
        # examples training/mine.py found; names not listed weigh 1. None: uniform.
        self._probabilities = {kind: self._sampling_probabilities(getattr(sources, kind), (weights or {}).get(kind))
                               for kind in ("people", "backgrounds", "real")}
        self.cache = ImageCache()

    def __len__(self) -> int:
        return self.length

    @staticmethod
    def _sampling_probabilities(paths: list[Path], weights: dict[str, float] | None) -> np.ndarray | None:
        if not weights or not paths:
            return None
        values = np.array([float(weights.get(p.name, 1.0)) for p in paths])
        return values / values.sum()

    def _pick(self, rng: np.random.Generator, kind: str, picks: dict | None) -> Path:
        """One file of `kind`, uniformly or by its weight; noted in `picks` (kind -> file name)."""
        paths = getattr(self.sources, kind)
        probabilities = self._probabilities[kind]
        index = rng.integers(len(paths)) if probabilities is None else rng.choice(len(paths), p=probabilities)
        if picks is not None:
            picks.setdefault(kind, paths[index].name)
        return paths[index]

    def _other_backgrounds(self, rng: np.random.Generator, count: int) -> list[np.ndarray]:
        """`count` backgrounds drawn uniformly, as pictures to cut objects or prints from."""
        backgrounds = self.sources.backgrounds
        return [self.cache.get(backgrounds[i]) for i in rng.integers(len(backgrounds), size=count)]

    def make_image(self, rng: np.random.Generator, picks: dict | None = None, layers: bool = False):
        """A picture and its alpha; `picks` (optional) collects the files it was made from. `layers`:
        also the person's premultiplied colour and the room (None, None for a real photo)."""
        if rng.random() < self.real_fraction:
            path = self._pick(rng, "real", picks)
            mask = self.cache.get(path.with_name(path.stem + "_mask.png"), cv2.IMREAD_GRAYSCALE)
            image, alpha = real_photo(self.cache.get(path), mask, rng)
            return (image, alpha, None, None) if layers else (image, alpha)
        person = self.cache.get(self._pick(rng, "people", picks), cv2.IMREAD_UNCHANGED)
        background = self.cache.get(self._pick(rng, "backgrounds", picks))
        others = None
        if self.distractors and rng.random() < self.distractors:
            others = self._other_backgrounds(rng, rng.integers(1, 4))
        prints = None
        if self.prints and rng.random() < self.prints:
            prints = self._other_backgrounds(rng, 2)
        look_alikes = None
        if self.look_alikes and rng.random() < self.look_alikes:
            look_alikes = self._other_backgrounds(rng, 1)
        made = composite_person(person, background, rng, small=bool(self.small_people and rng.random() < self.small_people),
                                distractors=others, layers=layers,
                                camouflaged=bool(self.camouflage and rng.random() < self.camouflage),
                                camouflage_min_lightness=self.camouflage_min_lightness, prints=prints,
                                poles=bool(self.poles and rng.random() < self.poles), look_alikes=look_alikes)
        if not layers:
            return made
        image, alpha, fg, room = made
        return image, alpha, fg * alpha[..., None], room

    def __getitem__(self, index: int):
        return self.sample(index)

    def sample(self, index: int, picks: dict | None = None):
        """Sample `index` (its two views, labels and shift); `picks` (optional) collects the files
        it was made from (training/mine.py)."""
        rng = np.random.default_rng((self.seed, index))
        if self.person_motion:
            image, alpha, premult, room = self.make_image(rng, picks, layers=True)
            moving = premult is not None and rng.random() < self.person_motion
        else:
            (image, alpha), moving = self.make_image(rng, picks), False
        if moving:
            return self._moving_person_sample(rng, alpha, premult, room)
        if self.augment:
            image, alpha = deform(image, alpha, rng)
            # Both views: these are the camera's picture, not a nuisance for the consistency loss.
            if self.dark and rng.random() < self.dark:
                image = low_light(image, rng)
            if self.webcam and rng.random() < self.webcam:
                image = webcam_degradation(image, rng)
        # A range of input sizes: the picture letterboxed larger, the crop the same size (the same
        # compute), so the network also learns people seen at more pixels than 224 gives them.
        input_size = self._input_size(rng)
        image, rect = letterbox(image, input_size, interpolation=cv2.INTER_AREA)
        alpha, _ = letterbox(alpha, input_size, interpolation=cv2.INTER_LINEAR)
        size, y, x, side = self._crop_window(rng, input_size)
        if side is not None:
            image, alpha = (flush_to_side(a, rect, side) for a in (image, alpha))
        # View B is cut a few pixels away from view A (a camera or person that moved slightly): the
        # consistency loss then asks the model for the same mask, shifted. Aimed at flicker; the v3
        # ablation measured no effect of it (models/MODEL_CARD.md). Shifts are not multiples of the
        # network's stride, so the stride-32 grid lands differently.
        dy, dx = rng.integers(-self.max_shift, self.max_shift + 1, size=2) if self.max_shift else (0, 0)
        view_a, alpha_a = image[y : y + size, x : x + size], alpha[y : y + size, x : x + size]
        scale = self._view_scale(rng, size, input_size)
        if scale == 1.0:
            yb = int(np.clip(y + dy, 0, input_size - size))
            xb = int(np.clip(x + dx, 0, input_size - size))
            view_b, alpha_b = image[yb : yb + size, xb : xb + size], alpha[yb : yb + size, xb : xb + size]
            origin = (float(yb - y), float(xb - x))
        else:
            side = size / scale  # the picture's span that view B shows
            yb, xb = (float(np.clip(start + (size - side) / 2 + shift, 0, input_size - side))
                      for start, shift in ((y, dy), (x, dx)))
            view_b, alpha_b = scaled_view(image, alpha, yb, xb, scale, size)
            origin = (yb - y, xb - x)
        return self._pair(rng, view_a, alpha_a, view_b, alpha_b, origin, scale)

    def _input_size(self, rng: np.random.Generator) -> int:
        return self.input_size if self.input_sizes is None else int(rng.integers(*self.input_sizes, endpoint=True))

    def _crop_window(self, rng: np.random.Generator, input_size: int):
        """The crop's size and top-left corner in the letterboxed input, and the side (0-3) the picture
        is moved flush against for an edge crop (None: not one)."""
        size = self.crop if self.crop and self.crop < input_size else input_size
        y, x = rng.integers(input_size - size + 1, size=2)
        side = None
        if self.edge_crops and rng.random() < self.edge_crops:
            side = int(rng.integers(4))
            y, x = edge_crop_origin(side, input_size - size, y, x)
        return size, int(y), int(x), side

    def _view_scale(self, rng: np.random.Generator, size: int, input_size: int) -> float:
        """View B's pixels per view A pixel, log-uniform within max_scale (1.0 without it)."""
        if not self.max_scale:
            return 1.0
        limit = np.log1p(self.max_scale)
        return float(max(np.exp(rng.uniform(-limit, limit)), size / input_size))

    def _moving_person_sample(self, rng: np.random.Generator, alpha: np.ndarray, premult: np.ndarray,
                              room: np.ndarray):
        """Two frames of a still camera: in view B the person (premultiplied colour and alpha) has moved
        by up to max_shift px and max_scale in size, over the same room; the camera's own effects (dim
        room, cheap webcam) are the same in both, drawn once."""
        if self.augment:
            state = rng.bit_generator.state
            room, _ = deform(room, alpha, rng)
            rng.bit_generator.state = state  # the same deformation again, for the person
            premult, alpha = deform(premult, alpha, rng)
        input_size = self._input_size(rng)
        premult, rect = letterbox(np.ascontiguousarray(premult, np.float32), input_size, interpolation=cv2.INTER_AREA)
        room, _ = letterbox(np.ascontiguousarray(room, np.float32), input_size, interpolation=cv2.INTER_AREA)
        alpha, _ = letterbox(alpha, input_size, interpolation=cv2.INTER_LINEAR)
        size, y, x, side = self._crop_window(rng, input_size)
        if side is not None:
            premult, room, alpha = (flush_to_side(a, rect, side) for a in (premult, room, alpha))
        # The person's motion in the crop: B pixel centre q = scale * (A position p - origin), with the
        # crop's centre moved by (dy, dx). In the whole input the same motion has origin
        # origin + (y, x) * (1 - 1 / scale) (both crops start at (y, x)).
        dy, dx = rng.integers(-self.max_shift, self.max_shift + 1, size=2) if self.max_shift else (0, 0)
        scale = self._view_scale(rng, size, input_size)
        centre = size / 2
        origin = (centre - (centre + dy) / scale, centre - (centre + dx) / scale)
        top, left = (o + start * (1 - 1 / scale) for o, start in zip(origin, (y, x)))
        matrix = view_matrix(top, left, scale)  # the input as view B's person sees it

        def move(layer):
            return cv2.warpAffine(layer, matrix, (input_size, input_size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
        moved_alpha = move(alpha)
        frames = [colour + room * (1 - a[..., None]) for colour, a in ((premult, alpha), (move(premult), moved_alpha))]
        frames = [np.clip(f, 0, 255).astype(np.uint8) for f in frames]
        for share, effect in ((self.dark, low_light), (self.webcam, webcam_degradation)):
            if share and rng.random() < share:
                state = rng.bit_generator.state
                for i, frame in enumerate(frames):
                    rng.bit_generator.state = state
                    frames[i] = effect(frame, rng)
        view_a, view_b = (f[y : y + size, x : x + size] for f in frames)
        alpha_a, alpha_b = alpha[y : y + size, x : x + size], moved_alpha[y : y + size, x : x + size]
        return self._pair(rng, view_a, alpha_a, view_b, alpha_b, origin, scale, still_camera=True)

    def _pair(self, rng, view_a, alpha_a, view_b, alpha_b, origin, scale, still_camera: bool = False):
        if self.augment:
            view_b = texture(view_b, rng)
        mask_a, mask_b = (alpha_a > 0.5).astype(np.uint8), (alpha_b > 0.5).astype(np.uint8)
        return {
            "view_a": to_tensor(view_a),
            "view_b": to_tensor(view_b),
            "mask": torch.from_numpy(mask_a).long(),
            "boundary": torch.from_numpy(boundary_from_mask(mask_a)).long(),
            "alpha": torch.from_numpy(np.ascontiguousarray(alpha_a)),
            "mask_b": torch.from_numpy(mask_b).long(),
            "boundary_b": torch.from_numpy(boundary_from_mask(mask_b)).long(),
            "alpha_b": torch.from_numpy(np.ascontiguousarray(alpha_b)),
            # View B's pixel grid in view A's: B's top-left corner in A's pixels, and B's pixels per A pixel
            "shift": torch.tensor(origin, dtype=torch.float32),
            "scale": torch.tensor(scale, dtype=torch.float32),
            # Two frames of one still camera (person_motion): both views share a pixel grid, so the
            # change between their masks can be compared with the change between their alphas.
            "still_camera": torch.tensor(still_camera),
        }
