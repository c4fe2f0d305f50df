"""Issue 15, privacy: a model whose mask is finite but impossible (1e30) or says "all person" never
lets the room out of the command line (file or virtual camera). The pipeline's own rules are in
test_pipeline.py and the window's worker in test_gui.py; these run the real CLI on real ONNX models."""
import cv2
import numpy as np
import pytest

from app import headless
from conftest import person_frames, write_video
from test_pipeline import make_hostile_model

GREEN = np.array([0, 255, 0])


def run_cli(capsys, *argv):
    code = headless.run([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def red_room_frames(count, width=160, height=120):
    """The person disc in a red room: red exceeds blue everywhere, so the 'red' model answers 1e30."""
    frames = person_frames(count, width, height)
    for frame in frames:
        frame[..., 2] = 250
    return frames


def test_cli_stops_on_impossible_mask_values_and_writes_no_room(capsys, tmp_path, recording_camera):
    model = make_hostile_model(tmp_path / "red.onnx", "red")
    clip = write_video(tmp_path / "red_room.avi", red_room_frames(6))
    output = tmp_path / "out.avi"
    code, _, err = run_cli(capsys, "-i", clip, "-o", output, "--virtual-camera", "--vcam-backend",
                           "recording", "--model", model, "--color", "#00ff00")
    assert code != 0
    assert "outside" in err.strip().splitlines()[-1]  # named: values outside 0..1, not clipped
    assert not output.exists() and not list(tmp_path.glob("out*.avi"))
    assert recording_camera.instances[-1].frames == []  # the first frame already failed: nothing went out


def test_cli_sends_the_background_alone_for_all_person_masks_and_notes_it_once(
        capsys, tmp_path, recording_camera, monkeypatch):
    import app.pipeline

    monkeypatch.setattr(app.pipeline, "ALL_PERSON_RUNS", 5, raising=False)
    model = make_hostile_model(tmp_path / "ones.onnx", "ones")
    clip = write_video(tmp_path / "room.avi", person_frames(12))
    output = tmp_path / "out.avi"
    code, _, err = run_cli(capsys, "-i", clip, "-o", output, "--virtual-camera", "--vcam-backend",
                           "recording", "--model", model, "--color", "#00ff00")
    assert code == 0, err
    assert err.count("whole picture") == 1  # one note, not one per frame
    backend = recording_camera.instances[-1]
    assert len(backend.frames) == 12
    for frame in backend.frames:
        assert np.all(np.abs(frame.reshape(-1, 3).astype(int) - GREEN) <= 2), "the room went out"
    capture = cv2.VideoCapture(str(output))
    written = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        written += 1
        assert np.abs(frame.reshape(-1, 3).mean(axis=0) - GREEN).max() < 12
        assert frame[40:80, 60:100].reshape(-1, 3).mean(axis=0)[2] < 30  # not even the person's disc
    capture.release()
    assert written == 12
