import numpy as np
import pytest

from app.compositing import Compositor
from app.matting import MatteRefiner, MatteSettings
from app.pipeline import STAGES, Pipeline
from app.segmentation import Segmenter
from conftest import FaultySegmenter


@pytest.fixture
def pipeline(mean_model):
    compositor = Compositor()
    compositor.set_color((0, 0, 255))
    refiner = MatteRefiner(MatteSettings(threshold=0.5, softness=0.0, feather=0.0, smoothing=0.0))
    return Pipeline(Segmenter(mean_model, threads=1), refiner, compositor)


def half_white_frame(height=120, width=160):
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:, : width // 2] = 255
    return frame


def test_process_keeps_the_person_and_replaces_the_background(pipeline):
    # With the mean-brightness model, the white half is "person" and the black half background.
    out, timings = pipeline.process(half_white_frame())
    assert out.shape == (120, 160, 3) and out.dtype == np.uint8
    assert np.all(out[:, :70] == 255)
    assert np.all(out[:, 90:] == np.array([0, 0, 255], np.uint8))
    assert set(timings) == set(STAGES)
    assert all(value >= 0.0 for value in timings.values())
    assert pipeline.last_alpha.shape == (120, 160)


def test_model_runs_every_nth_frame_and_mask_is_reused(pipeline):
    pipeline.model_every_n = 3
    inference = []
    for _ in range(7):
        _, timings = pipeline.process(half_white_frame())
        inference.append(timings["inference"])
    assert pipeline.model_runs == 3  # frames 0, 3 and 6
    assert [value == 0.0 for value in inference] == [False, True, True, False, True, True, False]


def test_reused_mask_is_still_applied_to_the_new_frame(pipeline):
    pipeline.model_every_n = 2
    pipeline.process(half_white_frame())
    grey = np.full((120, 160, 3), 90, np.uint8)  # the model would call all of it background
    out, _ = pipeline.process(grey)
    assert pipeline.model_runs == 1
    assert np.all(out[:, :70] == 90)  # old mask: left half still "person"
    assert np.all(out[:, 90:] == np.array([0, 0, 255], np.uint8))


def test_frame_size_change_runs_the_model_at_once(pipeline):
    pipeline.model_every_n = 10
    pipeline.process(half_white_frame())
    out, timings = pipeline.process(half_white_frame(90, 200))
    assert pipeline.model_runs == 2 and out.shape == (90, 200, 3)


def test_reset_forces_a_model_run(pipeline):
    pipeline.model_every_n = 10
    pipeline.process(half_white_frame())
    pipeline.reset()
    pipeline.process(half_white_frame())
    assert pipeline.model_runs == 2


def test_model_every_n_is_at_least_one(pipeline):
    pipeline.model_every_n = 0
    assert pipeline.model_every_n == 1


# --- fail closed: a failing frame never puts the raw camera picture out (issue 10) -------------
def room_frame(height=120, width=160):
    """A 'room' the user wants hidden: every pixel different from the backgrounds used here."""
    frame = np.full((height, width, 3), 90, np.uint8)  # dark: background to the mean model
    frame[:, : width // 2] = 255  # the mean model's "person"
    frame[::7, width // 2:] = 20
    return frame


@pytest.mark.parametrize("mode", ["raise", "nan", "shape"])
@pytest.mark.parametrize("at", [1, 3])
def test_failing_segmentation_gives_last_good_or_background_never_the_frame(pipeline, mode, at):
    pipeline.segmenter = FaultySegmenter(pipeline.segmenter, at, mode)
    good = None
    for index in range(1, 5):
        frame = room_frame()
        out, _ = pipeline.process(frame)
        if index < at:
            good = out.copy()
            assert pipeline.last_error is None
            continue
        assert pipeline.last_error, "the failure must be reported"
        room = out[:, 90:]
        assert not np.any(np.all(room == frame[:, 90:], axis=-1)), "raw room pixels went out"
        if good is not None:
            assert np.array_equal(out, good)  # the last good composite
        else:
            assert np.all(out == np.array([0, 0, 255], np.uint8))  # the background alone
    assert pipeline.failures == 4 - at + 1


def test_a_malformed_frame_gives_a_safe_picture(pipeline):
    good, _ = pipeline.process(room_frame())
    for bad in (np.zeros((120, 160), np.uint8), np.zeros((120, 160, 4), np.uint8),
                np.zeros((0, 160, 3), np.uint8), np.zeros((120, 160, 3), np.float32)):
        out, _ = pipeline.process(bad)
        assert pipeline.last_error and np.array_equal(out, good)


def test_blur_background_alone_hides_the_room(pipeline):
    pipeline.compositor.set_blur(40)
    pipeline.segmenter = FaultySegmenter(pipeline.segmenter, 1, "raise")
    frame = room_frame()
    out, _ = pipeline.process(frame)
    # Fully blurred: the one-pixel stripes of the room are gone.
    assert pipeline.last_error and out[:, 100:].std() < frame[:, 100:].std() / 4


def test_processing_recovers_after_a_failure(pipeline):
    pipeline.segmenter = FaultySegmenter(pipeline.segmenter, 2, "nan")
    pipeline.process(room_frame())
    pipeline.process(room_frame())
    assert pipeline.last_error
    pipeline.segmenter = pipeline.segmenter.segmenter
    out, _ = pipeline.process(room_frame())
    assert pipeline.last_error is None and np.all(out[:, 90:] == np.array([0, 0, 255], np.uint8))


def test_vanished_background_video_falls_back_to_blur_not_to_the_room(tmp_path, pipeline):
    from app.compositing import BackgroundError
    from conftest import level_frames, write_video

    video = write_video(tmp_path / "bg.avi", level_frames(2))
    pipeline.compositor.set_video(video)
    pipeline.process(room_frame())
    pipeline.process(room_frame())
    video.unlink()  # the loop reopens the file at its end, and finds it gone
    with pytest.raises(BackgroundError):
        for _ in range(3):
            pipeline.process(room_frame())
    assert pipeline.compositor.mode == "blur"
