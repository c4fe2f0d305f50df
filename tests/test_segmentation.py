from pathlib import Path

import cv2
import numpy as np
import pytest

from app import segmentation
from app.segmentation import ModelError, Segmenter, letterbox, letterbox_rect
from conftest import make_onnx_model

PORTRAIT = Path(__file__).resolve().parent.parent / "assets" / "samples" / "portrait.jpg"


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    return Segmenter(make_onnx_model(tmp_path_factory.mktemp("m") / "mean.onnx"), threads=1)


@pytest.mark.parametrize("size, rect", [
    ((1280, 720), (0, 49, 224, 126)),   # landscape 16:9
    ((720, 1280), (49, 0, 126, 224)),   # portrait
    ((300, 300), (0, 0, 224, 224)),     # square fills the input
    ((640, 480), (0, 28, 224, 168)),    # 4:3
    ((100, 1), (0, 111, 224, 2)),       # extreme aspect keeps at least the rounded size
])
def test_letterbox_geometry(segmenter, size, rect):
    assert segmenter.letterbox_geometry(*size) == rect


def test_preprocess_letterboxes_rgb_into_unit_range(segmenter):
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:] = (255, 0, 0)  # pure blue in BGR
    tensor, (x, y, w, h) = segmenter.preprocess(frame)
    assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == np.float32
    assert (x, y, w, h) == (0, 49, 224, 126)
    content = tensor[0, :, y:y + h, x:x + w]
    assert np.all(content[0] == 0.0) and np.all(content[1] == 0.0)  # R and G
    assert np.allclose(content[2], 1.0)                               # B, channel 2 in RGB
    # The bars repeat the picture's edge rows (never black): the model must not read the border of
    # the picture as the end of the person.
    assert y > 0 and np.array_equal(tensor[0, :, :y], np.repeat(tensor[0, :, y:y + 1], y, axis=1))
    below = tensor[0, :, y + h:]
    assert below.shape[1] > 0 and np.array_equal(below, np.repeat(tensor[0, :, y + h - 1:y + h], below.shape[1], axis=1))


def test_edge_padding_keeps_a_person_touching_the_bottom_edge(segmenter):
    # A bright shirt reaching the bottom of a 16:9 frame stays bright right down to the input's last
    # row; with black bars the mean model would see the person end where the bar begins.
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[400:, 500:800] = 255
    tensor, (x, y, w, h) = segmenter.preprocess(frame)
    column = tensor[0, :, :, (x + w) // 2].mean(axis=0)
    assert np.all(column[y + h - 10:] > 0.99)


def dynamic_model(path):
    return make_onnx_model(path, input_shape=("N", 3, "H", "W"), output_shape=("N", 1, "H", "W"))


@pytest.mark.parametrize("margin, size, input_hw, rect", [
    (0, (1280, 720), (128, 224), (0, 1, 224, 126)),   # 16:9: 224x128 instead of 224x224
    (0, (640, 480), (192, 224), (0, 12, 224, 168)),   # 4:3
    (0, (720, 1280), (224, 128), (1, 0, 126, 224)),   # portrait
    (0, (300, 300), (224, 224), (0, 0, 224, 224)),
    # The default: 16 px of repeated edge on every side, the content shrunk to make room.
    (16, (1280, 720), (160, 224), (16, 26, 192, 108)),
    (16, (640, 480), (192, 224), (16, 24, 192, 144)),  # same input size as without the margin
    (16, (720, 1280), (224, 160), (26, 16, 108, 192)),
    (16, (300, 300), (224, 224), (16, 16, 192, 192)),
])
def test_dynamic_model_gets_only_the_content(tmp_path, margin, size, input_hw, rect):
    seg = Segmenter(dynamic_model(tmp_path / "dynamic.onnx"), threads=1, margin=margin)
    assert seg.fit_content
    frame = np.full((size[1], size[0], 3), 255, np.uint8)
    tensor, got_rect = seg.preprocess(frame)
    assert tensor.shape[2:] == input_hw and got_rect == rect
    mask = seg.segment(frame)
    assert mask.shape == (rect[3], rect[2]) and np.allclose(mask, 1.0)


def test_the_default_margin_keeps_the_pictures_edge_off_the_networks_edge(tmp_path):
    seg = Segmenter(dynamic_model(tmp_path / "dynamic.onnx"), threads=1)
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, :20] = 200  # a bright left edge: the margin must repeat it
    tensor, (x, y, w, h) = seg.preprocess(frame)
    assert x >= 16 and y >= 16 and tensor.shape[3] - x - w >= 16 and tensor.shape[2] - y - h >= 16
    assert tensor[0, :, :, :x].min() > 0.5  # repeated edge, not a black bar


def _nan_model(path, threshold: float):
    """mask = sqrt(threshold - mean(RGB)): NaN wherever a pixel is brighter than `threshold`."""
    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 224, 224])
    out = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1, 224, 224])
    nodes = [helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=1),
             helper.make_node("Sub", ["threshold", "mean"], ["diff"]),
             helper.make_node("Sqrt", ["diff"], ["mask"])]
    init = [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
            helper.make_tensor("threshold", TensorProto.FLOAT, [], [threshold])]
    model = helper.make_model(helper.make_graph(nodes, "nan", [inp], [out], initializer=init),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_model_answering_nan_is_rejected_at_load(tmp_path):
    with pytest.raises(ModelError, match=r"nan.onnx.*NaN"):
        Segmenter(_nan_model(tmp_path / "nan.onnx", threshold=-1.0))


def test_nan_mid_stream_raises_model_error(tmp_path):
    # Fine on the load-time probe (mean brightness <= 0.67) and on dark frames; NaN on a white one.
    seg = Segmenter(_nan_model(tmp_path / "late_nan.onnx", threshold=0.95), threads=1)
    assert np.isfinite(seg.segment(np.zeros((480, 640, 3), np.uint8))).all()
    with pytest.raises(ModelError, match="NaN"):
        seg.segment(np.full((480, 640, 3), 255, np.uint8))


def test_segment_crops_mask_to_content(segmenter):
    # The mean-brightness model returns 1 for white and 0 for the black padding, so any
    # padding left in the crop would show up as zeros.
    white = np.full((720, 1280, 3), 255, np.uint8)
    mask = segmenter.segment(white)
    assert mask.shape == (126, 224) and mask.dtype == np.float32
    assert np.allclose(mask, 1.0)


def test_segment_keeps_left_right_alignment(segmenter):
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, :320] = 255
    mask = segmenter.segment(frame)
    assert mask.shape == (168, 224)
    assert np.allclose(mask[:, :100], 1.0) and np.allclose(mask[:, 124:], 0.0)


def test_session_options(tmp_path, mean_model):
    seg = Segmenter(mean_model, threads=1, graph_optimization="basic")
    assert seg.threads == 1
    assert Segmenter(mean_model).threads >= 1
    with pytest.raises(ValueError):
        Segmenter(mean_model, graph_optimization="turbo")


def test_missing_model_names_file(tmp_path):
    with pytest.raises(ModelError, match="absent.onnx"):
        Segmenter(tmp_path / "absent.onnx")


def test_truncated_model_names_file(tmp_path, mean_model):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(mean_model.read_bytes()[:60])
    with pytest.raises(ModelError, match="truncated.onnx"):
        Segmenter(truncated)


def test_garbage_model_names_file(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01not a protobuf at all" * 20)
    with pytest.raises(ModelError, match="garbage.onnx"):
        Segmenter(garbage)


def test_wrong_input_shape_model(tmp_path):
    path = make_onnx_model(tmp_path / "small.onnx", input_shape=("N", 3, 128, 128),
                           output_shape=("N", 1, 128, 128))
    with pytest.raises(ModelError, match=r"small.onnx.*input shape"):
        Segmenter(path)


def test_wrong_input_name_model(tmp_path):
    path = make_onnx_model(tmp_path / "named.onnx", input_name="input")
    with pytest.raises(ModelError, match=r"named.onnx.*'image'"):
        Segmenter(path)


def test_wrong_output_shape_model(tmp_path):
    # Identity returns 3 channels where the contract wants one.
    path = make_onnx_model(tmp_path / "threech.onnx", output_shape=("N", 3, 224, 224), op="identity")
    with pytest.raises(ModelError, match=r"threech.onnx.*mask shape"):
        Segmenter(path)


def test_default_model_path_points_into_models_folder():
    assert segmentation.DEFAULT_MODEL_PATH.name == "portraitnet.onnx"
    assert segmentation.DEFAULT_MODEL_PATH.parent.name == "models"


@pytest.mark.skipif(not segmentation.DEFAULT_MODEL_PATH.is_file(), reason="bundled model not present")
def test_bundled_model_meets_the_interface():
    # Interface only; accuracy is tested in test_model.py.
    segmenter = Segmenter(threads=1)
    mask = segmenter.segment(np.zeros((720, 1280, 3), np.uint8))
    _, _, width, height = segmenter.letterbox_geometry(1280, 720)
    assert mask.shape == (height, width) == (108, 192) and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0


@pytest.mark.parametrize("size, k", [((1280, 720), 4), ((1920, 1080), 8), ((641, 359), 2), ((640, 480), 2), ((300, 200), 1)])
def test_big_reductions_go_through_halvings_to_block_averages(size, k):
    from app.imaging import reduce_by_power_of_two

    width, height = size
    frame = cv2.resize(cv2.imread(str(PORTRAIT)), (width, height), interpolation=cv2.INTER_CUBIC)
    _, _, content_w, content_h = letterbox_rect(width, height, 224)
    reduced = reduce_by_power_of_two(frame, content_h, content_w)
    assert reduced.shape[:2] == (height // k, width // k)
    if k > 1 and width % k == 0 and height % k == 0:  # the mean of its k x k block (rounded at each halving)
        block = frame[:k, k : 2 * k].reshape(-1, 3).mean(0)
        assert np.allclose(reduced[0, 1], block, atol=1.01)
    two_step, _ = letterbox(frame, 224)
    scale = 224 / max(width, height)
    direct = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    y = (224 - direct.shape[0]) // 2
    content = two_step[y : y + direct.shape[0]]
    # Not identical (the second step weighs block means, not pixels) but close on a real, sharp photo.
    assert np.abs(content.astype(int) - direct).mean() < 4.0


@pytest.mark.skipif(not segmentation.DEFAULT_MODEL_PATH.is_file(), reason="bundled model not present")
def test_mirror_averaging_answers_a_mirrored_picture_with_the_mirrored_mask():
    """With mirror averaging (photos) the answer no longer depends on which way the picture faces:
    the real network alone is not mirror-symmetric, so this fails without it."""
    frame = cv2.imread(str(PORTRAIT))
    seg = Segmenter(segmentation.DEFAULT_MODEL_PATH, threads=1)
    plain, plain_mirrored = seg.segment(frame), seg.segment(frame[:, ::-1].copy())
    assert np.abs(plain - plain_mirrored[:, ::-1]).max() > 0.01  # the network alone is not symmetric
    seg.mirror_average = True
    mask, mirrored = seg.segment(frame), seg.segment(frame[:, ::-1].copy())
    assert mask.shape == plain.shape and mask.dtype == np.float32
    np.testing.assert_allclose(mask, mirrored[:, ::-1], atol=1e-5)
    # ... and it is the mean of the two plain answers, not some other blend.
    np.testing.assert_allclose(mask, (plain + plain_mirrored[:, ::-1]) / 2, atol=1e-5)


def test_the_mirrored_look_runs_beside_the_plain_one_and_its_failure_is_the_runs(mean_model):
    import threading

    seg = Segmenter(mean_model, threads=1)
    seg.mirror_average = True
    tensor, rect = seg.preprocess(np.zeros((90, 160, 3), np.uint8))
    threads, run = [], seg._run_checked

    def recording(tensor, failure):
        threads.append(threading.current_thread().name)
        return run(tensor, failure)
    seg._run_checked = recording
    seg.infer(tensor, rect)
    assert len(threads) == 2 and threads[0] != threads[1]  # the frame waits for about one run
    calls = []

    def failing_mirror(tensor, failure):
        calls.append(tensor)
        if len(calls) == 1:  # whichever look fails first (they race), the run fails with it
            raise segmentation.ModelError(f"{failure}: broken")
        return run(tensor, failure)
    seg._run_checked = failing_mirror
    with pytest.raises(segmentation.ModelError, match="broken"):
        seg.infer(tensor, rect)


@pytest.mark.skipif(not segmentation.DEFAULT_MODEL_PATH.is_file(), reason="bundled model not present")
def test_a_photos_looks_average_the_answers_at_both_input_sizes():
    frame = cv2.imread(str(PORTRAIT))
    seg = Segmenter(segmentation.DEFAULT_MODEL_PATH, threads=1)
    seg.mirror_average = True
    tensor, rect = seg.preprocess(frame)
    first = seg.infer(tensor, rect)
    assert seg.average_other_sizes(first, frame) is first  # no other sizes: the first answer
    big_tensor, big_rect = seg.preprocess(frame, segmentation.PHOTO_EXTRA_INPUT_SIZES[0])
    big = seg.infer(big_tensor, big_rect)
    assert big.shape[1] > first.shape[1]  # the picture is seen larger there
    seg.use_photo_looks(True)
    assert seg.mirror_average and seg.extra_input_sizes == segmentation.PHOTO_EXTRA_INPUT_SIZES
    averaged = seg.average_other_sizes(first, frame)
    expected = (first + cv2.resize(big, (first.shape[1], first.shape[0]), interpolation=cv2.INTER_LINEAR)) / 2
    assert averaged.shape == first.shape and averaged.dtype == np.float32
    np.testing.assert_allclose(averaged, expected, atol=1e-6)
    seg.use_photo_looks(False)  # video: one plain run, two looks only on a run its caller calls calm
    assert not seg.mirror_average and seg.extra_input_sizes == ()
    np.testing.assert_allclose(seg.infer(tensor, rect), first_plain := seg.infer(tensor, rect))
    calm = seg.infer(tensor, rect, calm=True)
    np.testing.assert_allclose(calm, first, atol=1e-6)  # the mirror-averaged answer
    assert np.abs(calm - first_plain).max() > 0.01
    seg.use_looks(False, calm=False)  # --no-mirror-average
    np.testing.assert_allclose(seg.infer(tensor, rect, calm=True), first_plain)
