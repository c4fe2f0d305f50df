"""Composites of a person cut-out on a background in webcam framing, with their exact alpha.

Only numpy and OpenCV: training (training.data), the evaluation and the teacher check (which runs in
the MediaPipe venv, without torch or onnxruntime) all make their composites here.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

ASPECTS = (4 / 3, 16 / 9, 1.0, 3 / 4)  # width / height of typical webcam and phone frames
CANVAS_LONG_SIDE = 320


def random_canvas_size(rng: np.random.Generator, long_side: int = CANVAS_LONG_SIDE) -> tuple[int, int]:
    aspect = ASPECTS[rng.integers(len(ASPECTS))]
    if aspect >= 1:
        return long_side, round(long_side / aspect)
    return round(long_side * aspect), long_side


def fit_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """The image scaled down (INTER_AREA) so its long side is at most long_side; itself if it already is."""
    scale = long_side / max(image.shape[:2])
    if scale >= 1.0:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def cover_resize(image: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Scale to cover width x height (aspect kept, a random zoom up to 1.5x) and take a random crop."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h) * rng.uniform(1.0, 1.5)
    resized = cv2.resize(image, (math.ceil(w * scale), math.ceil(h * scale)), interpolation=cv2.INTER_AREA)
    y = rng.integers(resized.shape[0] - height + 1)
    x = rng.integers(resized.shape[1] - width + 1)
    return resized[y : y + height, x : x + width]


def fill_random_polygon(shape: np.ndarray, cx: float, cy: float, size: float, rng: np.random.Generator,
                        corners: tuple[int, int], reach: tuple[float, float]) -> None:
    """Fill (255, in place) a polygon of corners[0] to corners[1]-1 corners around (cx, cy), each at
    `size` times a random share in `reach` from it, in order round the centre."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(*corners))))
    radii = size * rng.uniform(*reach, angles.size)
    points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    cv2.fillPoly(shape, [np.round(points).astype(np.int32)], 255)


def distractor_shape(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random object outline (float 0..1, height x width): a polygon, a blob or a few sticks."""
    shape = np.zeros((height, width), np.uint8)
    size = rng.uniform(0.15, 0.6) * min(height, width)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    kind = rng.integers(3)
    if kind == 0:  # a convex or star-like polygon: furniture, lamps, frames
        fill_random_polygon(shape, cx, cy, size, rng, corners=(3, 9), reach=(0.3, 1.0))
    elif kind == 1:  # a blob with an irregular outline: plants, flowers, clothes on a chair
        noise = cv2.GaussianBlur(rng.random((height, width), dtype=np.float32), (0, 0), max(1.0, size / 6))
        yy, xx = np.mgrid[:height, :width]
        disc = np.hypot(xx - cx, yy - cy) < size
        if disc.any():  # the half of the disc where the smooth noise is highest: a ragged outline
            shape[disc & (noise > np.median(noise[disc]))] = 255
    else:  # thin sticks and stems: a plant's stalks, a lamp's arm, a guitar's neck
        for _ in range(int(rng.integers(1, 6))):
            x0, y0 = cx + rng.normal(0, size / 2), cy + rng.normal(0, size / 2)
            angle = rng.uniform(0, np.pi)
            length = rng.uniform(0.5, 1.5) * size
            end = (x0 + length * np.cos(angle), y0 + length * np.sin(angle))
            cv2.line(shape, (round(x0), round(y0)), (round(end[0]), round(end[1])), 255, int(rng.integers(1, 5)))
    soft = rng.uniform(0.0, 1.5)
    alpha = shape.astype(np.float32) / 255.0
    return cv2.GaussianBlur(alpha, (0, 0), soft) if soft > 0.3 else alpha


def paste_distractors(bg: np.ndarray, others: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Sharp objects that are not people, pasted over a (often defocused) background (float32 BGR).

    A composite's person is always a sharp, pasted-in shape: without this the network may learn that
    "a crisp object with an outline" is the person, and call a flower in front of bokeh or a lamp by
    a wall person (the held-out composites' worst cases). Each object's texture is a piece of another
    background."""
    height, width = bg.shape[:2]
    if rng.random() < 0.5:  # the object in focus, the room behind it blurred
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(2, 6))
    for source in others:
        texture = cover_resize(source, width, height, rng).astype(np.float32)
        texture = texture * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)
        alpha = distractor_shape(height, width, rng)[..., None]
        bg = texture * alpha + bg * (1 - alpha)
    return np.clip(bg, 0, 255)


def paste_prints(person_rgba: np.ndarray, pictures: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The person with 1-4 prints on their clothes: ribbon bars, badges, name tags, logos (pieces of
    other pictures or striped bars), each wholly inside the person's opaque interior where they are
    wider than their head (shoulders, chest). The label does not change: what is printed on clothes
    is the person. Without this a colourful patch on dark cloth may read as a window onto a room:
    v4.4, seeing the whole portrait at 288 px, gives its jacket under the ribbons a mean of 0.38."""
    alpha = person_rgba[..., 3]
    ys, xs = np.nonzero(alpha > 127)
    if ys.size < 400:
        return person_rgba
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    person_w = right - left + 1
    margin = max(2, round(0.03 * person_w))
    inner = cv2.erode((alpha > 250).astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    # Clothes, not the face: only rows where the person is much wider than their head (shoulders,
    # chest), the head's width the widest row of the top quarter of the person. A face alone gets none.
    widths = np.count_nonzero(alpha > 127, axis=1)
    head = widths[top: top + max(1, (bottom - top) // 4)].max()
    rows = np.arange(alpha.shape[0])
    inner[(widths < 1.4 * head) | (rows < top + (bottom - top) // 4)] = 0
    # A rectangle lies inside `inner` when its integral-image sum is its area.
    integral = cv2.integral(inner)
    out = person_rgba.copy()
    for _ in range(int(rng.integers(1, 5))):
        width = max(4, round(person_w * rng.uniform(0.06, 0.22)))
        height = max(3, round(width * rng.uniform(0.15, 1.0)))
        placed = False
        for _ in range(20):
            y = int(rng.integers(0, max(1, out.shape[0] - height)))
            x = int(rng.integers(0, max(1, out.shape[1] - width)))
            if y + height > out.shape[0] or x + width > out.shape[1]:
                continue
            area = integral[y + height, x + width] - integral[y, x + width] - integral[y + height, x] + integral[y, x]
            if area == width * height:
                placed = True
                break
        if not placed:
            continue
        kind = rng.random()
        if kind < 0.4 or not pictures:  # ribbon bars: columns of saturated colour
            stripes = rng.integers(2, 9)
            colours = rng.integers(0, 256, (stripes, 3))
            patch = colours[(np.arange(width) * stripes // width)][None].repeat(height, 0).astype(np.uint8)
        elif kind < 0.6:  # a name tag: a light plate with dark writing
            patch = np.full((height, width, 3), rng.integers(150, 256), np.uint8)
            cv2.putText(patch, "".join(chr(int(c)) for c in rng.integers(65, 91, 6)), (1, height - 2),
                        cv2.FONT_HERSHEY_SIMPLEX, max(0.2, height / 40), tuple(int(v) for v in rng.integers(0, 90, 3)), 1)
        else:  # a logo or badge: a piece of another picture
            picture = pictures[int(rng.integers(len(pictures)))]
            patch = cover_resize(picture, width, height, rng)
        out[y:y + height, x:x + width, :3] = patch
    return out


def paste_poles(bg: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-2 thin upright objects in the room (float32 BGR, as bg), each standing within a few pixels of
    the person's outline beside the head or shoulders: a flag's pole, a door's frame, a lamp's stand,
    lit bright and shaded round. `alpha`: the person's alpha on the same canvas; the person is pasted
    over the room afterwards, so the label does not change. Why: a thin bright line touching light
    hair is where the matte has taken the room along (the door wedge above the sample clip's shoulder,
    the gold flagpole beside the portrait's white hair), and the training rooms seldom put such a line
    right at the outline, where colour cannot tell them apart and only shape can."""
    height, width = alpha.shape
    rows = np.nonzero((alpha > 0.5).any(1))[0]
    if rows.size < 8:
        return bg
    top, bottom = rows[0], rows[-1]
    out = bg.copy()
    for _ in range(int(rng.integers(1, 3))):
        # A row at the head or shoulders, and the outline's side there.
        y = int(rng.integers(top, top + max(1, (bottom - top) * 2 // 3)))
        cols = np.nonzero(alpha[y] > 0.5)[0]
        if cols.size == 0:
            continue
        # A side where the outline is inside the picture (not cut by the frame's edge).
        sides = [side for side, inside in ((True, cols[0] > 0), (False, cols[-1] < width - 1)) if inside]
        if not sides:
            continue
        left = sides[int(rng.integers(len(sides)))]
        edge = cols[0] if left else cols[-1]
        pole_w = float(rng.uniform(1.5, 8.0)) if rng.random() < 0.75 else float(rng.uniform(10, 30))  # a pole or a frame
        # From partly hidden behind the outline to a few pixels clear of it.
        gap = float(rng.uniform(-0.5 * pole_w, 6.0))
        centre = edge - gap - pole_w / 2 if left else edge + gap + pole_w / 2
        tilt = float(np.tan(np.radians(rng.uniform(-6, 6))))
        x = centre + tilt * (np.arange(height, dtype=np.float32)[:, None] - y)
        offset = np.arange(width, dtype=np.float32)[None, :] - x
        across = offset / (pole_w / 2)  # -1..1 inside
        cover = np.clip(pole_w / 2 + 0.5 - np.abs(offset), 0.0, 1.0)  # one soft pixel at each side
        start = 0 if rng.random() < 0.7 else int(rng.integers(0, y + 1))  # from the top, or standing on something
        cover[:start] = 0
        if rng.random() < 0.4:  # out of focus, as the room behind a sharp person often is
            cover = cv2.GaussianBlur(cover, (0, 0), rng.uniform(0.5, 1.5))
        kind = rng.random()
        if kind < 0.35:  # gold or brass
            colour = np.array([rng.uniform(20, 90), rng.uniform(150, 210), rng.uniform(200, 255)], np.float32)
        elif kind < 0.7:  # white or light paint
            colour = np.full(3, rng.uniform(200, 255), np.float32) - rng.uniform(0, 25, 3).astype(np.float32)
        elif kind < 0.85:  # silver or chrome
            colour = np.full(3, rng.uniform(150, 230), np.float32)
        else:  # light wood
            colour = np.array([rng.uniform(90, 140), rng.uniform(150, 190), rng.uniform(190, 235)], np.float32)
        # Lit from one side: a highlight and a darker far side, as a round pole shows.
        shade = 1.0 + 0.35 * np.clip(1.0 - np.abs(across - rng.uniform(-0.6, 0.6)), 0, 1) - 0.25 * np.clip(across, 0, 1)
        paint = np.clip(colour[None, None, :] * shade[..., None], 0, 255)
        out = paint * cover[..., None] + out * (1.0 - cover[..., None])
    return out.astype(np.float32)


def paste_look_alikes(bg: np.ndarray, fg: np.ndarray, alpha: np.ndarray, rng: np.random.Generator,
                      textures: list[np.ndarray] | None = None) -> np.ndarray:
    """1-3 objects in the room (float32 BGR, as bg), each touching the person's outline at the head
    or shoulders and coloured like the person just inside it there: a black cushion against a dark
    suit, a beige lampshade by a beige sweater. `fg`, `alpha`: the person's colour and alpha on the
    same canvas; the person is pasted over the room afterwards, so the label does not change.
    `textures`: pictures whose shading the objects take. Why: the held-out moving clips' largest edge
    errors are the matte reaching into a dark object that touches a dark jacket's shoulder, changing
    shape as the person moves over it; camouflage recolours the whole room, and the distractors are
    placed anywhere, so neither puts a look-alike right at the outline, where only shape tells them apart."""
    height, width = alpha.shape
    inside = alpha > 0.5
    rows = np.nonzero(inside.any(1))[0]
    if rows.size < 8:
        return bg
    top, bottom = rows[0], rows[-1]
    # Outline pixels on the person's side, in the head and shoulders, not on the picture's border.
    outline = inside & (cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0)
    outline[top + max(1, (bottom - top) * 2 // 3):] = False
    outline[[0, -1], :] = False
    outline[:, [0, -1]] = False
    ys, xs = np.nonzero(outline)
    if ys.size == 0:
        return bg
    smooth = cv2.GaussianBlur(alpha, (0, 0), 2.0)
    grad_x, grad_y = cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    person_h = bottom - top + 1
    out = bg.copy()
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(ys.size))
        y, x = int(ys[i]), int(xs[i])
        normal = -np.array([grad_x[y, x], grad_y[y, x]], np.float32)  # outward: alpha falls
        length = float(np.hypot(*normal))
        if length < 1e-6:
            continue
        normal /= length
        radius = float(rng.uniform(0.03, 0.15)) * person_h
        # From partly behind the outline to a few pixels clear of it.
        gap = float(rng.uniform(-0.5 * radius, 4.0))
        cx, cy = x + normal[0] * (radius + gap), y + normal[1] * (radius + gap)
        shape = np.zeros((height, width), np.uint8)
        if rng.random() < 0.5:  # round: a cushion, a lampshade, a ball, a bottle's end
            axes = (max(1, round(radius * rng.uniform(0.6, 1.4))), max(1, round(radius * rng.uniform(0.6, 1.4))))
            cv2.ellipse(shape, (round(cx), round(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        else:  # angular: a box, a chair's back, a picture frame's corner
            fill_random_polygon(shape, cx, cy, radius, rng, corners=(3, 7), reach=(0.6, 1.4))
        cover = shape.astype(np.float32) / 255.0
        if rng.random() < 0.4:  # out of focus, as the room behind a sharp person often is
            cover = cv2.GaussianBlur(cover, (0, 0), rng.uniform(0.5, 1.5))
        # The person's colour just inside the outline there, a little off.
        y0, y1, x0, x1 = max(0, y - 6), min(height, y + 7), max(0, x - 6), min(width, x + 7)
        near = alpha[y0:y1, x0:x1] > 0.9
        if not near.any():
            continue
        colour = fg[y0:y1, x0:x1][near].mean(0) + rng.normal(0, 8, 3)
        paint = np.clip(colour, 0, 255)[None, None, :]  # plain
        if textures:
            picture = textures[int(rng.integers(len(textures)))]
            grey = cv2.cvtColor(cover_resize(picture, width, height, rng), cv2.COLOR_BGR2GRAY).astype(np.float32)
            shade = 1.0 + rng.uniform(0.1, 0.4) * (grey / max(1.0, float(grey.mean())) - 1.0)
            paint = np.clip(colour[None, None, :] * shade[..., None], 0, 255)
        out = paint * cover[..., None] + out * (1.0 - cover[..., None])
    return out.astype(np.float32)


def camouflage(bg: np.ndarray, person_rgba: np.ndarray, rng: np.random.Generator,
               min_lightness: float = 0.0) -> np.ndarray:
    """The room recoloured toward the person's own colours at their outline (Lab mean and spread,
    by a random share): a beige sweater on a beige wall, dark clothes in a dark room. Where colour
    no longer tells them apart, only shape does; the held-out clip of arms raised over a wall of
    the sweater's colour had the holes between arm and head filled.
    min_lightness (OpenCV's 8-bit Lab L): the room's mean lightness is raised to at least this, so a
    dark outline makes a room of its hue but not of its darkness (v25, with no floor, learned to doubt
    dark regions: a soft hole in the portrait's dark jacket)."""
    opaque = (person_rgba[..., 3] > 127).astype(np.uint8)
    inner = cv2.erode(opaque, np.ones((3, 3), np.uint8), iterations=6)
    rim = (opaque > 0) & (inner == 0)  # the person's outer 6 px: hair, shoulders, sleeves
    if rim.sum() < 16:
        return bg
    person_lab = cv2.cvtColor(np.ascontiguousarray(person_rgba[..., :3]), cv2.COLOR_BGR2LAB)[rim].astype(np.float32)
    room_lab = cv2.cvtColor(np.clip(bg, 0, 255).astype(np.uint8), cv2.COLOR_BGR2LAB).astype(np.float32)
    room_mean, room_std = room_lab.reshape(-1, 3).mean(0), room_lab.reshape(-1, 3).std(0) + 1.0
    # The room keeps some of its own texture (spread at least half of its own), so it stays a room.
    target_std = np.maximum(person_lab.std(0), 0.5 * room_std)
    target_mean = person_lab.mean(0)
    target_mean[0] = max(target_mean[0], min_lightness)
    moved = (room_lab - room_mean) / room_std * target_std + target_mean
    share = rng.uniform(0.6, 1.0)
    lab = np.clip(room_lab + share * (moved - room_lab), 0, 255).astype(np.uint8)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR).astype(np.float32)


def composite_person(person_rgba: np.ndarray, background: np.ndarray, rng: np.random.Generator,
                     long_side: int = CANVAS_LONG_SIDE, small: bool = False, layers: bool = False,
                     distractors: list[np.ndarray] | None = None, camouflaged: bool = False,
                     camouflage_min_lightness: float = 0.0, prints: list[np.ndarray] | None = None,
                     poles: bool = False, look_alikes: list[np.ndarray] | None = None):
    """Paste a person onto a background in video-call framing. Returns (BGR uint8, alpha float32).
    `small`: a person far from the camera (20-55 % of the frame height, anywhere in it), the scale
    of a full-body framing, which video-call framing alone never shows the network.
    `distractors`: pictures to cut objects from, pasted behind the person (paste_distractors).
    `camouflaged`: the room recoloured like the person's outline (camouflage, with its min_lightness).
    `prints`: pictures to cut prints on the person's clothes from (paste_prints; [] for striped ones).
    `poles`: thin upright objects in the room beside the person's outline (paste_poles).
    `look_alikes`: pictures to shade objects from, coloured like the person and touching the outline
    (paste_look_alikes; [] for plain ones)."""
    width, height = random_canvas_size(rng, long_side)
    bg = cover_resize(background, width, height, rng).astype(np.float32)
    if distractors:
        bg = paste_distractors(bg, distractors, rng)
    elif rng.random() < 0.3:  # webcams often blur the far background
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(1, 4))
    if camouflaged:
        bg = camouflage(bg, person_rgba, rng, camouflage_min_lightness)
    if prints is not None:
        person_rgba = paste_prints(person_rgba, prints, rng)
    ys, xs = np.nonzero(person_rgba[..., 3] > 127)
    person = person_rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    ph, pw = person.shape[:2]
    # Person height relative to the frame: close-up selfie to upper body.
    scale = min(rng.uniform(*((0.2, 0.55) if small else (0.55, 1.15))) * height / ph, 0.95 * width / pw)
    person = cv2.resize(person, (max(1, round(pw * scale)), max(1, round(ph * scale))), interpolation=cv2.INTER_AREA)
    ph, pw = person.shape[:2]
    x0 = int(rng.integers(-pw // 4, max(-pw // 4 + 1, width - pw + pw // 4)))
    # Mostly cut by the bottom edge, as a seated person on a call is.
    seated = rng.random() < (0.3 if small else 0.85)
    y0 = height - ph + int(rng.integers(0, max(1, ph // 4))) if seated else int(rng.integers(0, max(1, height - ph + 1)))
    alpha = np.zeros((height, width), np.float32)
    fg = np.zeros((height, width, 3), np.float32)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(width, x0 + pw), min(height, y0 + ph)
    if dx1 > dx0 and dy1 > dy0:
        patch = person[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
        alpha[dy0:dy1, dx0:dx1] = patch[..., 3] / 255.0
        fg[dy0:dy1, dx0:dx1] = patch[..., :3]
    if poles:
        bg = paste_poles(bg, alpha, rng)
    if look_alikes is not None:
        bg = paste_look_alikes(bg, fg, alpha, rng, look_alikes)
    a = alpha[..., None]
    image = fg * a + bg * (1 - a)
    if layers:  # also the person's colour and the room's, to move the person or change the room
        return np.clip(image, 0, 255).astype(np.uint8), alpha, fg, bg
    return np.clip(image, 0, 255).astype(np.uint8), alpha
