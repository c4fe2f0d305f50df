"""Picture reductions shared by the stages (segmentation, scheduling, matting, compositing), how
many threads OpenCV gives the stages' work, and how the C library keeps their images' memory.

Each stage works on the frame made smaller (the model's input, the motion thumbnail, the matte's
working image, the blurred room, the edge colour means). OpenCV's INTER_AREA halves a picture on a
fast SIMD path (0.21 ms for a 720p frame, one core) but takes a slow generic path for larger
whole-number ratios (0.93 ms for a quarter, 0.69 for an eighth): so big reductions go in halvings,
whose cost is mostly the first one (a 720p frame to an eighth: 0.28 ms instead of 0.69). A halving
of halvings is the block average, up to rounding at each step.
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys

import cv2
import numpy as np


def reduce_by_power_of_two(image: np.ndarray, min_height: int, min_width: int = 1,
                           pyramid: FramePyramid | None = None) -> np.ndarray:
    """The image shrunk by the largest power of two that keeps it at least min_height rows (and
    min_width columns), by successive INTER_AREA halvings (the image itself when none fits).
    pyramid: the frame's shared halvings (FramePyramid), used when it is this very image's."""
    if pyramid is None or pyramid.image is not image:
        pyramid = FramePyramid(image)
    return pyramid.reduce(min_height, min_width)


def strided_sample(image: np.ndarray, across: int) -> tuple[np.ndarray, int]:
    """Every k-th pixel in both directions, about `across` pixels wide, and k: for statistics and
    measures of a smooth picture, where a resize buys nothing. Never empty for a non-empty image:
    a picture fewer than k/2 rows tall (a banner) still gives its middle row (an empty sample
    crashes OpenCV's component labelling)."""
    height, width = image.shape[:2]
    step = max(1, width // max(1, across))
    return image[min(step // 2, (height - 1) // 2)::step, min(step // 2, (width - 1) // 2)::step], step


class FramePyramid:
    """A frame and its INTER_AREA halvings, each made at most once. The motion thumbnail, the
    model's input, the matte's working image, the blurred room and the foreground colour means each
    want the same frame smaller; sharing the halvings pays the first and costliest one (most of a
    reduction's cost, above) once per frame instead of once per stage. Stages take it as an optional
    argument and use it only when it is the pyramid of the very array they were given (a mirrored
    or reframed frame is another). region() gives a crop's pyramid, sharing the frame's halvings."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self._levels = [image]
        self._parent: FramePyramid | None = None
        self._origin = (0, 0)  # (x, y) of this image in the parent's

    def region(self, x: int, y: int, width: int, height: int) -> FramePyramid:
        """The pyramid of image[y:y + height, x:x + width]. Its k-th halving is a slice of this
        pyramid's wherever x and y are multiples of 2**k: the same 2x2 blocks averaged the same way,
        so the same pixels (app/segmentation.PersonRegion aligns its crops for this); below that it
        halves on its own."""
        if (x, y, width, height) == (0, 0, self.image.shape[1], self.image.shape[0]):
            return self
        sub = FramePyramid(self.image[y:y + height, x:x + width])
        sub._parent, sub._origin = self, (x, y)
        return sub

    def reduce(self, min_height: int, min_width: int = 1) -> np.ndarray:
        """As reduce_by_power_of_two(self.image, min_height, min_width)."""
        min_height, min_width = max(1, int(min_height)), max(1, int(min_width))
        level = 0
        while True:
            image = self.level(level)
            if image.shape[0] // 2 < min_height or image.shape[1] // 2 < min_width:
                return image
            level += 1

    def level(self, k: int) -> np.ndarray:
        """The image halved k times (each odd side dropping its last row or column first)."""
        while len(self._levels) <= k:
            n = len(self._levels)
            x, y = self._origin
            if self._parent is not None and x % (1 << n) == 0 and y % (1 << n) == 0:
                height, width = self.image.shape[0] >> n, self.image.shape[1] >> n
                self._levels.append(self._parent.level(n)[y >> n:(y >> n) + height, x >> n:(x >> n) + width])
                continue
            image = self._levels[-1]
            height, width = image.shape[:2]
            # An odd side drops its last row or column: a ratio of exactly 2 keeps the fast path
            # (a 1077-px-wide crop took 2.7 ms to reduce, 0.3 ms without its last column).
            even = image[: height - height % 2, : width - width % 2]
            self._levels.append(cv2.resize(even, (width // 2, height // 2), interpolation=cv2.INTER_AREA))
        return self._levels[k]


# A frame of up to 720p is processed with OpenCV on one thread: each call's work is small, and waking
# and joining the thread pool's workers on every call cost more CPU than it saved (bench.live_worker,
# 720p30: 4-22 % fewer cores busy, latency the same). Larger frames keep the pool: its shorter frame
# time keeps 1080p's p95 latency inside one frame (28-32 ms on one thread, 26-31 with the pool).
SINGLE_THREAD_MAX_PIXELS = 1280 * 720
LIBRARY_THREADS = cv2.getNumThreads()  # OpenCV's own choice (or OPENCV_FOR_THREADS_NUM), at start-up


def use_opencv_threads_for(frame_shape: tuple[int, ...]) -> int:
    """Set OpenCV's thread count for frames of this shape (see above); returns it."""
    threads = 1 if frame_shape[0] * frame_shape[1] <= SINGLE_THREAD_MAX_PIXELS else LIBRARY_THREADS
    if cv2.getNumThreads() != threads:
        cv2.setNumThreads(threads)
    return threads


# glibc's malloc hands every freed block of 128 KiB or more (every frame-sized image: one 320 x 180
# float plane of the matte is 225 KiB) back to the kernel at once, or trims it off the heap's top,
# and the next frame's image takes it back a page fault per 4 KiB: about 800 faults a 720p frame in
# the matte stage alone, a quarter of its CPU time (perf stat: 0.33 M faults and 1.4 s of system
# time for 360 frames, 44 k and 0.35 s kept). Blocks up to HEAP_BLOCK_MAX (a 1080p float colour
# image is 24 MiB) come from the heap, and up to HEAP_KEEP of free memory stays there for the next
# frame (8 MiB blocks with 32 MiB kept saved the same faults at 720p): the process keeps about the
# image memory it needs every frame anyway. (mallopt's documented knobs, the same as the
# MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ environment variables, which win if set.)
HEAP_BLOCK_MAX = 32 << 20
HEAP_KEEP = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>


@functools.lru_cache(maxsize=None)
def keep_image_memory() -> bool:
    """Have glibc keep freed image memory in the process for the next frame (above); True when it
    does. Other C libraries (Windows, macOS, musl) keep their own policy: False."""
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False  # the user's (or a profiler's) own setting
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, HEAP_BLOCK_MAX) == 1 and mallopt(_M_TRIM_THRESHOLD, HEAP_KEEP) == 1
