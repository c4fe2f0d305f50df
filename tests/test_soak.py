"""A shorter soak than `python tests/soak.py` (see there): thousands of frames through the window's
pipeline with source switches, background and settings changes and virtual-camera start/stop;
memory and thread count stay flat."""
import os
import sys

import pyvirtualcam
import pytest

import soak


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads memory and threads from /proc")
def test_long_run_keeps_memory_and_threads_flat(monkeypatch, mean_model, capsys):
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", dict(pyvirtualcam.camera.BACKENDS))
    monkeypatch.setattr(soak.CountingBackend, "opened", 0)
    monkeypatch.setattr(soak.CountingBackend, "closed", 0)
    monkeypatch.setattr(soak.CountingBackend, "frames", 0)
    result = soak.run(frames=2400, model_path=mean_model)
    print(capsys.readouterr().out, file=sys.stderr)  # the report, shown with -s or on failure
    start, end = result["start"], result["end"]
    assert result["frames"] >= 2400
    opened, closed, published = result["vcam"]
    assert opened == closed == result["cycles"] // 2 and published > 0
    assert end["threads"] <= start["threads"], "threads leaked"
    assert end["rss"] - start["rss"] < 32 * 2**20, "memory grew"
