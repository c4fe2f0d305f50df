import numpy as np
import pytest

from app.compositing import Compositor
from app.matting import MatteRefiner, MatteSettings
from app.pipeline import STAGES, Pipeline
from app.segmentation import Segmenter


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
