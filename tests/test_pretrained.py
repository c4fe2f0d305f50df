"""training.pretrained against nsfwjs@4.4.0's own TF.js output.

The reference probabilities in training/fixtures/nsfwjs_tfjs_reference.json were made by
training/tfjs_reference.mjs (@tensorflow/tfjs CPU backend) on the inputs `reference_inputs()` builds;
run this file as a script to write those inputs for it:

    python tests/test_pretrained.py /tmp/tfjsref/inputs     # -> inputs.f32 + inputs.json

The test fetches the package with `npm pack` (network: the npm registry) and skips only when `npm` is
not on PATH.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is a training dependency (requirements-training.txt)")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

FIXTURE = REPO_ROOT / "training" / "fixtures" / "nsfwjs_tfjs_reference.json"
SIZE = 224
IMAGES = ("assets/samples/portrait.jpg", "assets/backgrounds/beach.jpg", "assets/backgrounds/colorful_cups.jpg")
SEED = 20240601


def reference_inputs() -> tuple[list[str], np.ndarray]:
    """The reference inputs, N x 224 x 224 x 3 float32 RGB in [0, 1] (NHWC, as TF.js takes them):
    each image of IMAGES read by cv2.imread, resized to 224x224 (aspect not kept) with INTER_AREA,
    BGR -> RGB, / 255; then one image of np.random.default_rng(SEED).random(float32)."""
    names, images = [], []
    for rel in IMAGES:
        bgr = cv2.imread(str(REPO_ROOT / rel), cv2.IMREAD_COLOR)
        assert bgr is not None, f"cannot read {rel}"
        rgb = cv2.cvtColor(cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        names.append(f"{rel}: cv2.imread, cv2.resize to 224x224 INTER_AREA, BGR->RGB, /255")
        images.append(rgb.astype(np.float32) / np.float32(255))
    names.append(f"np.random.default_rng({SEED}).random((224, 224, 3), dtype=np.float32)")
    images.append(np.random.default_rng(SEED).random((SIZE, SIZE, 3), dtype=np.float32))
    return names, np.stack(images)


def write_inputs(stem: Path) -> None:
    """stem.f32: raw little-endian float32 N x 224 x 224 x 3; stem.json: shape and descriptions."""
    names, batch = reference_inputs()
    stem.parent.mkdir(parents=True, exist_ok=True)
    batch.astype("<f4").tofile(stem.with_suffix(".f32"))
    stem.with_suffix(".json").write_text(json.dumps({"shape": list(batch.shape), "inputs": names}, indent=1))
    print(f"wrote {stem.with_suffix('.f32')} and {stem.with_suffix('.json')}: {batch.shape}")


# ---------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def reference():
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def inputs(reference):
    names, batch = reference_inputs()
    assert names == reference["inputs"], "input recipe changed since the reference was recorded"
    # Same pixels as when recorded (a different JPEG decoder or resize would show here first).
    np.testing.assert_allclose(batch.astype(np.float64).mean(axis=(1, 2, 3)), reference["input_means"], atol=1e-5)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def keras_weights(tmp_path_factory):
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH: cannot `npm pack nsfwjs@4.4.0` to get the weights")
    from training.pretrained import fetch_package, read_keras_weights

    return read_keras_weights(fetch_package(tmp_path_factory.mktemp("npm")))


@pytest.fixture(scope="module")
def classifier(keras_weights):
    from training.pretrained import NsfwClassifier

    return NsfwClassifier(keras_weights).eval()


def _max_diff(model, inputs, reference) -> float:
    with torch.no_grad():
        probs = model(inputs).double().numpy()
    return float(np.abs(probs - np.array(reference["probabilities"])).max())


def test_reference_fixture_is_consistent(reference):
    probs = np.array(reference["probabilities"])
    assert probs.shape == (len(IMAGES) + 1, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert reference["classes"] == ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"]


def test_converted_classifier_matches_tfjs(classifier, inputs, reference):
    # Measured: 2.9e-06 max |difference| (torch 2.13 CPU vs @tensorflow/tfjs 4.22.0 CPU backend), with
    # read_keras_weights dequantising as TF.js does (float64, rounded once); it was 1.9e-05 with float32
    # dequantisation. torch float32 vs float64 differ by only 3e-07.
    diff = _max_diff(classifier, inputs, reference)
    assert diff < 1e-4, f"max |prob difference| vs TF.js = {diff:.3g}"


@pytest.mark.parametrize("layout", [{"keras_padding": False, "bn_eps": 1e-3},
                                    {"keras_padding": True, "bn_eps": 1e-5}],
                         ids=["symmetric_padding", "bn_eps_1e-5"])
def test_wrong_layout_is_detected(keras_weights, inputs, reference, layout):
    """The comparison is sensitive enough to catch a wrong layout: the same weights in the v1 layout's
    symmetric stride-2 padding or its BatchNorm eps give clearly different probabilities."""
    from training.model import MobileNetV2Encoder
    from training.pretrained import NsfwClassifier, encoder_state_dict

    wrong = NsfwClassifier(keras_weights).eval()  # same head; only the encoder is swapped
    wrong.encoder = MobileNetV2Encoder(**layout).eval()
    wrong.encoder.load_state_dict(encoder_state_dict(keras_weights))
    # Measured: symmetric padding 0.352, eps 1e-5 0.352 (beach.jpg's probabilities move most).
    assert _max_diff(wrong, inputs, reference) > 1e-2


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: python {sys.argv[0]} OUT_STEM   (writes OUT_STEM.f32 and OUT_STEM.json)")
    write_inputs(Path(sys.argv[1]))
