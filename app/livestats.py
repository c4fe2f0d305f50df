"""Live figures of a running stream: frames delivered per second, processing time, end-to-end latency.

Latency is end to end inside the app: from the moment a frame was read from the camera or file
(FrameSource.captured_at, time.monotonic()) to the moment its composite is handed to the sink
(virtual camera, file writer, preview). Shared by the window's overlay, the command line's summary
and the benchmark, so all three report the same quantity.
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np


def percentiles(values_ms, points=(50, 95)) -> tuple[float, ...] | None:
    """The given percentiles of the samples, or None when there are none."""
    data = np.asarray(list(values_ms), np.float64)
    if data.size == 0:
        return None
    return tuple(float(v) for v in np.percentile(data, points))


class LatencyRecorder:
    """Capture -> hand-off latencies in ms: all of them (maxlen=None, a job's summary) or the last
    `maxlen`."""

    def __init__(self, maxlen: int | None = None) -> None:
        self.samples: deque[float] = deque(maxlen=maxlen)

    def add(self, captured_at: float | None, handed_at: float | None = None) -> float | None:
        """Record one frame handed to its sink at handed_at (now when None); its latency in ms."""
        if captured_at is None:
            return None
        latency = ((time.monotonic() if handed_at is None else handed_at) - captured_at) * 1000.0
        self.samples.append(latency)
        return latency

    def __len__(self) -> int:
        return len(self.samples)

    def p50_p95(self) -> tuple[float, float] | None:
        result = percentiles(self.samples)
        return None if result is None else (result[0], result[1])

    def summary(self) -> str:
        """'p50 12.3 ms, p95 20.1 ms' or '' when nothing was recorded."""
        result = self.p50_p95()
        return "" if result is None else f"p50 {result[0]:.1f} ms, p95 {result[1]:.1f} ms"


class LiveStats:
    """What the window's overlay shows, from each delivered frame: frames per second over the last
    `window` seconds (from the delivery times themselves, not an average of instantaneous rates),
    the mean full processing time of those frames, and latency p50/p95 over the last
    `latency_window` seconds (more samples than one second gives a p95)."""

    def __init__(self, window: float = 1.0, latency_window: float = 5.0) -> None:
        self.window, self.latency_window = window, latency_window
        self._frames: deque[tuple[float, float, float | None]] = deque()  # (delivered, processing ms, latency ms)

    def reset(self) -> None:
        self._frames.clear()

    def add(self, delivered_at: float, processing_ms: float, latency_ms: float | None) -> None:
        self._frames.append((delivered_at, processing_ms, latency_ms))
        horizon = delivered_at - max(self.window, self.latency_window)
        while self._frames and self._frames[0][0] < horizon:
            self._frames.popleft()

    def _recent(self, now: float, window: float) -> list[tuple[float, float, float | None]]:
        return [f for f in self._frames if now - window < f[0] <= now]

    def fps(self, now: float | None = None) -> float:
        """Frames delivered per second over the last `window` seconds: the n - 1 intervals after
        the first of them over the time from that first one to now (asked at a delivery, as the
        window does, the phase of the window then neither adds nor loses a frame; asked later, a
        stall lowers it); 0 when fewer than two frames were delivered in it."""
        now = time.monotonic() if now is None else now
        recent = self._recent(now, self.window)
        if len(recent) < 2:
            return 0.0
        span = max(now, recent[-1][0]) - recent[0][0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def processing_ms(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        recent = self._recent(now, self.window)
        return float(np.mean([f[1] for f in recent])) if recent else 0.0

    def latency(self, now: float | None = None) -> tuple[float, float] | None:
        now = time.monotonic() if now is None else now
        result = percentiles([f[2] for f in self._recent(now, self.latency_window) if f[2] is not None])
        return None if result is None else (result[0], result[1])

    def overlay_text(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        text = f"{self.fps(now):5.1f} fps   {self.processing_ms(now):5.1f} ms/frame"
        latency = self.latency(now)
        if latency is not None:
            text += f"   latency {latency[0]:.0f} / {latency[1]:.0f} ms (p50 / p95)"
        return text
