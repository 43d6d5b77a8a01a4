#!/usr/bin/env python3
"""The three user models of issue 15, as torch.onnx.export emits them, with onnxruntime's outputs.

Usage: python3 tools/onnx_zoo/make_user_models.py OUT_DIR
Install: pip install onnx onnxruntime numpy
(tested with onnx 1.23.2, onnxruntime 1.32.0, numpy 2.4.6)

Run by kernels/tests/onnx_user_models.rs into a temporary directory at test time; nothing here is
committed as a binary. The models are built node by node with onnx.helper, not exported, because
the CPU torch wheel is not installable in CI at an acceptable size: each graph reproduces the node
pattern that torch.onnx.export of PyTorch 1.13 (TorchScript-based exporter, eval mode,
do_constant_folding=True) emits for the module named, at the opset named:

- mlp_op13, mlp_op17: nn.Sequential(Linear, ReLU, Linear, ReLU, Linear). A 2-D Linear exports as
  Gemm(transB=1), ReLU as Relu. mlp_dyn_op17 declares the batch as dim_param "batch"
  (dynamic_axes={"x": {0: "batch"}}).
- cnn_op13, cnn_op17: Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d(2) -> Conv2d -> ReLU -> BatchNorm2d
  -> MaxPool2d(2) -> x.view(x.size(0), -1) -> Linear. In eval mode the exporter folds a BatchNorm
  that directly follows a Conv into the Conv's weights (so the first one appears as a Conv with
  adjusted weights and bias); the one after ReLU stays a BatchNormalization node. MaxPool carries
  kernel_shape, strides, pads and ceil_mode=0. x.view(x.size(0), -1) exports as
  Shape -> Gather(0) -> Unsqueeze -> Concat(with -1) -> Reshape.
- transformer_op13, transformer_op17: a post-norm encoder block: nn.MultiheadAttention(E=16,
  heads=4, batch_first=False) self-attention, residual, LayerNorm, Linear -> nn.GELU() -> Linear,
  residual, LayerNorm. nn.MultiheadAttention follows torch 1.13's
  F.multi_head_attention_forward: Shape/Gather for (tgt_len, bsz, embed_dim), the packed in
  projection as MatMul + Add then chunk(3) = Split, q/k/v .view(L, bsz * heads, head_dim) as
  Mul/Unsqueeze/Concat/Reshape with Transpose(1, 0, 2), q / sqrt(head_dim) as Div by a constant,
  bmm(q, k^T) as Transpose + MatMul, Softmax(axis=-1), bmm with v, transpose back and
  .view(L * bsz, E) (Reshape from Mul/Concat), the out projection as Gemm(transB=1) on 2-D, then
  .view(L, bsz, E) from Shape/Gather of the Gemm output. nn.GELU() exports as
  Div(sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5) at every opset. LayerNorm is
  LayerNormalization at opset 17 and the ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add
  decomposition at opset 13. A 3-D Linear exports as MatMul + Add. transformer_dyn_op17 declares
  the batch as dim_param "batch".
- gelu_op20: nn.GELU() and nn.GELU(approximate="tanh") as the opset-20 Gelu op
  (torch.onnx.export(..., opset_version=20) emits Gelu).

For every model the script writes NAME.onnx, NAME.input.x.npy and NAME.expected.y.npy
(onnxruntime, one thread, CPU), and manifest.txt with one model name per line.
Weights come from a fixed seed.
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(20261202)


def w(*shape, scale=0.4):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


class G:
    """A graph under construction: nodes, initializers, fresh names."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def fresh(self, base):
        self.n += 1
        return f"/{base}_{self.n}"

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def const(self, array):
        # torch 1.13 emits small constants as Constant nodes (onnx::Constant) before folding moves
        # shape constants into initializers; both appear in exported graphs.
        name = self.fresh("Constant_output_0")
        self.nodes.append(
            helper.make_node("Constant", [], [name], name=name + "_node",
                             value=numpy_helper.from_array(np.asarray(array)))
        )
        return name

    def op(self, op_type, inputs, outputs=1, **attrs):
        names = [self.fresh(f"{op_type}_output_{i}") for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=f"/{op_type}_{self.n}", **attrs))
        return names[0] if outputs == 1 else names


def finish(name, opset, g, x_shape, y, y_shape, x_dims=None, elem=TensorProto.FLOAT):
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info("x", elem, x_dims or x_shape)],
        [helper.make_tensor_value_info(y, elem, y_shape)],
        g.inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="pytorch", producer_version="1.13.1")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


# ---------------------------------------------------------------- MLP
def mlp(opset, dynamic=False):
    g = G()
    h = "x"
    sizes = [12, 32, 16, 5]
    for i in range(3):
        wt = g.init(f"fc{i}.weight", w(sizes[i + 1], sizes[i]))
        b = g.init(f"fc{i}.bias", w(sizes[i + 1], scale=0.1))
        h = g.op("Gemm", [h, wt, b], alpha=1.0, beta=1.0, transB=1)
        if i < 2:
            h = g.op("Relu", [h])
    batch = "batch" if dynamic else 3
    return finish("torch_jit", opset, g, [3, 12], h, [batch, 5], [batch, 12])


# ---------------------------------------------------------------- CNN
def batch_norm(g, x, c, prefix):
    return g.op(
        "BatchNormalization",
        [x, g.init(f"{prefix}.weight", 1.0 + w(c, scale=0.1)), g.init(f"{prefix}.bias", w(c, scale=0.1)),
         g.init(f"{prefix}.running_mean", w(c, scale=0.1)),
         g.init(f"{prefix}.running_var", (0.5 + RNG.random(c)).astype(np.float32))],
        epsilon=1e-5, momentum=0.9,
    )


def cnn(opset):
    g = G()
    # conv1 with bn1 folded in (eval-mode peephole): W' = W * gamma / sqrt(var + eps), b' = ...
    w1, b1 = w(4, 2, 3, 3), w(4, scale=0.1)
    gamma, beta, mean, var = 1.0 + w(4, scale=0.1), w(4, scale=0.1), w(4, scale=0.1), (0.5 + RNG.random(4)).astype(np.float32)
    k = gamma / np.sqrt(var + 1e-5)
    h = g.op("Conv", ["x", g.init("onnx::Conv_30", (w1 * k[:, None, None, None]).astype(np.float32)),
                      g.init("onnx::Conv_31", ((b1 - mean) * k + beta).astype(np.float32))],
             dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    h = g.op("Relu", [h])
    h = g.op("MaxPool", [h], ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2])
    h = g.op("Conv", [h, g.init("conv2.weight", w(6, 4, 3, 3)), g.init("conv2.bias", w(6, scale=0.1))],
             dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    h = g.op("Relu", [h])
    h = batch_norm(g, h, 6, "bn2")
    h = g.op("MaxPool", [h], ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2])
    # x.view(x.size(0), -1)
    s = g.op("Shape", [h])
    n = g.op("Gather", [s, g.const(np.array(0, dtype=np.int64))], axis=0)
    n1 = g.op("Unsqueeze", [n, g.const(np.array([0], dtype=np.int64))]) if opset >= 13 else None
    target = g.op("Concat", [n1, g.const(np.array([-1], dtype=np.int64))], axis=0)
    h = g.op("Reshape", [h, target], allowzero=0) if opset >= 14 else g.op("Reshape", [h, target])
    h = g.op("Gemm", [h, g.init("fc.weight", w(3, 6 * 2 * 2)), g.init("fc.bias", w(3, scale=0.1))],
             alpha=1.0, beta=1.0, transB=1)
    return finish("torch_jit", opset, g, [2, 2, 8, 8], h, [2, 3])


# ---------------------------------------------------------------- Transformer block
def unsq(g, v):
    return g.op("Unsqueeze", [v, g.const(np.array([0], dtype=np.int64))])


def gather(g, shape, i):
    return g.op("Gather", [shape, g.const(np.array(i, dtype=np.int64))], axis=0)


def layer_norm(g, x, e, prefix, opset):
    gamma, beta = g.init(f"{prefix}.weight", 1.0 + w(e, scale=0.1)), g.init(f"{prefix}.bias", w(e, scale=0.1))
    if opset >= 17:
        return g.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-5)
    mean = g.op("ReduceMean", [x], axes=[-1], keepdims=1)
    d = g.op("Sub", [x, mean])
    sq = g.op("Pow", [d, g.const(np.array(2.0, dtype=np.float32))])
    var = g.op("ReduceMean", [sq], axes=[-1], keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [var, g.const(np.array(1e-5, dtype=np.float32))])])
    return g.op("Add", [g.op("Mul", [g.op("Div", [d, std]), gamma]), beta])


def gelu_erf(g, x):
    e = g.op("Erf", [g.op("Div", [x, g.const(np.array(1.4142135381698608, dtype=np.float32))])])
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [e, g.const(np.array(1.0, dtype=np.float32))])]),
                        g.const(np.array(0.5, dtype=np.float32))])


def linear3d(g, x, w_t, b):
    return g.op("Add", [g.op("MatMul", [x, w_t]), b])


def transformer(opset, dynamic=False):
    L, N, E, H, F = 5, 2, 16, 4, 32
    hd = E // H
    g = G()
    x = "x"
    # ---- nn.MultiheadAttention (self-attention, F.multi_head_attention_forward of 1.13)
    shape = g.op("Shape", [x])
    tgt_len, bsz, embed_dim = gather(g, shape, 0), gather(g, shape, 1), gather(g, shape, 2)
    in_w = w(3 * E, E)
    proj = linear3d(g, x, g.init("onnx::MatMul_in_proj", in_w.T.copy()), g.init("self_attn.in_proj_bias", w(3 * E, scale=0.1)))
    q, k, v = g.op("Split", [proj, g.init("onnx::Split_sizes", np.array([E, E, E], dtype=np.int64))], outputs=3, axis=-1)

    def heads(t, length):
        bh = g.op("Mul", [bsz, g.const(np.array(H, dtype=np.int64))])
        target = g.op("Concat", [unsq(g, length), unsq(g, bh), g.const(np.array([hd], dtype=np.int64))], axis=0)
        return g.op("Transpose", [g.op("Reshape", [t, target])], perm=[1, 0, 2])

    q = heads(q, tgt_len)
    k = heads(k, gather(g, g.op("Shape", [k]), 0))
    v = heads(v, gather(g, g.op("Shape", [v]), 0))
    q = g.op("Div", [q, g.const(np.array(np.sqrt(hd), dtype=np.float32))])
    attn = g.op("Softmax", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 2, 1])])], axis=-1)
    out = g.op("Transpose", [g.op("MatMul", [attn, v])], perm=[1, 0, 2])
    lb = g.op("Mul", [tgt_len, bsz])
    out = g.op("Reshape", [out, g.op("Concat", [unsq(g, lb), unsq(g, embed_dim)], axis=0)])
    out = g.op("Gemm", [out, g.init("self_attn.out_proj.weight", w(E, E)), g.init("self_attn.out_proj.bias", w(E, scale=0.1))],
               alpha=1.0, beta=1.0, transB=1)
    e2 = gather(g, g.op("Shape", [out]), 1)
    out = g.op("Reshape", [out, g.op("Concat", [unsq(g, tgt_len), unsq(g, bsz), unsq(g, e2)], axis=0)])
    # ---- residual, norm, feed-forward with nn.GELU(), residual, norm
    h = layer_norm(g, g.op("Add", [x, out]), E, "norm1", opset)
    ff = linear3d(g, h, g.init("onnx::MatMul_ff1", w(F, E).T.copy()), g.init("linear1.bias", w(F, scale=0.1)))
    ff = gelu_erf(g, ff)
    ff = linear3d(g, ff, g.init("onnx::MatMul_ff2", w(E, F).T.copy()), g.init("linear2.bias", w(E, scale=0.1)))
    y = layer_norm(g, g.op("Add", [h, ff]), E, "norm2", opset)
    batch = "batch" if dynamic else N
    return finish("torch_jit", opset, g, [L, N, E], y, [L, batch, E], [L, batch, E])


def gelu20():
    g = G()
    a = g.op("Gelu", ["x"])
    b = g.op("Gelu", ["x"], approximate="tanh")
    y = g.op("Add", [a, b])
    return finish("torch_jit", 20, g, [3, 7], y, [3, 7])


def breadth(opset):
    """Ops the op table had and the importer refused, plus the forms exporters use for them:
    Neg, Abs, Clip (attributes before opset 11, inputs from 11), Softplus, ReduceMax, ArgMax
    (not differentiable, so its output is cast back through a Constant-indexed Gather), Erf,
    Split, Dropout with its mask output, and Softmax before opset 13 over a non-last axis
    (the coerced 2-D semantics)."""
    g = G()
    a = g.op("Neg", ["x"])
    b = g.op("Abs", [a])
    if opset >= 11:
        c = g.op("Clip", [a, g.const(np.array(-0.5, dtype=np.float32)), g.const(np.array(0.7, dtype=np.float32))])
    else:
        c = g.op("Clip", [a], min=-0.5, max=0.7)
    d = g.op("Add", [g.op("Softplus", [b]), g.op("Erf", [c])])
    p, q = g.op("Split", [d] + ([g.init("split", np.array([3, 4], dtype=np.int64))] if opset >= 13 else []),
                outputs=2, axis=1, **({} if opset >= 13 else {"split": [3, 4]}))
    if opset >= 12:
        drop, _mask = g.op("Dropout", [p], outputs=2)
    else:
        drop = g.op("Dropout", [p], ratio=0.3)
    m = g.op("ReduceMax", [q], axes=[1], keepdims=1)
    s = g.op("Softmax", [g.op("Mul", [drop, m])], axis=0 if opset < 13 else -1)
    y = g.op("Concat", [s, q], axis=1)
    return finish("torch_jit", opset, g, [3, 7], y, [3, 7])


def f64_constant():
    """An f64 model with a typed Constant (torch exports a .double() module's scalars so)."""
    g = G()
    y = g.op("Mul", [g.op("Add", ["x", g.const(np.array(0.25, dtype=np.float64))]),
                     g.const(np.array([1.5, -2.0, 3.0], dtype=np.float64))])
    return finish("torch_jit", 17, g, [2, 3], y, [2, 3], elem=TensorProto.DOUBLE)


MODELS = {
    "mlp_op13": (lambda: mlp(13), [3, 12]),
    "mlp_op17": (lambda: mlp(17), [3, 12]),
    "mlp_dyn_op17": (lambda: mlp(17, dynamic=True), [3, 12]),
    "cnn_op13": (lambda: cnn(13), [2, 2, 8, 8]),
    "cnn_op17": (lambda: cnn(17), [2, 2, 8, 8]),
    "transformer_op13": (lambda: transformer(13), [5, 2, 16]),
    "transformer_op17": (lambda: transformer(17), [5, 2, 16]),
    "transformer_dyn_op17": (lambda: transformer(17, dynamic=True), [5, 2, 16]),
    "gelu_op20": (gelu20, [3, 7]),
    "breadth_op9": (lambda: breadth(9), [3, 7]),
    "breadth_op12": (lambda: breadth(12), [3, 7]),
    "breadth_op13": (lambda: breadth(13), [3, 7]),
    "f64_constant_op17": (f64_constant, [2, 3]),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    for name, (build, x_shape) in MODELS.items():
        m = build()
        path = os.path.join(out, name + ".onnx")
        onnx.save(m, path)
        x = RNG.standard_normal(x_shape).astype(np.float64 if name.startswith("f64") else np.float32)
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"x": x})
        np.save(os.path.join(out, name + ".input.x.npy"), x)
        np.save(os.path.join(out, name + ".expected.y.npy"), y)
        with open(os.path.join(out, name + ".output"), "w") as f:
            f.write(m.graph.output[0].name)
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(MODELS) + "\n")


if __name__ == "__main__":
    main()
