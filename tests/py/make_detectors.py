"""Writes tiny ONNX detectors whose outputs are known constants, one per output family, with
sidecar configs, so that framelabel's decoding can be checked value by value.

usage: make_detectors.py OUTDIR
All take images [1, 3, 64, 64]; the outputs do not depend on the picture (they add 0 x its mean).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N = 64 // 8 * 64 // 8 + 64 // 16 * 64 // 16 + 64 // 32 * 64 // 32  # 84 grid points


def model(path, outputs, labels, extra=None, batch=1):
    """outputs: {name: array}; each output = constant + 0 * mean(images), per picture of the batch
    (batch "N" makes the batch axis dynamic)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Squeeze", ["mean4", "last"], ["mean"]),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    inits = [
        numpy_helper.from_array(np.zeros([1], np.float32), "zero"),
        numpy_helper.from_array(np.array([3], np.int64), "last"),
    ]
    outs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), name + "_const"))
        nodes.append(helper.make_node("Add", [name + "_const", "nothing"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch] + list(value.shape[1:])))
    graph = helper.make_graph(
        nodes, "detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, 64, 64])],
        outs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
    cfg = {"labels": labels}
    cfg.update(extra or {})
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(cfg, f)


def main():
    out = sys.argv[1]
    labels = ["cat", "dog", "bird"]
    # Ultralytics v8: [1, 4+C, N], boxes in input pixels (cx, cy, w, h), class scores, no objectness.
    v8 = np.zeros([1, 7, N], np.float32)
    rows = [
        (32, 32, 20, 10, [0.0, 0.9, 0.0]),   # dog 0.9: kept
        (33, 32, 20, 10, [0.0, 0.8, 0.0]),   # dog 0.8 overlapping the first: suppressed
        (33, 32, 20, 10, [0.0, 0.0, 0.7]),   # bird 0.7 on the same place: kept (class-aware)
        (10, 10, 8, 8, [0.1, 0.0, 0.0]),     # cat 0.1: under the threshold
        (60, 40, 30, 30, [0.5, 0.0, 0.0]),   # cat 0.5 crossing the right edge: clipped
    ]
    for i, (cx, cy, w, h, s) in enumerate(rows):
        v8[0, :4, i] = [cx, cy, w, h]
        v8[0, 4:, i] = s
    model(os.path.join(out, "yolov8.onnx"), {"output0": v8}, labels)
    model(os.path.join(out, "yolov8_batch.onnx"), {"output0": v8}, labels, batch="N")
    # Ultralytics v5: [1, 3N, 5+C] with objectness; score = objectness x class score.
    v5 = np.zeros([1, 3 * N, 8], np.float32)
    v5[0, 0] = [32, 32, 20, 10, 0.8, 0.0, 0.5, 0.0]  # dog 0.4: kept
    v5[0, 1] = [10, 10, 8, 8, 0.9, 0.3, 0.0, 0.0]    # cat 0.27: under the threshold
    model(os.path.join(out, "yolov5.onnx"), {"output0": v5}, labels)
    # DETR: softmax over C+1 logits (last = no object), relative (cx, cy, w, h) boxes.
    logits = np.zeros([1, 4, 4], np.float32)
    logits[0, 0] = [0, 5, 0, 0]   # dog e^5/(e^5+3)
    logits[0, 1] = [0, 0, 0, 9]   # no object
    boxes = np.full([1, 4, 4], 0.25, np.float32)
    boxes[0, 0] = [0.5, 0.5, 0.25, 0.5]
    model(os.path.join(out, "detr.onnx"), {"logits": logits, "pred_boxes": boxes}, labels,
          {"resize": "stretch"})
    # RT-DETR style: sigmoid logits over C classes.
    logits = np.full([1, 4, 3], -9.0, np.float32)
    logits[0, 2] = [-9, -9, 2.0]  # bird sigmoid(2)
    boxes = np.full([1, 4, 4], 0.25, np.float32)
    boxes[0, 2] = [0.25, 0.75, 0.5, 0.5]
    model(os.path.join(out, "rtdetr.onnx"), {"logits": logits, "pred_boxes": boxes}, labels,
          {"resize": "stretch"})


    # Not a detector, not even an image model: a vector in, a vector out.
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "vector",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, os.path.join(out, "vector.onnx"))


if __name__ == "__main__":
    main()
