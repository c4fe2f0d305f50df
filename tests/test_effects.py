"""The effects stage on real frames: the bundled sample clip and portrait, segmented by the shipped
model (app/framing.py, app/lighting.py, app/people.py, app/effects.py, and the CLI flags)."""
import cv2
import numpy as np
import pytest

from app import headless
from app.compositing import Compositor, cover_resize
from app.effects import EffectSettings, Effects
from app.framing import AutoFramer, FramingSettings, reframe, smooth_damp
from app.lighting import LightMatcher, LightWrap, LowLightBoost, _lab, skin_hue_change, skin_pixels
from app.matting import MatteRefiner
from app.people import MainPersonSelector, find_people
from bench.effects import (BACKGROUNDS, PORTRAIT, alphas_for, clip_frames, darken, iou, make_segmenter,
                           shift, two_people)
from conftest import read_frames

SIZE = (640, 360)   # the clip's own size: the tests run the model on many frames


@pytest.fixture(scope="module")
def segmenter():
    return make_segmenter(threads=1)


@pytest.fixture(scope="module")
def frames():
    return clip_frames(size=SIZE, every=2)   # 71 frames, 15 fps


@pytest.fixture(scope="module")
def alphas(frames, segmenter):
    return alphas_for(frames, segmenter)


@pytest.fixture(scope="module")
def portrait():
    return cv2.imread(str(PORTRAIT))


def head(alpha):
    """Top row of the person and the centre x of the head (the top 15 % of the frame below it),
    measured directly on the matte, independently of the framer."""
    rows = np.nonzero((alpha > 127).any(axis=1))[0]
    top = rows[0]
    band = alpha[top:top + int(0.15 * alpha.shape[0])] > 127
    xs = np.nonzero(band)[1]
    return top, xs.mean()


def run_framer(alphas, settings=None):
    framer = AutoFramer(settings or FramingSettings(fps=15.0))
    states, rects = [], []
    for alpha in alphas:
        rects.append(framer.update(alpha))
        states.append(framer.state)
    return framer, np.array(states), rects


# --- framing ----------------------------------------------------------------------------------------
def test_framing_centres_the_head_with_head_room(frames, segmenter):
    # The person moved to the left of the picture: the crop must put the head back in the middle.
    # (Zoom 2 and a shift that leaves room to centre: at the frame's edge the crop stops there.)
    moved = [shift(frame, -0.12 * SIZE[0]) for frame in frames[:30]]
    alphas = alphas_for(moved, segmenter)
    framer, _, rects = run_framer(alphas, FramingSettings(fps=15.0, zoom=2.0))
    x, y, w, h = rects[-1]
    assert w == pytest.approx(SIZE[0] / 2.0, abs=1)
    assert x > 0
    assert x < 0.25 * SIZE[0]                                # it did move left, after the person
    top, centre_x = head(alphas[-1])
    dead_zone = framer.settings.dead_zone * SIZE[0] / w      # as a share of the crop
    assert abs((centre_x - x) / w - 0.5) <= dead_zone + 0.02
    # The goal moves only when the target leaves the dead zone, in y as in x: the head room is the
    # setting's within the dead zone (as a share of the crop), not exactly it.
    head_room = (top - y) / h
    assert abs(head_room - framer.settings.head_room) <= framer.settings.dead_zone * SIZE[1] / h + 0.02, head_room
    output = reframe(moved[-1], rects[-1])
    assert output.shape == moved[-1].shape


def test_a_face_that_already_fills_the_frame_is_not_zoomed_into():
    # Zoom 1.5 put 83 % of the picture under a face that already filled 64 % of it, cutting off the
    # forehead, the ears and the chin.
    width, height = 640, 360
    close_up = np.zeros((height, width), np.uint8)
    cv2.ellipse(close_up, (320, 360), (260, 400), 0, 0, 360, 255, -1)  # a face from above the top to below
    framer = AutoFramer(FramingSettings(fps=15.0))
    assert framer.measure(close_up)[2] >= 0.95 * width  # (nearly) the whole frame: no zoom
    # A head at a usual distance is still framed at the zoom asked for.
    usual = np.zeros((height, width), np.uint8)
    cv2.ellipse(usual, (320, 150), (50, 65), 0, 0, 360, 255, -1)                 # head
    cv2.ellipse(usual, (320, 360), (170, 150), 0, 180, 360, 255, -1)             # shoulders
    assert framer.measure(usual)[2] == pytest.approx(width / framer.settings.zoom)


def test_no_motion_while_the_subject_sits_still(alphas):
    _, states, rects = run_framer(alphas)
    assert len(set(rects)) == 1                      # the whole clip: not a pixel of movement
    # Without the dead zone the same clip does move the crop: the test measures the dead zone.
    _, states_free, _ = run_framer(alphas, FramingSettings(fps=15.0, dead_zone=0.0, size_dead_zone=0.0))
    assert np.abs(np.diff(states_free[:, :2], axis=0)).max() > 0.5


def test_small_sway_inside_the_dead_zone_does_not_move_the_crop(frames, segmenter):
    # +-1 % of the width: a sway of half the dead zone (4 %), on top of the clip's own movement.
    sway = [shift(frame, (0.01 * SIZE[0]) * (1 if i % 10 < 5 else -1)) for i, frame in enumerate(frames[:20])]
    _, _, rects = run_framer(alphas_for(sway, segmenter))
    assert len(set(rects)) == 1


def test_big_move_glides_at_capped_speed_without_overshoot(frames, alphas, segmenter):
    settings = FramingSettings(fps=15.0)
    moved = alphas[:15] + alphas_for([shift(frame, 0.25 * SIZE[0]) for frame in frames[15:60]], segmenter)
    _, states, _ = run_framer(moved, settings)
    steps = np.diff(states[14:, 0])
    cap = settings.max_speed * SIZE[0]
    assert steps.max() == pytest.approx(cap, rel=1e-6)   # the cap is reached (and so tested) ...
    assert np.all(np.abs(steps) <= cap + 1e-6)          # ... and never exceeded
    assert np.all(steps >= -1e-9)                       # one direction only: no overshoot, no bounce
    final = states[-1, 0]
    assert final - states[14, 0] > 0.15 * SIZE[0]       # it followed the move
    assert np.all(np.diff(states[-5:, 0]) == 0)         # and settled (exactly, not creeping)


def test_smooth_damp_never_passes_its_goal_even_when_the_goal_changes():
    rng = np.random.default_rng(1)
    position, velocity, goal = 0.0, 0.0, 100.0
    for step in range(600):
        if step % 17 == 0:
            goal = float(rng.uniform(-200, 200))   # goals that reverse mid-glide
        before = position
        position, velocity = smooth_damp(position, goal, velocity, 0.3, 1 / 30, 8.0)
        assert abs(position - before) <= 8.0 + 1e-9
        # It may only approach the goal: never end up on the far side of it.
        assert (goal - before) * (goal - position) >= -1e-9


def test_back_to_full_frame_after_the_delay_when_nobody_is_there(alphas):
    settings = FramingSettings(fps=15.0, empty_delay=1.0)
    empty = [np.zeros_like(alphas[0])] * 60
    _, states, rects = run_framer(alphas[:10] + empty, settings)
    delay_frames = int(settings.empty_delay * settings.fps)
    assert len(set(rects[9:10 + delay_frames - 1])) == 1   # held during the delay
    assert rects[-1] == (0, 0, SIZE[0], SIZE[1])             # then the full frame
    assert rects[10 + delay_frames] != rects[9]


def test_two_people_are_framed_together(frames, segmenter):
    pair = [two_people(frame, frames[-1 - i]) for i, frame in enumerate(frames[:20])]
    pair_alphas = alphas_for(pair, segmenter)
    framer, _, rects = run_framer(pair_alphas)
    assert framer.people == 2
    x, y, w, h = rects[-1]
    people, _ = find_people(pair_alphas[-1])
    for person in people:
        left, top, width, _ = person.box
        # Each head (top of its box) lies inside the crop.
        assert x <= left + width * 0.3 and left + width * 0.7 <= x + w
        assert y <= top < y + h


def test_image_background_stays_uncropped_while_the_person_is_reframed(frames, alphas):
    compositor = Compositor()
    compositor.set_image(BACKGROUNDS[0])
    effects = Effects(EffectSettings(auto_frame=True, zoom=2.0))
    frame = shift(frames[0], -0.2 * SIZE[0])
    alpha = shift(alphas[0][..., None].repeat(3, 2), -0.2 * SIZE[0])[..., 0]
    output = effects.composite(compositor, frame, alpha)
    background = cover_resize(cv2.imread(str(BACKGROUNDS[0])), *SIZE)
    reframed_alpha = reframe(alpha, effects.crop)
    empty = reframed_alpha == 0
    assert empty.mean() > 0.2
    assert np.abs(output[empty].astype(int) - background[empty]).max() <= 1   # the whole picture, unzoomed
    plain = compositor.composite(frame, alpha)
    assert np.abs(output.astype(int) - plain).mean() > 5                       # and the person did move


# --- light matching ---------------------------------------------------------------------------------
@pytest.mark.parametrize("background_path", BACKGROUNDS, ids=lambda p: p.stem)
def test_light_matching_moves_lab_toward_the_background_and_keeps_skin_hue(portrait, segmenter, background_path):
    alpha = MatteRefiner().refine(segmenter.segment(portrait), portrait, np.uint8)
    background = cover_resize(cv2.imread(str(background_path)), portrait.shape[1], portrait.shape[0])
    matcher = LightMatcher()
    matcher.settings.smoothing = 0.0
    matcher.update(portrait, alpha, background)
    after = matcher.apply(portrait)
    inside = alpha > 200
    before_lab, after_lab = _lab(portrait[inside]), _lab(after[inside])
    target = _lab(background.reshape(-1, 3)).mean(0)
    before = np.linalg.norm(before_lab.mean(0) - target)
    moved = np.linalg.norm(after_lab.mean(0) - target)
    assert moved < before - 2.0, (before, moved)
    skin = skin_pixels(before_lab)
    assert skin.sum() > 1000
    assert skin_hue_change(before_lab[skin], after_lab[skin]) <= matcher.settings.max_hue_deg + 1.0


def test_light_matching_strength_zero_leaves_the_person_as_shot(portrait, segmenter):
    alpha = MatteRefiner().refine(segmenter.segment(portrait), portrait, np.uint8)
    matcher = LightMatcher()
    matcher.settings.strength = 0.0
    matcher.update(portrait, alpha, np.full_like(portrait, 250))
    assert np.array_equal(matcher.apply(portrait), portrait)


def test_match_lighting_at_strength_zero_adds_no_light_wrap_either(frames, alphas):
    from app.compositing import BlendBuffers

    compositor = Compositor()
    compositor.set_color((255, 255, 255))
    effects = Effects(EffectSettings(match_lighting=True, lighting_strength=0.0))
    out = effects.composite(compositor, frames[0], alphas[0])  # the wrap stayed at 0.35 before
    plain = BlendBuffers().blend(frames[0], np.full_like(frames[0], 255), alphas[0])
    assert np.array_equal(out, plain)


def test_light_matching_does_not_pulse_over_the_clip(frames, alphas):
    background = cover_resize(cv2.imread(str(BACKGROUNDS[0])), *SIZE)
    matcher = LightMatcher()
    changes = []
    for frame, alpha in zip(frames, alphas):
        matcher.update(frame, alpha, background)
        inside = alpha > 200
        changes.append(_lab(matcher.apply(frame)[inside]).mean(0)[0] - _lab(frame[inside]).mean(0)[0])
    changes = np.array(changes[10:])            # after the first second
    assert abs(changes.mean()) > 1.0            # it does change the light ...
    assert np.abs(np.diff(changes)).max() < 0.5  # ... and that change drifts by < 0.5 L a frame


def test_light_wrap_spills_background_light_over_the_edge_only():
    height, width = 360, 640
    person = np.full((height, width, 3), 40, np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    cv2.circle(alpha, (320, 200), 120, 255, -1)
    background = np.full_like(person, 230)
    out = LightWrap().apply(person, alpha, background, amount=0.35, width_720p=10)
    distance = cv2.distanceTransform((alpha > 0).astype(np.uint8), cv2.DIST_L2, 5)
    rim = (distance > 0) & (distance < 3)
    deep = distance > 40
    inner = (distance > 12) & (distance < 16)
    assert out[rim].mean() > 40 + 15          # the edge takes on the bright background's light ...
    assert out[rim].mean() > out[inner].mean() + 5   # ... fading inward ...
    assert np.array_equal(out[deep], person[deep])   # ... and the face is untouched


def test_lighting_only_with_image_video_and_colour_backgrounds(frames, alphas):
    compositor = Compositor()
    compositor.set_blur(21.0)
    effects = Effects(EffectSettings(match_lighting=True, lighting_strength=1.0))
    assert np.array_equal(effects.composite(compositor, frames[0], alphas[0]),
                          compositor.composite(frames[0], alphas[0]))
    compositor.set_color((255, 255, 255))
    lit = effects.composite(compositor, frames[0], alphas[0])
    assert np.abs(lit.astype(int) - compositor.composite(frames[0], alphas[0])).mean() > 1.0


# --- low light --------------------------------------------------------------------------------------
def test_low_light_does_not_reduce_the_cut_out_on_dark_frames(frames, segmenter):
    chosen = frames[::4]
    reference = [segmenter.segment(frame) > 0.5 for frame in chosen]
    for factor in (0.25, 0.15):
        booster = LowLightBoost()
        plain, boosted = [], []
        for index, (frame, ref) in enumerate(zip(chosen, reference)):
            dim = darken(frame, factor, seed=index)
            plain.append(iou(segmenter.segment(dim) > 0.5, ref))
            boosted.append(iou(segmenter.segment(booster.apply(dim)) > 0.5, ref))
        assert np.mean(boosted) >= np.mean(plain) - 0.002, (factor, np.mean(plain), np.mean(boosted))
        if factor == 0.15:
            assert np.mean(boosted) > np.mean(plain) + 0.01   # where the model struggles, it helps


def test_low_light_brightens_dim_frames_steadily_and_leaves_bright_ones(frames):
    booster = LowLightBoost()
    assert booster.apply(frames[0]) is frames[0]                 # a well-lit picture is untouched
    booster = LowLightBoost()
    gains = []
    for index, frame in enumerate(frames[:30]):
        dim = darken(frame, 0.25, seed=index)
        out = booster.apply(dim)
        gains.append(booster.gain)
        assert out.mean() > dim.mean() * 2.0
    assert max(gains) <= booster.settings.max_gain
    assert np.abs(np.diff(np.log(gains))).max() < 0.02          # no flicker from frame to frame


# --- main person ------------------------------------------------------------------------------------
def test_main_person_keeps_one_person_and_does_not_jump(frames, segmenter):
    def scene(left_scale, right_scale, index):
        frame = two_people(frames[index], frames[-1 - index], 0.5)
        height, width = frame.shape[:2]
        # Resize each half's person to make one of them bigger.
        for side, scale in ((0, left_scale), (1, right_scale)):
            half = frame[:, side * width // 2:(side + 1) * width // 2]
            grown = cv2.resize(half, None, fx=scale, fy=scale)
            gh, gw = grown.shape[:2]
            if scale >= 1:
                x0 = (gw - half.shape[1]) // 2
                half[:] = grown[gh - height:, x0:x0 + half.shape[1]]
        return frame

    selector = MainPersonSelector()
    sides = []
    # Alternating which person is slightly larger must not flip the choice ...
    for index in range(12):
        bigger_left = index % 2 == 0
        mask = segmenter.segment(scene(1.15 if bigger_left else 1.0, 1.0 if bigger_left else 1.15, index))
        assert len(find_people(mask)[0]) == 2
        kept = selector.apply(mask)
        kept_people, _ = find_people(kept)
        assert len(kept_people) == 1                          # only one person goes through
        sides.append(kept_people[0].centroid[0] < mask.shape[1] / 2)
    assert len(set(sides)) == 1
    # ... while a clearly bigger person who stays so takes over (after the hysteresis).
    other_bigger = (1.0, 1.35) if sides[0] else (1.35, 1.0)
    later = []
    for index in range(12, 12 + selector.switch_after + 3):
        mask = segmenter.segment(scene(*other_bigger, index))
        kept_people, _ = find_people(selector.apply(mask))
        later.append(kept_people[0].centroid[0] < mask.shape[1] / 2)
    assert later[0] == sides[0] and later[-1] != sides[0]


def test_main_person_leaves_a_single_person_alone(alphas, segmenter, frames):
    mask = segmenter.segment(frames[0])
    assert np.array_equal(MainPersonSelector().apply(mask), mask)


# --- the CLI ----------------------------------------------------------------------------------------
def test_cli_parses_the_effect_flags():
    parser = headless.build_parser()
    args = parser.parse_args(["--output", "x.mp4", "--auto-frame", "--match-lighting", "--low-light",
                              "--main-person"])
    s = headless.effect_settings(args)
    assert (s.auto_frame, s.zoom, s.match_lighting, s.lighting_strength, s.low_light, s.main_person) == \
        (True, 1.5, True, 0.5, True, True)
    s = headless.effect_settings(parser.parse_args(["--output", "x.mp4", "--auto-frame", "2.2",
                                                    "--match-lighting", "0.8"]))
    assert (s.zoom, s.lighting_strength) == (2.2, 0.8)
    s = headless.effect_settings(parser.parse_args(["--output", "x.mp4"]))
    assert not (s.auto_frame or s.match_lighting or s.low_light or s.main_person)


def test_cli_effects_change_the_output(tmp_path, capsys):
    common = ["--input", str(clip_frames.__globals__["SAMPLE_CLIP"]), "--background", str(BACKGROUNDS[0]),
              "--max-frames", "4", "--no-progress", "--threads", "1"]
    plain, framed = tmp_path / "plain.avi", tmp_path / "framed.avi"
    assert headless.run(common + ["--output", str(plain)]) == 0
    assert headless.run(common + ["--output", str(framed), "--auto-frame", "9", "--match-lighting",
                                  "--low-light", "--main-person"]) == 0
    err = capsys.readouterr().err
    assert "--auto-frame 9 is outside 1..3; using 3" in err
    assert "effects" in err   # the effects' time is reported with the other stages
    a, b = read_frames(plain), read_frames(framed)
    assert len(a) == len(b) == 4
    assert np.abs(a[-1].astype(int) - b[-1]).mean() > 5


def test_cli_says_light_matching_needs_a_replaced_background(tmp_path, capsys):
    out = tmp_path / "blur.avi"
    assert headless.run(["--input", str(clip_frames.__globals__["SAMPLE_CLIP"]), "--blur", "--max-frames",
                         "1", "--no-progress", "--output", str(out), "--match-lighting"]) == 0
    assert "needs an image, video or colour background" in capsys.readouterr().err


@pytest.mark.parametrize("height, width", [(1, 1), (2, 2), (4, 4000), (4000, 3)])
def test_light_wrap_leaves_frames_smaller_than_its_grid_alone(height, width):
    person = np.full((height, width, 3), 100, np.uint8)
    alpha = np.full((height, width), 128, np.uint8)  # an edge everywhere
    out = LightWrap().apply(person, alpha, np.full_like(person, 250), 0.5, 12.0)  # raised in GaussianBlur
    assert out.shape == person.shape


@pytest.mark.parametrize("height, width", [(1, 4000), (6, 1920), (24, 7680), (4000, 1), (2, 2)])
def test_every_effect_takes_a_banner_shaped_frame(height, width):
    """Pictures far wider than tall (or the reverse): the effects' strided samples of the frame and
    the matte stay non-empty (an empty one crashed OpenCV's component labelling: a segfault)."""
    effects = Effects(EffectSettings(auto_frame=True, match_lighting=True, low_light=True, main_person=True))
    compositor = Compositor()
    compositor.set_color((0, 177, 64))
    rng = np.random.default_rng(height * width)
    frame = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)  # dim: the low-light boost works on it
    alpha = np.zeros((height, width), np.uint8)
    alpha[:, width // 4: max(width // 4 + 1, 3 * width // 4)] = 255  # a person in the middle
    for _ in range(3):
        boosted = effects.before_segmentation(frame)
        mask = effects.on_mask(alpha.astype(np.float32) / 255.0)
        out = effects.composite(compositor, boosted, alpha)
        assert boosted.shape == frame.shape and mask.shape == alpha.shape and out.shape == frame.shape


def _people_mask(frame_size, discs, bridge=False):
    """A frame-sized mask (float) with a disc per (x, y, radius), optionally joined at shoulder height."""
    width, height = frame_size
    mask = np.zeros((height, width), np.float32)
    for x, y, radius in discs:
        cv2.circle(mask, (x, y), radius, 1.0, -1)
    if bridge:
        (x0, y0, _), (x1, _, _) = discs[0], discs[1]
        cv2.rectangle(mask, (x0, y0 - 10), (x1, y0 + 10), 1.0, -1)
    return mask


def _crop_of(mask, rect):
    x, y, w, h = rect
    return cv2.resize(mask[y:y + h, x:x + w], (w // 4, h // 4), interpolation=cv2.INTER_AREA)


def test_the_main_person_is_kept_when_the_models_crop_changes_size():
    # The model's mask covers a crop that follows the people; its size changed by a few pixels
    # from run to run, and in the crop's own pixels the last choice was lost: the best score won at
    # once, a hard cut between two people of nearly equal score.
    frame_size = (640, 360)
    selector = MainPersonSelector()
    left, right = (200, 220, 90), (450, 220, 80)
    rect = (0, 0, 640, 360)
    first = selector.apply(_crop_of(_people_mask(frame_size, [left, right]), rect), rect, frame_size)
    assert first[:, : first.shape[1] // 2].max() > 0.9 and first[:, first.shape[1] // 2:].max() == 0
    # Now the right one scores a little higher (larger), within the margin: no switch, crop or not.
    for step, rect in enumerate([(0, 8, 640, 352), (8, 16, 632, 344), (0, 0, 624, 360), (16, 8, 616, 344)]):
        kept = selector.apply(_crop_of(_people_mask(frame_size, [(200, 220, 88), (440, 220, 92)]), rect),
                              rect, frame_size)
        middle = kept.shape[1] // 2
        assert kept[:, :middle].max() > 0.9 and kept[:, middle:].max() == 0, step


def test_two_people_who_touch_stay_apart():
    # Side by side on a sofa, their masks merge into one component now and then: both were kept
    # while merged and the other vanished when they parted, flickering in and out.
    frame_size = (640, 360)
    selector = MainPersonSelector()
    apart = _people_mask(frame_size, [(200, 220, 90), (440, 220, 80)])
    assert selector.apply(apart)[:, 380:].max() == 0
    for _ in range(3):
        merged = _people_mask(frame_size, [(205, 220, 90), (435, 220, 80)], bridge=True)
        assert len(find_people(merged)[0]) == 1
        kept = selector.apply(merged)
        assert kept[:, 360:].max() == 0 and kept[:, :300].max() > 0.9  # the other stays out
    # A person alone (no one seen apart) is never cut, however they grow.
    alone = MainPersonSelector()
    assert np.array_equal(alone.apply(merged), merged)
