"""Training pieces that are easy to get subtly wrong: decoder grid alignment and the shifted views.

PyTorch is a training dependency (requirements-training.txt); CI installs it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is a training dependency (requirements-training.txt)")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from training.losses import (edge_alpha_loss, enclosed_background, hole_loss, overlap,  # noqa: E402
                             portraitnet_loss, shifted_consistency_loss, temporal_difference_loss)
from training.model import KerasAlignedUpsample, KerasStrideConv, PortraitNet, upsample2x  # noqa: E402


def keras_cell_centres(n: int) -> torch.Tensor:
    """Where a Keras stride-2 conv centres its n output cells, in input cells: the conv of an impulse."""
    conv = KerasStrideConv(1, 1, 3, 2, 0, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0  # centre tap only: output i copies the input cell it is centred on
    ramp = torch.arange(2 * n, dtype=torch.float32).view(1, 1, 1, 2 * n).expand(1, 1, 3, 2 * n).contiguous()
    return conv(ramp)[0, 0, 0]


def test_aligned_upsample_puts_cells_back_where_keras_took_them():
    centres = keras_cell_centres(8)
    assert centres.tolist() == [2 * i + 1 for i in range(8)]  # Keras: cell i sits on input cell 2i+1
    up = KerasAlignedUpsample(1)
    coarse = centres.view(1, 1, 1, 8).expand(1, 1, 2, 8).contiguous()
    fine = up(coarse)[0, 0, 0]
    # Upsampling the centres' coordinates must give each fine cell its own coordinate (linear in between),
    # except cell 0, which lies left of every centre and takes the first one (edge repeated, not halved).
    assert fine.shape[-1] == 16
    assert torch.allclose(fine[1:], torch.arange(1, 16, dtype=torch.float32))
    assert fine[0] == 1.0
    # The symmetric upsampler v2 used is off by half a coarse cell on the same ramp.
    symmetric = upsample2x(1)
    with torch.no_grad():
        taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
        symmetric.weight.copy_(torch.outer(taps, taps).view(1, 1, 4, 4))
    off = symmetric(coarse)[0, 0, 0][4:12] - torch.arange(4, 12, dtype=torch.float32)
    assert off.abs().min() >= 0.4


def test_match_gain_keeps_a_trained_symmetric_upsamplers_scale():
    trained = torch.rand(3, 1, 4, 4) * torch.tensor([0.5, 1.0, 3.0]).view(3, 1, 1, 1)
    up = KerasAlignedUpsample(3)
    up.match_gain(trained)
    flat = torch.ones(1, 3, 5, 5)
    reference = upsample2x(3)
    with torch.no_grad():
        reference.weight.copy_(trained)
    inner = reference(flat)[0, :, 2:-2, 2:-2].mean((1, 2))  # away from the zero-padded border
    assert torch.allclose(up(flat)[0].mean((1, 2)), inner, rtol=1e-5)


@pytest.mark.parametrize("arch", ["v2", "v3"])
def test_portraitnet_keeps_any_multiple_of_32(arch):
    net = PortraitNet(arch).eval()
    with torch.no_grad():
        for height, width in ((224, 224), (128, 224), (96, 160)):
            mask, edge = net(torch.rand(1, 3, height, width))
            assert mask.shape == edge.shape == (1, 2, height, width)


@pytest.mark.parametrize("offset", [-5, 0, 7])
def test_overlap_pairs_the_same_picture_pixel(offset):
    picture = np.arange(40)
    a, b = picture[10:30], picture[10 + offset : 30 + offset]
    in_a, in_b = overlap(20, offset)
    assert np.array_equal(a[in_a], b[in_b]) and len(a[in_a]) == 20 - abs(offset)


def test_shifted_consistency_is_zero_only_for_a_shift_equivariant_prediction():
    torch.manual_seed(0)
    scene = torch.randn(1, 2, 40, 40)
    a = scene[..., 5:35, 5:35]
    b = scene[..., 8:38, 3:33]  # view B starts 3 rows down and 2 columns left of view A
    shifts = torch.tensor([[3, -2]])
    assert shifted_consistency_loss(b, a, shifts) < 1e-6
    assert shifted_consistency_loss(b, a, torch.tensor([[0, 0]])) > 0.1
    weights = {"boundary": 0.1, "consistency": 2.0, "temperature": 1.0}
    labels = torch.zeros(1, 30, 30, dtype=torch.long)
    _, parts = portraitnet_loss((a, a), (b, b), labels, labels, weights, mask_b=labels, boundary_b=labels, shifts=shifts)
    assert parts["consistency"] < 1e-5
    # As the data set gives it: B's origin as float32 (PortraitPairs' "shift"), scale 1.
    _, parts = portraitnet_loss((a, a), (b, b), labels, labels, weights, mask_b=labels, boundary_b=labels,
                                shifts=shifts.float(), scales=torch.ones(1))
    assert parts["consistency"] < 1e-5


def test_export_folds_keras_padding_and_the_head_into_the_convs_and_keeps_the_numbers(tmp_path):
    onnx = pytest.importorskip("onnx")
    from training.export import export_onnx, max_abs_difference

    torch.manual_seed(0)
    net = PortraitNet("v3").eval()
    with torch.no_grad():  # trained kernels are not symmetric: a swapped tap or phase must show
        for upsampler in net.upsamplers:
            upsampler.weight.copy_(torch.randn_like(upsampler.weight))
    path = export_onnx(net, tmp_path / "net.onnx")
    nodes = onnx.load(str(path)).graph.node
    zero_pads = [n for n in nodes if n.op_type == "Pad"
                 and onnx.helper.get_attribute_value(next(a for a in n.attribute if a.name == "mode")) == b"constant"]
    assert not zero_pads
    assert not [n for n in nodes if n.op_type == "Softmax"]
    assert any(list(a.ints) == [0, 0, 1, 1] for n in nodes if n.op_type == "Conv" for a in n.attribute if a.name == "pads")
    # The person head is folded into the last upsampler: no full-resolution 8-channel map is made.
    assert [n.op_type for n in nodes][-3:] == ["Conv", "DepthToSpace", "Sigmoid"]
    assert len([n for n in nodes if n.op_type == "ConvTranspose"]) == len(net.upsamplers) - 1
    images = np.random.default_rng(0).random((1, 3, 96, 160), dtype=np.float32)
    assert max_abs_difference(net, path, images) < 1e-5


@pytest.mark.parametrize("side", range(4))
def test_edge_crops_put_the_pictures_edge_at_the_crops_edge(side):
    import cv2

    from app.segmentation import letterbox
    from training.data import SIDES, edge_crop_origin, flush_to_side

    picture = np.full((90, 160, 3), 200, np.uint8)  # 16:9: padded above and below in the square
    picture[0, :] = picture[-1, :] = picture[:, 0] = picture[:, -1] = (0, 0, 255)  # a red frame line
    canvas, rect = letterbox(picture, 224, interpolation=cv2.INTER_NEAREST)
    flush = flush_to_side(canvas, rect, side)
    y, x = edge_crop_origin(side, 224 - 160, 30, 40)
    crop = flush[y : y + 160, x : x + 160]
    edge = {"top": crop[0], "bottom": crop[-1], "left": crop[:, 0], "right": crop[:, -1]}[SIDES[side]]
    inside = {"top": crop[4], "bottom": crop[-5], "left": crop[:, 4], "right": crop[:, -5]}[SIDES[side]]
    red = (edge == (0, 0, 255)).all(axis=-1)
    assert red.mean() > 0.9  # the crop's edge is the picture's frame line...
    assert not (inside == (0, 0, 255)).all(axis=-1).mean() > 0.9  # ...and the picture goes on inside


def test_fake_quantisation_rounds_like_int8_and_saves_plain_float_weights():
    from training import fake_quant

    torch.manual_seed(0)
    net = PortraitNet("v3").eval()
    plain = {k: v.clone() for k, v in net.state_dict().items()}
    images = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        before = net(images)[0]
    fake_quant.install(net)
    conv = net.encoder.to_stride4[0][0]  # the first convolution (Keras stride-2 padding)
    levels = torch.unique(conv.weight[0] / (conv.parametrizations.weight.original[0].abs().max() / 127))
    assert len(levels) <= 255 and torch.allclose(levels, levels.round(), atol=1e-3)  # int8 steps
    with torch.no_grad():
        after = net(images)[0]
    assert 0 < (after - before).abs().max() < 0.5  # rounded, not broken
    saved = fake_quant.float_state_dict(net)
    assert saved.keys() == plain.keys() and all(torch.equal(saved[k], plain[k]) for k in plain)
    loss = net(images)[0].mean()
    loss.backward()  # straight-through: the float weights get gradients
    assert conv.parametrizations.weight.original.grad is not None


def test_int8_quantisation_keeps_the_contract_and_the_answer(tmp_path):
    pytest.importorskip("onnx")
    import onnxruntime as ort

    from app.segmentation import Segmenter
    from training.export import export_onnx
    from training.quantize import quantize_int8

    torch.manual_seed(0)
    float_path = export_onnx(PortraitNet("v3").eval(), tmp_path / "net.onnx")
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (180, 320, 3), dtype=np.uint8) for _ in range(4)]
    int8_path = quantize_int8(float_path, tmp_path / "net_int8.onnx", pictures)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx", "net_int8.onnx"]  # no leftovers
    assert int8_path.stat().st_size < float_path.stat().st_size / 2
    tensor, _ = Segmenter(float_path, threads=1).preprocess(pictures[0])
    answers = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"image": tensor})[0]
               for p in (float_path, int8_path)]
    assert np.abs(answers[0] - answers[1]).mean() < 0.05
    Segmenter(int8_path, threads=1)  # loads and passes the app's own probe (dynamic size, range)
    import onnx

    int8_nodes = onnx.load(str(int8_path)).graph.node  # the folded head stays in float, as it was exported
    assert [n.op_type for n in int8_nodes][-3:] == ["Conv", "DepthToSpace", "Sigmoid"]


def test_distractors_change_the_room_behind_the_person_and_never_the_label():
    from training.composites import composite_person

    person = np.zeros((120, 80, 4), np.uint8)
    person[20:, 20:60] = (40, 160, 220, 255)  # an opaque upright figure
    plain = np.full((240, 320, 3), 128, np.uint8)
    stripes = np.zeros((240, 320, 3), np.uint8)
    stripes[:, ::8] = 255  # a picture to cut objects from, unlike the plain room
    changed = 0
    for seed in range(12):
        image, alpha = composite_person(person, plain, np.random.default_rng(seed))
        image_d, alpha_d = composite_person(person, plain, np.random.default_rng(seed), distractors=[stripes] * 2)
        # The label is the opaque person alone (objects add no alpha), and the person is on top.
        assert set(np.unique(alpha_d)) <= {0.0, 1.0} and alpha_d.sum() > 0
        assert np.all(np.abs(image_d[alpha_d > 0.99].astype(int) - (40, 160, 220)) <= 1)
        behind = alpha_d < 0.01
        assert np.abs(image[alpha < 0.01].astype(int) - 128).max() <= 1  # without: the plain room
        changed += np.abs(image_d[behind].astype(int) - 128).max() > 60
    assert changed >= 10  # objects show up in the room (rarely all hidden behind the person)


def test_camouflage_brings_the_room_to_the_person_outline_colour_and_never_changes_the_label():
    from training.composites import composite_person

    person = np.zeros((120, 80, 4), np.uint8)
    person[20:, 20:60] = (40, 160, 220, 255)  # an opaque orange figure
    room = np.zeros((240, 320, 3), np.uint8)
    room[:, :, 0] = 200  # a blue room: far from the person's colour
    room[:, (np.arange(320) // 40) % 2 == 1] = (120, 40, 20)  # with a texture of its own: broad bands
    room_colour = room.reshape(-1, 3).mean(0)
    for seed in range(6):
        image, alpha = composite_person(person, room, np.random.default_rng(seed), camouflaged=True)
        # The label is the person alone and the person is untouched: the room changed, not them.
        assert set(np.unique(alpha)) <= {0.0, 1.0} and alpha.sum() > 0
        assert np.all(np.abs(image[alpha > 0.99].astype(int) - (40, 160, 220)) <= 1)
        behind = image[alpha < 0.01].astype(float)
        before = np.abs(room_colour - (40, 160, 220)).sum()
        assert np.abs(behind.mean(0) - (40, 160, 220)).sum() < 0.5 * before  # the room took their colour
        assert behind.std(0).max() > 3  # and kept a texture of its own


def test_camouflage_floor_keeps_the_room_from_taking_a_dark_outline_darkness():
    import cv2
    from training.composites import camouflage

    person = np.zeros((120, 80, 4), np.uint8)
    person[20:, 20:60] = (30, 25, 20, 255)  # a dark jacket
    room = np.full((240, 320, 3), 180, np.uint8)
    room[:, (np.arange(320) // 40) % 2 == 1] = (150, 190, 210)

    def lightness(image):
        return cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_BGR2LAB)[..., 0].mean()

    for seed in range(4):
        dark = camouflage(room.astype(np.float32), person, np.random.default_rng(seed))
        floored = camouflage(room.astype(np.float32), person, np.random.default_rng(seed), min_lightness=130)
        assert lightness(dark) < 100  # no floor: the room goes most of the way to the outline's darkness
        assert lightness(floored) > 0.95 * 130  # with one: it stays at least (about) as light as the floor
        # and still moves toward the outline's hue: the floor changes lightness only
        assert lightness(floored) < lightness(room)


def test_prints_land_on_the_clothes_inside_the_person_and_never_change_the_label():
    import cv2
    from training.composites import paste_prints

    person = np.zeros((200, 160, 4), np.uint8)
    cv2.circle(person, (80, 40), 25, (60, 90, 160, 255), -1)  # a head
    person[70:, 10:150] = (40, 30, 30, 255)  # shoulders and a dark jacket, far wider than the head
    picture = np.random.default_rng(0).integers(0, 256, (50, 50, 3), np.uint8)
    interior = cv2.erode((person[..., 3] > 250).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    changed_any = 0
    for seed in range(8):
        printed = paste_prints(person, [picture], np.random.default_rng(seed))
        assert np.array_equal(printed[..., 3], person[..., 3])  # the label is the person, as before
        changed = np.any(printed[..., :3] != person[..., :3], axis=2)
        assert not np.any(changed & ~interior)  # never over the outline or the room
        assert not np.any(changed[:70])  # never on the head
        changed_any += changed.any()
    assert changed_any >= 6
    face_only = np.zeros((120, 100, 4), np.uint8)
    cv2.ellipse(face_only, (50, 60), (40, 55), 0, 0, 360, (60, 90, 160, 255), -1)
    assert np.array_equal(paste_prints(face_only, [picture], np.random.default_rng(1)), face_only)


def test_mined_weights_favour_the_files_the_model_gets_wrong():
    from training.mine import MAX_WEIGHT, MIN_WEIGHT, PRIOR_SAMPLES, weights_from_errors

    errors = [(0.02, {"people": "easy.png", "backgrounds": "wall.jpg"}),
              (0.02, {"people": "easy.png", "backgrounds": "flowers.jpg"}),
              (0.50, {"people": "dark.png", "backgrounds": "flowers.jpg"}),
              (0.00, {"real": "photo.jpg"})]
    weights = weights_from_errors(errors)
    mean = np.mean([e for e, _ in errors])

    def expected(values):  # the file's errors, with PRIOR_SAMPLES at the overall mean
        return np.clip((sum(values) + PRIOR_SAMPLES * mean) / (len(values) + PRIOR_SAMPLES) / mean, MIN_WEIGHT, MAX_WEIGHT)

    assert weights["people"]["dark.png"] == pytest.approx(expected([0.5])) and expected([0.5]) > 1.5
    assert weights["people"]["easy.png"] == pytest.approx(expected([0.02, 0.02])) and expected([0.02, 0.02]) < 0.7
    assert weights["backgrounds"]["flowers.jpg"] == pytest.approx(expected([0.02, 0.5]))
    assert weights["backgrounds"]["flowers.jpg"] > weights["backgrounds"]["wall.jpg"]
    assert weights["real"]["photo.jpg"] == pytest.approx(expected([0.0]))
    # Many bad draws of one file reach the cap; many easy ones the floor.
    many = weights_from_errors([(0.9, {"people": "dark.png"})] * 30 + [(0.0, {"people": "easy.png"})] * 300)
    assert many["people"]["dark.png"] == MAX_WEIGHT and many["people"]["easy.png"] == MIN_WEIGHT


def test_sampling_weights_change_how_often_a_file_is_picked(tmp_path):
    import cv2

    from training.data import PortraitPairs, SampleSources

    for kind, count in (("people", 3), ("backgrounds", 2)):
        (tmp_path / kind / "train").mkdir(parents=True)
        for i in range(count):
            image = np.full((40, 30, 4 if kind == "people" else 3), 255, np.uint8)
            cv2.imwrite(str(tmp_path / kind / "train" / f"{kind}{i}.{'png' if kind == 'people' else 'jpg'}"), image)
    sources = SampleSources.from_folder(tmp_path, "train")

    def counts(weights):
        pairs = PortraitPairs(sources, 10, real_fraction=0.0, weights=weights)
        seen: dict[str, int] = {}
        for index in range(300):
            picks: dict = {}
            pairs.make_image(np.random.default_rng(index), picks)
            seen[picks["people"]] = seen.get(picks["people"], 0) + 1
        return seen

    uniform = counts(None)
    favoured = counts({"people": {"people1.png": 4.0}})
    assert 70 < uniform["people1.png"] < 130
    assert favoured["people1.png"] > 160  # 4 / 6 of the draws


def test_a_soup_is_the_mean_of_its_checkpoints_and_refuses_strangers():
    from training.soup import soup

    nets = [PortraitNet("v3") for _ in range(3)]
    states = [{"model": n.state_dict(), "arch": "v3"} for n in nets]
    mixed = soup(states)
    name = "mask_head.weight"
    expected = (states[0]["model"][name] + states[1]["model"][name] + states[2]["model"][name]) / 3
    assert torch.allclose(mixed["model"][name], expected)
    counter = next(k for k, v in mixed["model"].items() if not v.is_floating_point())
    assert torch.equal(mixed["model"][counter], states[0]["model"][counter])
    soup_net = PortraitNet("v3")
    soup_net.load_state_dict(mixed["model"])  # a loadable checkpoint of the same network
    with pytest.raises(ValueError):
        soup(states + [{"model": PortraitNet("v2").state_dict(), "arch": "v2"}])
    with pytest.raises(ValueError):
        soup([])


def logits_for(prob: torch.Tensor) -> torch.Tensor:
    """Two-class logits whose softmax gives `prob` (N x H x W) as the person probability."""
    prob = prob.clamp(1e-6, 1 - 1e-6)
    return torch.stack([torch.zeros_like(prob), torch.log(prob / (1 - prob))], dim=1)


def test_edge_alpha_loss_scores_the_edge_band_only():
    # A soft vertical edge (a ramp from x=10 to x=14 of a 32-px picture) and its boundary label.
    x = torch.arange(32, dtype=torch.float32)
    alpha = ((x - 10) / 4).clamp(0, 1).expand(1, 32, 32).contiguous()
    boundary = ((x >= 8) & (x <= 16)).long().expand(1, 32, 32).contiguous()
    assert edge_alpha_loss(logits_for(alpha), alpha, boundary) < 1e-4  # the label itself
    shifted = ((x - 12) / 4).clamp(0, 1).expand(1, 32, 32)  # the same edge 2 px into the room
    assert edge_alpha_loss(logits_for(shifted), alpha, boundary) > 0.2
    # Errors far from the edge (the person called room at x >= 28) are cross-entropy's, not this loss's.
    far = alpha.clone()
    far[..., 28:] = 0.0
    assert edge_alpha_loss(logits_for(far), alpha, boundary) == pytest.approx(
        edge_alpha_loss(logits_for(alpha), alpha, boundary).item(), abs=1e-4)
    # portraitnet_loss adds it only when asked, and only on soft targets.
    weights = {"boundary": 0.0, "consistency": 0.0, "temperature": 1.0, "edge_alpha": 1.0}
    logits = logits_for(shifted)
    _, parts = portraitnet_loss((logits, logits), (logits, logits), alpha, boundary, weights)
    assert parts["edge_alpha"] > 0.4  # both views
    with pytest.raises(ValueError, match="soft alpha"):
        portraitnet_loss((logits, logits), (logits, logits), (alpha > 0.5).long(), boundary, weights)


def test_hole_loss_scores_only_the_background_the_person_encloses():
    # A person (rows 4-27, columns 4-27) with a hole (rows 12-15, columns 12-15), a one-pixel pocket
    # (a label speck, row 24, column 24), and a notch open to the picture's edge (rows 20-23,
    # columns 0-11), which is room, not a hole.
    alpha = torch.zeros(1, 32, 32)
    alpha[0, 4:28, 4:28] = 1.0
    alpha[0, 12:16, 12:16] = 0.0
    alpha[0, 24, 24] = 0.0
    alpha[0, 20:24, 0:12] = 0.0
    holes = enclosed_background(alpha)
    assert holes.sum() == 16 and bool(holes[0, 12:16, 12:16].all())
    assert hole_loss(logits_for(alpha), alpha) < 0.001  # the hole called room
    filled = alpha.clone()
    filled[0, 12:16, 12:16] = 1.0  # the network fills the hole: the loss is there, per pixel of the picture
    assert hole_loss(logits_for(filled), alpha) == pytest.approx(
        torch.nn.functional.cross_entropy(logits_for(filled), torch.stack([1 - alpha, alpha], 1)).item(), rel=0.05)
    speck_filled, notch_filled = alpha.clone(), alpha.clone()
    speck_filled[0, 24, 24] = 1.0  # a speck is not a hole
    notch_filled[0, 20:24, 0:12] = 1.0  # errors outside holes are the mask loss's
    assert hole_loss(logits_for(speck_filled), alpha) < 0.001
    assert hole_loss(logits_for(notch_filled), alpha) < 0.001
    assert hole_loss(logits_for(torch.ones(1, 32, 32)), torch.ones(1, 32, 32)) == 0.0  # no hole in the batch
    weights = {"boundary": 0.0, "consistency": 0.0, "temperature": 1.0, "hole": 4.0}
    _, parts = portraitnet_loss((logits_for(filled),) * 2, (logits_for(filled),) * 2, alpha, alpha.long(), weights)
    assert parts["hole"] == pytest.approx(8 * hole_loss(logits_for(filled), alpha).item(), rel=1e-4)  # both views


def test_a_range_of_input_sizes_letterboxes_each_sample_at_its_own_size(tmp_path, monkeypatch):
    """input_sizes letterboxes each sample at a size drawn from the range (people seen at more
    pixels than 224 gives them); the crop, and so the compute, stays the same; evaluation keeps 224."""
    import cv2
    import training.data as data
    from training.data import PortraitPairs, SampleSources

    for kind in ("people", "backgrounds"):
        (tmp_path / kind / "train").mkdir(parents=True)
    person = np.zeros((400, 300, 4), np.uint8)
    person[80:400, 60:240] = 255
    cv2.imwrite(str(tmp_path / "people" / "train" / "p.png"), person)
    cv2.imwrite(str(tmp_path / "backgrounds" / "train" / "b.jpg"), np.full((400, 400, 3), 90, np.uint8))
    sources = SampleSources.from_folder(tmp_path, "train")
    sizes: list[int] = []
    letterbox = data.letterbox
    monkeypatch.setattr(data, "letterbox", lambda image, size, **kw: (sizes.append(size), letterbox(image, size, **kw))[1])

    def sample_sizes(input_sizes, augment=True):
        sizes.clear()
        pairs = PortraitPairs(sources, 60, crop=160, real_fraction=0.0, input_sizes=input_sizes, augment=augment)
        assert all(pairs[i]["view_a"].shape[-2:] == (160, 160) for i in range(60))
        return set(sizes)

    assert sample_sizes(None) == {224}
    ranged = sample_sizes((224, 288))
    assert min(ranged) >= 224 and max(ranged) <= 288 and len(ranged) > 20
    assert sample_sizes((224, 288), augment=False) == {224}


def test_scaled_consistency_is_zero_only_for_a_scale_equivariant_prediction():
    """View B shows the picture at `scale` B pixels per A pixel from `origin` (A's pixels): a
    prediction that is the same picture seen through that mapping costs nothing; a wrong scale does."""
    from training.losses import scaled_consistency_loss

    def field(rows, cols):  # smooth two-channel logits as a function of picture position
        return torch.stack([torch.sin(rows / 5) + torch.cos(cols / 7), torch.cos(rows / 6) - torch.sin(cols / 4)])

    size = 40
    grid = torch.arange(size, dtype=torch.float32) + 0.5
    a = field(grid.view(-1, 1).expand(size, size), grid.view(1, -1).expand(size, size)).unsqueeze(0)
    origin, scale = torch.tensor([[3.0, -2.5]]), torch.tensor([1.15])
    # B pixel centre q + 0.5 = scale * (A position - origin): A position = (q + 0.5) / scale + origin
    rows_b = grid.view(-1, 1).expand(size, size) / scale + origin[0, 0]
    cols_b = grid.view(1, -1).expand(size, size) / scale + origin[0, 1]
    b = field(rows_b, cols_b).unsqueeze(0)
    assert scaled_consistency_loss(b, a, origin, scale) < 2e-3
    assert scaled_consistency_loss(b, a, origin, torch.tensor([1.0])) > 20 * scaled_consistency_loss(b, a, origin, scale)
    weights = {"boundary": 0.0, "consistency": 1.0, "temperature": 1.0}
    labels = torch.zeros(1, size, size, dtype=torch.long)
    _, parts = portraitnet_loss((a, a), (b, b), labels, labels, weights, mask_b=labels, boundary_b=labels,
                                shifts=origin, scales=scale)
    assert parts["consistency"] < 2e-3


def test_view_b_at_another_scale_shows_the_same_picture(tmp_path):
    """max_scale: view B is view A's picture seen larger or smaller; its alpha, mapped back through the
    sample's (origin, scale), lands on view A's alpha, and the scales stay inside the range."""
    import cv2
    from training.data import PortraitPairs, SampleSources

    for kind in ("people", "backgrounds"):
        (tmp_path / kind / "train").mkdir(parents=True)
    person = np.zeros((400, 300, 4), np.uint8)
    cv2.ellipse(person, (150, 220), (90, 150), 0, 0, 360, (120, 140, 160, 255), -1)
    cv2.imwrite(str(tmp_path / "people" / "train" / "p.png"), person)
    cv2.imwrite(str(tmp_path / "backgrounds" / "train" / "b.jpg"), np.full((400, 400, 3), 90, np.uint8))
    pairs = PortraitPairs(SampleSources.from_folder(tmp_path, "train"), 30, crop=160, real_fraction=0.0,
                          max_shift=8, max_scale=0.2)
    scales = []
    for i in range(30):
        sample = pairs[i]
        scale, (top, left) = float(sample["scale"]), sample["shift"].tolist()
        scales.append(scale)
        assert sample["view_b"].shape == sample["view_a"].shape == (3, 160, 160)
        # A pixel centre p + 0.5 sits at B pixel centre scale * (p + 0.5 - origin)
        centres = (np.arange(160) + 0.5).astype(np.float32)
        map_y = np.repeat((scale * (centres - top) - 0.5)[:, None], 160, 1)
        map_x = np.repeat((scale * (centres - left) - 0.5)[None, :], 160, 0)
        seen = (map_y > 0) & (map_y < 159) & (map_x > 0) & (map_x < 159)
        back = cv2.remap(sample["alpha_b"].numpy(), map_x, map_y, cv2.INTER_LINEAR)
        assert seen.mean() > 0.5
        assert np.abs(back - sample["alpha"].numpy())[seen].mean() < 0.02
    assert min(scales) >= 1 / 1.2 - 1e-6 and max(scales) <= 1.2 + 1e-6 and np.ptp(scales) > 0.2


def test_matte_eval_rows_take_matte_setting_overrides():
    """`training.matte_eval --matte feather=4,softness=0.3` adds a row with those matte settings: the
    text is parsed into MatteSettings fields of their own types, typos are refused, and the app's
    pipeline in that row runs with them (the rest at the app's defaults)."""
    import argparse

    from app.settings import AppSettings
    from training.matte_eval import AppMatte, matte_overrides

    assert matte_overrides("feather=4,softness=0.3,edge_mode=gaussian,work_height=240,steady_edges=yes") == {
        "feather": 4.0, "softness": 0.3, "edge_mode": "gaussian", "work_height": 240, "steady_edges": True}
    for bad in ("fether=4", "feather=", "work_height=2.5", "softness=soft", "steady_edges=maybe"):
        with pytest.raises(argparse.ArgumentTypeError):
            matte_overrides(bad)
    settings = AppMatte(REPO_ROOT / "models" / "portraitnet.onnx", 1,
                        matte_overrides={"feather": 4.0, "softness": 0.3}).pipeline.refiner.settings
    defaults = AppSettings().matte_settings()
    assert (settings.feather, settings.softness) == (4.0, 0.3)
    assert (settings.threshold, settings.work_height) == (defaults.threshold, defaults.work_height)


def test_matte_eval_rows_take_other_weights_for_the_learned_edge(tmp_path):
    """`training.matte_eval --edge-model NPZ` adds a row whose learned edge runs those weights (a
    retrained edge judged beside the shipped one, in one run); without it, the app's own."""
    from app.matting import EDGE_MODEL_PATH, EdgeModel
    from training.edge_model import build_network, save
    from training.matte_eval import AppMatte

    torch.manual_seed(3)
    net = build_network(8)
    for layer in net:
        if hasattr(layer, "weight"):
            torch.nn.init.normal_(layer.weight, std=0.2)
    save(net, tmp_path / "other.npz")
    model = REPO_ROOT / "models" / "portraitnet.onnx"
    other = AppMatte(model, 1, edge_model=tmp_path / "other.npz").pipeline.refiner.edge_model
    shipped = AppMatte(model, 1).pipeline.refiner.edge_model
    expected = EdgeModel.load(tmp_path / "other.npz")
    assert [w.shape for w, _ in other.layers] == [(14, 8), (8, 8), (8, 5)]
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(other.layers, expected.layers))
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(shipped.layers, EdgeModel.load(EDGE_MODEL_PATH).layers))


def test_matte_eval_pairs_other_edge_weights_with_other_matte_settings_only_when_asked():
    """`--edge-model-with-matte` adds a row per (weights, matte settings) pair, e.g. a learned edge
    trained at another work height, run at it; without it each change stays alone beside the defaults."""
    import argparse

    from training.matte_eval import row_variants

    weights, overrides = Path("other.npz"), {"work_height": 240}
    args = argparse.Namespace(edge_mode=[], no_foreground_row=False, margin=[], input_size=[], whole_frame_row=False,
                              matte=[overrides], photo_row=False, edge_model=[weights], edge_model_with_matte=False,
                              photo=False)
    alone = row_variants(args)
    assert [(row[5], row[7]) for row in alone] == [({}, None), (overrides, None), ({}, weights)]
    args.edge_model_with_matte = True
    paired = row_variants(args)
    assert paired[:3] == alone and [(row[5], row[7]) for row in paired[3:]] == [(overrides, weights)]
    assert all(row[:5] == alone[0][:5] and row[6] is False for row in paired)  # nothing else changed


def test_matte_eval_puts_every_row_on_the_photo_path_when_asked():
    """`--photo` judges a change to a still picture's path alone: every row (the defaults, each change
    and each pair) takes a photo's looks, and no separate photo row repeats the first."""
    import argparse

    from training.matte_eval import row_variants

    weights, overrides = Path("other.npz"), {"work_height": 240}
    args = argparse.Namespace(edge_mode=[], no_foreground_row=False, margin=[], input_size=[], whole_frame_row=False,
                              matte=[overrides], photo_row=True, edge_model=[weights], edge_model_with_matte=True,
                              photo=True)
    rows = row_variants(args)
    assert [(row[5], row[7]) for row in rows] == [({}, None), (overrides, None), ({}, weights), (overrides, weights)]
    assert all(row[6] is True for row in rows)


def test_matte_eval_runs_the_peers_on_a_fresh_set_only_when_asked_and_never_on_validation(capsys):
    """`--with-peers` gives a fresh set peer rows (e.g. RVM at a call camera's size); validation's
    people are training people, where a peer row would mean nothing, so it refuses at once, before
    any set is drawn."""
    from training.matte_eval import main

    for argv in (["--with-peers"], ["--validation", "--with-peers"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        assert "--with-peers needs --fresh" in capsys.readouterr().err


def test_matte_eval_scores_an_empty_room_without_turning_the_edge_columns_into_nan():
    """A composite whose person a deformation carried out of view has no edge: IoU and boundary F
    still score it (an empty answer is right, a person called in the room is wrong), while the edge
    band's errors leave it out of the means instead of making them NaN (fresh seed 90 had one)."""
    from training.matte_eval import picture_scores, summary

    empty = np.zeros((60, 80), np.float32)
    person = empty.copy()
    person[20:50, 30:50] = 1.0
    near = person.copy()
    near[20:50, 28:30] = 1.0  # two columns too wide
    right, wrong = picture_scores(empty, empty), picture_scores(person, empty)
    assert right["iou"] == 1.0 and right["boundary_f"] == 1.0 and np.isnan(right["mad"]) and np.isnan(right["grad"])
    assert wrong["iou"] == 0.0
    scored = picture_scores(near, person)
    table = summary([scored, right], ["a", "b"])
    assert table["mad"] == pytest.approx(scored["mad"]) and table["grad"] == pytest.approx(scored["grad"])
    assert table["iou"] == pytest.approx((scored["iou"] + 1.0) / 2) and 0 < scored["mad"] < 1


def test_matte_eval_moving_rows_keep_each_clip_beside_the_means():
    """The moving row's IoU and MAD are over all frames and its dtSSD the clips' mean, as printed;
    the JSON also keeps each clip's, so that one hard clip shows (a clip whose answer lags the
    person scores below one that follows)."""
    from training.matte_eval import dtssd, moving_rows

    def frames(shifts):
        out = []
        for dx in shifts:
            frame = np.zeros((40, 60), np.float32)
            frame[10:35, 20 + dx:35 + dx] = 1.0
            out.append(frame)
        return out

    truth = [frames([0, 2, 4, 6]), frames([0, 0, 0, 0])]
    answers = [frames([0, 0, 2, 4]), frames([0, 0, 0, 0])]  # the first clip lags a frame behind
    row = moving_rows(answers, truth)
    first, second = row["clips"]
    assert second["iou"] == 1.0 and second["dtssd"] == 0.0 and second["mad"] == 0.0
    assert first["iou"] < 1.0 and first["dtssd"] > 0
    assert first["dtssd"] == pytest.approx(dtssd(answers[0], truth[0]))
    assert row["iou"] == pytest.approx((first["iou"] + second["iou"]) / 2)  # equal lengths: the same mean
    assert row["dtssd"] == pytest.approx((first["dtssd"] + second["dtssd"]) / 2)
    assert row["mad"] == pytest.approx((first["mad"] + second["mad"]) / 2)


@pytest.mark.parametrize("effects", [0.0, 1.0])
def test_person_motion_moves_the_person_over_a_still_room(tmp_path, monkeypatch, effects):
    """person_motion: view B is the next frame of a still camera. The person's alpha, mapped back through
    the sample's (origin, scale), lands on view A's; where neither view has the person, the room is the
    same picture in both (the dim-room and webcam effects drawn once for both); the person did move."""
    import cv2
    import training.data as data
    from training.data import PortraitPairs, SampleSources

    monkeypatch.setattr(data, "texture", lambda image, rng: image)  # view B's own texture off: see the room
    for kind in ("people", "backgrounds"):
        (tmp_path / kind / "train").mkdir(parents=True)
    person = np.zeros((400, 300, 4), np.uint8)
    cv2.ellipse(person, (150, 220), (90, 150), 0, 0, 360, (40, 200, 90, 255), -1)
    cv2.imwrite(str(tmp_path / "people" / "train" / "p.png"), person)
    room = cv2.resize(np.random.default_rng(1).integers(0, 255, (40, 40, 3)).astype(np.uint8), (400, 400))
    cv2.imwrite(str(tmp_path / "backgrounds" / "train" / "b.jpg"), room, [cv2.IMWRITE_JPEG_QUALITY, 100])
    pairs = PortraitPairs(SampleSources.from_folder(tmp_path, "train"), 20, crop=160, real_fraction=0.0,
                          max_shift=10, max_scale=0.1, person_motion=1.0, dark=effects, webcam=effects,
                          edge_crops=0.3, input_sizes=(224, 288))
    moved = []
    for i in range(20):
        sample = pairs[i]
        scale, (top, left) = float(sample["scale"]), sample["shift"].tolist()
        alpha_a, alpha_b = sample["alpha"].numpy(), sample["alpha_b"].numpy()
        centres = (np.arange(160) + 0.5).astype(np.float32)
        map_y = np.repeat((scale * (centres - top) - 0.5)[:, None], 160, 1)
        map_x = np.repeat((scale * (centres - left) - 0.5)[None, :], 160, 0)
        seen = (map_y > 0) & (map_y < 159) & (map_x > 0) & (map_x < 159)
        back = cv2.remap(alpha_b, map_x, map_y, cv2.INTER_LINEAR)
        assert np.abs(back - alpha_a)[seen].mean() < 0.02
        view_a, view_b = (sample[k].numpy().transpose(1, 2, 0) for k in ("view_a", "view_b"))
        room_in_both = cv2.erode(((alpha_a < 0.01) & (alpha_b < 0.01)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        if room_in_both.any():
            assert np.abs(view_a - view_b)[room_in_both].mean() < 0.02  # webcam JPEG: not bit-exact
        moved.append(np.abs(alpha_a - alpha_b).mean())
        assert bool(sample["still_camera"])  # the temporal loss may compare them pixel for pixel
    assert np.mean(moved) > 0.01
    shifts = [pairs[i]["shift"].abs().max() for i in range(20)]
    assert max(shifts) > 2


def _logits(prob: torch.Tensor) -> torch.Tensor:
    """Two-class logits whose softmax gives `prob` (N x H x W) as the person class."""
    prob = prob.clamp(1e-4, 1 - 1e-4)
    return torch.stack([torch.zeros_like(prob), torch.log(prob / (1 - prob))], dim=1)


def test_temporal_difference_loss_scores_flicker_not_a_steady_error():
    """The mask's change between two frames of a still camera against the alpha's: an edge that moves
    with the alpha costs nothing, even beside an error that stays put in both frames; an edge that
    changes where the alpha did not (flicker) costs; pairs not from a still camera are not scored."""
    alpha_a = torch.zeros(1, 16, 16)
    alpha_a[:, :, :8] = 1.0
    alpha_b = torch.roll(alpha_a, 1, dims=2)  # the person moved a pixel
    alpha_b[:, :, 0] = 1.0
    def biased(alpha):  # the same error in both frames: a patch of the room taken for person
        out = alpha.clone()
        out[:, 12:15, 11:14] = 0.7
        return out
    still = torch.tensor([True])
    assert float(temporal_difference_loss(_logits(biased(alpha_a)), _logits(biased(alpha_b)), alpha_a, alpha_b, still)) \
        == pytest.approx(0.0, abs=1e-3)
    flicker = alpha_a.clone()
    flicker[:, 4:12, 7:10] = 0.5  # the edge wobbles in frame B while the alpha did not move
    steady = float(temporal_difference_loss(_logits(alpha_a), _logits(alpha_a), alpha_a, alpha_a, still))
    wobbly = temporal_difference_loss(_logits(alpha_a), _logits(flicker).requires_grad_(), alpha_a, alpha_a, still)
    assert steady == pytest.approx(0.0, abs=1e-3) and float(wobbly) > 0.2
    assert float(temporal_difference_loss(_logits(alpha_a), _logits(flicker), alpha_a, alpha_a, torch.tensor([False]))) == 0.0
    # In the total loss only with its weight.
    out_a, out_b = (_logits(alpha_a), torch.zeros(1, 2, 16, 16)), (_logits(flicker), torch.zeros(1, 2, 16, 16))
    weights = {"boundary": 0.0, "consistency": 0.0, "temperature": 1.0}
    _, parts = portraitnet_loss(out_a, out_b, alpha_a, alpha_a.long(), {**weights, "temporal": 1.0}, still_camera=still)
    assert parts["temporal"] == pytest.approx(float(wobbly))
    _, parts = portraitnet_loss(out_a, out_b, alpha_a, alpha_a.long(), weights, still_camera=still)
    assert "temporal" not in parts


def test_teacher_grey_guided_filter_follows_a_grey_guide():
    # The teacher's own edge refinement (its cached labels were made with it): a grey guide, which the
    # app's colour-guided filter no longer takes. A blurred label edge snaps to the picture's edge.
    from training.teacher import grey_guided_filter
    guide = np.zeros((40, 60), np.float32)
    guide[:, 30:] = 1.0
    constant = grey_guided_filter(guide, np.full((40, 60), 0.6, np.float32), radius=4, eps=1e-3)
    assert np.allclose(constant, 0.6, atol=1e-5)
    blurred = np.clip((np.arange(60, dtype=np.float32) - 24) / 12, 0, 1)[None, :].repeat(40, 0)
    out = grey_guided_filter(guide, blurred, radius=6, eps=1e-4)
    assert out[20, 28] < blurred[20, 28] - 0.1 and out[20, 31] > blurred[20, 31] + 0.1


def test_poles_stand_in_the_room_beside_the_outline_and_never_change_the_label():
    import cv2

    from training.composites import composite_person

    person = np.zeros((120, 80, 4), np.uint8)
    person[10:40, 25:55] = (40, 60, 90, 255)  # a head
    person[40:, 5:75] = (40, 60, 90, 255)  # shoulders and body
    room = np.full((240, 320, 3), 60, np.uint8)  # a dark plain room: any pole is brighter
    beside = 0
    for seed in range(12):
        image, alpha = composite_person(person, room, np.random.default_rng(seed))
        image_p, alpha_p = composite_person(person, room, np.random.default_rng(seed), poles=True)
        # The same composite and label; the person untouched on top.
        assert np.array_equal(alpha, alpha_p)
        assert np.array_equal(image[alpha > 0.99], image_p[alpha > 0.99])
        changed = np.abs(image_p.astype(int) - image.astype(int)).max(2) > 25
        assert changed.any()
        # Upright and thin: no changed row wider than a door frame's 30 px (with its soft sides).
        assert np.count_nonzero(changed, axis=1).max() <= 2 * 34
        # Standing close to the outline: some changed pixel within 8 px of the person.
        near = cv2.dilate((alpha > 0.5).astype(np.uint8), np.ones((17, 17), np.uint8)) > 0
        beside += bool((changed & near & (alpha < 0.01)).any())
    assert beside >= 11


def test_look_alikes_touch_the_outline_in_the_persons_colour_and_never_change_the_label():
    import cv2

    from training.composites import composite_person

    person = np.zeros((120, 80, 4), np.uint8)
    person[10:40, 25:55] = (30, 30, 30, 255)  # a dark head
    person[40:, 5:75] = (30, 30, 30, 255)  # a dark jacket
    room = np.full((240, 320, 3), 200, np.uint8)  # a light plain room
    beside = 0
    for seed in range(12):
        image, alpha = composite_person(person, room, np.random.default_rng(seed))
        image_l, alpha_l = composite_person(person, room, np.random.default_rng(seed), look_alikes=[])
        # The same composite and label; the person untouched on top.
        assert np.array_equal(alpha, alpha_l)
        assert np.array_equal(image[alpha > 0.99], image_l[alpha > 0.99])
        changed = np.abs(image_l.astype(int) - image.astype(int)).max(2) > 25
        assert changed.any()
        # Coloured like the person: what changed in the room is dark, as the jacket is.
        assert image_l[changed & (alpha < 0.01)].mean() < 80
        # Touching the outline: some changed pixel within 5 px of the person.
        near = cv2.dilate((alpha > 0.5).astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
        beside += bool((changed & near & (alpha < 0.01)).any())
    assert beside >= 11


def tiny_data(root: Path) -> Path:
    """A data folder with one big cut-out, one photo with its mask and one room per split."""
    import cv2

    for split in ("train", "eval"):
        for kind in ("people", "real", "backgrounds"):
            (root / kind / split).mkdir(parents=True)
        person = np.zeros((1200, 900, 4), np.uint8)
        person[240:1200, 180:720, :3] = (40, 90, 200)
        person[240:1200, 180:720, 3] = 255
        person[240:250, 180:720, 3] = 128  # a soft top edge: alpha must survive packing exactly
        cv2.imwrite(str(root / "people" / split / "p.png"), person)
        photo = np.full((300, 200, 3), 120, np.uint8)
        cv2.imwrite(str(root / "real" / split / "r.jpg"), photo)
        cv2.imwrite(str(root / "real" / split / "r_mask.png"), (photo[..., 0] > 0).astype(np.uint8) * 255)
        cv2.imwrite(str(root / "backgrounds" / split / "b.jpg"), np.full((500, 700, 3), 90, np.uint8))
    return root


def test_packed_data_caps_pictures_keeps_alpha_exact_and_trains_the_same_way(tmp_path):
    import cv2
    from training import pack_data
    from training.composites import fit_long_side
    from training.data import MAX_SIDE, PortraitPairs, SampleSources

    data = tiny_data(tmp_path / "data")
    packed = tmp_path / "packed"
    assert pack_data.main(["--data", str(data), "--out", str(packed)]) == 0
    sources = SampleSources.from_folder(packed, "train")
    assert [p.name for p in sources.people] == ["p.webp"] and len(sources.real) == 1
    original = fit_long_side(cv2.imread(str(data / "people" / "train" / "p.png"), cv2.IMREAD_UNCHANGED), MAX_SIDE)
    small = cv2.imread(str(sources.people[0]), cv2.IMREAD_UNCHANGED)
    assert small.shape == original.shape and max(small.shape[:2]) == 800
    assert np.array_equal(small[..., 3], original[..., 3])
    inside = original[..., 3] == 255
    assert np.abs(small[..., :3].astype(int) - original[..., :3])[inside].mean() < 3
    pairs = PortraitPairs(sources, 4, crop=160, real_fraction=0.5, seed=3)
    assert all(pairs[i]["view_a"].shape[-2:] == (160, 160) for i in range(4))


def test_a_timed_run_fixes_its_iteration_count_from_timed_steps_and_finishes(tmp_path, monkeypatch):
    import json
    from training import train

    data = tiny_data(tmp_path / "data")
    config = {"name": "timed", "arch": "v3", "pretrained": "", "batch_size": 2, "crop": 96, "eval_samples": 2,
              "eval_every": 1000, "workers": 0, "threads": 1, "iterations": 10_000}
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    assert train.main(["--config", "config.json", "--data", str(data), "--seconds", "4"]) == 0
    saved = json.loads((tmp_path / "runs" / "timed" / "config.json").read_text())
    history = json.loads((tmp_path / "runs" / "timed" / "history.json").read_text())
    assert 1 <= saved["iterations"] < 10_000
    assert history[-1]["iteration"] == saved["iterations"]
    state = torch.load(tmp_path / "runs" / "timed" / "last.pt", map_location="cpu", weights_only=False)
    assert all(t.device.type == "cpu" for t in state["model"].values())



def _edge_scene(seed: int = 0):
    """A colour frame with a sharp elliptic person, its working-size guide and a blurred alpha."""
    import cv2
    rng = np.random.default_rng(seed)
    frame_h, frame_w, work_h, work_w = 240, 320, 60, 80
    truth = np.zeros((frame_h, frame_w), np.float32)
    cv2.ellipse(truth, (160, 200), (90, 150), 0, 0, 360, 1.0, -1)
    frame = np.empty((frame_h, frame_w, 3), np.float32)
    frame[:] = rng.uniform(0.2, 0.8, 3)
    frame[truth > 0.5] = rng.uniform(0.2, 0.8, 3)
    frame = np.clip(frame + rng.normal(0, 0.02, frame.shape), 0, 1).astype(np.float32)
    guide = cv2.resize(frame, (work_w, work_h), interpolation=cv2.INTER_AREA)
    src = cv2.GaussianBlur(cv2.resize(truth, (work_w, work_h), interpolation=cv2.INTER_AREA), (0, 0), 1.5)
    return (frame * 255).round().astype(np.uint8), guide, src, truth


def test_the_edge_models_training_forward_is_the_apps_matte_finish(tmp_path):
    """With its last layer at zero the trained forward is the plain guided filter's finish, and with
    any weights it is what the app's numpy EdgeModel computes from the saved file: what training
    optimises is what runs."""
    from app.matting import GUIDED_EPS, EdgeModel, apply_linear_model, guided_coefficients, sample_bilinear
    from training.edge_model import band_alpha, build_network, prepare, save

    frame, guide, src, truth = _edge_scene()
    record = {k: torch.from_numpy(np.asarray(v)) for k, v in prepare(guide, src, 2, frame, truth).items()}
    x, y, colour = record["x"].numpy(), record["y"].numpy(), record["colour"].numpy()

    def app_finish(edge_model):
        model = guided_coefficients(guide, src, 2, GUIDED_EPS, edge_model=edge_model)
        return np.clip(apply_linear_model(sample_bilinear(model, x, y), colour), 0, 1)

    net = build_network()
    plain = app_finish(None)
    assert np.abs(band_alpha(net, record).detach().numpy() - plain).max() < 0.01  # remap's fixed point
    torch.manual_seed(1)
    for layer in net:
        if hasattr(layer, "weight"):
            torch.nn.init.normal_(layer.weight, std=0.3)
    save(net, tmp_path / "edge_model.npz")
    learned = app_finish(EdgeModel.load(tmp_path / "edge_model.npz"))
    assert np.abs(learned - plain).mean() > 0.01  # the weights change the finish here
    assert np.abs(band_alpha(net, record).detach().numpy() - learned).max() < 0.01


def test_the_edge_model_is_captured_from_call_sized_pictures_trained_and_read_back_by_the_app(tmp_path, monkeypatch):
    """training.edge_model end to end on a tiny data folder: call-sized pictures with exact alpha
    (built once: a second run reuses them), one record each through the app's own pipeline, a
    training run, and weights the app's EdgeModel reads."""
    import cv2
    from app.matting import EdgeModel
    from training import edge_model

    data = tiny_data(tmp_path / "data")
    portrait = cv2.imread(str(REPO_ROOT / "assets" / "samples" / "portrait.jpg"))
    mask = cv2.imread(str(REPO_ROOT / "assets" / "samples" / "portrait_mask.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(data / "people" / "train" / "p.png"), np.dstack([portrait, mask]))  # a person the network sees
    out = tmp_path / "run"
    earlier = tmp_path / "earlier"  # an earlier capture's record, trained on beside this one's
    earlier.mkdir()
    frame, guide, src, truth = _edge_scene()
    np.savez_compressed(earlier / "record_0000.npz", **edge_model.prepare(guide, src, 2, frame, truth))
    assert edge_model.main(["--data", str(data), "--out", str(out), "--small", "2", "--count", "4", "--clips", "1",
                            "--also", str(earlier), "--held", "1", "--epochs", "1", "--hidden", "4",
                            "--threads", "1"]) == 0
    pictures = sorted((out / "pictures").glob("picture_????.jpg"))
    assert len(pictures) == 4
    for picture in pictures:
        image = cv2.imread(str(picture))
        alpha = cv2.imread(str(picture.with_name(picture.stem + "_alpha.png")), cv2.IMREAD_GRAYSCALE)
        assert max(image.shape[:2]) in edge_model.CALL_SIZES and alpha.shape == image.shape[:2]
        assert alpha.max() == 255 and alpha.min() == 0
    built = [p.stat().st_mtime_ns for p in pictures]
    # two 320-px composites first, then the pictures, then every third frame of the clip's 36 (a
    # frame whose edge band did not change keeps the last matte: no refinement, no record)
    assert len(sorted((out / "clips" / "clip_0").glob("frame_???.jpg"))) == 36
    records = sorted(out.glob("record_*.npz"))
    assert [r.name for r in records[:6]] == [f"record_{i:04d}.npz" for i in range(6)]
    assert 6 + 6 <= len(records) <= 6 + 12 and records[-1].name <= "record_0017.npz"
    report = json.loads((out / "report.json").read_text())
    assert report["records"] == len(records) + 1 and report["earlier"] == 1
    assert len(sorted((out / "composites").glob("composite_???.jpg"))) == 2
    learned = EdgeModel.load(out / "edge_model.npz")
    assert [w.shape for w, _ in learned.layers] == [(14, 4), (4, 4), (4, 5)]
    assert edge_model.build_call_pictures(data, out / "pictures", 4, 4242) == pictures
    assert [p.stat().st_mtime_ns for p in pictures] == built  # cached, not rebuilt

    # A resumed capture runs nothing already run, a kept frame with no record included (its .none
    # marker); with one clip record gone, it plays that clip alone again and writes it back.
    from training.matte_eval import AppMatte
    runs = []
    real_still, real_frame = AppMatte.still, AppMatte.frame
    monkeypatch.setattr(AppMatte, "still", lambda self, f: runs.append("still") or real_still(self, f))
    monkeypatch.setattr(AppMatte, "frame", lambda self, f: runs.append("frame") or real_frame(self, f))
    capture_args = (REPO_ROOT / "models" / "portraitnet.onnx", data, out, 4, 4242, 1,
                    {"softness": edge_model.EDGE_MODEL_SOFTNESS}, 2, 1)
    assert len(sorted(out.glob("record_*.none"))) == 18 - len(records)
    assert edge_model.capture(*capture_args) == records and runs == []
    records[-1].unlink()
    assert edge_model.capture(*capture_args) == records
    assert runs == ["frame"] * 36


def test_a_capture_only_run_writes_records_and_trains_nothing(tmp_path):
    """`--capture-only`: a capture that a later run trains on with --also (session 31's photo edge
    took three of them): records, and neither weights nor a report."""
    import cv2
    from training import edge_model

    data = tiny_data(tmp_path / "data")
    portrait = cv2.imread(str(REPO_ROOT / "assets" / "samples" / "portrait.jpg"))
    mask = cv2.imread(str(REPO_ROOT / "assets" / "samples" / "portrait_mask.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(data / "people" / "train" / "p.png"), np.dstack([portrait, mask]))
    out = tmp_path / "capture"
    assert edge_model.main(["--data", str(data), "--out", str(out), "--small", "1", "--count", "2", "--threads", "1",
                            "--matte", "softness=0.35,work_height=240", "--capture-only"]) == 0
    assert sorted(out.glob("record_*.npz")) and not (out / "edge_model.npz").exists()
    assert not (out / "report.json").exists()


def test_the_peers_rows_have_an_empty_moving_part_when_no_clips_are_asked_for(tmp_path, monkeypatch):
    """`--with-peers --clips 0` (stills only, e.g. a photo's path at 1280 px): every peer row gets
    its moving part, empty (nan in the table, as ours), instead of a KeyError after the whole run."""
    import cv2
    from training import matte_eval

    picture = tmp_path / "c.png"
    cv2.imwrite(str(picture), np.zeros((8, 8, 3), np.uint8))
    alpha = np.zeros((8, 8), np.float32)
    monkeypatch.setattr(matte_eval, "node_peers", lambda images, root, workers: [
        {"rvm": alpha, "meet": alpha, "rvm_fgr": np.zeros((8, 8, 3), np.uint8)} for _ in images])
    monkeypatch.setattr(matte_eval, "mediapipe_alphas", lambda images, work: [alpha for _ in images])
    rows, moving = matte_eval.peer_rows([picture], [], [], 1, tmp_path, lambda alphas, outputs: {"n": len(alphas)},
                                        lambda alphas: None)
    assert set(moving) == set(rows) and len(rows) == 3 and all(m == [] for m in moving.values())


def test_matte_eval_camouflaged_clips_recolour_the_room_toward_the_person_only(tmp_path):
    """`--fresh S --camouflage`: the moving clips' rooms take their person's outline colours (rule 13's
    check that a change trusting colour does not cost these clips), in a set of their own; the person,
    the motion and the exact alpha are those of the plain clips."""
    import cv2

    from training.matte_eval import build_moving_set

    data = tiny_data(tmp_path / "data")
    room = np.random.default_rng(0).integers(150, 250, (500, 700, 3), dtype=np.uint8)  # light, textured
    cv2.imwrite(str(data / "backgrounds" / "eval" / "b.jpg"), room)
    person = np.zeros((1200, 900, 4), np.uint8)  # a head and shoulders: an outline to take colours from
    cv2.ellipse(person, (450, 1200), (330, 500), 0, 0, 360, (40, 90, 200, 255), -1)
    cv2.circle(person, (450, 450), 200, (40, 90, 200, 255), -1)
    cv2.imwrite(str(data / "people" / "eval" / "p.png"), person)
    plain = build_moving_set(data, tmp_path / "plain", seed=5, count=1)[0]
    hidden = build_moving_set(data, tmp_path / "camouflage", seed=5, count=1, camouflaged=True)[0]
    person_bgr = np.array([40, 90, 200], np.float32)  # the cut-out above: one colour
    for t in (0, 20):
        alpha = cv2.imread(str(plain[t].with_name(plain[t].stem + "_alpha.png")), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(alpha, cv2.imread(str(hidden[t].with_name(hidden[t].stem + "_alpha.png")),
                                                cv2.IMREAD_GRAYSCALE))
        a, b = (cv2.imread(str(p)).astype(np.float32) for p in (plain[t], hidden[t]))
        room_px, person_px = alpha == 0, alpha == 255
        assert room_px.any() and person_px.any()
        # The room moved toward the person's colour; the person itself is untouched (noise, JPEG).
        assert np.abs(b[room_px] - person_bgr).mean() < 0.5 * np.abs(a[room_px] - person_bgr).mean()
        assert np.abs(a[person_px] - b[person_px]).mean() < 4.0


def test_matte_eval_camouflage_and_still_sets_need_a_fresh_seed_or_validation(capsys):
    from training.matte_eval import main

    for flag in ("--camouflage", "--still"):
        with pytest.raises(SystemExit) as stopped:
            main([flag])
        assert stopped.value.code == 2 and f"{flag} needs --fresh or --validation" in capsys.readouterr().err


def test_matte_eval_still_clips_keep_the_person_in_place_with_fresh_noise_each_frame(tmp_path):
    """`--still`: a speaker sitting still, where a memory of past frames could learn the person's own
    missed pieces as room: the exact alpha is the same in every frame, the pictures are not (noise)."""
    import cv2

    from training.matte_eval import build_moving_set

    data = tiny_data(tmp_path / "data")
    frames = build_moving_set(data, tmp_path / "still", seed=5, count=2, still=True)
    for clip in frames:
        alphas = [cv2.imread(str(f.with_name(f.stem + "_alpha.png")), cv2.IMREAD_GRAYSCALE) for f in clip[::7]]
        assert all(np.array_equal(alphas[0], a) for a in alphas) and 0 < alphas[0].mean() < 255
        first, last = (cv2.imread(str(f)).astype(np.float32) for f in (clip[0], clip[-1]))
        assert 0.5 < np.abs(first - last).mean() < 6.0  # sensor noise only
    moving = build_moving_set(data, tmp_path / "moving", seed=5, count=1)[0]
    a0, a1 = (cv2.imread(str(f.with_name(f.stem + "_alpha.png")), cv2.IMREAD_GRAYSCALE) for f in (moving[0], moving[9]))
    assert not np.array_equal(a0, a1)  # the plain clips do move


def test_ghost_check_counts_only_firm_disagreements_over_the_sample_clip_and_held_out_videos(tmp_path):
    """training.ghost_check: a pixel counts only where the app's matte is on the other side of 0.5
    from a confident unsmoothed one (a soft difference from smoothing does not), and the footage is
    the bundled sample clip plus each held-out video folder."""
    import cv2

    from training.ghost_check import count_ghosts, firm_disagreements, footage

    own = np.array([[0.95, 0.05, 0.5, 0.95]], np.float32)
    assert firm_disagreements(np.array([[0.4, 0.6, 0.9, 0.8]], np.float32), own) == 2  # not the unsure one
    assert firm_disagreements(own, own) == 0
    video = tmp_path / "video" / "eval" / "someone"
    video.mkdir(parents=True)
    for t in range(2):
        cv2.imwrite(str(video / f"frame_{t:03d}.jpg"), np.full((24, 32, 3), 90, np.uint8))
    clips = dict(footage(tmp_path))
    assert set(clips) == {"sample_clip", "someone"} and len(clips["someone"]) == 2
    assert len(clips["sample_clip"]) > 30
    # The two pipelines play the clip side by side from a reset: with no smoothing they are the same.
    model = Path(__file__).resolve().parents[1] / "models" / "portraitnet.onnx"
    assert count_ghosts(model, clips["sample_clip"][:4], {"smoothing": 0.0}, threads=1) == 0
