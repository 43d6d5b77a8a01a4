#!/usr/bin/env python3
"""Recurrent ONNX graphs (LSTM, GRU, RNN) as torch.onnx.export emits them, with onnxruntime's outputs.

Usage: python3 tools/onnx_zoo/make_rnn_models.py OUT_DIR
Install: pip install onnx onnxruntime numpy

Run by kernels/tests/onnx_rnn_models.rs into a temporary directory at test time (same files as
make_zoo_models.py: NAME.onnx, NAME.input.x.npy, NAME.expected.y.npy, NAME.output, manifest.txt,
bad.txt). Random weights from a fixed seed, at opsets 9-21, in the forms nn.LSTM / nn.GRU / nn.RNN
export: gate-stacked W [dirs, G*H, I], R [dirs, G*H, H], B [dirs, 2*G*H]; forward and
bidirectional; with and without initial_h / initial_c; GRU with linear_before_reset = 1 (what
torch emits) and 0; RNN with Tanh and Relu; batch_first as a Transpose before the node; the
bidirectional Y reshaped as torch does (Transpose [0, 2, 1, 3] then Reshape [T, B, 2H]); two
stacked layers; and each of the outputs Y, Y_h, Y_c used.

Bad input (bad.txt: NAME CODE NODE): clip, a non-default activation, sequence_lens, and a
symbolic sequence length are refused with TL0526 naming the node.
"""

import os
import sys

import numpy as np
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_zoo_models import G, RNG, finish, i64, w, write_corpus  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
T, B, I, H = 5, 2, 3, 4


def rnn(g, op, x, input_size, hidden, dirs, outputs=(0,), initial=False, bias=True, **attrs):
    """One recurrent node; returns its outputs (Y, Y_h, Y_c) by index, '' where unused."""
    k = GATES[op]
    ins = [x, g.init(w(dirs, k * hidden, input_size), "W"), g.init(w(dirs, k * hidden, hidden), "R")]
    ins.append(g.init(w(dirs, 2 * k * hidden), "B") if bias else "")
    if initial:
        ins += ["", g.init(w(dirs, B, hidden, scale=0.8), "h0")]
        if op == "LSTM":
            ins.append(g.init(w(dirs, B, hidden, scale=0.8), "c0"))
    if dirs == 2:
        attrs["direction"] = "bidirectional"
    n_out = 3 if op == "LSTM" else 2
    name = g.fresh(op)
    outs = [f"{name}_out{i}" if i in outputs else "" for i in range(n_out)]
    while outs and outs[-1] == "":
        outs.pop()
    g.nodes.append(helper.make_node(op, ins, outs, name=name, hidden_size=hidden, **attrs))
    return outs


def squeeze(g, x, axis, opset):
    if opset >= 13:
        return g.op("Squeeze", [x, g.init(i64([axis]), "axes")])
    return g.op("Squeeze", [x], axes=[axis])


def torch_bidir_y(g, y, hidden):
    """Y [T, 2, B, H] -> [T, B, 2H] as torch's export writes it."""
    t = g.op("Transpose", [y], perm=[0, 2, 1, 3])
    return g.op("Reshape", [t, g.init(i64([T, B, 2 * hidden]), "shape")])


def single(op, opset, dirs=1, out=0, initial=False, bias=True, **attrs):
    def build():
        g = G()
        outs = rnn(g, op, "x", I, H, dirs, outputs=(out,), initial=initial, bias=bias, **attrs)
        y = outs[out]
        if out == 0:
            y = torch_bidir_y(g, y, H) if dirs == 2 else squeeze(g, y, 1, opset)
        return finish(opset, g, [T, B, I], y)
    return build, [T, B, I]


def lstm_batch_first_two_layers(opset):
    """nn.LSTM(I, H, num_layers=2, batch_first=True): x [B, T, I] -> Transpose -> LSTM -> LSTM."""
    def build():
        g = G()
        xt = g.op("Transpose", ["x"], perm=[1, 0, 2])
        (y1,) = rnn(g, "LSTM", xt, I, H, 1)
        y1 = squeeze(g, y1, 1, opset)
        (y2,) = rnn(g, "LSTM", y1, H, H, 1, initial=True)
        y2 = squeeze(g, y2, 1, opset)
        return finish(opset, g, [B, T, I], g.op("Transpose", [y2], perm=[1, 0, 2]))
    return build, [B, T, I]


def lstm_classifier(opset):
    """Last hidden state -> Gemm head, the usual sequence classifier."""
    def build():
        g = G()
        _, y_h = rnn(g, "LSTM", "x", I, H, 1, outputs=(1,))
        h = squeeze(g, y_h, 0, opset)
        y = g.op("Gemm", [h, g.init(w(3, H), "head_w"), g.init(w(3), "head_b")], transB=1)
        return finish(opset, g, [T, B, I], y)
    return build, [T, B, I]


MODELS = {}
for opset in (9, 14, 21):
    MODELS[f"lstm_fwd_{opset}"] = single("LSTM", opset)
    MODELS[f"gru_fwd_lbr_{opset}"] = single("GRU", opset, linear_before_reset=1)
    MODELS[f"rnn_tanh_{opset}"] = single("RNN", opset, activations=["Tanh"])
for opset in (11, 17):
    MODELS[f"lstm_bidir_init_{opset}"] = single("LSTM", opset, dirs=2, initial=True)
    MODELS[f"lstm_yh_{opset}"] = single("LSTM", opset, dirs=2, out=1)
    MODELS[f"lstm_yc_init_{opset}"] = single("LSTM", opset, out=2, initial=True)
    MODELS[f"gru_bidir_lbr_init_{opset}"] = single("GRU", opset, dirs=2, initial=True, linear_before_reset=1)
    MODELS[f"gru_bidir_lbr_{opset}"] = single("GRU", opset, dirs=2, linear_before_reset=1)
    MODELS[f"gru_lbr0_init_{opset}"] = single("GRU", opset, initial=True)
    MODELS[f"gru_lbr0_{opset}"] = single("GRU", opset, dirs=2)
    MODELS[f"gru_yh_nobias_{opset}"] = single("GRU", opset, out=1, bias=False, linear_before_reset=1)
    MODELS[f"rnn_relu_bidir_{opset}"] = single("RNN", opset, dirs=2, initial=True, activations=["Relu", "Relu"])
    MODELS[f"lstm_reverse_{opset}"] = single("LSTM", opset, direction="reverse")
    MODELS[f"lstm_two_layers_batch_first_{opset}"] = lstm_batch_first_two_layers(opset)
    MODELS[f"lstm_classifier_{opset}"] = lstm_classifier(opset)


def bad(op, x_shape=(T, B, I), extra_inputs=(), **attrs):
    def build():
        g = G()
        k = GATES[op]
        ins = ["x", g.init(w(1, k * H, I), "W"), g.init(w(1, k * H, H), "R"), g.init(w(1, 2 * k * H), "B")]
        ins += [g.init(np.asarray(v), "extra") if v is not None else "" for v in extra_inputs]
        name = g.fresh(op)
        g.nodes.append(helper.make_node(op, ins, [name + "_y"], name=name, hidden_size=H, **attrs))
        graph = helper.make_graph(g.nodes, "torch_jit",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                                  [helper.make_tensor_value_info(name + "_y", TensorProto.FLOAT, None)], g.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
        m.ir_version = 8
        return m, name
    return build


BAD = {"bad_lstm_clip": (bad("LSTM", clip=3.0), "TL0526"),
       "bad_gru_activation": (bad("GRU", activations=["HardSigmoid", "Tanh"]), "TL0526"),
       "bad_lstm_sequence_lens": (bad("LSTM", extra_inputs=[np.full([B], T, dtype=np.int32)]), "TL0526"),
       "bad_rnn_dynamic_seq": (bad("RNN", x_shape=("seq", B, I)), "TL0526")}


def main():
    write_corpus(sys.argv[1], MODELS, BAD)


if __name__ == "__main__":
    main()
