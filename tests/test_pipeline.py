import numpy as np
import pytest

from app.compositing import Compositor
from app.matting import MatteRefiner, MatteSettings
from app.pipeline import STAGES, Pipeline
from app.segmentation import Segmenter
from conftest import FaultySegmenter, read_frames


@pytest.fixture
def pipeline(mean_model):
    compositor = Compositor()
    compositor.set_color((0, 0, 255))
    refiner = MatteRefiner(MatteSettings(threshold=0.5, softness=0.0, feather=0.0, smoothing=0.0))
    # The model on every frame (the fixed schedule): these tests are about what each model run does.
    return Pipeline(Segmenter(mean_model, threads=1), refiner, compositor, model_every_n=1)


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


@pytest.mark.parametrize("mode", ["raise", "nan", "shape", "huge"])
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

    video = write_video(tmp_path / "bg.avi", level_frames(2), fps=15.0)
    pipeline.compositor.set_video(video)
    pipeline.compositor.output_fps = 15.0  # a frame of the video for each frame processed
    pipeline.process(room_frame())
    pipeline.process(room_frame())
    video.unlink()  # the loop reopens the file at its end, and finds it gone
    with pytest.raises(BackgroundError):
        for _ in range(3):
            pipeline.process(room_frame())
    assert pipeline.compositor.mode == "blur"


# --- fail closed: impossible and all-person masks (issue 15) -----------------------------------
def make_hostile_model(path, kind):
    """A real ONNX model that passes Segmenter's load-time checks (its probe input has R < G < B at
    every pixel) and then misbehaves on frames: "ones" calls every pixel person; "red" answers the
    mean brightness plus 1e30 wherever red exceeds blue, a finite but impossible probability."""
    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])
    out = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1, "H", "W"])
    inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
             helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
             helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
             helper.make_tensor("huge", TensorProto.FLOAT, [], [1e30]),
             helper.make_tensor("r_minus_b", TensorProto.FLOAT, [1, 3, 1, 1], [1.0, 0.0, -1.0])]
    nodes = [helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=1)]
    if kind == "ones":
        nodes += [helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
                  helper.make_node("Add", ["nothing", "one"], ["mask"])]
    else:
        nodes += [helper.make_node("Conv", ["image", "r_minus_b"], ["redness"]),
                  helper.make_node("Relu", ["redness"], ["red"]),
                  helper.make_node("Mul", ["red", "huge"], ["boom"]),
                  helper.make_node("Add", ["mean", "boom"], ["mask"])]
    graph = helper.make_graph(nodes, kind, [inp], [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def colour_pipeline(model_path, colour=(0, 0, 255)):
    compositor = Compositor()
    compositor.set_color(colour)
    refiner = MatteRefiner(MatteSettings(threshold=0.5, softness=0.0, feather=0.0, smoothing=0.0))
    return Pipeline(Segmenter(model_path, threads=1), refiner, compositor, model_every_n=1)


def test_a_model_answering_impossible_values_fails_closed_not_clipped(tmp_path):
    from app.segmentation import ModelError

    pipeline = colour_pipeline(make_hostile_model(tmp_path / "red.onnx", "red"))  # loads: probe is fine
    good, _ = pipeline.process(room_frame())  # grey and white: R == B, a plausible mask
    assert pipeline.last_error is None
    red_room = room_frame()
    red_room[..., 2] = 250  # BGR: red everywhere, so the model answers 1e30 (was clipped to 1)
    out, _ = pipeline.process(red_room)
    assert pipeline.last_error and "outside" in pipeline.last_error
    assert np.array_equal(out, good)  # the last good composite, not the red room
    # The segmenter itself refuses such a mask instead of clipping it.
    with pytest.raises(ModelError, match="outside"):
        pipeline.segmenter.segment(red_room)


def test_a_model_answering_impossible_values_on_its_probe_does_not_load(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from app.segmentation import ModelError

    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 224, 224])
    out = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1, 224, 224])
    inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
             helper.make_tensor("k", TensorProto.FLOAT, [], [3.0])]
    nodes = [helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=1),
             helper.make_node("Mul", ["mean", "k"], ["mask"])]  # up to 3: no probability
    model = helper.make_model(helper.make_graph(nodes, "x3", [inp], [out], initializer=inits),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(tmp_path / "x3.onnx"))
    with pytest.raises(ModelError, match="x3.onnx.*outside"):
        Segmenter(tmp_path / "x3.onnx", threads=1)


def test_all_person_masks_give_the_background_alone_and_then_a_warning(tmp_path):
    from app.pipeline import ALL_PERSON_RUNS

    pipeline = colour_pipeline(make_hostile_model(tmp_path / "ones.onnx", "ones"))
    pipeline.model_every_n = 2  # a reused all-person mask is held back too
    for index in range(2 * ALL_PERSON_RUNS + 2):
        out, _ = pipeline.process(room_frame())
        assert pipeline.last_error is None  # not a processing failure: the job goes on
        assert np.all(out == np.array([0, 0, 255], np.uint8)), f"frame {index}: the room went out"
        runs = pipeline.model_runs
        assert (pipeline.warning is not None) == (runs >= ALL_PERSON_RUNS), (runs, pipeline.warning)
    assert "whole picture" in pipeline.warning


def test_a_still_source_warns_on_its_first_all_person_run(tmp_path):
    pipeline = colour_pipeline(make_hostile_model(tmp_path / "ones.onnx", "ones"))
    pipeline.still_source = True  # a photo: every run sees the same picture
    out, _ = pipeline.process(room_frame())
    assert np.all(out == np.array([0, 0, 255], np.uint8))
    assert pipeline.model_runs <= 2 and "whole picture as you, so the background alone" in pipeline.warning
    assert "times in a row" not in pipeline.warning


def test_all_person_state_ends_with_the_first_plausible_mask(pipeline):
    from app.pipeline import ALL_PERSON_RUNS

    real = pipeline.segmenter
    pipeline.segmenter = FaultySegmenter(real, 1, "ones")
    for _ in range(ALL_PERSON_RUNS):
        out, _ = pipeline.process(room_frame())
    assert pipeline.warning and np.all(out == np.array([0, 0, 255], np.uint8))
    pipeline.reset()  # a source switch does not hide the warning while the model still says so
    pipeline.process(room_frame())
    assert pipeline.warning
    pipeline.segmenter = real
    out, _ = pipeline.process(room_frame())
    assert pipeline.warning is None and not pipeline.all_person and pipeline.all_person_runs == 0
    assert np.all(out[:, :70] == 255) and np.all(out[:, 90:] == np.array([0, 0, 255], np.uint8))


def test_a_person_filling_most_of_the_frame_is_not_all_person(pipeline):
    frame = np.full((120, 160, 3), 255, np.uint8)
    frame[:, :4] = 0  # 2.5 % of the picture is room: a plausible close-up
    for _ in range(40):
        out, _ = pipeline.process(frame)
    assert pipeline.warning is None and not pipeline.all_person
    assert np.all(out[:, 8:] == 255)


def test_opencv_works_on_one_thread_up_to_720p_and_with_its_pool_above(pipeline):
    import cv2

    from app.imaging import LIBRARY_THREADS

    try:
        pipeline.process(np.zeros((720, 1280, 3), np.uint8))
        assert cv2.getNumThreads() == 1
        pipeline.process(np.zeros((1080, 1920, 3), np.uint8))
        assert cv2.getNumThreads() == LIBRARY_THREADS
        pipeline.process(np.zeros((360, 640, 3), np.uint8))  # a smaller source again: back to one
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(LIBRARY_THREADS)


def sample_clip_frames(count):
    from app.resources import SAMPLE_CLIP
    return read_frames(SAMPLE_CLIP)[:count]


def default_pipeline(segmenter=None):
    from app.settings import AppSettings
    settings = AppSettings()
    compositor = Compositor()
    settings.apply_background(compositor)
    return Pipeline(segmenter or Segmenter(threads=1), MatteRefiner(settings.matte_settings()), compositor,
                    schedule=settings.schedule_settings())


@pytest.mark.parametrize("ahead", [1, 3])
def test_overlapped_halves_give_the_frames_of_process_in_order(ahead):
    # The shipped model and the app's defaults (motion gating, region crop, temporal matte) on the
    # sample clip: the next frame's segment() on a worker thread while this one finishes must not
    # change a single output pixel, nor which frames ran the model.
    from app.pipeline import OverlappedFrames
    frames = sample_clip_frames(40)
    sequential = default_pipeline()
    expected = [sequential.process(frame)[0] for frame in frames]
    overlapped = default_pipeline()
    results = list(OverlappedFrames(overlapped, ahead)((frame, index) for index, frame in enumerate(frames)))
    assert [tag for _, _, tag in results] == list(range(len(frames)))
    assert all(np.array_equal(out, want) for (out, _, _), want in zip(results, expected))
    assert overlapped.model_runs == sequential.model_runs and 1 < sequential.model_runs < len(frames)
    assert all(timings["matte"] > 0 for _, timings, _ in results)


def test_overlapped_halves_fail_closed_and_recover():
    from app.pipeline import OverlappedFrames
    frames = sample_clip_frames(12)
    real = Segmenter(threads=1)
    faulty = FaultySegmenter(real, at=3, mode="nan")
    pipeline = default_pipeline(faulty)
    pipeline.model_every_n = 1
    outputs = []
    for index, (out, _, frame) in enumerate(OverlappedFrames(pipeline)((f, f) for f in frames)):
        outputs.append(out)
        if index == 6:
            pipeline.segmenter = real  # the model recovers; segment() of frame 7 may already be done
        if 2 <= index <= 6:
            assert pipeline.last_error and np.array_equal(out, outputs[1])  # the last good composite
            assert not np.array_equal(out, frame)
    assert pipeline.last_error is None and not np.array_equal(outputs[-1], outputs[1])


_FRAME_MEMORY_SCRIPT = """
import resource, sys
import numpy as np
if sys.argv[1] == "kept":
    from app.imaging import keep_image_memory
    assert keep_image_memory()
def frame():  # a frame's worth of image-sized temporaries, all alive at once, then freed
    images = [np.ones((180, 320, 4), np.float32) for _ in range(24)]
    return sum(float(image[0, 0, 0]) for image in images)
frame()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    frame()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_image_memory_is_kept_for_the_next_frame_on_glibc():
    """Without keep_image_memory glibc returns a frame's freed images to the kernel, and the next
    frame takes them back a page fault per 4 KiB (the matte's CPU time went up by a quarter); with
    it, frames after the first reuse the memory. In fresh processes: the setting is process-wide."""
    import os
    import platform
    import subprocess
    import sys
    from pathlib import Path

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's allocator only")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    root = str(Path(__file__).resolve().parents[1])
    faults = {}
    for how in ("plain", "kept"):
        done = subprocess.run([sys.executable, "-c", _FRAME_MEMORY_SCRIPT, how], capture_output=True, text=True,
                              env=env, cwd=root, check=True)
        faults[how] = int(done.stdout.split()[-1])
    per_frame = 24 * 180 * 320 * 4 * 4 // 4096  # pages of one frame's images
    assert faults["plain"] > 10 * per_frame  # taken back from the kernel, frame after frame
    assert faults["kept"] < per_frame        # reused


def test_a_pipeline_keeps_image_memory():
    from app.imaging import keep_image_memory

    keep_image_memory.cache_clear()
    Pipeline(Segmenter(), MatteRefiner(), Compositor())
    assert keep_image_memory.cache_info().currsize == 1


def test_a_still_sources_edge_colour_is_estimated_finer(mean_model, monkeypatch):
    # The compositor makes a photo's edge layers finer (models/MODEL_CARD.md, session 32, rule 9):
    # the pipeline tells it, frame by frame, whether the source repeats one picture.
    import app.compositing as compositing
    seen = []
    real = compositing.estimate_foreground_means
    monkeypatch.setattr(compositing, "estimate_foreground_means",
                        lambda frame, alpha, pyramid=None, still=False: seen.append(still) or real(frame, alpha, pyramid, still))
    compositor = Compositor()
    compositor.set_color((0, 0, 255))
    pipeline = Pipeline(Segmenter(mean_model), MatteRefiner(), compositor)  # a soft edge: layers to make
    pipeline.process(room_frame(360, 640))
    pipeline.reset()
    pipeline.still_source = True
    pipeline.process(room_frame(360, 640))
    assert seen == [False, True]


def test_a_photos_matte_has_no_faint_specks_apart_from_the_person():
    # The bundled portrait on a plain colour showed a dotted line of faint pink beside the hat: the
    # full-size finish gave single pixels of the flag's gold stripe alpha 20-74, with zeros between
    # them and the hat (models/MODEL_CARD.md, session 32, rule 10).
    from pathlib import Path

    import cv2

    from app import segmentation
    portrait = cv2.imread(str(Path(__file__).resolve().parent.parent / "assets" / "samples" / "portrait.jpg"))
    segmenter = Segmenter(segmentation.DEFAULT_MODEL_PATH, threads=1)
    segmenter.use_looks(True)
    pipeline = Pipeline(segmenter, MatteRefiner(), Compositor())
    pipeline.compositor.set_color((255, 0, 255))
    pipeline.still_source = True
    pipeline.process(portrait)
    stripe = pipeline.last_alpha[90:190, 128:141]  # the gold stripe, left of the hat's edge
    assert stripe.max() == 0, np.argwhere(stripe)
    assert pipeline.last_alpha[150:250, 200:300].min() == 255  # the face is whole
    count, labels = cv2.connectedComponents((pipeline.last_alpha > 0).astype(np.uint8), connectivity=8)
    cores = set(np.unique(labels[pipeline.last_alpha >= 128])) - {0}
    assert cores == set(range(1, count))  # every piece holds part of the person
