"""The original tool's extract loop in plain Python + OpenCV, as the baseline for bench-extract.sh:
read every frame, Laplacian variance, histogram entropy, cv2.resize to 960x544, cv2.imwrite q95.
Prints the number of frames processed."""
import os
import sys

import cv2
import numpy as np


def quality(frame):
    """Normalised sharpness (Laplacian variance), entropy and brightness of a BGR frame, as framelabel
    defines them."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    sharpness = cv2.Laplacian(grey, cv2.CV_64F).var() / 5418.75
    hist = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()
    p = hist[hist > 0] / hist.sum()
    entropy = float(-(p * np.log2(p)).sum()) / 8.0
    return sharpness, entropy, grey.mean() / 255.0


def main():
    video, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    cap = cv2.VideoCapture(video)
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        sharpness, entropy, _ = quality(frame)
        if sharpness >= 0.005 and entropy <= 0.975:
            small = cv2.resize(frame, (960, 544))
            cv2.imwrite(os.path.join(out, f"frame_{n:06d}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 95])
        n += 1
    print(n)


if __name__ == "__main__":
    main()
