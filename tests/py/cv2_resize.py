"""OpenCV's cv2.resize(INTER_LINEAR) of a raw RGB24 picture, for the bit-exactness test of
framelabel's own implementation.

usage: cv2_resize.py IN.rgb WIDTH HEIGHT OUT_WIDTH OUT_HEIGHT OUT.rgb
"""
import sys

import cv2
import numpy as np

src, w, h, dw, dh, dst = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
img = np.fromfile(src, np.uint8).reshape(h, w, 3)
cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR).tofile(dst)
