#!/usr/bin/env python3
"""Writes a VGG-19-shaped ONNX model with random f32 weights (about 550 MB) and a spec over it,
for the front-door benchmark in docs/performance.md ("Front door"). Not committed: generated at
bench time. Usage: scripts/make_vgg19_onnx.py OUT_DIR [--seed N]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
       512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def main():
    out = sys.argv[1]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    x, c, n = "x", 3, 0
    for v in CFG:
        if v == "M":
            nodes.append(helper.make_node("MaxPool", [x], [f"p{n}"], kernel_shape=[2, 2], strides=[2, 2]))
            x = f"p{n}"
        else:
            w = (rng.standard_normal((v, c, 3, 3), dtype=np.float32) * np.sqrt(2.0 / (9 * c))).astype(np.float32)
            b = np.zeros(v, np.float32)
            inits += [numpy_helper.from_array(w, f"conv{n}.weight"), numpy_helper.from_array(b, f"conv{n}.bias")]
            nodes.append(helper.make_node("Conv", [x, f"conv{n}.weight", f"conv{n}.bias"], [f"c{n}"], pads=[1, 1, 1, 1]))
            nodes.append(helper.make_node("Relu", [f"c{n}"], [f"r{n}"]))
            x, c = f"r{n}", v
        n += 1
    nodes.append(helper.make_node("Flatten", [x], ["flat"], axis=1))
    x, width = "flat", 512 * 7 * 7
    for i, out_features in enumerate([4096, 4096, 1000]):
        w = (rng.standard_normal((out_features, width), dtype=np.float32) / np.sqrt(width)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"),
                  numpy_helper.from_array(np.zeros(out_features, np.float32), f"fc{i}.bias")]
        y = "logits" if i == 2 else f"fc{i}"
        nodes.append(helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [y], transB=1))
        if i < 2:
            nodes.append(helper.make_node("Relu", [y], [f"fr{i}"]))
            y = f"fr{i}"
        x, width = y, out_features
    graph = helper.make_graph(
        nodes, "vgg19",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tl-bench")
    onnx.save(model, f"{out}/vgg19.onnx")
    with open(f"{out}/vgg19.tl", "w") as f:
        f.write('import onnx "vgg19.onnx" as net\n\n'
                'assume environment vgg19_data: "vgg19.onnx holds random weights generated for the benchmark"\n\n'
                "/// Logits stay bounded on a small box around the zero image.\n"
                "contract bounded_logits on net {\n"
                "  rests on vgg19_data\n"
                "  given x in box(-0.01, 0.01)\n"
                "  ensure all(logits <= 1000.0)\n"
                "  check by ibp\n"
                "}\n\n"
                "/// A small head over the logits (the LSP probe flips its activation).\n"
                "graph head(z: f32[1, 1000]) -> y: f32[1, 1000] {\n"
                "  y = relu(z)\n"
                "}\n")


if __name__ == "__main__":
    main()
