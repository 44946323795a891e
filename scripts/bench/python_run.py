"""The original tool's whole pipeline in plain Python, as the baseline for bench-run.sh: OpenCV reads
every frame, the same sharpness/entropy checks, cv2.imwrite JPEGs; onnxruntime embeds each image
alone; the full N x N similarity matrix and the original's pairwise loop; the detector image by
image (the official YOLOX demo's pre- and post-processing); a COCO file with json.

usage: python_run.py VIDEO OUT EMBEDDER DETECTOR [EVERY] ; prints "frames embedded labelled"
EVERY N takes one frame in N (the others are still read, as the original reads every frame).
"""
import json
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "py"))
sys.path.insert(0, os.path.dirname(__file__))
from opencv_extract import quality  # noqa: E402
from yolox_reference import multiclass_nms_class_aware, postprocess, preproc  # noqa: E402

video, out, embedder, detector = sys.argv[1:5]
every = int(sys.argv[5]) if len(sys.argv) > 5 else 1
os.makedirs(out, exist_ok=True)

# Extract: every frame, quality checks, JPEG at source size.
cap = cv2.VideoCapture(video)
paths = []
n = 0
while True:
    ok, frame = cap.read()
    if not ok:
        break
    if n % every:
        n += 1
        continue
    sharpness, entropy, brightness = quality(frame)
    if sharpness >= 0.005 and entropy <= 0.975 and 0.05 <= brightness <= 0.95:
        path = os.path.join(out, f"frame_{n:06d}.jpg")
        cv2.imwrite(path, frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    n += 1

# Embed each image alone (shorter side 256, centre crop 224, ImageNet mean/std).
emb_session = ort.InferenceSession(embedder, providers=["CPUExecutionProvider"])
emb_input = emb_session.get_inputs()[0].name
mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
rows = []
for path in paths:
    img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    s = 256 / min(h, w)
    img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    y, x = (h - 224) // 2, (w - 224) // 2
    img = (img[y : y + 224, x : x + 224].astype(np.float32) / 255.0 - mean) / std
    (e,) = emb_session.run(["embedding"], {emb_input: img.transpose(2, 0, 1)[None]})
    rows.append(e[0] / np.linalg.norm(e[0]))

# The full similarity matrix and the original's loop over it.
E = np.stack(rows) if rows else np.zeros((0, 1280), np.float32)
sim = E @ E.T
removed = [False] * len(paths)
for i in range(len(paths)):
    if removed[i]:
        continue
    for j in range(i + 1, len(paths)):
        if sim[i, j] >= 0.95:
            removed[j] = True
survivors = [p for p, r in zip(paths, removed) if not r]
for p, r in zip(paths, removed):
    if r:
        os.remove(p)

# Detect image by image, write COCO.
det = ort.InferenceSession(detector, providers=["CPUExecutionProvider"])
inp = det.get_inputs()[0]
size = tuple(inp.shape[2:4])
images, annotations = [], []
for i, path in enumerate(survivors, 1):
    img = cv2.imread(path)
    x, ratio = preproc(img, size)
    pred = postprocess(det.run(None, {inp.name: x[None]})[0], size)[0]
    boxes = pred[:, :4].copy()
    boxes[:, 0] = pred[:, 0] - pred[:, 2] / 2
    boxes[:, 1] = pred[:, 1] - pred[:, 3] / 2
    boxes[:, 2] = pred[:, 0] + pred[:, 2] / 2
    boxes[:, 3] = pred[:, 1] + pred[:, 3] / 2
    boxes /= ratio
    scores = pred[:, 4:5] * pred[:, 5:]
    images.append({"id": i, "file_name": os.path.basename(path), "width": img.shape[1], "height": img.shape[0]})
    for x0, y0, x1, y1, score, c in multiclass_nms_class_aware(boxes, scores, 0.45, 0.3):
        annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(c) + 1,
                            "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})
with open(os.path.join(out, "annotations.json"), "w") as f:
    json.dump({"images": images, "annotations": annotations,
               "categories": [{"id": c + 1, "name": str(c)} for c in range(80)]}, f)
print(n, len(paths), len(survivors))
