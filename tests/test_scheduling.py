"""Motion-gated model runs (app/scheduling.py) on synthetic scenes whose motion is known exactly."""
import cv2
import numpy as np
import pytest

from app.compositing import Compositor
from app.matting import MatteRefiner, MatteSettings
from app.pipeline import Pipeline
from app.scheduling import TRIGGER_COUNT, ModelSchedule, ScheduleSettings, change_weights, thumbnail
from app.segmentation import Segmenter
from app.settings import AppSettings

W, H = 640, 360  # thumbnail 64x36, as at 720p; a pixel here is two at 720p


def scene(x=320.0, y=200.0, level=0, radius=90, noise=None):
    """A bright soft-edged disc ('person') at (x, y), sub-pixel, on a textured dark room."""
    frame = np.full((H, W, 3), 40 + level, np.uint8)
    frame[::20, :] = 70 + level  # the room's own edges, which stay put
    disc = np.zeros((H, W), np.float32)
    cv2.circle(disc, (320, 200), radius, 1.0, -1, cv2.LINE_AA)
    disc = cv2.warpAffine(disc, np.float32([[1, 0, x - 320], [0, 1, y - 200]]), (W, H), flags=cv2.INTER_LINEAR)
    frame = (frame * (1 - disc[..., None]) + (200 + level) * disc[..., None]).astype(np.float32)
    if noise is not None:
        frame += noise.normal(0, 3.0, frame.shape)  # webcam sensor noise
    return np.clip(frame, 0, 255).astype(np.uint8)


def disc_mask(x=320.0, y=200.0, radius=90):
    mask = np.zeros((H // 2, W // 2), np.float32)
    cv2.circle(mask, (round(x / 2), round(y / 2)), radius // 2, 1.0, -1)
    return mask


def run_schedule(frames, masks, settings=None):
    """Which frames the schedule runs the model on (as the pipeline calls it)."""
    schedule, ran = ModelSchedule(settings), []
    for index, (frame, mask) in enumerate(zip(frames, masks)):
        run = schedule.due(frame) or index == 0  # the pipeline always runs without a mask
        schedule.ran(mask) if run else schedule.skipped()
        ran.append(run)
    return ran


def test_thumbnail_is_64_wide_with_the_frames_aspect():
    assert thumbnail(scene()).shape == (36, 64)
    assert thumbnail(np.zeros((480, 640, 3), np.uint8)).shape == (48, 64)
    assert thumbnail(np.zeros((20, 30, 3), np.uint8)).shape == (20, 30)  # never scaled up


def test_a_still_noisy_scene_runs_the_model_only_every_max_interval():
    rng = np.random.default_rng(0)
    frames = [scene(noise=rng) for _ in range(46)]
    ran = run_schedule(frames, [disc_mask()] * len(frames), ScheduleSettings(max_interval=15))
    assert [i for i, r in enumerate(ran) if r] == [0, 15, 30, 45]


def test_motion_runs_the_model_on_every_frame():
    rng = np.random.default_rng(1)
    xs = [320 + 6 * i for i in range(20)]  # 12 px a frame at 720p: a head turn
    ran = run_schedule([scene(x, noise=rng) for x in xs], [disc_mask(x) for x in xs])
    assert all(ran)


def test_slow_drift_adds_up_against_the_last_model_frame():
    # 1 px a frame at 720p: below the trigger from one frame to the next, but the reference is the frame
    # the model last ran on, so the drift triggers a run well before the 15-frame maximum.
    xs = [320 + 0.5 * i for i in range(30)]
    frames = [scene(x) for x in xs]
    schedule = ModelSchedule()
    schedule.due(frames[0])
    schedule.ran(disc_mask(xs[0]))
    assert schedule.due(frames[1]) is False and schedule.last_change < TRIGGER_COUNT
    ran = run_schedule(frames, [disc_mask(x) for x in xs])
    gaps = np.diff([i for i, r in enumerate(ran) if r])
    assert len(gaps) >= 3 and gaps.max() < 15


def test_a_change_at_the_persons_edge_counts_more_than_inside_or_in_the_room():
    base = scene()
    mask = disc_mask()
    weights = change_weights(mask, (36, 64))
    assert weights[20, 32] < weights[20, 32 - 9] == weights.max()  # centre vs left edge of the disc

    def change_with_patch(x, y):
        schedule = ModelSchedule()
        schedule.due(base)
        schedule.ran(mask)
        frame = base.copy()
        frame[y - 25:y + 25, x - 25:x + 25] = 255 - frame[y - 25:y + 25, x - 25:x + 25]  # a hand's size
        return schedule.due(frame), schedule.last_change

    at_edge = change_with_patch(320 - 90, 200)
    inside = change_with_patch(320, 200)
    in_room = change_with_patch(75, 60)
    assert at_edge[0] and not inside[0] and not in_room[0]
    assert at_edge[1] > 2 * max(inside[1], in_room[1])


def test_a_light_change_runs_the_model_at_once():
    schedule = ModelSchedule()
    schedule.due(scene())
    schedule.ran(disc_mask())
    assert schedule.due(scene(level=25))  # the room light switched on


def test_every_n_mode_and_reset():
    schedule = ModelSchedule(ScheduleSettings(mode="every-n", every_n=3))
    frames = [scene()] * 7
    assert [i for i, r in enumerate(run_schedule(frames, [disc_mask()] * 7, schedule.settings)) if r] == [0, 3, 6]
    schedule.due(scene())
    schedule.ran(disc_mask())
    schedule.reset()
    motion = ModelSchedule()
    assert motion.due(scene())  # nothing to compare with after a reset


def test_runs_are_calm_when_the_model_runs_rarely_and_never_in_the_fixed_schedule():
    def calm_runs(frames, settings=None):
        schedule, calm = ModelSchedule(settings), []
        for index, frame in enumerate(frames):
            run = schedule.due(frame) or index == 0
            if run:
                calm.append(schedule.calm)
            schedule.ran(disc_mask()) if run else schedule.skipped()
        return calm

    rng = np.random.default_rng(2)
    still = [scene(noise=rng) for _ in range(16)]            # runs on frames 0 and 15: far apart
    moving = [scene(320 + 6 * i, noise=rng) for i in range(1, 6)]  # runs on every frame
    assert calm_runs(still + moving) == [True, True, False, False, False, False, False]
    assert not any(calm_runs(still, ScheduleSettings(mode="every-n", every_n=5))[1:])  # spaced by choice


def test_settings_are_clamped():
    s = ScheduleSettings(mode="sometimes", every_n=0, max_interval=10_000).clamped()
    assert (s.mode, s.every_n, s.max_interval) == ("motion", 1, 300)


def test_app_settings_take_the_schedule_defaults_from_schedule_settings():
    assert AppSettings().schedule_settings() == ScheduleSettings()
    assert AppSettings().model_schedule == "motion"
    loaded = AppSettings.from_dict({"model_schedule": "every-n", "model_every_n": "3", "model_max_interval": "0"})
    assert loaded.schedule_settings() == ScheduleSettings("every-n", 3, 1)
    assert AppSettings.from_dict({"model_schedule": "never"}).model_schedule == "motion"


# --- in the pipeline ---------------------------------------------------------------------------
@pytest.fixture
def make_pipeline(mean_model):
    def make(**kw):
        compositor = Compositor()
        compositor.set_color((0, 0, 255))
        refiner = MatteRefiner(MatteSettings(threshold=0.5, softness=0.0, feather=0.0, smoothing=0.0))
        return Pipeline(Segmenter(mean_model, threads=1), refiner, compositor, **kw)
    return make


def test_pipeline_defaults_to_motion_gating(make_pipeline):
    pipeline = make_pipeline()
    assert pipeline.schedule.settings == AppSettings().schedule_settings()
    for _ in range(16):
        pipeline.process(scene())
    assert pipeline.model_runs == 2  # frames 0 and 15
    pipeline.model_every_n = 2  # the fixed schedule, as before
    assert pipeline.schedule.settings.mode == "every-n"


def test_the_pipeline_takes_two_looks_on_calm_runs_only(make_pipeline):
    pipeline = make_pipeline()
    looks = []
    infer = pipeline.segmenter.infer
    pipeline.segmenter.infer = lambda tensor, rect, calm=False: looks.append(calm) or infer(tensor, rect, calm=calm)
    rng = np.random.default_rng(3)
    for frame in [scene(noise=rng) for _ in range(16)] + [scene(320 + 6 * i, noise=rng) for i in range(1, 4)]:
        pipeline.process(frame)
    # Frame 0 (a whole look, then a closer one) and frame 15 are calm; then motion, a run every frame.
    assert looks == [True, True, True, False, False, False]
    pipeline.segmenter.mirror_when_calm = False  # --no-mirror-average: never asked
    pipeline.process(scene(340, noise=rng))
    assert looks[-1] is False


def test_gated_matte_follows_motion_like_the_model_on_every_frame(make_pipeline):
    rng = np.random.default_rng(2)
    # Still, then a move of 6 px a frame at 720p, then still again.
    xs = [320.0] * 10 + [320.0 + 3 * i for i in range(1, 21)] + [380.0] * 10
    frames = [scene(x, noise=rng) for x in xs]
    gated, every = make_pipeline(), make_pipeline(model_every_n=1)
    for pipeline in (gated, every):  # the schedule alone: both look at the whole frame every run
        pipeline.region.enabled = False
    ious = []
    for frame in frames:
        gated.process(frame)
        every.process(frame)
        a, b = gated.last_alpha >= 128, every.last_alpha >= 128
        ious.append((a & b).sum() / (a | b).sum())
    assert min(ious[10:30]) > 0.995  # the moving frames: no lag
    assert gated.model_runs < every.model_runs - 10  # and the still ones saved model runs


def test_frames_that_reuse_the_mask_say_so(make_pipeline):
    pipeline = make_pipeline()
    pipeline.process(scene())
    assert pipeline.model_ran
    pipeline.process(scene())
    assert not pipeline.model_ran


def test_an_unchanged_picture_reuses_the_matte_but_blends_its_own_pixels(make_pipeline):
    rng = np.random.default_rng(3)
    pipeline = make_pipeline()
    pipeline.process(scene(noise=rng))
    refined = pipeline.last_alpha.copy()
    frame = scene(noise=rng)  # new sensor noise only
    out, timings = pipeline.process(frame)
    assert pipeline.matte_reused and not pipeline.model_ran
    assert np.array_equal(pipeline.last_alpha, refined)
    person = refined == 255
    assert np.array_equal(out[person], frame[person])  # this frame's pixels, not the last one's
    assert np.all(out[refined == 0] == (0, 0, 255))


def test_an_edge_moved_by_one_pixel_is_refined_again_without_a_model_run(make_pipeline):
    rng = np.random.default_rng(4)
    pipeline = make_pipeline()
    pipeline.process(scene(noise=rng))
    pipeline.process(scene(320.5, noise=rng))  # 1 px at 720p: under the model's trigger
    assert not pipeline.model_ran and not pipeline.matte_reused
    x, y, w, h = pipeline.last_rect  # where the model looked
    fresh = np.zeros((H, W), np.uint8)
    fresh[y:y + h, x:x + w] = MatteRefiner(pipeline.refiner.settings).refine(
        pipeline.last_mask, scene(320.5)[y:y + h, x:x + w], np.uint8)
    assert np.count_nonzero(pipeline.last_alpha != fresh) < 0.001 * fresh.size  # noise aside, the same


@pytest.mark.parametrize("where", ["room", "inside"])
def test_a_change_away_from_the_edge_keeps_the_matte_but_not_the_blurred_room(make_pipeline, where):
    """The matte depends on the frame only around the cut-out's edge: a change in the room or inside
    the person (a lamp, a talking mouth) keeps it, with no model run; the blurred room, which sees the
    room, is built again from the new frame."""
    rng = np.random.default_rng(6)
    pipeline = make_pipeline()
    pipeline.compositor.set_blur(20)
    pipeline.process(scene(noise=rng))
    before, _ = pipeline.process(scene(noise=rng))  # noise only: matte and blurred room reused
    assert pipeline.matte_reused
    matte = pipeline.last_alpha.copy()
    frame = scene(noise=rng)
    # 5 x 7 or 5 x 8 thumbnail pixels changed: over the layers' trigger, under the model's (0.3 a pixel). The
    # room's patch is inside the model's crop: beside it, the same change is someone stepping in
    # for all the gate can tell, and runs the model (test_someone_popping_up_beside_...).
    patch = (slice(270, 320), slice(160, 230)) if where == "room" else (slice(175, 225), slice(280, 360))
    frame[patch] = np.clip(frame[patch].astype(int) + 60, 0, 255)
    out, _ = pipeline.process(frame)
    assert not pipeline.model_ran and pipeline.matte_reused
    assert np.array_equal(pipeline.last_alpha, matte)
    if where == "room":  # the blurred room brightened where the room did
        assert out[patch].mean() > before[patch].mean() + 20
    else:  # the person's own new pixels
        assert np.array_equal(out[patch][matte[patch] == 255], frame[patch][matte[patch] == 255])
    pipeline.process(frame)  # and the next frame, unchanged since, reuses the rebuilt layers
    assert pipeline.matte_reused and pipeline.compositor._blur_cache is not None


@pytest.mark.parametrize("steady", [False, True])
def test_steady_edges_smooth_the_moving_matte_only_when_asked(make_pipeline, steady):
    """MatteSettings.steady_edges: the refined matte of a moving person is averaged with the last one,
    moved along (app/matting.MotionSmoother), and only at its edge; off (the default), the matte is
    the refiner's own and no history is kept."""
    import dataclasses

    rng = np.random.default_rng(7)
    pipeline = make_pipeline(model_every_n=1)
    pipeline.region.enabled = False
    pipeline.refiner.settings = dataclasses.replace(pipeline.refiner.settings, smoothing=0.5, steady_edges=steady)
    for i in range(6):
        frame = scene(300.0 + 4 * i, noise=rng)
        pipeline.process(frame)
    own = np.zeros((H, W), np.uint8)
    x, y, w, h = pipeline.last_rect
    refiner = MatteRefiner(pipeline.refiner.settings)
    own[y:y + h, x:x + w] = refiner.refine(pipeline.last_mask, frame[y:y + h, x:x + w], np.uint8)
    differs = pipeline.last_alpha != own
    assert (pipeline.smoother._alpha is not None) == steady
    if steady:
        assert differs.any()
        band = cv2.dilate(cv2.inRange(own, 1, 254), np.ones((11, 11), np.uint8)) > 0
        assert not differs[~band].any()  # nowhere but around the edge
    else:
        assert np.count_nonzero(differs) < 0.001 * differs.size  # its own matte (noise aside)


def test_changed_matte_settings_or_the_fixed_schedule_never_reuse_the_matte(make_pipeline):
    rng = np.random.default_rng(5)
    pipeline = make_pipeline()
    pipeline.process(scene(noise=rng))
    pipeline.refiner.settings = MatteSettings(threshold=0.3, softness=0.0, feather=0.0, smoothing=0.0)
    pipeline.process(scene(noise=rng))
    assert not pipeline.model_ran and not pipeline.matte_reused
    pipeline.process(scene(noise=rng))
    assert pipeline.matte_reused
    fixed = make_pipeline(model_every_n=3)
    for _ in range(3):
        fixed.process(scene(noise=rng))
        assert not fixed.matte_reused


# --- the command line: the same defaults as the window ----------------------------------------
def test_cli_schedule_defaults_come_from_app_settings():
    from app.headless import build_parser, schedule_settings

    parse = build_parser().parse_args
    assert schedule_settings(parse([])) == (AppSettings().schedule_settings(), None)
    assert schedule_settings(parse(["--model-every-n", "3"]))[0] == ScheduleSettings("every-n", 3, 15)
    settings, note = schedule_settings(parse(["--model-schedule", "motion", "--model-every-n", "3"]))
    assert settings.mode == "motion" and "--model-every-n 3" in note
    assert schedule_settings(parse(["--model-schedule", "every-n", "--model-max-interval", "30"]))[0] == \
        ScheduleSettings("every-n", AppSettings().model_every_n, 30)


def test_cli_summary_reports_latency_and_model_runs(capsys, tmp_path, mean_model):
    from app.headless import run
    from conftest import person_frames, write_video

    still = write_video(tmp_path / "still.mp4", [person_frames(1)[0]] * 20, fps=30.0)
    code = run(["-i", str(still), "-o", str(tmp_path / "out.mp4"), "--model", str(mean_model), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    line = next(line for line in err.splitlines() if line.startswith("Latency capture to output"))
    assert "p50" in line and "p95" in line and "flat out" in line  # a file: the overlapped halves
    assert "model ran on 2 of 20 frames (motion)" in line  # frames 0 and 15 of a still picture


def test_a_small_person_who_leaves_runs_the_model_at_once():
    # The last of a person walking out (or one far away) changes fewer thumbnail pixels than the
    # trigger counts, and the room showed through their old mask until the forced run half a second
    # later. Most of the person's own pixels changing runs the model.
    rng = np.random.default_rng(3)
    schedule = ModelSchedule()
    schedule.due(scene(radius=16, noise=rng))
    schedule.ran(disc_mask(radius=16))
    assert schedule.due(scene(radius=16, noise=rng)) is False  # there and still: no run
    gone = scene(radius=0, noise=rng)
    assert schedule.due(gone) is True
    assert schedule.last_change < TRIGGER_COUNT  # the weighted count alone would not have run it


def test_someone_stepping_in_beside_the_crop_is_told_apart_from_a_shimmering_room():
    # The model runs on a crop around the speaker; someone who stepped in beside them was cut out
    # until the next glance at the whole frame, which came every 15 model runs (7 s when still).
    rng = np.random.default_rng(4)
    crop = (160, 20, 320, 340)  # around the disc at the frame's centre
    schedule = ModelSchedule()
    schedule.due(scene(noise=rng))
    schedule.ran(disc_mask())
    newcomer = scene(noise=rng)
    newcomer[120:360, 540:620] = 230  # a person-sized blob at the side, outside the crop
    schedule.due(newcomer)
    assert schedule.moved_outside(crop, newcomer.shape)
    # The room's vertical edges shimmering a pixel (a camera's residual shake) change thin lines only.
    shimmer = scene(noise=rng)
    shimmer[:, 30:32] = 255
    shimmer[:, 600:602] = 255
    schedule.due(shimmer)
    assert not schedule.moved_outside(crop, shimmer.shape)
    # The speaker's own move changes the inside as much: no glance for that either.
    moved = scene(x=330, level=40, noise=rng)
    schedule.due(moved)
    assert not schedule.moved_outside(crop, moved.shape)


def test_motion_beside_the_crop_brings_the_glance_forward():
    from app.segmentation import PersonRegion

    region = PersonRegion()
    shape = (H, W, 3)
    region.update(disc_mask(), (0, 0, W, H), shape)  # a whole-frame run finds the person: a crop next
    crop = region.rect(shape)
    assert crop != (0, 0, W, H)
    x, y, w, h = crop
    region.update(disc_mask()[y // 2:(y + h) // 2, x // 2:(x + w) // 2], crop, shape)  # a run on the crop
    assert region.rect(shape) != (0, 0, W, H)
    assert not region.glance_due(shape)  # one run on the crop: the regular glance is 15 runs away
    assert region.glance_due(shape, motion_outside=True)


def test_after_a_cut_the_next_frame_is_looked_at_through_the_new_crop(make_pipeline):
    # A cut to another scene (the person elsewhere, then still): the cut frame's run looked through
    # the old crop, and the still frames after it kept that mask until the forced run half a second on.
    pipeline = make_pipeline()
    ran = []
    for frame in [scene(x=200, radius=60)] * 20 + [scene(x=470, radius=60)] * 10:
        pipeline.process(frame)
        ran.append(pipeline.model_ran)
    assert ran[20] and ran[21]  # the cut, then once more through the crop around the new place
    assert not any(ran[24:])  # settled within a couple of runs, then still: no more runs
    x, y, w, h = pipeline.last_rect
    assert x < 470 - 60 and x + w > 470 + 60  # the crop is where the person now is


def test_someone_walking_into_an_empty_room_runs_the_model_at_once():
    # With nobody in the last mask every changed thumbnail pixel weighed as the room does (0.3),
    # so someone walking in ran the model only once about a hundred of them had changed: the person
    # was cut away for five frames. Anyone who walks in brings an edge with them.
    rng = np.random.default_rng(6)
    schedule = ModelSchedule()
    schedule.due(scene(radius=0, noise=rng))
    schedule.ran(np.zeros((H // 2, W // 2), np.float32))  # the empty room
    assert schedule.due(scene(radius=0, noise=rng)) is False
    stepping_in = scene(x=0, radius=22, noise=rng)  # the first sliver of someone at the frame's side
    assert schedule.due(stepping_in) is True
    # Neither the room's weight nor a speaker's trigger would have run it (an empty room's is lower).
    assert schedule.last_change < TRIGGER_COUNT


def test_a_move_in_a_dim_room_counts_as_in_a_lit_one():
    # The gate counts grey levels: a room at a third of the light changes a third as many for the
    # same move, and the model ran on half the frames of a slow lean there (the matte lagged).
    rng = np.random.default_rng(8)
    xs = [320 + 2 * i for i in range(12)]  # 4 px a frame at 720p

    def dim(frame):
        return (frame * 0.35).astype(np.uint8)

    lit = run_schedule([scene(x, noise=rng) for x in xs], [disc_mask(x) for x in xs])
    dark = run_schedule([dim(scene(x, noise=rng)) for x in xs], [disc_mask(x) for x in xs])
    assert all(lit) and all(dark)
    still = [dim(scene(noise=rng)) for _ in range(16)]  # the noise of a dim still room: no runs
    assert [i for i, r in enumerate(run_schedule(still, [disc_mask()] * 16)) if r] == [0, 15]


def test_the_fixed_schedule_too_sees_someone_step_in_beside_the_crop():
    rng = np.random.default_rng(9)
    schedule = ModelSchedule(ScheduleSettings(mode="every-n", every_n=2))
    schedule.due(scene(noise=rng))
    schedule.ran(disc_mask())
    newcomer = scene(noise=rng)
    newcomer[120:360, 540:620] = 230
    schedule.due(newcomer)
    assert schedule.moved_outside((160, 20, 320, 340), newcomer.shape)
    assert not schedule.matte_unchanged()  # it still refines the matte on every frame


def test_a_crop_that_shows_nobody_is_checked_on_the_whole_frame_at_once():
    # A crop is made only around someone: nobody in it (the first sliver of a person walking in,
    # seen through the crop as a torso without a head, or someone who just left) is looked at again
    # on the whole frame in the same frame, not kept as an empty mask until the next run.
    from app.segmentation import PersonRegion

    region, shape = PersonRegion(), (H, W, 3)
    region.update(disc_mask(), (0, 0, W, H), shape)
    crop = region.rect(shape)
    assert crop != (0, 0, W, H)
    assert region.update(np.zeros((crop[3] // 2, crop[2] // 2), np.float32), crop, shape) is True
    assert region.rect(shape) == (0, 0, W, H)
    assert region.update(np.zeros((H // 2, W // 2), np.float32), (0, 0, W, H), shape) is False  # nobody


def test_when_the_others_leave_the_next_frame_is_looked_at_through_the_crop(make_pipeline):
    # Others beside the speaker: the model runs on the whole frame (at about half the pixels: a worse mask). When
    # they leave, the run that sees it chooses a crop around the other, and the still frames after it
    # kept the whole frame's mask until the forced run; the crop overlapped the whole frame by more
    # than RECROP_OVERLAP, so nothing asked for a look through it.
    def with_others(others: bool):
        frame = scene(radius=150)
        if others:
            cv2.circle(frame, (40, 300), 36, (200, 200, 200), -1, cv2.LINE_AA)
            cv2.circle(frame, (600, 300), 36, (200, 200, 200), -1, cv2.LINE_AA)
        return frame

    pipeline = make_pipeline()
    ran, rects = [], []
    for frame in [with_others(True)] * 16 + [with_others(False)] * 10:
        pipeline.process(frame)
        ran.append(pipeline.model_ran)
        rects.append(pipeline.last_rect)
    assert rects[15] == (0, 0, W, H)  # three people: the whole frame
    left = ran.index(True, 16)  # the run that saw them gone
    assert rects[left] == (0, 0, W, H) and ran[left + 1] and rects[left + 1] != (0, 0, W, H)
    assert not any(ran[left + 2:])  # then still: no more runs


def test_a_sliver_of_someone_at_the_frames_side_gets_a_crop_of_the_frames_height():
    # Someone walking in shows a shoulder first: a crop made around it (the frame's bottom corner)
    # missed the head that came in above it, and through that crop the model called the headless
    # torso room (cut away for two frames). A narrow person at the frame's side gets a crop that
    # spans the frame's height; one wider than that, the crop around them.
    from app.segmentation import PersonRegion

    region, shape = PersonRegion(), (H, W, 3)
    shoulder = np.zeros((H // 2, W // 2), np.float32)
    shoulder[120:, :20] = 1.0  # 40 px wide at the left side, the lower third of the frame
    region.update(shoulder, (0, 0, W, H), shape)
    x, y, w, h = region.rect(shape)
    assert (y, h) == (0, H) and x == 0 and w < W
    wider = np.zeros((H // 2, W // 2), np.float32)
    wider[120:, :60] = 1.0  # a fifth of the frame wide: the crop around it
    region.update(wider, (0, 0, W, H), shape)
    assert region.rect(shape)[1] > 0


def test_the_first_still_frame_after_a_move_gets_one_more_look():
    # The last run of a move saw its last frame (a blur, someone half gone), and that mask was kept
    # until the forced run half a second on (a smear of room beside a still speaker for 14 frames).
    rng = np.random.default_rng(10)
    xs = [320 + 6 * i for i in range(5)] + [344] * 14
    ran = run_schedule([scene(x, noise=rng) for x in xs], [disc_mask(x) for x in xs])
    assert all(ran[:5]) and ran[5]  # the move, then one look at the still frame
    assert not any(ran[6:])  # and then none until the forced run
    # A lone run (a talking head's twitch) is no move: no extra look after it.
    twitch = [320] * 3 + [326] + [326] * 8
    ran = run_schedule([scene(x, noise=rng) for x in twitch], [disc_mask(x) for x in twitch])
    assert [i for i, r in enumerate(ran) if r] == [0, 3]


def test_someone_popping_up_beside_a_still_speaker_runs_the_model_at_once(make_pipeline):
    # A child's head beside the crop changes a few thumbnail pixels of the room, each counted at the
    # room's weight: under the gate's trigger for 2-3 frames, cut out meanwhile; the look beside the
    # crop (a solid, dense blob of change) already knew.
    rng = np.random.default_rng(11)
    pipeline = make_pipeline()
    for _ in range(6):
        pipeline.process(scene(noise=rng))
    assert pipeline.last_rect != (0, 0, W, H) and not pipeline.model_ran
    child = scene(noise=rng)
    child[300:360, 540:600] = 220  # 6 x 6 thumbnail pixels beside the crop
    assert pipeline.schedule.due(child) is False  # the gate alone would not run the model
    pipeline.schedule.skipped()
    pipeline.process(child)
    assert pipeline.model_ran
