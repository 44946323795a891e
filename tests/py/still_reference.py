"""The still-frame gate as the README defines it, on frames OpenCV decodes.

    still_reference.py VIDEO FRAMES_JSONL D|off

For each record of FRAMES_JSONL (framelabel's, which names the sampled frames and their quality
verdicts), in order: the frame's grey picture (OpenCV's BGR2GRAY), its 64x36 thumbnail (cell (x, y)
is the mean of columns floor(x*W/64) .. floor((x+1)*W/64) - 1 and rows floor(y*H/36) ..
floor((y+1)*H/36) - 1, at least one of each), the change from the last frame that passed the gate
(mean absolute difference of the thumbnails / 255), and whether it is still (kept by the quality
checks and change < D). Prints one JSON line per record: {"frame", "change", "still_of"}.
"""
import json
import sys

import cv2
import numpy as np

W, H = 64, 36
QUALITY_REJECTIONS = {"dark", "bright", "noisy", "blurry"}


def spans(n, cells):
    out = []
    for i in range(cells):
        a = i * n // cells
        out.append((a, max((i + 1) * n // cells, a + 1)))
    return out


def thumbnail(grey):
    h, w = grey.shape
    g = grey.astype(np.float64)
    t = np.empty((H, W))
    for y, (y0, y1) in enumerate(spans(h, H)):
        for x, (x0, x1) in enumerate(spans(w, W)):
            t[y, x] = g[y0:y1, x0:x1].mean()
    return t


def main():
    video, records_path, d = sys.argv[1], sys.argv[2], sys.argv[3]
    d = None if d == "off" else float(d)
    records = [json.loads(line) for line in open(records_path)]
    wanted = {r["frame"] for r in records}
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        sys.exit(f"OpenCV cannot open {video}")
    thumbs, index = {}, 0
    while len(thumbs) < len(wanted):
        ok, frame = cap.read()
        if not ok:
            break
        if index in wanted:
            thumbs[index] = thumbnail(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        index += 1
    passed = None  # (frame, thumbnail)
    for r in records:
        t = thumbs[r["frame"]]
        kept = r["status"] not in QUALITY_REJECTIONS
        change = None if passed is None else float(np.abs(t - passed[1]).mean() / 255.0)
        still_of = None
        if kept and d is not None and change is not None and change < d:
            still_of = passed[0]
        elif kept:
            passed = (r["frame"], t)
        print(json.dumps({"frame": r["frame"], "change": change, "still_of": still_of}))


if __name__ == "__main__":
    main()
