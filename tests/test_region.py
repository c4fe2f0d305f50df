"""Where the model looks (app/segmentation.PersonRegion): a crop around the person, following them,
given up for the whole frame when the person reaches its side or something changes beside it."""
import cv2
import numpy as np
import pytest

from app.compositing import Compositor
from app.matting import MatteRefiner, MatteSettings
from app.pipeline import Pipeline
from app.segmentation import (REGION_ALIGN, REGION_GLANCE_EVERY, REGION_MIN_SIDE, PersonRegion, Segmenter,
                              mask_in_frame)

W, H = 1280, 720


def box_mask(x0, y0, x1, y1, shape=(H // 4, W // 4)):
    """A whole-frame mask (at a quarter of the frame's size) with the person in the box (frame px)."""
    mask = np.zeros(shape, np.float32)
    mask[y0 // 4:y1 // 4, x0 // 4:x1 // 4] = 1.0
    return mask


def crop_of(mask_whole, rect):
    x, y, w, h = (v // 4 for v in rect)
    return mask_whole[y:y + h, x:x + w]


def test_a_far_away_person_gets_a_crop_around_them_and_it_follows_them():
    region = PersonRegion()
    whole = (0, 0, W, H)
    assert region.rect((H, W, 3)) == whole  # nothing known yet
    person = box_mask(600, 300, 700, 700)  # a full-body figure, small in the frame
    assert region.update(person, whole, (H, W, 3))  # the first run: look closer at once
    x, y, w, h = region.rect((H, W, 3))
    assert (w, h) != (W, H)
    assert x <= 600 and y <= 300 and x + w >= 700 and y + h >= min(H, 700)
    assert w >= REGION_MIN_SIDE * W - 1 and h >= REGION_MIN_SIDE * H - 1
    rect = first = (x, y, w, h)
    # Standing still, the crop stays where it is: the same box gives the same crop.
    assert not region.update(crop_of(person, rect), rect, (H, W, 3))
    assert region.rect((H, W, 3)) == first
    for shift in (40, 80, 120):  # a step to the right: each run's crop is centred on them again
        moved = box_mask(600 + shift, 300, 700 + shift, 700)
        assert not region.update(crop_of(moved, rect), rect, (H, W, 3))
        rect = region.rect((H, W, 3))
        centre = rect[0] + rect[2] / 2
        assert abs(centre - (650 + shift)) <= REGION_ALIGN, (shift, rect)
    assert rect[0] > first[0] and rect[2:] == first[2:]


def test_reaching_past_a_cut_side_of_the_crop_sends_this_frame_to_the_whole_frame():
    region = PersonRegion()
    region.update(box_mask(600, 300, 700, 700), (0, 0, W, H), (H, W, 3))
    rect = region.rect((H, W, 3))
    arm = box_mask(rect[0], 400, 700, 700)  # an arm out to the crop's left side, inside the frame
    assert region.update(crop_of(arm, rect), rect, (H, W, 3))
    assert region.rect((H, W, 3)) == (0, 0, W, H)
    # Seen whole, the person with the arm gets a wider crop.
    region.update(box_mask(rect[0] - 200, 300, 700, 700), (0, 0, W, H), (H, W, 3))
    assert region.rect((H, W, 3))[0] < rect[0] - 200


def test_a_speck_or_a_faint_smear_at_a_cut_side_does_not_send_the_run_to_the_whole_frame():
    """The model's few noisy pixels or a faint (< 0.5) smear at the crop's side are not the person
    leaving it: no whole-frame run (it sees the person at half the pixels: a worse matte, a pulse)."""
    def crop_after(extra):
        region = PersonRegion()
        region.update(box_mask(600, 300, 700, 700), (0, 0, W, H), (H, W, 3))
        rect = region.rect((H, W, 3))
        assert rect[0] > 0  # the crop's left side cuts the frame
        mask = crop_of(box_mask(600, 300, 700, 700), rect).copy()
        extra(mask, rect[0] // 4)
        second_look = region.update(mask, rect, (H, W, 3))
        return second_look, region.rect((H, W, 3))

    def speck(mask, left):  # two pixels at the left side
        mask[50, 0:2] = 1.0

    def smear(mask, left):  # faint, from the person to the side
        mask[75:100, : 600 // 4 - left] = 0.4

    def hand(mask, left):  # a confident part the size of a hand at the side
        mask[75:85, 0:10] = 0.9

    for extra in (speck, smear):
        second_look, rect = crop_after(extra)
        assert not second_look and rect != (0, 0, W, H)
    assert crop_after(hand) == (True, (0, 0, W, H))


def test_a_glance_at_the_whole_frame_keeps_the_crop_unless_someone_is_beside_it():
    region = PersonRegion()
    person = box_mask(600, 300, 700, 700)
    region.update(person, (0, 0, W, H), (H, W, 3))
    rect = region.rect((H, W, 3))
    for _ in range(REGION_GLANCE_EVERY):
        assert not region.glance_due((H, W, 3))
        region.update(crop_of(person, rect), rect, (H, W, 3))
    assert region.glance_due((H, W, 3))
    region.after_glance(person, (H, W, 3))  # the same person, nobody else
    assert region.rect((H, W, 3)) == rect and not region.glance_due((H, W, 3))
    newcomer = np.maximum(person, box_mask(40, 300, 160, 700))
    region.after_glance(newcomer, (H, W, 3))
    assert region.rect((H, W, 3)) == (0, 0, W, H)
    region.update(newcomer, (0, 0, W, H), (H, W, 3))  # seen whole: a crop around both, or none
    x, y, w, h = region.rect((H, W, 3))
    assert x <= 40 and x + w >= 700
    region.after_glance(None, (H, W, 3))  # a model that cannot glance: the whole frame instead
    assert region.rect((H, W, 3)) == (0, 0, W, H)


def test_a_glance_that_saw_too_much_gives_this_frame_its_crop_back():
    """A coarse glance sees the person reaching past the crop; the whole-frame run that checks it
    finds them inside after all: the crop stays, and this frame is looked at again through it
    (not left with the whole frame's matte, which has half the pixels)."""
    region = PersonRegion()
    person = box_mask(600, 300, 700, 700)
    region.update(person, (0, 0, W, H), (H, W, 3))
    rect = region.rect((H, W, 3))
    for _ in range(REGION_GLANCE_EVERY):
        region.update(crop_of(person, rect), rect, (H, W, 3))
    region.after_glance(np.maximum(person, box_mask(700, 300, rect[0] + rect[2] + 100, 400)), (H, W, 3))
    assert region.rect((H, W, 3)) == (0, 0, W, H)  # the alarm is checked on the whole frame
    assert region.update(person, (0, 0, W, H), (H, W, 3))  # a false alarm: look again, through the crop
    assert region.rect((H, W, 3)) == rect
    assert not region.update(crop_of(person, rect), rect, (H, W, 3))
    # A whole-frame run that is not a glance's check (here: after an arm reached the crop's side)
    # gives no further look.
    arm = box_mask(rect[0], 400, 700, 500)
    assert region.update(crop_of(np.maximum(person, arm), rect), rect, (H, W, 3))
    assert region.rect((H, W, 3)) == (0, 0, W, H)
    assert not region.update(person, (0, 0, W, H), (H, W, 3))


def test_the_whole_frame_when_nobody_is_there_or_the_person_fills_it():
    region = PersonRegion()
    region.update(np.zeros((H // 4, W // 4), np.float32), (0, 0, W, H), (H, W, 3))
    assert region.rect((H, W, 3)) == (0, 0, W, H)
    region.update(box_mask(0, 0, W, H), (0, 0, W, H), (H, W, 3))
    assert region.rect((H, W, 3)) == (0, 0, W, H)


def test_mask_in_frame_places_the_crop_and_leaves_the_rest_empty():
    crop = np.ones((50, 40), np.float32)
    placed = mask_in_frame(crop, (400, 200, 400, 500), (H, W, 3), (72, 128))
    assert placed.shape == (72, 128)
    assert placed[20:70, 40:80].min() == 1.0 and placed[:, :40].max() == 0.0 and placed[:, 80:].max() == 0.0


# --- in the pipeline (the mean-brightness model: the mask is the picture's brightness) ---------
def far_scene(extra=None):
    frame = np.full((H, W, 3), 20, np.uint8)
    cv2.rectangle(frame, (600, 300), (700, 719), (255, 255, 255), -1)  # the body
    if extra is not None:
        cv2.rectangle(frame, *extra, (255, 255, 255), -1)
    return frame


@pytest.fixture
def make_pipeline(mean_model):
    def make():
        compositor = Compositor()
        compositor.set_color((0, 0, 255))
        refiner = MatteRefiner(MatteSettings(threshold=0.5, softness=0.0, feather=0.0, smoothing=0.0))
        return Pipeline(Segmenter(mean_model, threads=1), refiner, compositor)
    return make


def test_a_far_away_person_gets_twice_the_model_pixels_and_nothing_outside_the_crop(make_pipeline):
    pipeline = make_pipeline()
    pipeline.process(far_scene())
    x, y, w, h = pipeline.last_rect
    assert (w, h) != (W, H)  # it looked closer, in the first frame already
    closer = pipeline.last_mask.shape[1] / w  # model pixels per frame pixel
    whole = make_pipeline()
    whole.region.enabled = False  # never a crop: the whole frame every run
    whole.process(far_scene())
    assert whole.last_rect == (0, 0, W, H)
    assert closer > 1.7 * whole.last_mask.shape[1] / W
    assert pipeline.last_alpha[:, :x].max() == 0 and pipeline.last_alpha[:, x + w:].max() == 0
    body = pipeline.last_alpha[400:700, 610:690]
    assert body.min() == 255


def test_someone_coming_in_beside_the_crop_is_seen_within_the_whole_frame_interval(make_pipeline):
    pipeline = make_pipeline()
    pipeline.process(far_scene())
    x, y, w, h = pipeline.last_rect
    assert x > 200
    newcomer = ((40, 300), (160, 719))  # beside the crop, which does not cover it
    runs_before, seen_after = pipeline.model_runs, None
    for _ in range(20 * (REGION_GLANCE_EVERY + 2)):
        pipeline.process(far_scene(newcomer))
        if pipeline.last_alpha[400:700, 60:140].min() == 255:
            seen_after = pipeline.model_runs - runs_before
            break
    assert seen_after is not None and seen_after <= REGION_GLANCE_EVERY + 2  # model runs


@pytest.mark.parametrize("box", [(601, 303, 697, 699), (13, 7, 211, 400), (1000, 500, 1279, 719)])
def test_crops_are_aligned_so_their_halvings_are_slices_of_the_frames(box):
    from app.imaging import FramePyramid, reduce_by_power_of_two
    region = PersonRegion()
    whole = (0, 0, W, H)
    region.update(box_mask(*box), whole, (H, W, 3))
    x, y, w, h = region.rect((H, W, 3))
    assert (w, h) != (W, H) and x <= box[0] and y <= box[1] and x + w >= box[2] and y + h >= box[3]
    assert x % REGION_ALIGN == 0 and y % REGION_ALIGN == 0
    assert (x + w) % REGION_ALIGN == 0 or x + w == W
    assert (y + h) % REGION_ALIGN == 0 or y + h == H
    frame = np.random.default_rng(5).integers(0, 256, (H, W, 3), dtype=np.uint8)
    pyramid = FramePyramid(frame)
    crop = pyramid.region(x, y, w, h)
    for k in (1, 2, 3):
        reduced = crop.reduce(h >> k)
        assert np.array_equal(reduced, reduce_by_power_of_two(frame[y:y + h, x:x + w], h >> k))
        assert np.shares_memory(reduced, pyramid.level(k))  # the frame's own k-th halving, sliced


def test_an_unaligned_region_still_reduces_exactly():
    from app.imaging import FramePyramid, reduce_by_power_of_two
    frame = np.random.default_rng(6).integers(0, 256, (H + 1, W - 3, 3), dtype=np.uint8)
    pyramid = FramePyramid(frame)
    for x, y, w, h in [(3, 5, 600, 401), (4, 2, 777, 355), (0, 0, W - 3, H + 1)]:
        crop = pyramid.region(x, y, w, h)
        for min_h in (200, 90, 1):
            assert np.array_equal(crop.reduce(min_h), reduce_by_power_of_two(frame[y:y + h, x:x + w], min_h))


@pytest.mark.parametrize("rect, expected", [
    ((3, 5, 600, 400), (0, 8, 600, 400)),        # each side to its nearest multiple of 8
    ((601, 303, 97, 397), (600, 304, 96, 400)),
    ((0, 0, 1263, 720), (0, 0, 1264, 720)),
    ((0, 0, 1277, 718), (0, 0, 1280, 720)),      # within 4 px of the frame's edge: the edge
    ((1277, 713, 3, 7), (1272, 712, 8, 8)),      # never empty, never past the frame
])
def test_aligned_rect_moves_each_side_to_the_nearest_multiple(rect, expected):
    from app.segmentation import aligned_rect
    assert aligned_rect(*rect, W, H, 8) == expected
