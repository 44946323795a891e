"""Writes OUTDIR/model.onnx with one initializer of FLOATS zeros kept as external data in
OUTDIR/weights.bin (as models over 2 GB must be saved): y = x + 0 * sum(w), x an image [1, 3, 8, 8].

usage: external_data.py OUTDIR FLOATS
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out, floats = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
nodes = [
    helper.make_node("ReduceSum", ["w"], ["total"], keepdims=0),
    helper.make_node("Mul", ["total", "zero"], ["nothing"]),
    helper.make_node("Add", ["x", "nothing"], ["y"]),
]
inits = [
    numpy_helper.from_array(np.zeros([floats], np.float32), "w"),
    numpy_helper.from_array(np.zeros([], np.float32), "zero"),
]
graph = helper.make_graph(
    nodes, "external",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    inits)
m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save_model(m, os.path.join(out, "model.onnx"), save_as_external_data=True,
                all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
