#!/usr/bin/env python3
"""Model-zoo ONNX graphs for the ops real exports emit (issue 15), with onnxruntime's outputs.

Usage: python3 tools/onnx_zoo/make_zoo_models.py OUT_DIR
Install: pip install onnx onnxruntime numpy
(tested with onnx 1.23.2, onnxruntime 1.32.0, numpy 2.4.6)

Run by kernels/tests/onnx_zoo_models.rs into a temporary directory at test time; nothing here is
committed as a binary. Each graph is built node by node with onnx.helper, with random weights from
a fixed seed, at several opsets, in the node forms the exporters emit:

- pad_*: Pad in constant (with a fill value), reflect and edge modes; pads as attributes before
  opset 11 (the form of opsets 2-10), as an int64 initializer input from 11, and with the `axes` input from 18.
  F.pad(x, (l, r, t, b), mode=...) exports so.
- act_*: Elu(alpha), Selu (defaults), HardSigmoid(alpha = 1/6, as nn.Hardsigmoid exports),
  HardSwish (opset 14+; before it nn.Hardswish exports as x * HardSigmoid(x)), PRelu with a
  [C, 1, 1] slope (nn.PReLU(C) on NCHW) and a [1] slope (nn.PReLU()), and the variadic Sum, Mean,
  Max and Min with 1 to 3 broadcasting inputs (torch.stack(...).sum(0) is not this; these come
  from TF/Keras and hand-built graphs, and torch.max(a, b) exports as Max of two).
- mobilenetv3_*: a MobileNetV3 inverted-residual block with squeeze-and-excitation: 1x1 expand
  Conv -> HardSwish -> explicit Pad -> 3x3 depthwise Conv (group = channels, stride 2) ->
  BatchNormalization -> HardSwish -> SE (GlobalAveragePool -> 1x1 Conv -> Relu -> 1x1 Conv ->
  HardSigmoid -> Mul) -> 1x1 project Conv, then a stride-1 block with a residual Add.

- asym_pads_*: Conv (plain, grouped and dilated) and MaxPool with asymmetric pads, which tl
  imports as an explicit Pad (zeros before a conv, -inf before a max pool) and an unpadded window.

- resize_*: Upsample (opset 9) and Resize (10-21) in nearest (asymmetric + floor, as
  nn.Upsample exports; half_pixel with round_prefer_floor/ceil) and linear modes (half_pixel,
  pytorch_half_pixel as bilinear with align_corners=False exports, align_corners), by scales and by
  sizes. unet_upsample_*: a UNet stage with bilinear upsampling and a concatenated skip.
- expand_tile_*: Expand to a larger shape, to one that broadcasts back to x's, and to the Shape
  of another tensor (expand_as); Tile with per-axis repeats (x.repeat exports so); int64 ids
  expanded and tiled before an embedding Gather (folded at import).
- alexnet_*: an AlexNet-style net with LRN (sizes 5 and 3; onnxruntime takes odd sizes only) between conv and max pool.
- audio1d_*: a 1-D conv audio net (Conv, MaxPool, AveragePool on [N, C, L]; tl runs the pools
  as 2-D pools with a 1 x k window on an added axis, which is exact).
- gpt2_attention_*: GPT-2 masked self-attention as transformers exports it: the bool causal
  buffer sliced by Shape-derived bounds and Where(mask, scores, finfo.min); an additive mask
  from Range/Less/Where (folded at import); from opset 14 Trilu(full(-1e4), k=1).
- unet_decoder_*: a UNet-style decoder: ConvTranspose (k2 s2; k3 s2 p1 output_padding 1; grouped
  and dilated) with the encoder's skip concatenated.

Bad input (written to bad.txt as `NAME CODE NODE`: the coded error tl must give, naming the node):
- bad_pad_negative: a Pad with a negative pad (cropping): TL0521.
- bad_pad_data_pads: a Pad whose pads are computed from tensor data: TL0570.
- bad_resize_data_sizes: a Resize whose sizes are computed from tensor data: TL0570.
- bad_conv_transpose_weights: a ConvTranspose weight for 5 input channels on 4: TL0521.
- bad_tile_data_repeats: a Tile whose repeats are computed from tensor data: TL0570.

For every good model the script writes NAME.onnx, NAME.input.x.npy, NAME.expected.y.npy
(onnxruntime, one thread, CPU), NAME.output (the output's name), and manifest.txt with one model
name per line.
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(20261203)


def w(*shape, scale=0.4):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def i64(v):
    return np.array(v, dtype=np.int64)


class G:
    """A graph under construction: nodes, initializers, fresh names."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def fresh(self, base):
        self.n += 1
        return f"/{base}_{self.n}"

    def init(self, array, base="init"):
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, **attrs):
        out = self.fresh(f"{op_type}_output")
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"/{op_type}_{self.n}", **attrs))
        return out


def finish(opset, g, x_shape, y):
    graph = helper.make_graph(
        g.nodes, "torch_jit",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)],
        g.inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="pytorch", producer_version="1.13.1")
    m.ir_version = 8
    # The output's shape, which the checker wants, from a run of onnxruntime.
    x = np.zeros(x_shape, dtype=np.float32)
    (out,) = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info(y, TensorProto.FLOAT, list(out.shape)))
    onnx.checker.check_model(m)
    return m


def pad(g, x, opset, pads, mode="constant", value=None, axes=None):
    """A Pad node in the form of `opset`."""
    if opset < 11:
        attrs = {"pads": pads, "mode": mode}
        if value is not None:
            attrs["value"] = value
        return g.op("Pad", [x], **attrs)
    ins = [x, g.init(i64(pads), "pads")]
    if value is not None or axes is not None:
        ins.append(g.init(np.array(value or 0.0, dtype=np.float32), "value") if value is not None else "")
    if axes is not None:
        ins.append(g.init(i64(axes), "axes"))
    return g.op("Pad", ins, mode=mode)


# ---------------------------------------------------------------- Pad
def pad_model(opset):
    g = G()
    # x: [2, 3, 5, 6]
    a = pad(g, "x", opset, [0, 0, 1, 2, 0, 0, 2, 1], "constant", value=0.5)
    b = pad(g, "x", opset, [0, 0, 2, 1, 0, 0, 1, 3], "reflect")
    c = pad(g, "x", opset, [0, 0, 3, 0, 0, 0, 0, 3], "edge")
    # A cheap consumer of all three that keeps their layout observable.
    y = g.op("Concat", [g.op("Flatten", [a], axis=1), g.op("Flatten", [b], axis=1),
                        g.op("Flatten", [c], axis=1)], axis=1)
    return finish(opset, g, [2, 3, 5, 6], y)


def pad_axes_model(opset):
    """Opset 18+: pads for the axes named by the `axes` input only (negative axes too)."""
    g = G()
    a = pad(g, "x", opset, [1, 2, 3, 0], "reflect", axes=[-1, 2])
    b = pad(g, "x", opset, [2, 1], "constant", value=-1.25, axes=[1])
    y = g.op("Concat", [g.op("Flatten", [a], axis=1), g.op("Flatten", [b], axis=1)], axis=1)
    return finish(opset, g, [2, 3, 5, 6], y)


# ---------------------------------------------------------------- activations
def hardswish(g, x, opset):
    if opset >= 14:
        return g.op("HardSwish", [x])
    return g.op("Mul", [x, g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)])


def act_model(opset):
    g = G()
    # x: [2, 4, 3, 3], values spread over [-4, 4] by the scale below
    x = g.op("Mul", ["x", g.init(np.array(2.5, dtype=np.float32))])
    e = g.op("Elu", [x], alpha=0.7)
    s = g.op("Selu", [x])
    hs = g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    hw = hardswish(g, x, opset)
    p4 = g.op("PRelu", [x, g.init(w(4, 1, 1), "prelu.weight")])
    p1 = g.op("PRelu", [x, g.init(np.array([0.25], dtype=np.float32), "prelu1.weight")])
    bias = g.init(w(3), "bias")  # broadcasts along the last axis
    sm = g.op("Sum", [e, s, bias])
    mean = g.op("Mean", [hs, hw, p4])
    mx = g.op("Max", [p1, e, bias])
    mn = g.op("Min", [s, hw])
    one = g.op("Min", [mx])
    y = g.op("Concat", [sm, mean, mx, mn, one], axis=1)
    return finish(opset, g, [2, 4, 3, 3], y)


# ---------------------------------------------------------------- MobileNetV3 block
def conv(g, x, cout, cin, k, stride=1, group=1, pads=None, bias=True):
    ins = [x, g.init(w(cout, cin // group, k, k, scale=0.5), "conv.weight")]
    if bias:
        ins.append(g.init(w(cout, scale=0.1), "conv.bias"))
    return g.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], group=group,
                pads=pads or [0, 0, 0, 0], dilations=[1, 1])


def batch_norm(g, x, c):
    return g.op("BatchNormalization", [
        x, g.init((1.0 + w(c, scale=0.1)), "bn.weight"), g.init(w(c, scale=0.1), "bn.bias"),
        g.init(w(c, scale=0.1), "bn.running_mean"),
        g.init((0.5 + np.abs(w(c))).astype(np.float32), "bn.running_var")], epsilon=1e-5)


def se(g, x, c, r, opset):
    s = g.op("GlobalAveragePool", [x])
    s = g.op("Relu", [conv(g, s, r, c, 1)])
    s = g.op("HardSigmoid", [conv(g, s, c, r, 1)], alpha=1.0 / 6.0, beta=0.5)
    return g.op("Mul", [x, s])


def mobilenetv3_model(opset):
    g = G()
    # x: [1, 8, 9, 9] -> expand 16 -> dw s2 -> project 8 -> block 2 with residual
    h = hardswish(g, conv(g, "x", 16, 8, 1), opset)
    h = pad(g, h, opset, [0, 0, 1, 1, 0, 0, 1, 1], "constant")  # asymmetric exports pad explicitly
    h = batch_norm(g, conv(g, h, 16, 16, 3, stride=2, group=16, bias=False), 16)
    h = hardswish(g, h, opset)
    h = se(g, h, 16, 4, opset)
    y1 = conv(g, h, 8, 16, 1)
    h = hardswish(g, conv(g, y1, 24, 8, 1), opset)
    h = hardswish(g, batch_norm(g, conv(g, h, 24, 24, 3, group=24, pads=[1, 1, 1, 1], bias=False), 24), opset)
    h = se(g, h, 24, 8, opset)
    y = g.op("Add", [y1, conv(g, h, 8, 24, 1)])
    return finish(opset, g, [1, 8, 9, 9], y)


# ---------------------------------------------------------------- asymmetric pads
def asym_pads_model(opset):
    """Conv and MaxPool with pads that differ between an axis' two ends (TF 'SAME' exports)."""
    g = G()
    h = conv(g, "x", 4, 3, 3, stride=2, pads=[0, 1, 2, 0])
    h = g.op("MaxPool", [g.op("Relu", [h])], kernel_shape=[3, 3], strides=[2, 1], pads=[1, 0, 0, 1])
    d = g.op("Conv", [h, g.init(w(4, 1, 2, 2), "dw.weight")], kernel_shape=[2, 2], group=4,
             pads=[1, 0, 0, 1], dilations=[2, 1])
    return finish(opset, g, [2, 3, 11, 10], d)


# ---------------------------------------------------------------- UNet-style decoder
def conv_t(g, x, cin, cout, k, stride, pads, output_padding=None, group=1, dilations=None):
    attrs = {"kernel_shape": [k, k], "strides": [stride, stride], "pads": pads, "group": group}
    if output_padding:
        attrs["output_padding"] = output_padding
    if dilations:
        attrs["dilations"] = dilations
    return g.op("ConvTranspose", [x, g.init(w(cin, cout // group, k, k), "up.weight"),
                                  g.init(w(cout, scale=0.1), "up.bias")], **attrs)


def unet_decoder_model(opset):
    """Encoder (Conv stride 2 twice) and decoder (ConvTranspose k2 s2, as nn.ConvTranspose2d
    exports, concatenated with the skip, Conv, then a k3 s2 p1 output_padding 1 ConvTranspose
    and a grouped, dilated one)."""
    g = G()
    e1 = g.op("Relu", [conv(g, "x", 8, 3, 3, pads=[1, 1, 1, 1])])          # 8 x 12 x 12
    e2 = g.op("Relu", [conv(g, e1, 16, 8, 3, stride=2, pads=[1, 1, 1, 1])])  # 16 x 6 x 6
    u1 = conv_t(g, e2, 16, 8, 2, 2, [0, 0, 0, 0])                         # 8 x 12 x 12
    h = g.op("Relu", [conv(g, g.op("Concat", [u1, e1], axis=1), 8, 16, 3, pads=[1, 1, 1, 1])])
    h2 = conv_t(g, h, 8, 4, 3, 2, [1, 1, 1, 1], output_padding=[1, 1])     # 4 x 24 x 24
    y = conv_t(g, h2, 4, 6, 3, 1, [2, 2, 2, 2], group=2, dilations=[2, 2])  # 6 x 24 x 24
    return finish(opset, g, [1, 3, 12, 12], y)


# ---------------------------------------------------------------- Resize / Upsample
def resize(g, x, opset, mode, scales=None, sizes=None, coord=None, nearest=None):
    """A Resize node as the exporters write it at `opset` (Upsample before 10)."""
    if opset < 10:
        return g.op("Upsample", [x, g.init(np.array(scales, dtype=np.float32), "scales")], mode=mode)
    if opset == 10:
        return g.op("Resize", [x, g.init(np.array(scales, dtype=np.float32), "scales")], mode=mode)
    roi = g.init(np.array([], dtype=np.float32), "roi") if opset < 13 else ""
    sc = g.init(np.array(scales if scales else [], dtype=np.float32), "scales") if (scales or opset < 13) else ""
    ins = [x, roi, sc] + ([g.init(i64(sizes), "sizes")] if sizes else [])
    attrs = {"mode": mode}
    if coord:
        attrs["coordinate_transformation_mode"] = coord
    if nearest:
        attrs["nearest_mode"] = nearest
    return g.op("Resize", ins, **attrs)


def resize_model(opset):
    """nn.Upsample(scale_factor=2) (nearest: asymmetric + floor), bilinear with
    align_corners False (pytorch_half_pixel; half_pixel from ONNX defaults) and True, and a
    size-based resize to a non-multiple extent."""
    g = G()
    outs = [resize(g, "x", opset, "nearest", scales=[1, 1, 2, 2], coord="asymmetric", nearest="floor")]
    if opset >= 10:
        outs.append(resize(g, "x", opset, "linear", scales=[1, 1, 2, 2]))
    if opset >= 11:
        outs.append(resize(g, "x", opset, "linear", scales=[1, 1, 2, 2], coord="pytorch_half_pixel"))
        outs.append(resize(g, "x", opset, "linear", scales=[1, 1, 2, 2], coord="align_corners"))
        outs.append(resize(g, "x", opset, "nearest", scales=[1, 1, 2, 2]))
        odd = resize(g, "x", opset, "linear", sizes=[2, 3, 7, 9], coord="align_corners")
        odd2 = resize(g, "x", opset, "nearest", sizes=[2, 3, 7, 9], coord="half_pixel",
                      nearest="round_prefer_ceil")
        outs.append(g.op("Resize", [g.op("Add", [odd, odd2])] + ([g.init(np.array([], dtype=np.float32), "roi")] if opset < 13 else [""])
                         + [g.init(np.array([], dtype=np.float32), "scales") if opset < 13 else "", g.init(i64([2, 3, 10, 10]), "sizes")],
                         mode="linear", coordinate_transformation_mode="half_pixel"))
    y = g.op("Concat", [g.op("Flatten", [o], axis=1) for o in outs], axis=1)
    return finish(opset, g, [2, 3, 5, 5], y)


def unet_upsample_model(opset):
    """A UNet decoder stage with bilinear upsampling (nn.Upsample(scale_factor=2,
    mode="bilinear")) and the skip concatenated."""
    g = G()
    e1 = g.op("Relu", [conv(g, "x", 6, 3, 3, pads=[1, 1, 1, 1])])
    e2 = g.op("Relu", [conv(g, g.op("MaxPool", [e1], kernel_shape=[2, 2], strides=[2, 2]), 12, 6, 3, pads=[1, 1, 1, 1])])
    up = resize(g, e2, opset, "linear", scales=[1, 1, 2, 2], coord="pytorch_half_pixel")
    y = conv(g, g.op("Concat", [up, e1], axis=1), 4, 18, 3, pads=[1, 1, 1, 1])
    return finish(opset, g, [1, 3, 8, 8], y)


# ---------------------------------------------------------------- bad input
def bad_pad_negative():
    g = G()
    y = pad(g, "x", 13, [0, 1, 0, -1], "constant")
    return finish(13, g, [2, 4], y), g.nodes[-1].name


def bad_pad_data_pads():
    g = G()
    # pads = the argmax of each row, twice: computed from the tensor's values.
    m = g.op("ArgMax", ["x"], axis=1, keepdims=0)
    pads = g.op("Concat", [m, m], axis=0)
    y = g.op("Pad", ["x", pads], mode="constant")
    return finish(13, g, [2, 4], y), g.nodes[-1].name


def bad_tile_data_repeats():
    """A Tile whose repeats are computed from tensor data (the argmax of each row)."""
    g = G()
    m = g.op("ArgMax", ["x"], axis=1, keepdims=0)
    y = g.op("Tile", ["x", m])
    return finish(13, g, [2, 4], y), g.nodes[-1].name


# ---------------------------------------------------------------- Expand, Tile
def expand_tile_model(opset):
    """Expand (to a larger shape, to a shape that broadcasts back to x's, with the shape from a
    Shape subgraph as `x.expand_as(y)` exports) and Tile (`x.repeat(...)` exports so)."""
    g = G()
    # x: [2, 3, 1, 4]
    e1 = g.op("Expand", ["x", g.init(i64([2, 3, 5, 4]), "shape")])
    e2 = g.op("Expand", ["x", g.init(i64([3, 1, 1]), "shape")])
    like = g.op("Shape", [e1])
    e3 = g.op("Expand", [g.op("Mul", ["x", g.init(np.array(-1.5, dtype=np.float32))]), like])
    t = g.op("Tile", ["x", g.init(i64([1, 2, 3, 1]), "repeats")])
    # Integer index tensors expanded and tiled before an embedding lookup, as Hugging Face
    # exports token_type_ids (`buffered_token_type_ids.expand(batch, seq)`): folded at import.
    ids = g.init(i64([[0, 3, 1, 5]]), "token_type_ids")
    table = g.init(w(6, 5), "embeddings.weight")
    g1 = g.op("Gather", [table, g.op("Expand", [ids, g.init(i64([2, 4]), "shape")])], axis=0)
    g2 = g.op("Gather", [table, g.op("Tile", [ids, g.init(i64([2, 1]), "repeats")])], axis=0)
    y = g.op("Concat", [g.op("Flatten", [v], axis=1) for v in (e1, e2, e3, t, g1, g2)], axis=1)
    return finish(opset, g, [2, 3, 1, 4], y)


# ---------------------------------------------------------------- causal masks
def unsqueeze(g, x, axes, opset):
    if opset >= 13:
        return g.op("Unsqueeze", [x, g.init(i64(axes), "axes")])
    return g.op("Unsqueeze", [x], axes=axes)


def gpt2_attention_model(opset, heads=2):
    """A GPT-2 masked self-attention block as transformers exports it: c_attn (MatMul + Add),
    Split into q, k, v, head reshapes whose targets come from Shape -> Gather -> Unsqueeze ->
    Concat, the causal mask sliced from the bool `bias` buffer by Shape-derived bounds
    (`self.bias[:, :, k_len - q_len : k_len, :k_len]`) and applied with
    Where(mask, scores, finfo.min); then the additive masks of later models: one from Range and
    Less (`mask_cond < (mask_cond + 1).view(n, 1)`, then Where(cond, 0, min), as
    `_make_causal_mask` builds it) and, from opset 14, Trilu(full(min), k=1) (`torch.triu`)."""
    g = G()
    # x: [B, T, E]
    e = 8
    d = e // heads
    qkv = g.op("Add", [g.op("MatMul", ["x", g.init(w(e, 3 * e), "c_attn.weight")]), g.init(w(3 * e), "c_attn.bias")])
    split = [e, e, e]
    outs = [g.fresh("split") for _ in range(3)]
    if opset >= 13:
        g.nodes.append(helper.make_node("Split", [qkv, g.init(i64(split), "split")], outs, name=g.fresh("Split"), axis=2))
    else:
        g.nodes.append(helper.make_node("Split", [qkv], outs, name=g.fresh("Split"), axis=2, split=split))
    shape_x = g.op("Shape", ["x"])
    b = unsqueeze(g, g.op("Gather", [shape_x, g.init(np.array(0, dtype=np.int64))], axis=0), [0], opset)
    t = unsqueeze(g, g.op("Gather", [shape_x, g.init(np.array(1, dtype=np.int64))], axis=0), [0], opset)
    head_shape = g.op("Concat", [b, t, g.init(i64([heads]), "h"), g.init(i64([d]), "d")], axis=0)
    q, k, v = (g.op("Reshape", [o, head_shape]) for o in outs)
    q = g.op("Transpose", [q], perm=[0, 2, 1, 3])
    kt = g.op("Transpose", [k], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [v], perm=[0, 2, 1, 3])
    scores = g.op("Div", [g.op("MatMul", [q, kt]), g.init(np.array(np.sqrt(d), dtype=np.float32))])
    # The bool causal buffer, sliced by the query and key lengths.
    n_pos = 16
    bias = g.init(np.tril(np.ones((n_pos, n_pos), dtype=bool)).reshape(1, 1, n_pos, n_pos), "attn.bias")
    shape_q = g.op("Shape", [q])
    shape_k = g.op("Shape", [kt])
    q_len = g.op("Gather", [shape_q, g.init(np.array(-2, dtype=np.int64))], axis=0)
    k_len = g.op("Gather", [shape_k, g.init(np.array(-1, dtype=np.int64))], axis=0)
    start = unsqueeze(g, g.op("Sub", [k_len, q_len]), [0], opset)
    end = unsqueeze(g, k_len, [0], opset)
    rows = g.op("Slice", [bias, start, end, g.init(i64([2]), "axes"), g.init(i64([1]), "steps")])
    mask = g.op("Slice", [rows, g.init(i64([0]), "starts"), end, g.init(i64([3]), "axes"), g.init(i64([1]), "steps")])
    fmin = np.array(np.finfo(np.float32).min, dtype=np.float32)
    scores = g.op("Where", [mask, scores, g.init(fmin, "mask_value")])
    # An additive mask from Range and Less, folded at import.
    tt = g.op("Gather", [shape_x, g.init(np.array(1, dtype=np.int64))], axis=0)
    r = g.op("Range", [g.init(np.array(0, dtype=np.int64)), tt, g.init(np.array(1, dtype=np.int64))])
    r1 = g.op("Reshape", [g.op("Add", [r, g.init(np.array(1, dtype=np.int64))]), g.init(i64([-1, 1]), "shape")])
    cond = g.op("Less", [r, r1])
    additive = g.op("Where", [cond, g.init(np.array(0.0, dtype=np.float32)), g.init(fmin, "min")])
    # Half of min, so the two masks together stay finite (min + min overflows to -inf).
    scores = g.op("Add", [scores, g.op("Mul", [additive, g.init(np.array(0.5, dtype=np.float32))])])
    if opset >= 14:
        full = g.op("ConstantOfShape", [g.op("Concat", [t, t], axis=0)],
                    value=helper.make_tensor("v", TensorProto.FLOAT, [1], [-1.0e4]))
        scores = g.op("Add", [scores, g.op("Trilu", [full, g.init(np.array(1, dtype=np.int64))], upper=1)])
    p = g.op("Softmax", [scores], axis=-1 if opset >= 13 else 3)
    ctx = g.op("Transpose", [g.op("MatMul", [p, v])], perm=[0, 2, 1, 3])
    merged = g.op("Reshape", [ctx, g.op("Concat", [b, t, g.init(i64([e]), "e")], axis=0)])
    y = g.op("Add", [g.op("MatMul", [merged, g.init(w(e, e), "c_proj.weight")]), g.init(w(e), "c_proj.bias")])
    return finish(opset, g, [2, 5, 8], y)


# ---------------------------------------------------------------- 1-D audio net
def audio1d_model(opset):
    """A 1-D conv audio net on [N, C, L], as nn.Conv1d / nn.MaxPool1d / nn.AvgPool1d export:
    Conv (pads, stride, dilation, groups) -> Relu -> MaxPool (k3 s2 p1) -> Conv (dilated) ->
    AveragePool (k2 s2; and k3 s1 p1 with count_include_pad both ways), GlobalMaxPool and
    GlobalAveragePool on [N, C, L] -> ReduceMean over L."""
    g = G()
    # x: [2, 4, 32]
    h = g.op("Conv", ["x", g.init(w(8, 4, 5), "conv1.weight"), g.init(w(8), "conv1.bias")],
             kernel_shape=[5], pads=[2, 2], strides=[1])
    h = g.op("Relu", [h])
    h = g.op("MaxPool", [h], kernel_shape=[3], strides=[2], pads=[1, 1])
    h = g.op("Conv", [h, g.init(w(8, 4, 3), "conv2.weight")], kernel_shape=[3], dilations=[2],
             pads=[2, 2], group=2)
    a = g.op("AveragePool", [h], kernel_shape=[2], strides=[2])
    b = g.op("AveragePool", [h], kernel_shape=[3], strides=[1], pads=[1, 1], count_include_pad=1)
    c = g.op("AveragePool", [h], kernel_shape=[3], strides=[1], pads=[1, 1])
    m = g.op("MaxPool", [b], kernel_shape=[2], strides=[2])
    cat = g.op("Concat", [a, m, g.op("MaxPool", [c], kernel_shape=[2], strides=[2])], axis=1)
    # nn.AdaptiveMaxPool1d(1) / AdaptiveAvgPool1d(1) export as the global pools.
    gmax = g.op("GlobalMaxPool", [cat])
    gavg = g.op("GlobalAveragePool", [cat])
    cat = g.op("Concat", [cat, gmax, gavg], axis=2)
    if opset >= 18:
        y = g.op("ReduceMean", [cat, g.init(i64([2]), "axes")], keepdims=0)
    else:
        y = g.op("ReduceMean", [cat], axes=[2], keepdims=0)
    return finish(opset, g, [2, 4, 32], y)


# ---------------------------------------------------------------- AlexNet with LRN
def alexnet_model(opset):
    """An AlexNet-style net (as the ONNX model zoo's bvlc_alexnet, from Caffe): Conv (11x11
    stride 4) -> Relu -> LRN(size 5) -> MaxPool (3, stride 2) -> grouped Conv -> Relu -> LRN
    (size 3, alpha large enough to matter) -> MaxPool -> Flatten -> Gemm."""
    g = G()
    # x: [1, 3, 39, 39]
    h = g.op("Relu", [g.op("Conv", ["x", g.init(w(8, 3, 11, 11, scale=0.2), "conv1.weight"), g.init(w(8), "conv1.bias")],
                             kernel_shape=[11, 11], strides=[4, 4], pads=[2, 2, 2, 2])])
    h = g.op("LRN", [h], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    h = g.op("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2])
    h = g.op("Relu", [g.op("Conv", [h, g.init(w(12, 4, 3, 3), "conv2.weight")], kernel_shape=[3, 3],
                             pads=[1, 1, 1, 1], group=2)])
    h = g.op("LRN", [h], size=3, alpha=0.5, beta=0.6, bias=2.0)
    h = g.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.op("Flatten", [h], axis=1)
    y = g.op("Gemm", [h, g.init(w(10, 48, scale=0.3), "fc.weight"), g.init(w(10), "fc.bias")], transB=1)
    return finish(opset, g, [1, 3, 39, 39], y)


MODELS = {}
for op in (9, 13, 17, 21):
    MODELS[f"expand_tile_op{op}"] = (lambda op=op: expand_tile_model(op), [2, 3, 1, 4])
for op in (9, 10, 11, 13, 18, 21):
    MODELS[f"pad_op{op}"] = (lambda op=op: pad_model(op), [2, 3, 5, 6])
for op in (18, 21):
    MODELS[f"pad_axes_op{op}"] = (lambda op=op: pad_axes_model(op), [2, 3, 5, 6])
for op in (9, 11, 13, 17, 20):
    MODELS[f"act_op{op}"] = (lambda op=op: act_model(op), [2, 4, 3, 3])
for op in (11, 13, 17, 20):
    MODELS[f"unet_decoder_op{op}"] = (lambda op=op: unet_decoder_model(op), [1, 3, 12, 12])
for op in (9, 10, 11, 13, 18, 19, 21):
    MODELS[f"resize_op{op}"] = (lambda op=op: resize_model(op), [2, 3, 5, 5])
for op in (11, 13, 17):
    MODELS[f"unet_upsample_op{op}"] = (lambda op=op: unet_upsample_model(op), [1, 3, 8, 8])
for op in (9, 13, 17):
    MODELS[f"asym_pads_op{op}"] = (lambda op=op: asym_pads_model(op), [2, 3, 11, 10])
for op in (9, 13, 17, 21):
    MODELS[f"alexnet_op{op}"] = (lambda op=op: alexnet_model(op), [1, 3, 39, 39])
for op in (9, 11, 13, 18, 21):
    MODELS[f"audio1d_op{op}"] = (lambda op=op: audio1d_model(op), [2, 4, 32])
for op in (11, 13, 14, 17, 21):
    MODELS[f"gpt2_attention_op{op}"] = (lambda op=op: gpt2_attention_model(op), [2, 5, 8])
for op in (11, 13, 17, 20):
    MODELS[f"mobilenetv3_op{op}"] = (lambda op=op: mobilenetv3_model(op), [1, 8, 9, 9])

def bad_conv_transpose_weights():
    """A ConvTranspose whose weight expects 5 input channels on a 4-channel input."""
    g = G()
    y = g.op("ConvTranspose", ["x", g.init(w(5, 2, 3, 3), "up.weight")], kernel_shape=[3, 3])
    graph = helper.make_graph(g.nodes, "torch_jit",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 2, 7, 7])], g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m, g.nodes[-1].name


def bad_resize_data_sizes():
    """A Resize whose sizes are computed from the tensor's values."""
    g = G()
    sizes = g.op("ArgMax", ["x"], axis=1, keepdims=0)
    y = g.op("Resize", ["x", "", "", sizes], mode="nearest")
    graph = helper.make_graph(g.nodes, "torch_jit",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["a", "b"])], g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m, g.nodes[-1].name


BAD = {"bad_pad_negative": (bad_pad_negative, "TL0521"),
       "bad_resize_data_sizes": (bad_resize_data_sizes, "TL0570"),
       "bad_conv_transpose_weights": (bad_conv_transpose_weights, "TL0521"),
       "bad_pad_data_pads": (bad_pad_data_pads, "TL0570"),
       "bad_tile_data_repeats": (bad_tile_data_repeats, "TL0570")}


def write_corpus(out, models, bad_models):
    """Writes every model with its input, onnxruntime's output and output name, the manifest,
    and the bad models with bad.txt (NAME CODE NODE): the files kernels/tests/generated reads."""
    os.makedirs(out, exist_ok=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    for name, (build, x_shape) in models.items():
        m = build()
        path = os.path.join(out, name + ".onnx")
        onnx.save(m, path)
        x = RNG.standard_normal(x_shape).astype(np.float32)
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"x": x})
        np.save(os.path.join(out, name + ".input.x.npy"), x)
        np.save(os.path.join(out, name + ".expected.y.npy"), y)
        with open(os.path.join(out, name + ".output"), "w") as f:
            f.write(m.graph.output[0].name)
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(models) + "\n")
    lines = []
    for name, (build, code) in bad_models.items():
        m, node = build()
        onnx.save(m, os.path.join(out, name + ".onnx"))
        lines.append(f"{name} {code} {node}")
    with open(os.path.join(out, "bad.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    write_corpus(sys.argv[1], MODELS, BAD)


if __name__ == "__main__":
    main()
