"""Reference quality metrics computed with OpenCV, as the original Python tool did.

Reads VIDEO with cv2.VideoCapture (OpenCV's own FFmpeg reader) and prints one JSON line per frame:
{"frame", "sharpness", "entropy", "noise", "brightness"} with the same definitions framelabel
documents, so a test can compare the two value by value.
"""
import json
import math
import sys

import cv2
import numpy as np

NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def metrics(bgr):
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    sharpness = cv2.Laplacian(grey, cv2.CV_64F).var() / 5418.75
    hist = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()
    p = hist[hist > 0] / hist.sum()
    entropy = float(-(p * np.log2(p)).sum()) / 8.0
    conv = cv2.filter2D(grey.astype(np.float64), cv2.CV_64F, NOISE_KERNEL)[1:-1, 1:-1]
    noise = math.sqrt(math.pi / 2) * np.abs(conv).sum() / (6 * (w - 2) * (h - 2)) / 255.0
    brightness = float(grey.mean()) / 255.0
    return sharpness, entropy, noise, brightness


def main():
    cap = cv2.VideoCapture(sys.argv[1])
    if not cap.isOpened():
        sys.exit(f"OpenCV cannot open {sys.argv[1]}")
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        s, e, n, b = metrics(frame)
        print(json.dumps({"frame": index, "sharpness": s, "entropy": e, "noise": n, "brightness": b}))
        index += 1


if __name__ == "__main__":
    main()
