"""Capture timestamps, one-frame queues (latest wins) and the live figures (app/livestats.py)."""
import threading
import time

import numpy as np
import pytest

from app.capture import FrameSource, LatestFrameSource, PacedSource, PrefetchingSource, SourceError, VideoFileSource
from app.livestats import LatencyRecorder, LiveStats
from conftest import level_frames, write_video


class FakeCamera(FrameSource):
    """A live source delivering numbered frames every `period` s, like a camera's clock."""

    is_live = True

    def __init__(self, period=0.01, count=None, fail_after=None):
        super().__init__()
        self.period, self.count, self.fail_after, self.index = period, count, fail_after, 0
        self._size = (8, 4)

    def read(self):
        time.sleep(self.period)
        if self.fail_after is not None and self.index >= self.fail_after:
            raise SourceError("camera unplugged")
        if self.count is not None and self.index >= self.count:
            return None
        self.index += 1
        self.captured_at = time.monotonic()
        return np.full((4, 8, 3), self.index, np.uint8)


def test_sources_stamp_frames_when_read(tmp_path):
    path = write_video(tmp_path / "c.mp4", level_frames(4), fps=30)
    source = VideoFileSource(path, loop=False)
    before = time.monotonic()
    source.read()
    assert before <= source.captured_at <= time.monotonic()


def test_prefetching_keeps_each_frames_own_capture_time_and_one_frame_queued(tmp_path):
    path = write_video(tmp_path / "c.mp4", level_frames(6), fps=30)
    source = PrefetchingSource(VideoFileSource(path, loop=False))
    assert source._queue.maxsize == 1
    time.sleep(0.3)  # the decoder runs ahead as far as the queue lets it
    read_at = time.monotonic()
    frame = source.read()
    assert frame is not None and source.captured_at < read_at - 0.2  # read long before it was taken
    levels = [int(frame.mean())]
    while (frame := source.read()) is not None:
        levels.append(int(frame.mean()))
    source.close()
    assert len(levels) == 6 and levels == sorted(levels)  # a file: every frame, in order


def test_latest_frame_source_hands_out_the_newest_frame_and_drops_the_rest():
    source = LatestFrameSource(FakeCamera(period=0.01))
    first = source.read()
    time.sleep(0.2)  # a slow consumer: ~20 frames arrive meanwhile
    newest = source.read()
    assert int(newest[0, 0, 0]) >= int(first[0, 0, 0]) + 10
    assert source.dropped >= 10
    assert time.monotonic() - source.captured_at < 0.05  # fresh, not from the backlog
    source.close()


def test_latest_frame_source_waits_for_a_new_frame_and_passes_end_and_errors():
    source = LatestFrameSource(FakeCamera(period=0.01, count=3))
    seen = []
    while (frame := source.read()) is not None:
        seen.append(int(frame[0, 0, 0]))
    assert seen and seen == sorted(set(seen)) and seen[-1] == 3  # never the same frame twice
    source.close()
    failing = LatestFrameSource(FakeCamera(period=0.01, fail_after=2))
    with pytest.raises(SourceError, match="unplugged"):
        for _ in range(10):
            failing.read()
    failing.close()


def test_paced_source_keeps_the_frame_clock(tmp_path):
    path = write_video(tmp_path / "c.mp4", level_frames(8), fps=30)
    source = PacedSource(VideoFileSource(path, loop=False), fps=20)
    start = time.monotonic()
    stamps = [source.captured_at for _ in range(6) if source.read() is not None]
    elapsed = time.monotonic() - start
    assert elapsed >= 5 / 20 - 0.01  # slept to the clock: frame 5 is due 0.25 s after frame 0
    ticks = np.diff(stamps) * 20
    assert np.allclose(ticks, np.round(ticks), atol=1e-6) and ticks.min() > 0.99  # stamped on the ticks
    assert source.missed == round(ticks.sum()) - 5  # only a reader late by a tick skips one
    missed = source.missed
    time.sleep(0.2)  # late: four ticks pass
    late = time.monotonic()
    source.read()
    assert time.monotonic() - late < 0.05  # the frame is due already: no sleeping
    assert late - 1 / 20 <= source.captured_at <= late  # the latest tick, not one from the backlog
    assert source.missed >= missed + 3


def test_latency_recorder_percentiles():
    recorder = LatencyRecorder()
    assert recorder.summary() == "" and recorder.p50_p95() is None
    for ms in range(1, 101):
        recorder.add(10.0, 10.0 + ms / 1000.0)
    p50, p95 = recorder.p50_p95()
    assert p50 == pytest.approx(50.5) and p95 == pytest.approx(95.05)
    assert recorder.add(None) is None and len(recorder) == 100
    assert recorder.summary() == "p50 50.5 ms, p95 95.1 ms"


def test_live_stats_count_delivered_frames_over_the_last_second():
    stats = LiveStats()
    t = 100.0
    for i in range(90):  # 30 fps for 3 s, alternating slow (model) and fast frames
        t += 1 / 30
        stats.add(t, 40.0 if i % 2 else 10.0, 50.0 + i % 10)
    assert stats.fps(t) == pytest.approx(30.0, rel=1e-6)
    assert stats.processing_ms(t) == pytest.approx(25.0, abs=1.0)  # the mean, not one sampled frame
    p50, p95 = stats.latency(t)
    assert 53 <= p50 <= 56 and p95 >= 58
    assert stats.fps(t + 0.5) == pytest.approx(15.0, abs=0.6)  # a stall lowers it: ~15 frames in the last 1 s
    assert stats.fps(t + 2.0) == 0.0  # nothing delivered in the last second
    text = stats.overlay_text(t)
    assert text.split()[0] == "30.0" and "latency" in text
    stats.reset()
    assert stats.fps(t) == 0.0


def test_live_stats_follow_a_rate_change_within_a_second():
    stats = LiveStats()
    t = 0.0
    for _ in range(60):
        t += 1 / 30
        stats.add(t, 5.0, None)
    for _ in range(15):  # the machine got busy: 15 fps
        t += 1 / 15
        stats.add(t, 5.0, None)
    assert stats.fps(t) == pytest.approx(15.0, rel=0.05)
    assert stats.latency(t) is None and "latency" not in stats.overlay_text(t)


def test_background_sink_queues_at_most_one_frame():
    from app.sinks import BackgroundSink, Sink

    release = threading.Event()

    class SlowSink(Sink):
        def __init__(self):
            self.frames = []

        def send(self, frame):
            release.wait(5)
            self.frames.append(frame)

        def close(self):
            pass

    inner = SlowSink()
    sink = BackgroundSink(inner)
    sink.send(np.zeros(1))  # taken by the encoder thread, which blocks in SlowSink.send
    time.sleep(0.1)
    sink.send(np.ones(1))   # the one queued frame
    blocked = threading.Thread(target=sink.send, args=(np.full(1, 2.0),))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # a third frame waits for room instead of piling up
    release.set()
    blocked.join(5)
    sink.close()
    assert [int(f[0]) for f in inner.frames] == [0, 1, 2]  # a file still gets every frame, in order
