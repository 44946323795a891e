"""The two letterbox references framelabel follows, on a raw RGB24 picture:
- `yolox`: the official YOLOX demo (yolox/data/data_augment.py `preproc`, as
  yolox_reference.py has it): BGR, sides truncated, pasted top-left on 114, boxes divided by r;
- `ultralytics`: Ultralytics 8.4 `LetterBox.get_params`/`apply_image` and `ops.scale_boxes`
  (ultralytics/data/augment.py, ultralytics/utils/ops.py; transcribed, since importing them needs
  torch): RGB / 255, sides rounded with Python's round, centred, boxes divided by each side's gain.

usage: letterbox_reference.py KIND IN.rgb WIDTH HEIGHT SIZE OUT.f32
Writes the CHW float32 tensor to OUT.f32 and prints {"scale": [sx, sy], "offset": [ox, oy]}:
model x = source x * sx + ox.
"""
import json
import sys

import cv2
import numpy as np

from yolox_reference import preproc


def ultralytics(img, size):
    shape = img.shape[:2]
    new_shape = (size, size)
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    new_unpad = max(round(shape[1] * r), 1), max(round(shape[0] * r), 1)
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    dw /= 2
    dh /= 2
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    x = np.ascontiguousarray(img.transpose(2, 0, 1)).astype(np.float32) / 255.0
    # scale_boxes with ratio_pad None, from img1_shape (size, size) to img0_shape.
    gain = min(size / shape[0], size / shape[1])
    new_h, new_w = (max(round(v * gain), 1) for v in shape)
    gain_y, gain_x = new_h / shape[0], new_w / shape[1]
    pad_x, pad_y = round((size - new_w) / 2 - 0.1), round((size - new_h) / 2 - 0.1)
    return x, {"scale": [gain_x, gain_y], "offset": [pad_x, pad_y]}


kind, src, w, h, size, dst = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]), sys.argv[6]
rgb = np.fromfile(src, np.uint8).reshape(h, w, 3)
if kind == "yolox":
    x, r = preproc(np.ascontiguousarray(rgb[:, :, ::-1]), (size, size))
    geometry = {"scale": [r, r], "offset": [0, 0]}
else:
    x, geometry = ultralytics(rgb, size)
x.astype(np.float32).tofile(dst)
print(json.dumps(geometry))
