"""The peer model as a user would run it: MediaPipe selfie segmentation, plain (no flip averaging, no
refinement), at its native 256x256 input. Runs in the teacher venv only.

    .venv-teacher/bin/python -m training.peer LIST.txt OUT_DIR

LIST.txt holds one image path per line; OUT_DIR receives <stem>.png soft masks and timing.json.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    list_file, out_dir = Path(argv[0]), Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    import mediapipe as mp

    times = []
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        for line in list_file.read_text().splitlines():
            path = Path(line)
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            start = time.perf_counter()
            mask = segmenter.process(rgb).segmentation_mask
            times.append((time.perf_counter() - start) * 1000)
            cv2.imwrite(str(out_dir / f"{path.stem}.png"), np.round(np.clip(mask, 0, 1) * 255).astype(np.uint8))
    (out_dir / "timing.json").write_text(json.dumps({"ms_per_image_median": float(np.median(times[1:] or times))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
