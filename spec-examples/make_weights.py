#!/usr/bin/env python3
"""Regenerates the weights and data files of spec-examples/ (stdlib only, deterministic).

    python3 spec-examples/make_weights.py

Weights are small and seeded so that every example's contracts have a known answer: the script
prints each network's prediction at the data points the robustness contracts use, so the classes
written in the specs can be checked by hand.
"""
import json
import math
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
W = os.path.join(HERE, "weights")
D = os.path.join(HERE, "data")


def shape_size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def write_npy(path, shape, values, dtype="<f4"):
    fmt = {"<f4": "<%df", "<f8": "<%dd", "<i8": "<%dq"}[dtype]
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        dtype,
        "".join("%d, " % d for d in shape) if len(shape) != 1 else "%d," % shape[0],
    )
    # magic (6) + version (2) + header length (2) + header, padded to a multiple of 64 with '\n'.
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00")
        f.write(struct.pack("<H", len(header)))
        f.write(header.encode("latin1"))
        f.write(struct.pack(fmt % len(values), *values))


def write_safetensors(path, tensors):
    """tensors: list of (name, shape, values) as f32."""
    header = {}
    blobs = []
    offset = 0
    for name, shape, values in tensors:
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def rand_matrix(rng, rows, cols, scale):
    return [[rng.gauss(0.0, scale) for _ in range(cols)] for _ in range(rows)]


def flat(m):
    return [x for row in m for x in row]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def linear(x, w, b):
    return [sum(wi * xi for wi, xi in zip(row, x)) + bi for row, bi in zip(w, b)]


def relu(v):
    return [max(0.0, t) for t in v]


def mlp(x, layers):
    for i, (w, b) in enumerate(layers):
        x = linear(x, w, b)
        if i + 1 < len(layers):
            x = relu(x)
    return x


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def quantize(m):
    return [[f32(v) for v in row] for row in m]


def main():
    os.makedirs(W, exist_ok=True)
    os.makedirs(D, exist_ok=True)
    rng = random.Random(20261125)

    # MNIST-style MLP 784 -> 32 -> 10, payload in one safetensors file keyed by name.
    fc1 = quantize(rand_matrix(rng, 32, 784, 1.0 / math.sqrt(784)))
    b1 = [f32(rng.gauss(0, 0.05)) for _ in range(32)]
    fc2 = quantize(rand_matrix(rng, 10, 32, 1.0 / math.sqrt(32)))
    b2 = [f32(rng.gauss(0, 0.05)) for _ in range(10)]
    # Raise class 7's bias so that data/digit.npy is a clear 7 (margin about 1): the robustness
    # contract then has a known answer at small eps.
    b2[7] = f32(b2[7] + 1.0)
    write_safetensors(
        os.path.join(W, "mnist_mlp.safetensors"),
        [("fc1.weight", [32, 784], flat(fc1)), ("fc1.bias", [32], b1), ("fc2.weight", [10, 32], flat(fc2)), ("fc2.bias", [10], b2)],
    )
    digit = [f32(rng.random()) for _ in range(784)]
    write_npy(os.path.join(D, "digit.npy"), [1, 784], digit)
    logits = mlp(digit, [(fc1, b1), (fc2, b2)])
    top = sorted(range(10), key=lambda i: -logits[i])
    print("mnist_mlp: argmax at data/digit.npy =", top[0], "margin", logits[top[0]] - logits[top[1]])

    # ACAS-Xu-style controller: 5 -> 6 x 50 -> 5, one .npy per tensor.
    sizes = [5] + [50] * 6 + [5]
    layers = []
    for i in range(len(sizes) - 1):
        w = quantize(rand_matrix(rng, sizes[i + 1], sizes[i], 1.0 / math.sqrt(sizes[i])))
        b = [f32(rng.gauss(0, 0.05)) for _ in range(sizes[i + 1])]
        write_npy(os.path.join(W, "acas_w%d.npy" % i), [sizes[i + 1], sizes[i]], flat(w))
        write_npy(os.path.join(W, "acas_b%d.npy" % i), [sizes[i + 1]], b)
        layers.append((w, b))
    lo = [-0.3, -0.5, -0.5, 0.3, 0.3]
    hi = [0.3, 0.5, 0.5, 0.5, 0.5]
    best = None
    for _ in range(20000):
        x = [rng.uniform(l, h) for l, h in zip(lo, hi)]
        y = mlp(x, layers)
        best = y[0] if best is None else max(best, y[0])
    print("acas: max sampled COC score y[0] on the box =", best)

    # Small CNN: conv 1->4 3x3, relu, avg_pool 2, flatten, linear 36 -> 3.
    conv_w = [f32(rng.gauss(0, 0.3)) for _ in range(4 * 1 * 3 * 3)]
    conv_b = [f32(rng.gauss(0, 0.05)) for _ in range(4)]
    fc_w = [f32(rng.gauss(0, 0.2)) for _ in range(3 * 36)]
    fc_b = [f32(rng.gauss(0, 0.05)) for _ in range(3)]
    write_npy(os.path.join(W, "cnn_conv_w.npy"), [4, 1, 3, 3], conv_w)
    write_npy(os.path.join(W, "cnn_conv_b.npy"), [4], conv_b)
    write_npy(os.path.join(W, "cnn_fc_w.npy"), [3, 36], fc_w)
    write_npy(os.path.join(W, "cnn_fc_b.npy"), [3], fc_b)
    image = [f32(rng.random()) for _ in range(64)]
    write_npy(os.path.join(D, "image.npy"), [1, 1, 8, 8], image)

    # Residual block weights (16 -> 16 twice) for two repeated instances, safetensors.
    tensors = []
    for i in range(2):
        for j in (1, 2):
            tensors.append(("layers.%d.fc%d.weight" % (i, j), [16, 16], flat(quantize(rand_matrix(rng, 16, 16, 0.25)))))
            tensors.append(("layers.%d.fc%d.bias" % (i, j), [16], [f32(rng.gauss(0, 0.05)) for _ in range(16)]))
    tensors.append(("head.weight", [4, 16], flat(quantize(rand_matrix(rng, 4, 16, 0.25)))))
    tensors.append(("head.bias", [4], [f32(rng.gauss(0, 0.05)) for _ in range(4)]))
    write_safetensors(os.path.join(W, "residual.safetensors"), tensors)

    # Transformer encoder sublayer, D = 16, one head, post-norm.
    tensors = []
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        tensors.append(("attn.%s.weight" % name, [16, 16], flat(quantize(rand_matrix(rng, 16, 16, 0.25)))))
        tensors.append(("attn.%s.bias" % name, [16], [0.0] * 16))
    for name in ("norm1", "norm2"):
        tensors.append(("%s.weight" % name, [16], [1.0] * 16))
        tensors.append(("%s.bias" % name, [16], [0.0] * 16))
    tensors.append(("ffn.fc1.weight", [32, 16], flat(quantize(rand_matrix(rng, 32, 16, 0.25)))))
    tensors.append(("ffn.fc1.bias", [32], [0.0] * 32))
    tensors.append(("ffn.fc2.weight", [16, 32], flat(quantize(rand_matrix(rng, 16, 32, 0.18)))))
    tensors.append(("ffn.fc2.bias", [16], [0.0] * 16))
    write_safetensors(os.path.join(W, "encoder_layer.safetensors"), tensors)

    # Regression net trained with mse_loss: 4 -> 8 -> 1.
    write_npy(os.path.join(W, "reg_w1.npy"), [8, 4], flat(quantize(rand_matrix(rng, 8, 4, 0.5))))
    write_npy(os.path.join(W, "reg_b1.npy"), [8], [f32(rng.gauss(0, 0.05)) for _ in range(8)])
    write_npy(os.path.join(W, "reg_w2.npy"), [1, 8], flat(quantize(rand_matrix(rng, 1, 8, 0.35))))
    write_npy(os.path.join(W, "reg_b2.npy"), [1], [0.0])

    # Gated MLP of multi_file/: the block's params, keyed by the instance name glu1.
    eye = [[1.0 if i == j else 0.0 for j in range(3)] for i in range(3)]
    write_safetensors(
        os.path.join(W, "glu.safetensors"),
        [("glu1.a.weight", [3, 3], flat([[0.5 * v for v in row] for row in eye])), ("glu1.b.weight", [3, 3], flat(eye))],
    )

    # A model and its f16-rounded copy (quantised_copy.tl): 4 -> 16 -> 16 -> 3, every weight of
    # the copy the nearest f16 to the model's. Its own seed, so the files above do not move.
    qrng = random.Random(20261202)
    sizes = [4, 16, 16, 3]
    model, copy = [], []
    for i in range(len(sizes) - 1):
        w = quantize(rand_matrix(qrng, sizes[i + 1], sizes[i], 1.0 / math.sqrt(sizes[i])))
        b = [f32(qrng.gauss(0, 0.05)) for _ in range(sizes[i + 1])]
        wq = [[f16(v) for v in row] for row in w]
        bq = [f16(v) for v in b]
        for tag, ww, bb in (("", w, b), ("_f16", wq, bq)):
            write_npy(os.path.join(W, "qc_w%d%s.npy" % (i, tag)), [sizes[i + 1], sizes[i]], flat(ww))
            write_npy(os.path.join(W, "qc_b%d%s.npy" % (i, tag)), [sizes[i + 1]], bb)
        model.append((w, b))
        copy.append((wq, bq))
    worst = 0.0
    for _ in range(20000):
        x = [qrng.uniform(-1.0, 1.0) for _ in range(4)]
        worst = max(worst, max(abs(p - q) for p, q in zip(mlp(x, model), mlp(x, copy))))
    print("quantised_copy: max sampled |model - model_f16| on [-1, 1]^4 =", worst)


if __name__ == "__main__":
    main()
