import cv2
import numpy as np
import pytest

from app.matting import MatteRefiner, MatteSettings, band_block_pixels, guided_filter, pixels_at, smoothstep_threshold

FRAME = np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)


def plain(**overrides):
    """Settings with every effect off unless asked for, so each test isolates one effect."""
    values = dict(threshold=0.5, softness=0.0, feather=0.0, smoothing=0.0, work_height=10_000)  # no resolution cap
    values.update(overrides)
    return MatteSettings(**values)


def test_output_shape_dtype_and_range():
    refiner = MatteRefiner()
    mask = np.random.default_rng(0).uniform(-0.2, 1.2, (42, 56)).astype(np.float32)
    alpha = refiner.refine(mask, FRAME)
    assert alpha.shape == (240, 320) and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_large_frame_is_refined_at_reduced_size_and_returned_full_size():
    frame = np.zeros((1080, 1920, 3), np.uint8)
    alpha = MatteRefiner(MatteSettings(work_height=270)).refine(np.ones((126, 224), np.float32), frame)
    assert alpha.shape == (1080, 1920)
    assert np.allclose(alpha, 1.0)


@pytest.mark.parametrize("value, expected", [(0.49, 0.0), (0.51, 1.0), (0.1, 0.0), (0.9, 1.0)])
def test_hard_threshold(value, expected):
    alpha = MatteRefiner(plain()).refine(np.full((20, 30), value, np.float32), FRAME)
    assert np.all(alpha == expected)


def test_threshold_moves_the_cut():
    mask = np.full((20, 30), 0.3, np.float32)
    assert np.all(MatteRefiner(plain(threshold=0.2)).refine(mask, FRAME) == 1.0)
    assert np.all(MatteRefiner(plain(threshold=0.4)).refine(mask, FRAME) == 0.0)


def test_softness_band_is_a_smoothstep():
    prob = np.array([0.0, 0.39, 0.4, 0.45, 0.5, 0.55, 0.6, 0.61, 1.0], np.float32)
    alpha = smoothstep_threshold(prob, threshold=0.5, softness=0.2)
    assert alpha[0] == 0.0 and alpha[1] == 0.0 and alpha[2] == 0.0
    assert alpha[4] == pytest.approx(0.5)
    assert alpha[3] == pytest.approx(0.15625) and alpha[5] == pytest.approx(0.84375)  # 3t^2-2t^3
    assert alpha[6] == 1.0 and alpha[7] == 1.0 and alpha[8] == 1.0
    assert np.all(np.diff(alpha) >= 0)


def step_mask():
    mask = np.zeros((60, 80), np.float32)
    mask[:, 40:] = 1.0
    return mask


@pytest.mark.parametrize("edge_mode", ["guided", "gaussian"])
def test_feathering_softens_only_the_edge(edge_mode):
    frame = np.full((240, 320, 3), 128, np.uint8)
    hard = MatteRefiner(plain()).refine(step_mask(), frame)
    assert set(np.unique(hard)) == {0.0, 1.0}
    soft = MatteRefiner(plain(feather=12.0, edge_mode=edge_mode)).refine(step_mask(), frame)
    edge = soft[:, 150:170]
    assert np.any((edge > 0.05) & (edge < 0.95))
    assert np.allclose(soft[:, :100], 0.0, atol=1e-3) and np.allclose(soft[:, 220:], 1.0, atol=1e-3)


def test_guided_filter_snaps_the_edge_to_the_frame():
    # The mask's edge is a few pixels off the frame's real edge; the guided filter pulls it over.
    guide = np.zeros((100, 100, 3), np.float32)
    guide[:, 50:] = 1.0
    src = np.zeros((100, 100), np.float32)
    src[:, 46:] = 1.0
    out = guided_filter(guide, src, radius=8, eps=1e-4)
    steepest = np.argmax(np.diff(out, axis=1), axis=1)
    assert np.all(steepest == 49)  # the biggest step sits on the frame's edge (49 -> 50)
    assert np.allclose(out[:, 50:60], 1.0, atol=0.02)


def test_guided_filter_keeps_a_constant_source():
    guide = np.random.default_rng(0).uniform(0, 1, (50, 60, 3)).astype(np.float32)
    out = guided_filter(guide, np.full((50, 60), 0.7, np.float32), radius=4, eps=1e-3)
    assert np.allclose(out, 0.7, atol=1e-4)
    # A source that varies only in one corner: the rest is left exactly as it was.
    src = np.full((50, 60), 0.7, np.float32)
    src[:10, :10] = 0.2
    out = guided_filter(guide, src, radius=2, eps=1e-3)
    assert np.array_equal(out[20:, 20:], src[20:, 20:]) and not np.allclose(out[:12, :12], src[:12, :12])


def test_a_colour_guide_follows_an_edge_that_grey_cannot_see():
    """A person and a room of the same brightness but different colour (a red shirt on a green wall):
    grey, the picture has no edge to snap to; the colour guide finds it, and keeps a constant source."""
    guide = np.zeros((60, 100, 3), np.float32)
    guide[:, :50] = (0.1, 0.3, 0.9)  # BGR: reddish
    guide[:, 50:] = (0.1, 0.6, 0.31)  # greenish, the same grey level (within 0.005)
    grey = cv2.cvtColor(cv2.cvtColor(guide, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)  # what a grey guide sees
    assert np.ptp(grey) < 0.01
    src = np.zeros((60, 100), np.float32)
    src[:, :46] = 1.0  # the mask's edge 4 px off the picture's
    coloured = guided_filter(guide, src, radius=8, eps=1e-4)
    greyed = guided_filter(grey, src, radius=8, eps=1e-4)
    # The biggest step: on the picture's edge (49 -> 50) with colour, still on the mask's (45 -> 46) in grey
    assert np.all(np.argmax(-np.diff(coloured, axis=1), axis=1) == 49)
    assert np.all(np.argmax(-np.diff(greyed, axis=1), axis=1) == 45)
    assert np.allclose(coloured[:, 50:], 0.0, atol=0.02) and greyed[:, 50:54].min() > 0.1


def test_the_band_finish_applies_the_colour_model_to_the_full_size_frame():
    """At 4x the working size, the band's alpha comes from the full-size frame's own colours: the
    edge lands on the frame's colour edge (same brightness both sides), not on a working-size pixel."""
    frame = np.zeros((360, 480, 3), np.uint8)
    frame[:, :242] = (26, 77, 230)
    frame[:, 242:] = (26, 153, 79)
    mask = np.zeros((90, 120), np.float32)
    mask[:, :60] = 1.0  # its edge at full-size column 240; the frame's at 242, inside a working pixel
    alpha = MatteRefiner(plain(feather=8.0, work_height=90)).refine(mask, frame)
    row = alpha[180]
    assert np.argmax(-np.diff(row)) == 241  # the cut between columns 241 and 242
    assert row[241] > 0.5 and np.all(row[242:252] < 0.02) and np.all(row[:230] > 0.95)


def flicker_outputs(smoothing, frames=30):
    refiner = MatteRefiner(plain(softness=1.0, smoothing=smoothing))
    outputs = []
    for i in range(frames):
        mask = np.full((20, 30), 0.35 if i % 2 else 0.65, np.float32)
        outputs.append(float(refiner.refine(mask, FRAME).mean()))
    return np.array(outputs)


def test_temporal_smoothing_damps_flicker():
    raw_swing = np.abs(np.diff(flicker_outputs(0.0)[10:])).mean()
    smoothed_swing = np.abs(np.diff(flicker_outputs(0.8)[10:])).mean()
    assert raw_swing > 0.3
    assert smoothed_swing < raw_swing / 3


def test_smoothing_converges_to_a_steady_mask_and_reset_forgets():
    refiner = MatteRefiner(plain(smoothing=0.7))
    refiner.refine(np.zeros((20, 30), np.float32), FRAME)
    ones = np.ones((20, 30), np.float32)
    first = refiner.refine(ones, FRAME)
    assert np.all(first == 0.0)  # 0.3 after one frame: still below the threshold
    for _ in range(15):
        last = refiner.refine(ones, FRAME)
    assert np.all(last == 1.0)
    refiner.refine(np.zeros((20, 30), np.float32), FRAME)
    refiner.reset()
    assert np.all(refiner.refine(ones, FRAME) == 1.0)


def test_settings_are_clamped():
    refiner = MatteRefiner(MatteSettings(threshold=3.0, softness=-1.0, feather=-5.0, smoothing=1.5,
                                         edge_mode="nope"))
    s = refiner.settings
    assert (s.threshold, s.softness, s.feather, s.edge_mode) == (1.0, 0.0, 0.0, "learned")
    assert s.smoothing < 1.0


def test_feather_is_clamped_to_the_slider_range():
    from app.matting import FEATHER_MAX

    assert MatteSettings(feather=1e6).clamped().feather == FEATHER_MAX
    assert MatteSettings(feather=float("nan")).clamped().feather <= FEATHER_MAX


@pytest.mark.parametrize("work_height", [120, 10_000])
def test_uint8_matte_is_the_float_matte_in_0_to_255(work_height):
    mask = np.random.default_rng(5).uniform(-0.2, 1.2, (42, 56)).astype(np.float32)
    settings = MatteSettings(work_height=work_height, smoothing=0.0)
    as_float = MatteRefiner(settings).refine(mask, FRAME)
    as_uint8 = MatteRefiner(settings).refine(mask, FRAME, np.uint8)
    assert as_uint8.dtype == np.uint8 and as_uint8.shape == as_float.shape
    # Rounded at working size, then upsampled in fixed point: half a level each.
    assert np.abs(as_uint8.astype(np.float32) - as_float * 255.0).max() <= 1.5
    assert as_uint8.min() == 0 and as_uint8.max() == 255  # saturated, not wrapped


def test_guided_edges_are_finished_at_the_frames_own_resolution():
    """The working image is 180 rows (4x smaller at 720p); the picture's edge lies between its
    pixels (column 641). The guided filter's model is applied to the full-size frame, so the alpha
    steps exactly where the picture does instead of ramping over the upsampling's 4+ pixels."""
    frame = np.full((720, 1280, 3), 30, np.uint8)
    frame[:, :641] = 220
    mask = np.zeros((128, 224), np.float32)
    mask[:, :112] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), 2)
    alpha = MatteRefiner(MatteSettings(edge_mode="guided", smoothing=0.0)).refine(mask, frame, np.uint8)
    row = alpha[360].astype(int)
    assert row[:630].min() >= 250 and row[641:].max() == 0
    assert row[640] > 128  # the last bright column is still mostly person
    soft = np.nonzero((row > 25) & (row < 230))[0]
    assert soft.size <= 2 and soft.min() >= 638
    # The float path agrees with the uint8 path.
    as_float = MatteRefiner(MatteSettings(edge_mode="guided", smoothing=0.0)).refine(mask, frame)
    assert np.abs(as_float * 255 - alpha).max() <= 1.0


def test_smoothing_follows_motion_without_lag_and_still_calms_noise():
    """Where the picture moved, the new mask is taken as it is; where it is still, the old one
    weighs in (flicker from the model is halved)."""
    rng = np.random.default_rng(5)
    refiner = MatteRefiner(plain(smoothing=0.5))
    still = np.full((120, 160, 3), 90, np.uint8)
    first = np.zeros((30, 40), np.float32)
    refiner.refine(first, still)
    # Still picture (only sensor noise), the model's answer jumps from 0 to 0.8: smoothed to 0.4.
    noisy = np.clip(still + rng.normal(0, 1.0, still.shape), 0, 255).astype(np.uint8)
    calm = MatteRefiner(plain(smoothing=0.5, softness=1.0))
    calm.refine(first, still)
    assert np.allclose(calm._smooth(np.full((30, 40), 0.8, np.float32), noisy), 0.4, atol=0.05)
    # A hand enters the right half: the picture changes there, and so does the mask at once.
    moved = still.copy()
    moved[:, 80:] = 200
    mask = np.zeros((30, 40), np.float32)
    mask[:, 20:] = 1.0
    follow = MatteRefiner(plain(smoothing=0.5, softness=1.0))
    follow.refine(first, still)
    smoothed = follow._smooth(mask, moved)
    assert smoothed[:, 24:].min() > 0.99  # moved: no lag
    assert smoothed[:, :16].max() == 0.0


def test_smoothing_is_carried_over_when_the_crop_moves():
    """The pipeline's crop follows the person (app/segmentation.PersonRegion), so the refiner's state
    is moved with it: where the new crop overlaps the old one the history still weighs in, exactly
    as if the crop had not moved; where the old crop did not reach, the new mask is taken as it is."""
    room = np.full((240, 320, 3), 90, np.uint8)
    old_rect, new_rect = (0, 0, 160, 240), (80, 0, 160, 240)  # the crop moves half its width right

    def crop(rect):
        x, y, w, h = rect
        return room[y:y + h, x:x + w]

    refiner = MatteRefiner(plain(smoothing=0.5, softness=1.0))
    refiner.refine(np.zeros((60, 40), np.float32), crop(old_rect), rect=old_rect)
    smoothed = refiner._smooth(np.full((60, 40), 0.8, np.float32), crop(new_rect), new_rect)
    assert np.allclose(smoothed[:, 1:19], 0.4, atol=0.02)  # over the old crop: smoothed as before
    assert np.allclose(smoothed[:, 21:], 0.8)             # beyond it: no history to weigh in
    # The same crop again is no move: the history counts everywhere now (0.8 and 0.4 give 0.6).
    assert np.allclose(refiner._smooth(np.full((60, 40), 0.4, np.float32), crop(new_rect), new_rect)[:, 21:], 0.6)
    # A reset forgets the state and its place.
    refiner.reset()
    assert np.allclose(refiner._smooth(np.full((60, 40), 0.8, np.float32), crop(old_rect), old_rect), 0.8)


@pytest.mark.parametrize("work, full", [((180, 320), (720, 1280)), ((180, 240), (480, 640)), ((7, 9), (20, 31))])
def test_band_blocks_are_the_pixels_a_nearest_upsampling_would_set(work, full):
    band = (np.random.default_rng(2).random(work) < 0.05).astype(np.uint8) * 255
    expected = cv2.findNonZero(cv2.resize(band, full[::-1], interpolation=cv2.INTER_NEAREST)).reshape(-1, 2)
    ys, xs = band_block_pixels(band, full)
    assert sorted(zip(ys.tolist(), xs.tolist())) == sorted(zip(expected[:, 1].tolist(), expected[:, 0].tolist()))
    # Each pixel's owner is the working pixel a nearest upsampling copies it from.
    owner_map = np.arange(work[0] * work[1], dtype=np.int32).reshape(work).astype(np.float32)
    nearest = cv2.resize(owner_map, full[::-1], interpolation=cv2.INTER_NEAREST)
    ys2, xs2, owners = band_block_pixels(band, full, owners=True)
    assert np.array_equal(ys2, ys) and np.array_equal(xs2, xs)
    assert np.array_equal(owners, nearest[ys, xs].astype(np.int64))


def test_a_frame_sized_mask_is_smoothed_at_the_working_size():
    """A model that answers at the frame's size (MediaPipe's selfie model does) gets the same matte;
    its temporal state is kept at the working size, not at 720p."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    mask = np.zeros((720, 1280), np.float32)
    mask[:, 640:] = 1.0
    refiner = MatteRefiner(MatteSettings(smoothing=0.5))
    alpha = refiner.refine(mask, frame)
    assert alpha.shape == (720, 1280)
    assert alpha[:, :600].max() < 0.05 and alpha[:, 680:].min() > 0.95
    assert refiner._previous.shape == (180, 320)


def test_pixels_at_reads_a_crop_of_the_frame_in_place_and_any_other_layout():
    frame = np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    crop = frame[10:50, 17:80]  # how the pipeline hands the matte its crop: rows a frame's width apart
    for image in (frame, crop, frame[::2, ::3], frame[:, :, ::-1], np.asfortranarray(frame)):
        rng = np.random.default_rng(image.shape[0])
        ys, xs = rng.integers(0, image.shape[0], 300), rng.integers(0, image.shape[1], 300)
        assert np.array_equal(pixels_at(image, ys, xs), image[ys, xs])


def person_disc(centre_x, hand=None):
    """The 'person' of moving_person and textured_person: a disc centred at centre_x (sub-pixel) of a
    640x360 frame, with an optional 'hand' blob at `hand`."""
    alpha = np.zeros((360, 640), np.float32)
    cv2.circle(alpha, (int(round(centre_x * 4)), 220 * 4), 110 * 4, 1.0, -1, cv2.LINE_AA, shift=2)
    if hand is not None:
        cv2.circle(alpha, hand, 25, 1.0, -1)
    return alpha


def moving_person(x, jitter=0.0, hand=None):
    """A textured 'person' (a disc with stripes) at horizontal position x on a plain room, 640x360, and
    a matte for it whose edge sits `jitter` px off (the network's edge wobbling from frame to frame),
    with an optional 'hand' blob."""
    from app.imaging import FramePyramid

    alpha = person_disc(x, hand)
    person = np.full((360, 640, 3), 200, np.uint8)
    person[::12] = 120  # texture that moves with the person, for the alignment
    person = cv2.warpAffine(person, np.float32([[1, 0, x - 320], [0, 1, 0]]), (640, 360))
    frame = (np.full((360, 640, 3), 60, np.float32) * (1 - alpha[..., None]) + person * alpha[..., None]).astype(np.uint8)
    matte = person_disc(x + jitter, hand) if jitter else alpha
    return frame, FramePyramid(frame), np.clip(matte * 255 + 0.5, 0, 255).astype(np.uint8)


def steadiness(frames) -> tuple[float, float]:
    """For (raw, smoothed, truth) mattes of consecutive frames: how much the smoothed matte's error
    changes from frame to frame (what dtSSD measures) and its mean size, each as a share of the raw
    matte's, from the third frame on (the history needs a frame or two)."""
    raw_steps, smooth_steps, raw_error, smooth_error, previous = [], [], [], [], None
    for raw, smoothed, truth in frames:
        truth = np.asarray(truth, np.float32)
        errors = (raw - truth, smoothed - truth)
        if previous is not None:
            raw_steps.append(np.sqrt(np.mean((errors[0] - previous[0]) ** 2)))
            smooth_steps.append(np.sqrt(np.mean((errors[1] - previous[1]) ** 2)))
        previous = errors
        raw_error.append(np.abs(errors[0]).mean())
        smooth_error.append(np.abs(errors[1]).mean())
    return np.mean(smooth_steps[2:]) / np.mean(raw_steps[2:]), np.mean(smooth_error[2:]) / np.mean(raw_error[2:])


def test_motion_smoothing_steadies_a_moving_edge_and_follows_the_person():
    """MotionSmoother: on a person moving 6 px a frame whose matte edge flickers, the smoothed matte
    changes less from frame to frame (after the person's own motion) than the raw one, and stays on
    the person (no lag)."""
    from app.matting import MotionSmoother

    rng = np.random.default_rng(0)
    smoother = MotionSmoother()

    def frames():
        for t in range(14):
            x = 200 + 6 * t
            frame, pyramid, matte = moving_person(x, jitter=rng.normal(0, 1.5))
            yield matte, smoother.smooth(matte, pyramid, 0.5), moving_person(x)[2]

    steps, error = steadiness(frames())
    assert steps < 0.85
    assert error < 1.25  # on the person, not trailing them


def test_motion_smoothing_leaves_no_ghost_where_something_left():
    """A hand that jumps away: where this frame's matte is 0 all around, the history cannot bring it
    back (clamped to the frame's own range), and weight 0 or a reset gives the matte as it is."""
    from app.matting import HISTORY_CLAMP_PX, MotionSmoother

    smoother = MotionSmoother()
    _, pyramid, matte = moving_person(320, hand=(560, 80))
    smoother.smooth(matte, pyramid, 0.5)
    _, pyramid, matte = moving_person(320, hand=(80, 80))
    out = smoother.smooth(matte, pyramid, 0.5)
    old_hand = out[80 - 25 - HISTORY_CLAMP_PX:80 + 25 + HISTORY_CLAMP_PX, 560 - 25 - HISTORY_CLAMP_PX:560 + 25 + HISTORY_CLAMP_PX]
    assert old_hand.max() == 0
    assert out[80, 80] == 255  # the hand where it is now
    assert np.array_equal(smoother.smooth(matte, pyramid, 0.0), matte)
    smoother.reset()
    assert np.array_equal(smoother.smooth(matte, pyramid, 0.5), matte)


_SKIN = cv2.GaussianBlur(np.random.default_rng(7).uniform(60, 240, (360, 640)).astype(np.float32), (0, 0), 4)


def textured_person(x, jitter=0.0, hand=None):
    """moving_person with a blotchy texture that moves with the person (what ECC aligns on in a
    call), on a plain room; the matte at the model's size (a quarter of the frame's sides), its edge
    `jitter` px off."""
    alpha = person_disc(x, hand)
    skin = cv2.warpAffine(_SKIN, np.float32([[1, 0, x - 320], [0, 1, 0]]), (640, 360), borderMode=cv2.BORDER_REFLECT)
    frame = 60 * (1 - alpha) + skin * alpha
    mask = cv2.resize(person_disc(x + jitter, hand) if jitter else alpha, (160, 90), interpolation=cv2.INTER_AREA)
    return np.repeat(frame[..., None], 3, axis=2).astype(np.uint8), mask


@pytest.mark.parametrize("moved", [True, False])
def test_the_smoothing_moves_its_history_with_a_moving_person(moved):
    """MatteRefiner's own smoothing on a person moving 6 px a frame whose mask edge wobbles: the last
    mask is moved with the person before it is averaged in (session 36, rule 15), so the moving edge
    is steadier than the raw masks and stays on the person. Unmoved (the motion not found), the edge's
    change of colour says "motion" there and the mask is taken as it is: no steadier, as before."""
    rng = np.random.default_rng(0)
    refiner = MatteRefiner(plain(smoothing=0.5, softness=1.0))
    refiner.move_history = moved

    def frames():
        for t in range(14):
            x = 200 + 6 * t
            frame, mask = textured_person(x, jitter=rng.normal(0, 6.0))  # 1.5 of the model's pixels
            yield mask, refiner._smooth(mask, frame).copy(), textured_person(x)[1]

    steps, error = steadiness(frames())
    assert (steps < 0.9) == moved
    assert error < 1.05  # on the person, not trailing them


def test_the_moved_smoothing_leaves_no_ghost_where_a_hand_left():
    """The body sits still while a hand jumps across the frame: where the hand was the picture
    changed, so its old mask does not stay behind (at most a faint trace of its soft outline, where
    the room looks as it did, which fades within frames), and the hand is whole where it is now."""
    refiner = MatteRefiner(plain(smoothing=0.5, softness=1.0))
    refiner._smooth(*reversed(textured_person(320, hand=(560, 80))))
    old_hand = (slice(20 - 8, 20 + 8), slice(140 - 8, 140 + 8))  # (560, 80) at the mask's quarter size
    out = refiner._smooth(*reversed(textured_person(320, hand=(80, 80))))
    assert out[20 - 3:20 + 4, 140 - 3:140 + 4].max() < 0.01  # the old hand's core
    assert out[old_hand].max() < 0.2
    assert out[20, 20] > 0.95  # the hand where it is now
    assert abs(out[60, 80] - 1.0) < 1e-3  # the body
    for _ in range(3):
        out = refiner._smooth(*reversed(textured_person(320, hand=(80, 80))))
    assert out[old_hand].max() < 0.05


@pytest.mark.parametrize("window", [5, 0])
def test_the_moved_history_cannot_keep_a_piece_the_mask_has_left(monkeypatch, window):
    """Where the mask let go of a piece while the picture stayed the same (a person who bent in a way
    the affine motion does not follow looks like this to the gate), the moved history is clamped into
    the range the mask takes nearby (MOVED_HISTORY_RANGE_PX): the piece goes at once. Unclamped (0),
    half of it would stay, as rule 15's candidate kept pieces on real footage."""
    from app import matting

    monkeypatch.setattr(matting, "MOVED_HISTORY_RANGE_PX", window)
    refiner = MatteRefiner(plain(smoothing=0.5, softness=1.0))
    frame, mask = textured_person(320)
    with_piece = mask.copy()
    with_piece[40:52, 110:122] = 1.0  # a piece beside the body, on the room
    refiner._smooth(with_piece, frame)
    out = refiner._smooth(mask, frame)
    if window:
        assert out[44:48, 114:118].max() < 0.01
    else:
        assert out[44:48, 114:118].min() > 0.4
    assert abs(out[60, 80] - 1.0) < 1e-3  # the body


def test_where_the_history_was_shifted_a_small_change_still_counts_partly_as_still():
    """Rule 19: after the shift, the room beside a moving edge and a slight bend change the picture a
    little; a change under MOVED_MOTION_LEVEL grey levels keeps part of the history at an edge that
    wobbled (a change of 20 levels here: about a third of the smoothing's weight), where the unshifted
    gate's level (MOTION_LEVEL) would have dropped it; a large change drops it as before."""
    from app.matting import MOTION_LEVEL, MOVED_MOTION_LEVEL, NOISE_LEVEL

    frame, mask = textured_person(320)
    wobbled = np.roll(mask, -2, axis=1)  # the model's edge two of its pixels to the left
    y, x = 55, int(np.argmax(mask[55] - wobbled[55]))  # on the right edge: person before, room now

    def second_answer(brighter):
        refiner = MatteRefiner(plain(smoothing=0.5, softness=1.0))
        refiner._smooth(mask, frame)
        lit = np.clip(frame.astype(np.int16) + brighter, 0, 255).astype(np.uint8)  # the light changed a little
        return refiner._smooth(wobbled, lit)[y, x]

    assert mask[y, x] > 0.9 and wobbled[y, x] < 0.1
    assert MOTION_LEVEL < 20 < MOVED_MOTION_LEVEL
    keep = 0.5 * (MOVED_MOTION_LEVEL - 20) / (MOVED_MOTION_LEVEL - NOISE_LEVEL)
    assert abs(second_answer(20) - (keep * mask[y, x] + (1 - keep) * wobbled[y, x])) < 0.02
    assert abs(second_answer(80) - wobbled[y, x]) < 1e-3


def test_affine_motion_finds_a_shift_and_refuses_a_cut():
    from app.matting import affine_motion

    (frame, mask), (moved, _) = textured_person(300), textured_person(306)
    grey, grey_moved = (cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (160, 90), interpolation=cv2.INTER_AREA)
                        for f in (frame, moved))  # at the mask's size, as the smoothing sees them
    warp = affine_motion(grey, grey_moved, mask > 0.5)
    assert warp is not None and abs(warp[0, 2] - 1.5) < 0.3 and abs(warp[1, 2]) < 0.3  # 6 px at a quarter
    assert affine_motion(grey, grey_moved, np.zeros_like(mask, bool)) is None  # nobody to follow
    other = np.random.default_rng(1).integers(0, 256, grey.shape, dtype=np.uint8)
    assert affine_motion(grey, other, mask > 0.5) is None  # a cut to another scene


def test_an_unreadable_edge_model_falls_back_to_the_plain_guided_filter_with_a_warning(tmp_path, caplog):
    from app.matting import bundled_edge_model
    broken = tmp_path / "edge_model.npz"
    broken.write_bytes(b"not a zip file")
    missing = tmp_path / "absent.npz"
    with caplog.at_level("WARNING"):
        assert bundled_edge_model(broken) is None
        assert bundled_edge_model(missing) is None
    assert "plain guided filter" in caplog.text and "absent.npz" in caplog.text
    frame = FRAME.copy()
    mask = np.zeros((60, 80), np.float32)
    mask[15:50, 20:60] = 1.0
    learned = MatteRefiner(MatteSettings(edge_mode="learned"), edge_model=None).refine(mask, frame)
    guided = MatteRefiner(MatteSettings(edge_mode="guided"), edge_model=None).refine(mask, frame)
    assert np.array_equal(learned, guided)  # no weights: the learned mode is the plain filter


def test_an_edge_model_with_wrong_shapes_or_values_is_refused(tmp_path):
    from app.matting import EDGE_FEATURES, EdgeModel
    good = [(np.zeros((EDGE_FEATURES, 8)), np.zeros(8)), (np.zeros((8, 5)), np.zeros(5))]
    EdgeModel(good)
    with pytest.raises(ValueError):
        EdgeModel([(np.zeros((EDGE_FEATURES, 8)), np.zeros(8)), (np.zeros((9, 5)), np.zeros(5))])
    with pytest.raises(ValueError):
        EdgeModel([(np.zeros((EDGE_FEATURES + 1, 5)), np.zeros(5))])
    np.savez(tmp_path / "nan.npz", w0=np.full((EDGE_FEATURES, 5), np.nan), b0=np.zeros(5))
    with pytest.raises(ValueError):
        EdgeModel.load(tmp_path / "nan.npz")


@pytest.mark.parametrize("hidden", [8, 32, 48, 96])
def test_the_learned_edges_products_are_blocked_by_the_widest_layer_and_give_the_one_product_result(hidden):
    """The MLP runs in blocks of windows whose products stay under MLP_PRODUCT multiply-adds in the
    widest layer (a wider net gets smaller blocks: one over all windows woke OpenBLAS's threads), and
    blocking never changes the result."""
    from app.matting import GUIDED_EPS, MLP_PRODUCT, EdgeModel, window_statistics
    rng = np.random.default_rng(hidden)
    shapes = [(14, hidden), (hidden, hidden), (hidden, 5)]
    model = EdgeModel([(rng.normal(0, 0.3, s).astype(np.float32), rng.normal(0, 0.1, s[1]).astype(np.float32))
                       for s in shapes])
    assert model.block_rows * hidden * max(hidden, 14) <= MLP_PRODUCT < (model.block_rows + 1) * hidden * max(hidden, 14)
    guide = rng.random((90, 120, 3), dtype=np.float32)
    src = cv2.GaussianBlur((rng.random((90, 120)) > 0.5).astype(np.float32), (0, 0), 3.0)
    stats = window_statistics(guide, src, 2)
    weights = stats.solve(GUIDED_EPS)
    blocks = []
    mlp = model._mlp
    model._mlp = lambda rows: blocks.append(len(rows)) or mlp(rows)
    blocked = model.adjust(stats, weights)
    assert max(blocks) == model.block_rows and sum(blocks) == len(stats.at) > 2 * model.block_rows
    model.block_rows = len(stats.at)  # one product over every window
    whole = model.adjust(stats, weights)
    for a, b in zip(blocked[0] + (blocked[1],), whole[0] + (whole[1],)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_the_bundled_learned_edge_loads_and_moves_only_the_edge():
    """models/edge_model.npz is read (no warning fallback), and in edge mode "learned" it changes
    alpha near the person's outline only: inside and outside the person stay 1 and 0."""
    from app.matting import EDGE_MODEL_PATH, EdgeModel, bundled_edge_model
    assert EDGE_MODEL_PATH.is_file() and isinstance(bundled_edge_model(), EdgeModel)
    rng = np.random.default_rng(5)
    frame = np.empty((360, 640, 3), np.uint8)
    frame[:] = (60, 140, 200)
    yy, xx = np.mgrid[:360, :640]
    person = ((xx - 320) / 150.0) ** 2 + ((yy - 300) / 220.0) ** 2 < 1.0
    frame[person] = (90, 60, 40)
    frame = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
    mask = cv2.GaussianBlur(cv2.resize(person.astype(np.float32), (224, 126), interpolation=cv2.INTER_AREA), (0, 0), 1.0)
    settings = dict(smoothing=0.0)
    plain = MatteRefiner(MatteSettings(edge_mode="guided", **settings)).refine(mask, frame)
    learned = MatteRefiner(MatteSettings(edge_mode="learned", **settings)).refine(mask, frame)
    assert np.abs(learned - plain).max() > 0.05
    outline = cv2.morphologyEx(person.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    near = cv2.dilate(outline, np.ones((25, 25), np.uint8)).astype(bool)  # within 12 px of the outline
    changed = np.abs(learned - plain) > 0.01
    assert changed.any() and not (changed & ~near).any()


@pytest.mark.parametrize("seed", range(3))
def test_the_learned_edge_moves_the_plain_filters_outline_only_where_that_is_unsure(seed):
    """With no give the learned edge refines how soft the edge is, never where the outline runs
    (keep_outline): on a textured room, where its gain would lift specks across 0.5, the person/room
    split is the plain filter's, and it still changes the soft edge. With a give (the default's
    too), it moves the outline only where the plain filter was unsure."""
    rng = np.random.default_rng(seed)
    height, width = 720, 1280
    room = cv2.resize(rng.integers(0, 256, (45, 80, 3), dtype=np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:height, :width]
    person = ((xx - 640) / 300.0) ** 2 + ((yy - 620) / 420.0) ** 2 < 1.0
    frame = room.copy()
    frame[person] = np.clip(rng.normal(110, 25, (int(person.sum()), 3)), 0, 255).astype(np.uint8)
    mask = cv2.GaussianBlur(cv2.resize(person.astype(np.float32), (224, 126), interpolation=cv2.INTER_AREA), (0, 0), 1.5)
    plain = MatteRefiner(MatteSettings(edge_mode="guided", smoothing=0.0)).refine(mask, frame)
    learned = MatteRefiner(MatteSettings(edge_mode="learned", smoothing=0.0, outline_give=0.0)).refine(mask, frame)
    assert np.abs(learned - plain).max() > 0.05
    assert ((learned > 0.5) != (plain > 0.5)).sum() == 0
    # With a give, the learned edge may move the outline only where the plain filter is unsure:
    # no speck of the room where the plain filter was sure of it (left free, it makes some here).
    # (A few pixels may differ where the plain filter alone leaves the upsampled working alpha: the
    # learned edge's wider band finishes them at full size, the plain filter's values there too.)
    # The largest give (0.5, the default since session 26) leaves the outline free wherever the plain
    # filter's alpha is not exactly 0 or 1: on this busy room it moves into places where that was
    # fairly sure, but never where it was certain (most of the picture).
    default = MatteSettings().outline_give
    assert default > 0.0
    for give, sure, most in ((0.1, 0.15, 5), (default, min(default + 0.05, 0.5), 5), (0.5, 0.15, None)):
        moved = MatteRefiner(MatteSettings(edge_mode="learned", smoothing=0.0, outline_give=give)).refine(mask, frame)
        flipped = (moved > 0.5) != (plain > 0.5)
        in_sure_room = (flipped & (np.abs(plain - 0.5) >= sure)).sum()
        assert flipped.sum() > 50
        assert in_sure_room <= most if most is not None else in_sure_room > 100, give
    assert (np.abs(plain - 0.5) >= 0.5).mean() > 0.5  # the certain part is most of the picture


def test_keep_outline_takes_the_plain_side_unless_the_plain_filter_is_unsure():
    from app.matting import keep_outline

    learned = np.float32([0.7, 0.3, 0.7, 0.3, 0.9])
    plain = np.float32([0.2, 0.8, 0.45, 0.58, 0.6])
    assert np.allclose(keep_outline(learned, plain), [0.2, 0.8, 0.45, 0.58, 0.9])
    assert np.allclose(keep_outline(learned, plain, give=0.1), [0.2, 0.8, 0.7, 0.3, 0.9])


@pytest.mark.parametrize("case", ["portrait-like", "plain-flat", "both-flat"])
def test_the_paired_fit_equals_the_two_fits_it_shares_the_guide_between(case):
    """guided_coefficient_pair computes the guide's window statistics once for the plain filter
    and the learned edge: the same models as two guided_coefficients calls, bit for bit, also when
    one source or both vary nowhere."""
    from app.matting import GUIDED_EPS, bundled_edge_model, guided_coefficient_pair, guided_coefficients

    rng = np.random.default_rng(7)
    guide = rng.random((36, 64, 3)).astype(np.float32)
    xs = np.linspace(0.0, 1.0, 64, dtype=np.float32)
    prob = {"portrait-like": np.tile(xs, (36, 1)),                     # crosses the threshold
            "plain-flat": np.tile(0.59 + 0.07 * xs, (36, 1)),         # soft only in the learned band
            "both-flat": np.full((36, 64), 0.9, np.float32)}[case]
    plain_src = smoothstep_threshold(prob, 0.5, 0.15)
    learned_src = smoothstep_threshold(prob, 0.5, 0.35)
    edge_model = bundled_edge_model()
    assert edge_model is not None
    plain, learned = guided_coefficient_pair(guide, plain_src, learned_src, 2, GUIDED_EPS, edge_model)
    assert np.array_equal(plain, guided_coefficients(guide, plain_src, 2, GUIDED_EPS))
    assert np.array_equal(learned, guided_coefficients(guide, learned_src, 2, GUIDED_EPS, edge_model=edge_model))
    if case == "plain-flat":
        assert np.ptp(plain_src) == 0.0 and np.ptp(learned_src) > 0.0


def test_new_islands_are_the_pieces_the_plain_filter_does_not_have():
    from app.matting import new_islands

    plain = np.zeros((20, 30), np.float32)
    plain[5:15, 5:15] = 1.0                       # one person
    kept = plain.copy()
    kept[5:15, 15:17] = 0.8                       # the outline moved: no new piece
    kept[2, 25] = 0.9                             # a speck of person in the room
    kept[9, 9] = 0.1                              # a hole in the person
    islands = new_islands(kept, plain)
    assert islands[2, 25] and islands[9, 9]
    assert islands.sum() == 2


def test_keep_outline_crosses_only_to_the_given_side():
    from app.matting import keep_outline

    learned = np.float32([0.7, 0.7, 0.3])
    plain = np.float32([0.45, 0.45, 0.55])
    side = np.array([True, False, True])
    assert np.allclose(keep_outline(learned, plain, give=0.1, side=side), [0.7, 0.45, 0.55])


def test_a_person_who_left_between_model_runs_is_not_kept_by_the_smoothing():
    """Between model runs the pipeline refines with the last mask (fresh=False). The motion that
    lets a new mask take over is measured from the frame that mask came from: measured from the last
    refinement, the room was "still" by the next run and half the person stayed, a ghost."""
    room = np.full((120, 160, 3), 60, np.uint8)
    with_person = room.copy()
    with_person[:, 100:] = 200
    person = np.zeros((30, 40), np.float32)
    person[:, 25:] = 1.0
    nobody = np.zeros((30, 40), np.float32)
    refiner = MatteRefiner(plain(smoothing=0.5, softness=1.0))
    refiner._smooth(person, with_person, fresh=True)            # the model saw the person
    refiner._smooth(person, room, fresh=False)                  # they left; the old mask is reused
    after = refiner._smooth(nobody, room, fresh=True)           # the next model run: nobody
    assert after[:, 27:].max() < 0.01  # was 0.5: half a person of room colour for another run
    # A reused mask on a still picture still lets noise be calmed: fresh masks are smoothed.
    calm = MatteRefiner(plain(smoothing=0.5, softness=1.0))
    calm._smooth(nobody, room, fresh=True)
    calm._smooth(nobody, room, fresh=False)
    assert np.allclose(calm._smooth(np.full((30, 40), 0.8, np.float32), room, fresh=True), 0.4, atol=0.05)


def test_drop_detached_pieces_keeps_the_person_and_what_touches_them():
    from app.matting import drop_detached_pieces
    alpha = np.zeros((120, 160), np.uint8)
    cv2.circle(alpha, (80, 120), 50, 255, -1)  # the person
    alpha[60:75, 80] = 40                         # a faint wisp that touches them: kept
    alpha[10:40:3, 20] = 60                       # a dotted line of faint room pixels: dropped
    alpha[5, 150] = 200                           # a piece with its own core (a hand, a second person): kept
    alpha[6, 150] = 30
    out = drop_detached_pieces(alpha.copy())
    assert out[10:40, 20].max() == 0
    assert np.array_equal(np.delete(out, 20, axis=1), np.delete(alpha, 20, axis=1))
    lone_person = np.zeros((40, 40), np.uint8)
    lone_person[10:30, 10:30] = 255
    assert drop_detached_pieces(lone_person) is lone_person  # one piece: nothing to look at
