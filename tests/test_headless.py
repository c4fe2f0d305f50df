import os
import subprocess
import sys

import cv2
import numpy as np
import pyvirtualcam
import pytest

import main as entry
from app import headless, resources, segmentation
from conftest import REPO_ROOT, count_frames, make_onnx_model, person_frames, write_video
from test_sinks import BusyBackend, RecordingBackend


def run_cli(capsys, *argv):
    code = headless.run([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *fragments):
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "no error message"
    assert lines[-1].startswith("portraitcam: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[-1]


def test_file_to_file_end_to_end(capsys, tmp_path, clip_path, background_path, mean_model):
    output = tmp_path / "out" / "result.mp4"
    code, out, err = run_cli(capsys, "--input", clip_path, "--background", background_path,
                             "--output", output, "--model", mean_model, "--threads", "1")
    assert code == 0, err
    assert f"Wrote 20 frames to {output}" in out
    assert count_frames(output) == (20, (160, 120))


def test_background_actually_replaced(capsys, tmp_path, mean_model):
    frames = person_frames(3)
    clip = write_video(tmp_path / "c.avi", frames)
    output = tmp_path / "o.avi"
    code, _, err = run_cli(capsys, "-i", clip, "-o", output, "--color", "#00ff00", "--model", mean_model,
                           "--smoothing", "0")
    assert code == 0, err
    capture = cv2.VideoCapture(str(output))
    ok, first = capture.read()
    capture.release()
    assert ok
    corner = first[:10, :10].reshape(-1, 3).mean(axis=0)  # dark corner -> background colour
    assert corner == pytest.approx([0, 255, 0], abs=12)
    centre = first[55:65, 75:85].reshape(-1, 3).mean(axis=0)  # bright disc -> kept
    assert centre == pytest.approx([230, 230, 230], abs=12)


def test_max_frames_and_blur(capsys, tmp_path, clip_path, mean_model):
    output = tmp_path / "five.mp4"
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", output, "--blur", "--max-frames", "5",
                           "--model", mean_model, "--mirror", "--model-every-n", "2", "--no-progress")
    assert code == 0, err
    assert count_frames(output)[0] == 5


def test_photo_to_photo(capsys, tmp_path, mean_model):
    photo = tmp_path / "me.png"
    cv2.imwrite(str(photo), person_frames(1)[0])
    output = tmp_path / "me_out.png"
    code, out, err = run_cli(capsys, "-i", photo, "-o", output, "--color", "0,0,255", "--model", mean_model)
    assert code == 0, err
    result = cv2.imread(str(output))
    assert result.shape == (120, 160, 3)
    assert np.all(result[0, 0] == [255, 0, 0])  # R,G,B 0,0,255 -> BGR (255,0,0)


def test_virtual_camera_receives_frames(capsys, monkeypatch, clip_path, mean_model):
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    pyvirtualcam.register_backend("recording", RecordingBackend)
    RecordingBackend.instances = []
    code, _, err = run_cli(capsys, "-i", clip_path, "--virtual-camera", "--vcam-backend", "recording",
                           "--max-frames", "4", "--model", mean_model)
    assert code == 0, err
    backend = RecordingBackend.instances[-1]
    assert len(backend.frames) == 4 and backend.frames[0].size == 160 * 120 * 3
    assert backend.closed == 1


@pytest.fixture
def bad_inputs(tmp_path, mean_model):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("plain text")
    corrupt_image = tmp_path / "broken.jpg"
    corrupt_image.write_bytes(b"\xff\xd8\xff garbage")
    corrupt_model = tmp_path / "corrupt.onnx"
    corrupt_model.write_bytes(mean_model.read_bytes()[:40])
    wrong_model = make_onnx_model(tmp_path / "wrong.onnx", input_shape=("N", 3, 256, 256),
                                  output_shape=("N", 1, 256, 256))
    return dict(not_video=not_video, corrupt_image=corrupt_image, corrupt_model=corrupt_model,
                wrong_model=wrong_model)


@pytest.mark.parametrize("case, fragment", [
    ("missing_video", "missing.mp4"),
    ("unsupported_video", "notes.mp4"),
    ("unreadable_background", "broken.jpg"),
    ("absent_camera", "Camera 63"),
    ("corrupt_model", "corrupt.onnx"),
    ("wrong_model", "wrong.onnx"),
    ("nothing_to_do", "nothing to do"),
    ("unwritable_format", "out.xyz"),
])
def test_bad_input_gives_one_line_error(capsys, tmp_path, clip_path, mean_model, bad_inputs, case, fragment):
    out = tmp_path / "out.mp4"
    argv = {
        "missing_video": ["-i", tmp_path / "missing.mp4", "-o", out, "--model", mean_model],
        "unsupported_video": ["-i", bad_inputs["not_video"], "-o", out, "--model", mean_model],
        "unreadable_background": ["-i", clip_path, "-o", out, "-b", bad_inputs["corrupt_image"],
                                  "--model", mean_model],
        "absent_camera": ["-i", "63", "-o", out, "--model", mean_model],
        "corrupt_model": ["-i", clip_path, "-o", out, "--model", bad_inputs["corrupt_model"]],
        "wrong_model": ["-i", clip_path, "-o", out, "--model", bad_inputs["wrong_model"]],
        "nothing_to_do": ["-i", clip_path],
        "unwritable_format": ["-i", clip_path, "-o", tmp_path / "out.xyz", "--model", mean_model],
    }[case]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, fragment)


def test_unavailable_virtual_camera_gives_setup_command(capsys, monkeypatch, clip_path, mean_model):
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    pyvirtualcam.register_backend("busy", BusyBackend)
    code, _, err = run_cli(capsys, "-i", clip_path, "--virtual-camera", "--vcam-backend", "busy",
                           "--model", mean_model)
    from app.sinks import virtual_camera_setup_hint
    assert_one_line_error(code, err, "busy", virtual_camera_setup_hint())


def test_bad_arguments_are_usage_errors(capsys):
    code, _, err = run_cli(capsys, "-o", "x.mp4", "--color", "purple")
    assert code == 2 and "invalid colour" in err


def test_main_without_display_runs_the_demo(capsys, monkeypatch, tmp_path, clip_path, background_path,
                                            mean_model):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(resources, "SAMPLE_CLIP", clip_path)
    monkeypatch.setattr(resources, "BACKGROUNDS_DIR", background_path.parent)
    monkeypatch.setattr(segmentation, "DEFAULT_MODEL_PATH", mean_model)
    monkeypatch.chdir(tmp_path)
    assert entry.main([]) == 0
    demo = tmp_path / "out" / "portraitcam_demo.mp4"
    assert count_frames(demo) == (20, (160, 120))
    assert str(demo) in capsys.readouterr().out


def test_main_demo_reports_a_missing_sample(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(resources, "SAMPLE_CLIP", tmp_path / "gone.mp4")
    assert entry.main([]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "gone.mp4")


def test_main_routes_cli_options_to_headless(capsys, tmp_path):
    assert entry.main(["--input", str(tmp_path / "missing.mp4"), "--output", str(tmp_path / "o.mp4")]) == 1
    assert "missing.mp4" in capsys.readouterr().err


def test_has_display(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert entry.has_display() is False
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert entry.has_display() is True


def clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def test_process_exit_code_and_single_stderr_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "main.py"), "--input", str(tmp_path / "nope.mp4"),
         "--output", str(tmp_path / "o.mp4")],
        capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"portraitcam: error: Video file not found: {tmp_path / 'nope.mp4'}"]


@pytest.mark.skipif(not (resources.SAMPLE_CLIP.is_file() and segmentation.DEFAULT_MODEL_PATH.is_file()),
                    reason="bundled sample clip or model not present yet")
def test_bundled_demo_runs_headless(tmp_path):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "main.py")], capture_output=True, text=True,
                            env=clean_env(), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    demo = tmp_path / "out" / "portraitcam_demo.mp4"
    assert str(demo) in result.stdout
    expected = count_frames(resources.SAMPLE_CLIP)
    assert count_frames(demo) == expected
