import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyvirtualcam
import pytest

import main as entry
from app import headless, resources, segmentation
from conftest import (REPO_ROOT, FaultySegmenter, count_frames, deny_reading, make_onnx_model, person_frames,
                      write_video)
from test_sinks import BusyBackend, NoDeviceBackend


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


@pytest.mark.parametrize("setting, flag, default", [("steady_edges", "steady-edges", False),
                                                     ("room_memory", "room-memory", True)])
def test_matte_flags_reach_the_matte(capsys, tmp_path, mean_model, monkeypatch, setting, flag, default):
    import app.pipeline

    seen = []
    original = app.pipeline.Pipeline.__init__

    def spy(self, segmenter, refiner, *args, **kwargs):
        seen.append(getattr(refiner.settings, setting))
        original(self, segmenter, refiner, *args, **kwargs)

    monkeypatch.setattr(app.pipeline.Pipeline, "__init__", spy)
    clip = write_video(tmp_path / "c.avi", person_frames(3))
    on, off = f"--{flag}", f"--no-{flag}"
    for flags, expected in (([], default), ([on], True), ([off], False), ([on, off], False), ([off, on], True)):
        code, _, err = run_cli(capsys, "-i", clip, "-o", tmp_path / "o.avi", "--model", mean_model, *flags)
        assert code == 0, err
        assert seen[-1] is expected


def test_a_photo_gets_mirror_averaged_model_runs_and_a_video_only_when_asked(capsys, tmp_path, mean_model, monkeypatch):
    import app.pipeline

    seen, calm = [], []
    original = app.pipeline.Pipeline.__init__

    def spy(self, segmenter, *args, **kwargs):
        seen.append(segmenter.mirror_average)
        calm.append(segmenter.mirror_when_calm)
        original(self, segmenter, *args, **kwargs)

    monkeypatch.setattr(app.pipeline.Pipeline, "__init__", spy)
    photo = tmp_path / "me.png"
    cv2.imwrite(str(photo), person_frames(1)[0])
    clip = write_video(tmp_path / "c.avi", person_frames(3))
    for source, output, flags, expected in ((photo, "o.png", [], True), (clip, "o.avi", [], False),
                                            (photo, "o.png", ["--mirror-average"], True),
                                            (clip, "o.avi", ["--mirror-average"], True),
                                            (photo, "o.png", ["--no-mirror-average"], False),
                                            (clip, "o.avi", ["--no-mirror-average"], False)):
        code, _, err = run_cli(capsys, "-i", source, "-o", tmp_path / output, "--model", mean_model, *flags)
        assert code == 0, err
        assert seen[-1] is expected
        assert calm[-1] is ("--no-mirror-average" not in flags)  # a video's calm runs: two looks by default


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


def test_an_animated_gif_plays_as_the_background(capsys, tmp_path, mean_model):
    # A GIF went to the picture reader as a background and was refused, while as a source it played.
    clip = write_video(tmp_path / "c.avi", person_frames(12), fps=15.0)
    red, blue = np.full((90, 160, 3), (0, 0, 255), np.uint8), np.full((90, 160, 3), (255, 0, 0), np.uint8)
    animation = cv2.Animation()
    animation.frames, animation.durations = [red, blue], [200, 200]  # 5 frames a second
    assert cv2.imwriteanimation(str(tmp_path / "bg.gif"), animation)
    output = tmp_path / "o.avi"
    code, _, err = run_cli(capsys, "-i", clip, "-o", output, "-b", tmp_path / "bg.gif", "--model", mean_model,
                           "--smoothing", "0")
    assert code == 0, err
    capture = cv2.VideoCapture(str(output))
    corners = [capture.read()[1][:10, :10].reshape(-1, 3).mean(axis=0) for _ in range(12)]
    capture.release()
    # Its frames in turn at its own pace, each for three of the 15-FPS output's, looping.
    for corner, colour in zip(corners, [(0, 0, 255)] * 3 + [(255, 0, 0)] * 3 + [(0, 0, 255)] * 3 + [(255, 0, 0)] * 3):
        assert corner == pytest.approx(colour, abs=25)


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


def test_a_photo_to_a_picture_is_processed_once_whatever_max_frames_says(capsys, tmp_path, mean_model):
    photo = tmp_path / "me.png"
    cv2.imwrite(str(photo), person_frames(1)[0])
    output = tmp_path / "me_out.png"
    # 10**11 ran until interrupted (a frame at a time, to keep the last).
    code, out, err = run_cli(capsys, "-i", photo, "-o", output, "--color", "0,0,255", "--model", mean_model,
                             "--max-frames", str(10**11), "--no-progress")
    assert code == 0, err
    assert f"Wrote 1 frame to {output}" in out
    assert "--max-frames 100000000000 has no effect" in err
    assert cv2.imread(str(output)).shape == (120, 160, 3)
    # To a video the photo is repeated as asked.
    code, out, err = run_cli(capsys, "-i", photo, "-o", tmp_path / "me.mp4", "--color", "0,0,255",
                             "--model", mean_model, "--max-frames", "3")
    assert code == 0 and "Wrote 3 frames" in out and "no effect" not in err


def test_virtual_camera_receives_frames(capsys, clip_path, mean_model, recording_camera):
    code, _, err = run_cli(capsys, "-i", clip_path, "--virtual-camera", "--vcam-backend", "recording",
                           "--max-frames", "4", "--model", mean_model)
    assert code == 0, err
    backend = recording_camera.instances[-1]
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
    pyvirtualcam.register_backend("nodevice", NoDeviceBackend)
    code, _, err = run_cli(capsys, "-i", clip_path, "--virtual-camera", "--vcam-backend", "nodevice",
                           "--model", mean_model)
    from app.sinks import virtual_camera_setup_hint
    assert_one_line_error(code, err, "No v4l2 loopback device", virtual_camera_setup_hint())


def test_a_virtual_camera_that_fails_to_close_costs_neither_the_video_nor_a_traceback(
        capsys, monkeypatch, tmp_path, clip_path, mean_model):
    from conftest import RecordingBackend

    class CloseFails(RecordingBackend):
        def close(self):
            super().close()
            raise RuntimeError("device went away")

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    pyvirtualcam.register_backend("closefails", CloseFails)
    RecordingBackend.instances.clear()
    out = tmp_path / "kept.avi"
    code, printed, err = run_cli(capsys, "-i", clip_path, "-o", out, "--virtual-camera", "--vcam-backend",
                                 "closefails", "--model", mean_model, "--no-progress", "--max-frames", 4)
    assert code == 0 and out.is_file() and "Wrote 4 frames" in printed, err
    assert "did not close cleanly: device went away" in err and "Traceback" not in err
    import gc

    gc.collect()  # pyvirtualcam's __del__ must not close it a second time
    assert [backend.closed for backend in RecordingBackend.instances] == [1]


def test_a_write_that_fails_mid_job_names_the_frames_the_partial_file_holds(capsys, monkeypatch, tmp_path,
                                                                            clip_path, mean_model):
    import errno

    from app.sinks import FileSink

    send = FileSink.send

    def fills_the_disk(self, frame):
        if self.frames_written == 8:
            raise OSError(errno.ENOSPC, "No space left on device")
        send(self, frame)
    monkeypatch.setattr(FileSink, "send", fills_the_disk)
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "full.avi", "--model", mean_model,
                           "--no-progress")
    # The file is encoded on a thread of its own, a frame behind the job: the job's count said 9.
    assert code == 1 and "the 8 frames written before it are in" in err, err
    assert count_frames(tmp_path / "full.partial.avi")[0] == 8


def test_a_virtual_camera_that_fails_mid_job_stops_publishing_and_the_file_goes_on(
        capsys, monkeypatch, tmp_path, clip_path, mean_model):
    from conftest import RecordingBackend

    class FailsAfterThree(RecordingBackend):
        def send(self, frame):
            if len(self.frames) == 3:
                raise OSError("device unplugged")
            super().send(frame)

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    pyvirtualcam.register_backend("unplugged", FailsAfterThree)
    out = tmp_path / "whole.avi"
    code, printed, err = run_cli(capsys, "-i", clip_path, "-o", out, "--virtual-camera", "--vcam-backend",
                                 "unplugged", "--model", mean_model, "--no-progress", "--max-frames", 8)
    assert code == 0 and "Wrote 8 frames" in printed, err  # the job stopped at frame 4 before
    assert "device unplugged; publishing stopped, the file goes on" in err
    assert count_frames(out)[0] == 8
    code, _, err = run_cli(capsys, "-i", clip_path, "--virtual-camera", "--vcam-backend", "unplugged",
                           "--model", mean_model, "--no-progress", "--max-frames", 8)
    assert_one_line_error(code, err, "device unplugged")  # publishing was the whole job


def test_a_disk_that_fills_while_publishing_stops_the_file_and_the_call_goes_on(
        capsys, monkeypatch, tmp_path, clip_path, mean_model):
    # The file's free-space check stopped the whole job, and the virtual camera (a live call) with it.
    import app.sinks as sinks_module
    from conftest import RecordingBackend

    real_free, written = sinks_module.free_bytes, []
    monkeypatch.setattr(sinks_module.FileSink, "send", lambda self, frame, real=sinks_module.FileSink.send:
                        written.append(True) or real(self, frame))
    monkeypatch.setattr(sinks_module, "free_bytes", lambda folder: 2048 if len(written) > 3 else real_free(folder))
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    pyvirtualcam.register_backend("recording", RecordingBackend)
    RecordingBackend.instances.clear()
    code, printed, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "call.avi", "--virtual-camera",
                                 "--vcam-backend", "recording", "--model", mean_model, "--no-progress")
    assert len(RecordingBackend.instances[0].frames) == 20  # every frame of the clip was published
    assert "publishing goes on" in err and "Wrote" not in printed
    assert_one_line_error(code, err, "stopped: the disk is full", str(tmp_path / "call.partial.avi"))
    assert count_frames(tmp_path / "call.partial.avi")[0] == sinks_module.FileSink.DISK_CHECK_FRAMES


def test_bad_arguments_are_usage_errors(capsys):
    code, _, err = run_cli(capsys, "-o", "x.mp4", "--color", "purple")
    assert code == 2 and "invalid colour" in err


@pytest.mark.parametrize("colour", ["#+1+2+3", "1_0,2,3", "\uff11,2,3", "#12345", " 0x1,2,3"])
def test_colours_int_would_stretch_to_are_refused(capsys, colour):
    code, _, err = run_cli(capsys, "-o", "x.mp4", "--color", colour)
    assert code == 2 and "invalid colour" in err


def test_a_video_written_to_a_picture_says_which_frame_it_keeps(capsys, tmp_path, clip_path, mean_model):
    out = tmp_path / "still.png"
    code, printed, _ = run_cli(capsys, "-i", clip_path, "-o", out, "--max-frames", 3, "--color", "0,255,0",
                               "--model", mean_model, "--no-progress")
    assert code == 0 and "Wrote the last of 3 frames" in printed and out.is_file()


def test_a_cut_matroska_file_is_written_to_its_end_with_a_note(capsys, tmp_path, mean_model):
    # Matroska stores no frame count: OpenCV estimates one from the duration, which a complete
    # variable-rate recording can overshoot, so falling short of it is a note, not a failure.
    whole = tmp_path / "whole.mkv"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for level in range(30):
        writer.write(np.full((48, 64, 3), level * 8, np.uint8))
    writer.release()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    code, printed, err = run_cli(capsys, "-i", cut, "-o", tmp_path / "out.avi", "--color", "0,255,0",
                                 "--model", mean_model, "--no-progress")
    assert code == 0, err
    written = int(re.search(r"Wrote (\d+) frames", printed).group(1))
    assert 10 <= written < 29 and f"ended after {written} of about 30 frames" in err


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


# --- never lose a user's file (issue 10) --------------------------------------------------------
def test_output_equal_to_input_is_refused(capsys, tmp_path, clip_path, mean_model):
    before = clip_path.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(clip_path)
    hard = tmp_path / "hard.mp4"
    os.link(clip_path, hard)
    for output in (clip_path, link, hard, tmp_path / "sub" / ".." / "clip.mp4"):
        code, _, err = run_cli(capsys, "-i", clip_path, "-o", output, "--model", mean_model)
        assert_one_line_error(code, err, "same file")
        assert clip_path.read_bytes() == before


def test_output_equal_to_input_photo_is_refused(capsys, tmp_path, mean_model):
    photo = tmp_path / "me.png"
    cv2.imwrite(str(photo), person_frames(1)[0])
    before = photo.read_bytes()
    code, _, err = run_cli(capsys, "-i", photo, "-o", photo, "--color", "#00ff00", "--model", mean_model)
    assert_one_line_error(code, err, "same file")
    assert photo.read_bytes() == before


def test_output_equal_to_background_is_refused(capsys, tmp_path, clip_path, background_path, mean_model):
    before = background_path.read_bytes()
    code, _, err = run_cli(capsys, "-i", clip_path, "-b", background_path, "-o", background_path,
                           "--model", mean_model)
    assert_one_line_error(code, err, "same file")
    assert background_path.read_bytes() == before


def test_failed_virtual_camera_leaves_an_existing_output_untouched(capsys, monkeypatch, tmp_path,
                                                                   clip_path, mean_model):
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    pyvirtualcam.register_backend("busy", BusyBackend)
    existing = tmp_path / "existing.mp4"
    write_video(existing, person_frames(8))
    before = existing.read_bytes()
    code, _, err = run_cli(capsys, "-i", clip_path, "--virtual-camera", "--vcam-backend", "busy",
                           "-o", existing, "--model", mean_model)
    assert_one_line_error(code, err, "busy")
    assert existing.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "existing.mp4"]


def test_successful_job_replaces_the_output_only_when_complete(capsys, tmp_path, clip_path, mean_model):
    output = tmp_path / "out.mp4"
    output.write_bytes(b"old")
    link = tmp_path / "latest.mp4"
    link.symlink_to(output)
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", link, "--model", mean_model, "--no-progress")
    assert code == 0, err
    assert link.is_symlink()  # written through the link, which still points at out.mp4
    assert count_frames(output) == (20, (160, 120))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "latest.mp4", "out.mp4"]


@pytest.fixture
def failing_segmenter(monkeypatch):
    """Makes headless build its Segmenter wrapped in FaultySegmenter(n, mode)."""
    def install(n, mode, signum=None):
        real = headless.Segmenter
        monkeypatch.setattr(headless, "Segmenter",
                            lambda *a, **kw: FaultySegmenter(real(*a, **kw), n, mode, signum))
    return install


@pytest.mark.parametrize("mode", ["raise", "nan", "shape"])
def test_failure_mid_job_keeps_the_existing_output_and_names_the_partial_file(
        capsys, tmp_path, clip_path, mean_model, failing_segmenter, mode):
    failing_segmenter(7, mode)  # the first frame has two runs (the whole frame, then a closer look)
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", output, "--model", mean_model, "--no-progress")
    partial = tmp_path / "out.partial.mp4"
    assert_one_line_error(code, err, "frame 6", str(partial))
    assert output.read_bytes() == b"precious"
    assert count_frames(partial) == (5, (160, 120))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4", "out.partial.mp4"]


def frames_done_when_interrupted(err, signame):
    """The frames an interrupted job reports done. The tests' signal comes in the model's 8th run; a
    file job finishes earlier frames meanwhile on the other thread, up to SEGMENT_AHEAD behind the
    model (app/pipeline.OverlappedFrames), so how many were done varies, but some were and not all
    20 of the clip."""
    match = re.search(rf"interrupted \({signame}\) after (\d+) frames?", err)
    assert match and 1 <= int(match.group(1)) < 20, err
    return int(match.group(1))


@pytest.mark.parametrize("signame, code", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_interrupted_job_exits_non_zero_and_keeps_a_playable_partial_file(
        capsys, tmp_path, clip_path, mean_model, failing_segmenter, signame, code):
    import signal
    failing_segmenter(8, "signal", getattr(signal, signame))  # the 8th model run
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")

    def unhandled(signum, _frame):  # what reaches the test if the CLI does not handle it
        raise AssertionError(f"the CLI left signal {signum} unhandled")

    previous = signal.signal(signal.SIGTERM, unhandled)
    # A terminal's disposition for the signal under test: run under nohup (SIGHUP ignored, as a
    # test runner may be) the job rightly keeps ignoring it (the test below)
    sent = getattr(signal, signame)
    inherited = signal.signal(sent, signal.SIG_DFL) if sent != signal.SIGTERM else None
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        exit_code, _, err = run_cli(capsys, "-i", clip_path, "-o", output, "--model", mean_model,
                                    "--no-progress")
    finally:
        restored = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)
        if inherited is not None:
            signal.signal(sent, inherited)
    assert exit_code == code, err
    partial = tmp_path / "out.partial.mp4"
    done = frames_done_when_interrupted(err, signame)
    assert str(partial) in err, err
    assert output.read_bytes() == b"precious"
    assert count_frames(partial) == (done, (160, 120))
    assert restored == handlers


def test_a_hangup_that_the_parent_ignores_stays_ignored(capsys, tmp_path, clip_path, mean_model, failing_segmenter):
    # `nohup portraitcam ...` ignores SIGHUP so the job outlives the terminal; the job's own
    # handler made a logout stop it after all.
    import signal
    failing_segmenter(8, "signal", signal.SIGHUP)  # the terminal closes at the 8th model run
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "out.mp4", "--model", mean_model,
                               "--no-progress")
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert code == 0 and "interrupted" not in err, err
    assert count_frames(tmp_path / "out.mp4") == (20, (160, 120))


def test_a_signal_that_lands_inside_the_encoders_queue_lock_cannot_hang_the_job(
        capsys, monkeypatch, tmp_path, clip_path, mean_model):
    # Raised wherever it landed, Ctrl+C could leave Queue.put's lock taken (between taking it and
    # the "with" block that releases it), and the clean-up that ends the encoder waited on that lock
    # for ever (a helper's job hung after Ctrl+C, 44 bytes written). While frames flow a signal only
    # asks the loop to stop before its next frame.
    import signal
    import threading

    from app.sinks import BackgroundSink
    real_send, sent, rescued = BackgroundSink.send, [], []

    def send(self, frame):
        sent.append(True)
        if len(sent) == 4:
            self._queue.mutex.acquire()  # as if the signal came just after Queue.put took its lock
            try:
                signal.raise_signal(signal.SIGINT)
            except BaseException:
                rescued.append(True)  # the lock stays taken; let the clean-up go on after a while
                threading.Timer(10, self._queue.mutex.release).start()
                raise
            self._queue.mutex.release()
        return real_send(self, frame)
    monkeypatch.setattr(BackgroundSink, "send", send)
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "out.mp4", "--model", mean_model,
                           "--no-progress")
    assert not rescued, "the signal was raised inside the queue's lock"
    assert code == 130 and "interrupted (SIGINT) after 4 frames" in err, err
    assert count_frames(tmp_path / "out.partial.mp4") == (4, (160, 120))


def test_ctrl_c_stops_a_job_whose_source_stalls(capsys, monkeypatch, tmp_path, clip_path, mean_model):
    # A signal waits for the frame boundary while frames flow, but a camera that stops delivering
    # may never get there: while the job waits on its source, Ctrl+C stops it at once.
    import signal
    import time

    from app.capture import PrefetchingSource
    real_read, calls, woke = PrefetchingSource.read, [], []

    def stalling_read(self):
        calls.append(True)
        if len(calls) == 5:
            signal.raise_signal(signal.SIGINT)  # the user gives up on the stalled source
            time.sleep(20)  # the source never answers
            woke.append(True)
        return real_read(self)
    monkeypatch.setattr(PrefetchingSource, "read", stalling_read)
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "out.mp4", "--model", mean_model,
                           "--no-progress")
    assert not woke, "Ctrl+C waited for the stalled source"
    assert code == 130 and "interrupted (SIGINT)" in err, err


def test_sigterm_to_the_process_keeps_the_output_and_exits_143(tmp_path, mean_model):
    import signal
    import time
    photo = tmp_path / "me.png"
    cv2.imwrite(str(photo), person_frames(1)[0])
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main.py"), "-i", str(photo), "-o", str(output),
         "--max-frames", "1000000", "--model", str(mean_model), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
                p.name.startswith(".out.") and p.stat().st_size > 1000 for p in tmp_path.iterdir()):
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    partial = tmp_path / "out.partial.mp4"
    assert str(partial) in err and "Traceback" not in err
    assert output.read_bytes() == b"precious"
    frames, size = count_frames(partial)
    assert frames > 0 and size == (160, 120)


# --- hangs and crashes become one-line errors ---------------------------------------------------
def test_threads_are_capped_at_the_cores(capsys, monkeypatch, tmp_path, clip_path, mean_model):
    seen = []
    real = headless.Segmenter
    monkeypatch.setattr(headless, "Segmenter", lambda *a, **kw: seen.append(kw["threads"]) or real(*a, **kw))
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--model", mean_model,
                           "--threads", "1000", "--max-frames", "2", "--no-progress")
    cores = headless.available_cores()
    assert code == 0, err
    assert seen == [cores]
    assert err.count(f"--threads 1000 is more than the {cores} cores here; using {cores}") == 1


def test_blur_and_feather_are_clamped_to_the_slider_ranges(capsys, monkeypatch, tmp_path, clip_path,
                                                           mean_model):
    from app.compositing import BLUR_MAX, Compositor
    from app.matting import FEATHER_MAX, MatteRefiner

    seen = {}
    real_blur, real_refine = Compositor.set_blur, MatteRefiner.refine

    def set_blur(self, strength=21.0):
        seen["blur"] = strength
        real_blur(self, strength)

    def refine(self, mask, frame, *args, **kwargs):
        seen["feather"] = self.settings.feather
        return real_refine(self, mask, frame, *args, **kwargs)

    monkeypatch.setattr(Compositor, "set_blur", set_blur)
    monkeypatch.setattr(MatteRefiner, "refine", refine)
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--model", mean_model,
                           "--blur", "1e6", "--feather", "1e6", "--max-frames", "2", "--no-progress")
    assert code == 0, err
    assert seen == {"blur": BLUR_MAX, "feather": FEATHER_MAX}
    assert f"--blur 1e+06 is outside 0..{BLUR_MAX:g}; using {BLUR_MAX:g}" in err
    assert f"--feather 1e+06 is outside 0..{FEATHER_MAX:g}; using {FEATHER_MAX:g}" in err
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--blur", "nan")
    assert code == 2 and "must be a number" in err
    # Python's float() reads digit grouping: "0_1" would be 1 and "2_1" 21, silently.
    for option, typo in (("--threshold", "0_1"), ("--blur", "2_1")):
        code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", option, typo)
        assert code == 2 and f"must be a number, got '{typo}'" in err, err


def test_an_output_that_ends_with_a_slash_is_refused(capsys, tmp_path, clip_path):
    # pathlib drops a trailing slash: "new/out.mp4/" wrote the file new/out.mp4.
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", f"{tmp_path}/new/out.mp4/")
    assert_one_line_error(code, err, "ends with a slash, like a folder")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("case", ["under_a_file", "uncreatable_folder"])
def test_image_output_into_a_folder_that_cannot_exist_is_a_one_line_error(capsys, tmp_path, mean_model,
                                                                          case):
    photo = tmp_path / "me.png"
    cv2.imwrite(str(photo), person_frames(1)[0])
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    if case == "uncreatable_folder" and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux's /proc, where nobody (not even root) can create a folder")
    output = {"under_a_file": blocker / "out.png",
              "uncreatable_folder": Path("/proc/portraitcam-test/out.png")}[case]
    code, _, err = run_cli(capsys, "-i", photo, "-o", output, "--model", mean_model)
    assert_one_line_error(code, err, str(output))


def test_negative_camera_index_is_named_as_such(capsys, tmp_path, mean_model):
    code, _, err = run_cli(capsys, "--input=-1", "-o", tmp_path / "o.mp4", "--model", mean_model)
    assert_one_line_error(code, err, "Camera index -1 is not valid")


@pytest.mark.parametrize("suffix, size", [(".avi", (161, 121)), (".mp4", (162, 122))])
def test_odd_sized_video_keeps_its_size(capsys, tmp_path, mean_model, suffix, size):
    clip = write_video(tmp_path / "odd.avi", person_frames(4, width=161, height=121))
    assert count_frames(clip) == (4, (161, 121))  # the test clip itself keeps the odd size
    output = tmp_path / f"out{suffix}"
    code, _, err = run_cli(capsys, "-i", clip, "-o", output, "--model", mean_model, "--no-progress")
    assert code == 0, err
    assert count_frames(output) == (4, size)
    if suffix == ".mp4":  # FFmpeg's writers need even sizes: padded, never cropped, and said so
        assert "use .avi to keep 161x121" in err


@pytest.fixture
def no_gui(monkeypatch):
    """Starting the window here would block the test (or abort Qt): make that a failure instead."""
    import app.gui.main_window as main_window

    def refuse(argv=None):
        raise AssertionError(f"the GUI was started with {argv}")
    monkeypatch.setattr(main_window, "run_gui", refuse)


def test_gui_options_without_a_display_run_headless_instead_of_aborting(
        capsys, monkeypatch, tmp_path, clip_path, mean_model, no_gui):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(resources, "SAMPLE_CLIP", clip_path)
    monkeypatch.chdir(tmp_path)
    assert entry.main(["--color", "#00ff00", "--model", str(mean_model), "--no-progress"]) == 0
    capture = cv2.VideoCapture(str(tmp_path / "out" / "portraitcam_demo.mp4"))
    ok, first = capture.read()
    capture.release()
    assert ok and first[:10, :10].reshape(-1, 3).mean(axis=0) == pytest.approx([0, 255, 0], abs=12)
    # A window-only option that the CLI does not know is a usage error, not a Qt abort.
    assert entry.main(["--no-such-option"]) == 2


def test_missing_x11_libraries_are_named_with_the_install_command(capsys, monkeypatch, no_gui):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)

    def load(soname):  # as on a minimal install (this one or CI's may have them all)
        if soname in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"):
            raise OSError(f"{soname}: cannot open shared object file")
    monkeypatch.setattr(entry.ctypes, "CDLL", load)
    assert entry.main([]) == 1
    err = capsys.readouterr().err
    assert_one_line_error(1, err, "libxcb-icccm4, libxcb-keysyms1",
                          "sudo apt install libxcb-icccm4 libxcb-keysyms1")
    assert "xcb-cursor0" not in err


def test_display_library_check_only_for_x11(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert entry.uses_xcb() is False
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert entry.uses_xcb() is True
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    assert entry.uses_xcb() is False
    monkeypatch.setattr(sys, "platform", "win32")
    assert entry.uses_xcb() is False


def test_unreachable_x_display_is_a_one_line_error_not_a_qt_abort(capsys, monkeypatch, no_gui):
    import ctypes
    try:
        ctypes.CDLL("libxcb.so.1")
    except OSError:
        pytest.skip("needs libxcb to try the connection")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":9731")  # no X server there
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(entry, "missing_display_libraries", lambda: [])
    assert entry.main([]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "cannot connect to the X display ':9731'")


def test_a_second_signal_during_the_clean_up_does_not_cut_the_partial_file_short(
        capsys, monkeypatch, tmp_path, clip_path, mean_model, failing_segmenter):
    import signal

    from app.sinks import FileSink
    failing_segmenter(8, "signal", signal.SIGINT)  # the 8th model run
    real_abort = FileSink.abort

    def impatient_abort(self):  # the user presses Ctrl+C again, or a service manager sends TERM
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        real_abort(self)
    monkeypatch.setattr(FileSink, "abort", impatient_abort)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "out.mp4", "--model", mean_model,
                               "--no-progress")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 130, err
    assert count_frames(tmp_path / "out.partial.mp4") == (frames_done_when_interrupted(err, "SIGINT"), (160, 120))


# --- issue 15: files, numbers and signals as a hostile user gives them ------------------------------
@pytest.mark.parametrize("fps", ["inf", "nan", "0", "-5", "1e308", "241", "abc", "-inf"])
def test_an_impossible_fps_is_a_usage_error_naming_fps(capsys, tmp_path, clip_path, mean_model, fps):
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--model", mean_model,
                           f"--fps={fps}")
    assert code == 2 and "argument --fps" in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("option", ["--background", "--model", "--input", "--source", "--output", "-b", "-i"])
def test_an_empty_file_option_is_an_error_not_a_silent_default(capsys, tmp_path, clip_path, mean_model, option):
    argv = {"--input": ["-o", tmp_path / "o.mp4"], "--source": ["-o", tmp_path / "o.mp4"],
            "-i": ["-o", tmp_path / "o.mp4"], "--output": ["-i", clip_path]}.get(
        option, ["-i", clip_path, "-o", tmp_path / "o.mp4"])
    code, _, err = run_cli(capsys, *argv, *([] if option == "--model" else ["--model", mean_model]),
                           f"{option}=")
    assert code == 2 and "must name a file" in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("option", ["-i", "-b", "--model"])
def test_a_folder_is_named_as_a_folder(capsys, tmp_path, clip_path, mean_model, option):
    folder = tmp_path / ("clips.mp4" if option != "-b" else "pictures.jpg")
    folder.mkdir()
    argv = {"-i": ["-i", folder, "--model", mean_model], "-b": ["-i", clip_path, "-b", folder, "--model", mean_model],
            "--model": ["-i", clip_path, "--model", folder]}[option]
    code, _, err = run_cli(capsys, *argv, "-o", tmp_path / "o.mp4")
    assert_one_line_error(code, err, "is a folder", str(folder))


@pytest.mark.parametrize("option", ["-i", "-o", "-b", "--model", "-i photo"])
def test_a_300_byte_file_name_is_a_one_line_error(capsys, tmp_path, clip_path, mean_model, option):
    long = str(tmp_path / ("x" * 300))
    argv = {"-i": ["-i", long + ".mp4", "-o", tmp_path / "o.mp4", "--model", mean_model],
            "-i photo": ["-i", long + ".jpg", "-o", tmp_path / "o.png", "--model", mean_model],
            "-o": ["-i", clip_path, "-o", long + ".mp4", "--model", mean_model],
            "-b": ["-i", clip_path, "-b", long + ".jpg", "-o", tmp_path / "o.mp4", "--model", mean_model],
            "--model": ["-i", clip_path, "-o", tmp_path / "o.mp4", "--model", long + ".onnx"]}[option]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, "too long")
    assert len([line for line in err.splitlines() if line.strip()]) == 1


@pytest.mark.parametrize("spec, fragment", [("²", "not found"), ("٣", "not found"), ("99999999999", "out of range"),
                                            ("256", "out of range"), ("9" * 5000, "out of range")])
@pytest.mark.parametrize("flag", ["-i", "--source"])
def test_odd_camera_indices_are_one_line_errors(capsys, tmp_path, mean_model, spec, fragment, flag):
    code, _, err = run_cli(capsys, flag, spec, "-o", tmp_path / "o.mp4", "--model", mean_model)
    assert_one_line_error(code, err, fragment)


def test_a_gif_output_lists_every_valid_extension(capsys, tmp_path, clip_path, mean_model):
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.gif", "--model", mean_model)
    assert_one_line_error(code, err, "'.gif'")
    for suffix in (".mp4", ".avi", ".mkv", ".mov", ".png", ".jpg", ".webp", ".tif"):
        assert suffix in err
    assert not (tmp_path / "o.gif").exists()


def test_help_says_what_no_arguments_do_and_shows_defaults(capsys):
    code, out, _ = run_cli(capsys, "--help")
    text = " ".join(out.split())
    assert code == 0
    assert "With no arguments, PortraitCam opens its window" in text
    for fragment in ("--source", "--headless", "--check-camera", "(default: 30.0)", "(default: 1280)",
                     "(default: camera 0)", ".png", ".avi", "(default strength 21;",
                     "default: the first that works", "default: the first free one", "smoothing 0..0.99"):
        assert fragment in text, fragment
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize("what", ["-b", "--model", "-i"])
def test_an_unreadable_file_says_permission_denied_not_corrupt(capsys, monkeypatch, tmp_path, clip_path,
                                                               background_path, mean_model, what):
    # Tests run as root, whom chmod 000 does not stop: make the OS answer as it does a user.
    target = {"-b": background_path, "--model": mean_model, "-i": clip_path}[what]
    deny_reading(monkeypatch, target)
    code, _, err = run_cli(capsys, "-i", clip_path, "-b", background_path, "--model", mean_model,
                           "-o", tmp_path / "o.mp4")
    assert_one_line_error(code, err, "permission denied", str(target))
    assert "corrupt" not in err


def _truncated_jpeg(path):
    cv2.imwrite(str(path), np.random.default_rng(3).integers(0, 256, (90, 160, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-300])
    return path


@pytest.mark.parametrize("role", ["-i", "-b"])
def test_libjpeg_lines_do_not_leak_beside_the_one_line_error(tmp_path, mean_model, clip_path, role):
    broken = _truncated_jpeg(tmp_path / "cut.jpg")
    argv = (["-i", broken, "-o", tmp_path / "o.png"] if role == "-i"
            else ["-i", clip_path, "-b", broken, "-o", tmp_path / "o.mp4"])
    result = subprocess.run([sys.executable, str(REPO_ROOT / "main.py"), *map(str, argv),
                             "--model", str(mean_model), "--no-progress"],
                            capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("portraitcam: error: ") and "truncated" in lines[0], result.stderr


def test_a_full_disk_keeps_the_existing_output_and_exits_non_zero(capsys, monkeypatch, tmp_path, clip_path,
                                                                 mean_model):
    from test_sinks import _DiskFillingWriter

    real = cv2.VideoWriter
    writer = type("VideoWriter", (_DiskFillingWriter,), {"keep": 0.4})
    writer.__real__ = real
    monkeypatch.setattr(cv2, "VideoWriter", writer)
    for suffix in (".mp4", ".avi"):
        output = tmp_path / f"out{suffix}"
        output.write_bytes(b"precious")
        code, out, err = run_cli(capsys, "-i", clip_path, "-o", output, "--model", mean_model, "--no-progress")
        assert_one_line_error(code, err, "failed", f"the existing {output} is kept")
        assert "Wrote" not in out
        assert output.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.avi", "out.mp4"]


def test_leftovers_of_a_killed_job_are_removed_with_a_note(capsys, tmp_path, clip_path, mean_model):
    from test_sinks import _dead_pid

    leftover = tmp_path / f".out.{_dead_pid()}.0badf00d.tmp.mp4"
    leftover.write_bytes(b"x" * 1000)
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "out.mp4", "--model", mean_model,
                           "--no-progress")
    assert code == 0, err
    assert not leftover.exists() and "removed 1 temporary file left by an earlier job" in err


FINISHING_POINTS = [
    ("app.sinks", "FileSink", "close"), ("app.sinks", "FileSink", "_written_problem"),
    ("app.sinks", None, "_replace_into_place"), ("app.sinks", "BackgroundSink", "close"),
    ("app.sinks", "FileSink", "abort"), ("app.capture", "PrefetchingSource", "close"),
    ("app.capture", "VideoFileSource", "close"), ("app.compositing", "Compositor", "close"),
    ("app.headless", None, "_abort_sinks"), ("app.headless", "tqdm", "close"),
    ("app.headless", None, "print"),
]


@pytest.mark.parametrize("module, owner, name", FINISHING_POINTS)
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signal_while_the_job_finishes_never_escapes_and_never_breaks_the_output(
        capsys, monkeypatch, tmp_path, clip_path, mean_model, module, owner, name, signame):
    import importlib
    import signal

    signum = getattr(signal, signame)
    target = importlib.import_module(module)
    target = getattr(target, owner) if owner else target
    real = getattr(target, name, None) if name != "print" else print
    sent = []

    def interrupted_here(*args, **kwargs):
        if not sent:
            sent.append(True)
            signal.raise_signal(signum)  # the handler runs at once, inside this call
        return real(*args, **kwargs)
    monkeypatch.setattr(target, name, interrupted_here, raising=False)
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(AssertionError("unhandled SIGTERM")))
    try:
        code, out, err = run_cli(capsys, "-i", clip_path, "-o", output, "--model", mean_model, "--no-progress")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sent, "the finishing step was never reached"
    assert code == 128 + signum, err
    assert f"interrupted ({signame})" in err and "Traceback" not in err
    # Either the old file or the complete new one; nothing hidden left behind; a named partial exists.
    assert output.read_bytes() == b"precious" or count_frames(output) == (20, (160, 120))
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert hidden == []
    for word in err.split():
        if word.startswith(str(tmp_path)) and "partial" in word:
            assert Path(word.rstrip(";,.")).exists()


def test_sigint_while_starting_exits_130_without_a_traceback(capsys, monkeypatch, tmp_path, clip_path, mean_model):
    import signal

    from app import headless

    real_parser = headless.build_parser

    def slow_start():  # Ctrl+C while the command line is being read, before the job has handlers
        signal.raise_signal(signal.SIGINT)
        return real_parser()
    monkeypatch.setattr(headless, "build_parser", slow_start)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        code = entry.main(["-i", str(clip_path), "-o", str(tmp_path / "o.mp4"), "--model", str(mean_model)])
    except KeyboardInterrupt:
        pytest.fail("Ctrl+C while starting escaped as KeyboardInterrupt (a traceback)")
    err = capsys.readouterr().err
    assert code == 130 and "interrupted (SIGINT)" in err and "Traceback" not in err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert not (tmp_path / "o.mp4").exists()


def test_sigterm_while_the_window_loads_exits_143_without_a_traceback(capsys, monkeypatch):
    import signal
    import types

    class Loading(types.ModuleType):
        def __getattr__(self, name):  # the window's module is being imported (Qt takes a while)
            signal.raise_signal(signal.SIGTERM)
            raise AssertionError("the signal was not handled")
    monkeypatch.setitem(sys.modules, "app.gui.main_window", Loading("app.gui.main_window"))
    monkeypatch.setattr(entry, "has_display", lambda: True)
    monkeypatch.setattr(entry, "uses_xcb", lambda: False)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(AssertionError("unhandled SIGTERM")))
    try:
        assert entry.main([]) == 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err
    assert "interrupted (SIGTERM)" in err and "Traceback" not in err


def test_the_window_takes_unicode_digits_as_a_file_name_not_a_camera(monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from app.gui import main_window

    seen = []

    class Window(QWidget):
        def __init__(self, source=None, model_path=None):
            super().__init__()
            seen.append(source)

        def show(self):
            QTimer.singleShot(0, QApplication.instance().quit)
    monkeypatch.setattr(main_window, "MainWindow", Window)
    # The window's open_source tells cameras from files (tests/test_gui.py opens "²" and "٣" in
    # the real window); run_gui hands the text over as it is, without int() on its way.
    for text in ("²", "٣", "2", "9" * 5000):
        main_window.run_gui(["--source", text])
        assert seen[-1] == text


@pytest.mark.parametrize("options, note", [
    (["--smoothing", "1"], "--smoothing 1 is outside 0..0.99; using 0.99"),
    (["--vcam-device", "/dev/video10"], "apply to --virtual-camera, which was not given"),
    (["--model-schedule", "every-n", "--model-max-interval", "5"], "applies to --model-schedule motion"),
])
def test_options_that_cannot_act_as_given_say_so(capsys, tmp_path, clip_path, mean_model, options, note):
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.avi", "--max-frames", 2, "--model",
                           mean_model, "--no-progress", *options)
    assert code == 0 and note in err, err


@pytest.mark.parametrize("scale, rate, shown", [(1, 2000, "2000"), (20, 1, "0.05")])
def test_a_frame_rate_the_header_cannot_have_is_named_when_replaced(capsys, tmp_path, mean_model, scale, rate, shown):
    """Too fast (a damaged header) or too slow for the output's encoder (a frame every 20 s): the
    file is timed at 30 FPS, and says so, rather than ending the job at the output."""
    import struct

    fast = tmp_path / "fast.avi"
    writer = cv2.VideoWriter(str(fast), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for level in range(3):
        writer.write(np.full((48, 64, 3), 60 * level, np.uint8))
    writer.release()
    data = bytearray(fast.read_bytes())  # OpenCV writes at most 600 FPS and at least 0.1
    struct.pack_into("<II", data, data.index(b"strh") + 28, scale, rate)  # the stream's rate: rate / scale
    struct.pack_into("<I", data, data.index(b"avih") + 8, round(1e6 * scale / rate))  # microseconds a frame
    fast.write_bytes(data)
    code, _, err = run_cli(capsys, "-i", fast, "-o", tmp_path / "o.avi", "--model", mean_model, "--no-progress")
    assert code == 0 and f"frame rate ({shown}) is not usable; timed at 30 FPS" in err, err


def test_check_camera_names_the_job_options_it_ignores(capsys, monkeypatch):
    import app.vcam_check

    monkeypatch.setattr(app.vcam_check, "main", lambda: 0)
    code, _, err = run_cli(capsys, "--check-camera", "-o", "x.mp4")
    assert code == 0 and "ignoring -o x.mp4" in err


def test_the_window_names_the_options_it_ignores(monkeypatch, capsys):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from app.gui import main_window

    class Window(QWidget):
        def __init__(self, source=None, model_path=None):
            super().__init__()

        def show(self):
            QTimer.singleShot(0, QApplication.instance().quit)
    monkeypatch.setattr(main_window, "MainWindow", Window)
    main_window.run_gui(["--source", "clip.mp4", "--color", "#00ff00", "--sour", "x"])
    err = capsys.readouterr().err
    assert "the window ignores --color #00ff00 --sour x" in err  # no abbreviation of --source either


@pytest.mark.parametrize("argv, spelling", [(["--out", "x.mp4"], "--out: spell it --output"),
                                             (["--inp", "0"], "--inp: spell it --input"),
                                             (["-i", "0", "--back=x.jpg"], "--back: spell it --background")])
def test_abbreviated_options_are_refused_not_guessed(capsys, argv, spelling):
    # main.py tells a headless job by its options' full names; an abbreviation went to the demo,
    # which then named its default output instead of the one asked for.
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and spelling in err
    code, _, err = run_cli(capsys, "-i", "0", "--zzz")
    assert code == 2 and "unrecognized arguments: --zzz" in err


@pytest.mark.parametrize("argv", [["--out", "x.mp4"], ["--virt"], ["--inp=clip.mp4"]])
def test_an_abbreviated_job_option_on_a_desktop_is_a_usage_error_not_the_window(capsys, monkeypatch, argv):
    # The window opened (with a note that it ignores them), and the job asked for was not done.
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(sys, "platform", "linux")
    import app.gui.main_window as main_window

    monkeypatch.setattr(main_window, "run_gui", lambda argv: pytest.fail("the window opened"))
    assert entry.main(argv) == 2
    assert "spell it --" in capsys.readouterr().err


def test_headless_alone_runs_the_demo_on_a_desktop(capsys, monkeypatch, tmp_path, clip_path, background_path,
                                                   mean_model):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(resources, "SAMPLE_CLIP", clip_path)
    monkeypatch.setattr(resources, "BACKGROUNDS_DIR", background_path.parent)
    monkeypatch.setattr(segmentation, "DEFAULT_MODEL_PATH", mean_model)
    monkeypatch.chdir(tmp_path)
    assert entry.main(["--headless", "--max-frames", "2"]) == 0  # was "nothing to do"
    captured = capsys.readouterr()
    assert count_frames(tmp_path / "out" / "portraitcam_demo.mp4")[0] == 2
    assert "--headless: processing the input headless" in captured.err


def test_attached_short_options_start_a_headless_job(monkeypatch):
    seen = []
    monkeypatch.setattr(headless, "run", lambda argv: seen.append(argv) or 0)
    assert entry.main(["-i/some/clip.mp4", "-o/tmp/out.mp4"]) == 0
    assert seen == [["-i/some/clip.mp4", "-o/tmp/out.mp4"]]


def test_a_signal_that_a_library_turns_into_its_own_error_is_still_the_signal(capsys, monkeypatch, tmp_path,
                                                                               clip_path, mean_model):
    # Raised inside a native callback, our exception comes out as the library's own error
    # (onnxruntime: "ImportError: initialization failed"); that must not read as a broken model.
    import signal

    from app import headless

    def loading_model(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGTERM)
        except BaseException as exc:
            raise headless.ModelError("initialization failed") from exc
        raise AssertionError("the signal was not handled")
    monkeypatch.setattr(headless, "Segmenter", loading_model)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(AssertionError("unhandled")))
    try:
        code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--model", mean_model)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 143 and "interrupted (SIGTERM)" in err and "error" not in err


def test_a_signal_that_breaks_an_import_while_starting_is_still_the_signal(capsys, monkeypatch):
    import signal
    import types

    class Loading(types.ModuleType):
        def __getattr__(self, name):  # Qt's or onnxruntime's native init, interrupted
            try:
                signal.raise_signal(signal.SIGINT)
            except BaseException as exc:
                raise ImportError("initialization failed") from exc
            raise AssertionError("the signal was not handled")
    monkeypatch.setitem(sys.modules, "app.gui.main_window", Loading("app.gui.main_window"))
    monkeypatch.setattr(entry, "has_display", lambda: True)
    monkeypatch.setattr(entry, "uses_xcb", lambda: False)
    assert entry.main([]) == 130
    err = capsys.readouterr().err
    assert "interrupted (SIGINT)" in err and "Traceback" not in err and "initialization" not in err


def test_a_full_disk_at_the_end_names_the_partial_file_once(capsys, tmp_path, mean_model, clip_path, monkeypatch):
    from app.sinks import FileSink

    full = []  # the disk fills as the last frame is written
    monkeypatch.setattr(FileSink, "_disk_full", lambda self: (bool(full), f"1.0 KiB free in {tmp_path}"))
    monkeypatch.setattr(FileSink, "_release", lambda self, real=FileSink._release: full.append(True) or real(self))
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--model", mean_model, "--no-progress")
    partial = tmp_path / "o.partial.mp4"
    assert code == 1 and "may be incomplete: the disk is full" in err, err
    assert err.count(str(partial)) == 1 and partial.exists() and not (tmp_path / "o.mp4").exists(), err


def test_a_disk_that_fills_mid_job_stops_it_there_and_keeps_what_was_written(
        capsys, tmp_path, mean_model, clip_path, monkeypatch):
    # The free space was looked at only when the file opened and when it closed: a long job ran to
    # its end on a full disk, and only then said so.
    import app.sinks as sinks_module

    real_free = sinks_module.free_bytes
    written = []
    monkeypatch.setattr(sinks_module.FileSink, "send", lambda self, frame, real=sinks_module.FileSink.send:
                        written.append(True) or real(self, frame))
    monkeypatch.setattr(sinks_module, "free_bytes", lambda folder: 2048 if len(written) > 3 else real_free(folder))
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--model", mean_model, "--no-progress")
    partial = tmp_path / "o.partial.mp4"
    assert code == 1 and "stopped: the disk is full (2.0 KiB free" in err, err
    assert str(partial) in err and count_frames(partial) == (sinks_module.FileSink.DISK_CHECK_FRAMES, (160, 120))


def test_a_photo_the_model_calls_all_person_says_why_only_the_background_went_out(capsys, tmp_path, mean_model):
    # The mean model calls bright pixels person: a white picture is "all person" on its one run,
    # far fewer runs than the live warning waits for.
    white, half = tmp_path / "white.png", tmp_path / "half.png"
    cv2.imwrite(str(white), np.full((60, 80, 3), 255, np.uint8))
    picture = np.full((60, 80, 3), 255, np.uint8)
    picture[:, :40] = 0
    cv2.imwrite(str(half), picture)
    code, _, err = run_cli(capsys, "-i", white, "-o", tmp_path / "o.png", "--model", mean_model, "--no-progress")
    assert code == 0 and "marked the whole picture as you, so the background alone goes out" in err, err
    assert err.count("whole picture as you") == 1, err
    code, _, err = run_cli(capsys, "-i", half, "-o", tmp_path / "o.png", "--model", mean_model, "--no-progress")
    assert code == 0 and "whole picture as you" not in err, err


def test_an_input_cut_short_keeps_every_frame_read_before_it_in_the_partial_file(capsys, tmp_path, mean_model):
    # A file to a file runs overlapped: frames already read are still in the model and finishing
    # threads when the read fails, and they belong in the partial file too.
    whole = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for frame in person_frames(24):
        writer.write(frame)
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    code, _, err = run_cli(capsys, "-i", cut, "-o", tmp_path / "out.mp4", "--model", mean_model, "--no-progress")
    read = re.search(r"failed after (\d+) of 24 frames", err)
    written = re.search(r"the (\d+) frames written before it are in", err)
    assert code == 1 and read and written, err
    assert int(written.group(1)) == int(read.group(1)) > 0, err
    assert count_frames(tmp_path / "out.partial.mp4") == (int(read.group(1)), (160, 120))


def test_a_frame_count_the_file_cannot_hold_is_named_and_the_whole_file_is_read(capsys, tmp_path, mean_model):
    import struct

    clip = tmp_path / "lying.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for level in range(5):
        writer.write(np.full((48, 64, 3), 50 * level, np.uint8))
    writer.release()
    data = bytearray(clip.read_bytes())
    struct.pack_into("<I", data, data.index(b"avih") + 24, 4_000_000_000)  # total frames
    struct.pack_into("<I", data, data.index(b"strh") + 40, 4_000_000_000)  # the stream's length
    clip.write_bytes(data)
    code, out, err = run_cli(capsys, "-i", clip, "-o", tmp_path / "o.avi", "--model", mean_model, "--no-progress")
    assert code == 0 and "frame count (4000000000) is more than its" in err and "Wrote 5 frames" in out, (out, err)
    assert count_frames(tmp_path / "o.avi")[0] == 5


@pytest.mark.parametrize("option, address, fragment", [
    ("-i", "http://127.0.0.1:9/talk.mp4", "http://127.0.0.1:9/talk.mp4 is a network address"),
    ("-b", "https://host/wall.jpg", "Cannot load background image: https://host/wall.jpg is a network address"),
    ("-b", "https://host/loop.mp4", "Cannot load background video: https://host/loop.mp4 is a network address"),
    ("-o", "rtmp://host/live.mp4", "--output rtmp://host/live.mp4 is a network address"),
])
def test_a_network_address_in_a_file_option_is_named_as_written(capsys, tmp_path, clip_path, mean_model, option,
                                                                  address, fragment):
    argv = {"-i": ["-i", address, "-o", tmp_path / "o.mp4"], "-b": ["-i", clip_path, "-b", address,
                                                                    "-o", tmp_path / "o.mp4"],
            "-o": ["-i", clip_path, "-o", address]}[option]
    code, _, err = run_cli(capsys, *argv, "--model", mean_model)
    assert_one_line_error(code, err, fragment)  # not "http:/host/..." (a path's folding) nor "not found"
    assert not (tmp_path / "o.mp4").exists()


def test_file_links_in_every_file_option_are_their_files(capsys, tmp_path, clip_path, background_path, mean_model):
    clip = tmp_path / "my clip.mp4"
    clip.write_bytes(clip_path.read_bytes())
    wall = tmp_path / "my wall.jpg"
    wall.write_bytes(background_path.read_bytes())
    output = tmp_path / "out dir" / "result.mp4"
    code, out, err = run_cli(capsys, "-i", clip.as_uri(), "-b", wall.as_uri(), "-o", output.as_uri(),
                             "--model", mean_model, "--max-frames", "3")
    assert code == 0, err
    assert f"Wrote 3 frames to {output}" in out and count_frames(output)[0] == 3
    # The same-file guard sees through the link too: a link to the input is the input.
    before = clip.read_bytes()
    code, _, err = run_cli(capsys, "-i", clip, "-o", clip.as_uri(), "--model", mean_model)
    assert_one_line_error(code, err, "same file")
    assert clip.read_bytes() == before


def test_a_count_too_long_is_called_too_long_not_not_a_number(capsys, tmp_path, clip_path, mean_model):
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--max-frames", "1" + "0" * 12)
    assert code == 2 and "--max-frames: must be at most 12 digits long, got 1000000000000" in err
    code, _, err = run_cli(capsys, "-i", clip_path, "-o", tmp_path / "o.mp4", "--max-frames", "12x")
    assert code == 2 and "must be a whole number, got '12x'" in err


def test_a_video_named_like_a_picture_works_as_input_and_background(capsys, tmp_path, clip_path, mean_model):
    misnamed = tmp_path / "clip.jpg"
    misnamed.write_bytes(clip_path.read_bytes())
    code, out, err = run_cli(capsys, "-i", misnamed, "-o", tmp_path / "o.mp4", "--model", mean_model,
                             "--max-frames", "4")
    assert code == 0 and "Wrote 4 frames" in out, err  # not one frame, as for a photo
    code, out, err = run_cli(capsys, "-i", clip_path, "-b", misnamed, "-o", tmp_path / "b.mp4",
                             "--model", mean_model, "--max-frames", "3")
    assert code == 0 and "Wrote 3 frames" in out, err


def test_the_done_line_shows_a_name_with_a_newline_on_one_line(capsys, tmp_path, clip_path, mean_model):
    output = tmp_path / "no\ndir" / "m.png"
    code, out, err = run_cli(capsys, "-i", clip_path, "-o", output, "--model", mean_model, "--max-frames", "1")
    assert code == 0, err
    assert output.is_file()
    assert f"Wrote 1 frame to {tmp_path}/no\\ndir/m.png" in out.splitlines()
