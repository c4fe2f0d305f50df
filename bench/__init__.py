"""Benchmarks: per-stage latency, FPS, CPU and memory of PortraitCam vs the MediaPipe peer.

Run from the repository root: ``python -m bench.run`` (see bench/README.md).
"""
