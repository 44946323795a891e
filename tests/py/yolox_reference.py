"""An independent YOLOX-ONNX detector, written after the official YOLOX demo
(demo/ONNXRuntime/onnx_inference.py and yolox/utils/demo_utils.py): OpenCV reads and resizes,
NumPy decodes and runs class-aware multiclass NMS, onnxruntime runs the model.

usage: yolox_reference.py MODEL CONF NMS IMAGE... ; prints {"image": [[x0, y0, x1, y1, score, class], ...]}
"""
import json
import sys

import cv2
import numpy as np
import onnxruntime as ort


def preproc(img, size):
    padded = np.ones((size[0], size[1], 3), dtype=np.uint8) * 114
    r = min(size[0] / img.shape[0], size[1] / img.shape[1])
    resized = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)),
                         interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    padded[: int(img.shape[0] * r), : int(img.shape[1] * r)] = resized
    return np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32), r


def postprocess(outputs, size):
    grids, strides = [], []
    for stride in (8, 16, 32):
        h, w = size[0] // stride, size[1] // stride
        xv, yv = np.meshgrid(np.arange(w), np.arange(h))
        grids.append(np.stack((xv, yv), 2).reshape(1, -1, 2))
        strides.append(np.full((1, h * w, 1), stride))
    grids = np.concatenate(grids, 1)
    strides = np.concatenate(strides, 1)
    outputs[..., :2] = (outputs[..., :2] + grids) * strides
    outputs[..., 2:4] = np.exp(outputs[..., 2:4]) * strides
    return outputs


def nms(boxes, scores, thr):
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)  # the demo's +1 pixel convention
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thr)[0] + 1]
    return keep


def multiclass_nms_class_aware(boxes, scores, nms_thr, score_thr):
    out = []
    for c in range(scores.shape[1]):
        s = scores[:, c]
        mask = s > score_thr
        if mask.sum() == 0:
            continue
        b, sc = boxes[mask], s[mask]
        for k in nms(b, sc, nms_thr):
            out.append([*b[k].tolist(), float(sc[k]), c])
    return out


def main():
    model, conf, nms_thr = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    size = tuple(inp.shape[2:4])
    result = {}
    for path in sys.argv[4:]:
        img = cv2.imread(path)
        x, ratio = preproc(img, size)
        out = session.run(None, {inp.name: x[None, :, :, :]})[0]
        pred = postprocess(out, size)[0]
        boxes = pred[:, :4]
        scores = pred[:, 4:5] * pred[:, 5:]
        xyxy = np.ones_like(boxes)
        xyxy[:, 0] = boxes[:, 0] - boxes[:, 2] / 2.0
        xyxy[:, 1] = boxes[:, 1] - boxes[:, 3] / 2.0
        xyxy[:, 2] = boxes[:, 0] + boxes[:, 2] / 2.0
        xyxy[:, 3] = boxes[:, 1] + boxes[:, 3] / 2.0
        xyxy /= ratio
        result[path] = multiclass_nms_class_aware(xyxy, scores, nms_thr, conf)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
