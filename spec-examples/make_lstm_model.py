#!/usr/bin/env python3
"""Writes spec-examples/models/lstm_classifier.onnx and spec-examples/data/lstm_sequence.npy.

A sequence classifier as torch.onnx.export writes nn.LSTM(3, 4) + nn.Linear(4, 3) on the last
hidden state (opset 14): LSTM (gate-stacked W, R, B; no initial state) -> Y_h -> Squeeze -> Gemm.
Random weights from a fixed seed. Usage: python3 spec-examples/make_lstm_model.py
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

T, I, H, C = 4, 3, 4, 3
rng = np.random.default_rng(15)
here = os.path.dirname(os.path.abspath(__file__))


def init(name, *shape, scale=0.5):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


inits = [init("lstm.W", 1, 4 * H, I), init("lstm.R", 1, 4 * H, H), init("lstm.B", 1, 8 * H),
         init("fc.weight", C, H), init("fc.bias", C), numpy_helper.from_array(np.array([0], np.int64), "axes0")]
nodes = [
    helper.make_node("LSTM", ["x", "lstm.W", "lstm.R", "lstm.B"], ["", "h_n"], name="/lstm/LSTM", hidden_size=H),
    helper.make_node("Squeeze", ["h_n", "axes0"], ["h_last"], name="/Squeeze"),
    helper.make_node("Gemm", ["h_last", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1),
]
graph = helper.make_graph(nodes, "lstm_classifier",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, 1, I])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, C])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="pytorch")
model.ir_version = 8
onnx.checker.check_model(model)
os.makedirs(os.path.join(here, "models"), exist_ok=True)
onnx.save(model, os.path.join(here, "models", "lstm_classifier.onnx"))
np.save(os.path.join(here, "data", "lstm_sequence.npy"), (rng.standard_normal((T, 1, I)) * 0.8).astype(np.float32))
