#!/usr/bin/env python3
"""Reference bounds from auto_LiRPA 0.3 for tl-bounds' tests (kernels/bounds/tests/fixtures/).

Environment (the brief asked for torch 1.13.1 + auto_LiRPA 0.3 on Python 3.11; auto_LiRPA 0.3
requires torch < 1.13, and torch 1.12.1 has no Python 3.11 wheel, so the closest working
combination is used):

    python3.10 -m venv /tmp/lirpa-venv
    /tmp/lirpa-venv/bin/pip install "torch==1.12.1" "auto_LiRPA==0.3" "numpy<2" "onnx==1.14.1"

Regenerate the fixtures (deterministic: fixed seeds, float64 throughout):

    /tmp/lirpa-venv/bin/python tools/lirpa/make_fixtures.py

Time auto_LiRPA's CROWN on one ACAS Xu network (for docs/performance.md):

    /tmp/lirpa-venv/bin/python tools/lirpa/make_fixtures.py --time-acas ../shared/acasxu/ACASXU_run2a_1_1_batch_2000.onnx

Each fixture holds a small network as a list of tl ops (names, op, inputs, attrs), its weights,
and per input box the IBP and CROWN bounds of the outputs and CROWN bounds of a spec C y.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
from auto_LiRPA import BoundedModule, BoundedTensor
from auto_LiRPA.perturbations import PerturbationLpNorm

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "kernels", "bounds", "tests", "fixtures")


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    nodes = [
        ("h1", "linear", ["x", "fc1.weight", "fc1.bias"], {}),
        ("a1", "relu", ["h1"], {}),
        ("h2", "linear", ["a1", "fc2.weight", "fc2.bias"], {}),
        ("a2", "relu", ["h2"], {}),
        ("y", "linear", ["a2", "fc3.weight", "fc3.bias"], {}),
    ]
    input_shape = [1, 4]


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = nn.functional.avg_pool2d(h, 2)
        h = torch.relu(self.conv2(h))
        return self.fc(torch.flatten(h, 1))

    nodes = [
        ("c1", "conv2d", ["x", "conv1.weight", "conv1.bias"], {"padding": 1}),
        ("b1", "batch_norm", ["c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"], {"eps": 1e-5}),
        ("r1", "relu", ["b1"], {}),
        ("p1", "avg_pool2d", ["r1"], {"kernel_size": 2}),
        ("c2", "conv2d", ["p1", "conv2.weight", "conv2.bias"], {"stride": 2, "padding": 1}),
        ("r2", "relu", ["c2"], {}),
        ("f", "flatten", ["r2"], {}),
        ("y", "linear", ["f", "fc.weight", "fc.bias"], {}),
    ]
    input_shape = [1, 1, 8, 8]


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 2)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        r = self.fc2(h) + x
        return self.fc3(torch.relu(r))

    nodes = [
        ("h1", "linear", ["x", "fc1.weight", "fc1.bias"], {}),
        ("a1", "relu", ["h1"], {}),
        ("h2", "linear", ["a1", "fc2.weight", "fc2.bias"], {}),
        ("r", "add", ["h2", "x"], {}),
        ("a2", "relu", ["r"], {}),
        ("y", "linear", ["a2", "fc3.weight", "fc3.bias"], {}),
    ]
    input_shape = [1, 6]


class ResidualSub(nn.Module):
    """Two branches joined by sub, then a skip add around a relu block."""

    def __init__(self):
        super().__init__()
        self.fa, self.fb, self.fc, self.fo = nn.Linear(5, 5), nn.Linear(5, 5), nn.Linear(5, 5), nn.Linear(5, 3)

    def forward(self, x):
        a = torch.relu(self.fa(x))
        b = torch.relu(self.fb(x))
        d = a - b
        e = torch.relu(self.fc(d)) + d
        return self.fo(e)

    nodes = [
        ("ha", "linear", ["x", "fa.weight", "fa.bias"], {}),
        ("a", "relu", ["ha"], {}),
        ("hb", "linear", ["x", "fb.weight", "fb.bias"], {}),
        ("b", "relu", ["hb"], {}),
        ("d", "sub", ["a", "b"], {}),
        ("hc", "linear", ["d", "fc.weight", "fc.bias"], {}),
        ("c", "relu", ["hc"], {}),
        ("e", "add", ["c", "d"], {}),
        ("y", "linear", ["e", "fo.weight", "fo.bias"], {}),
    ]
    input_shape = [1, 5]


class SigTanh(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(3, 6), nn.Linear(6, 6), nn.Linear(6, 2)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.sigmoid(self.fc1(x)))))

    nodes = [
        ("h1", "linear", ["x", "fc1.weight", "fc1.bias"], {}),
        ("s1", "sigmoid", ["h1"], {}),
        ("h2", "linear", ["s1", "fc2.weight", "fc2.bias"], {}),
        ("t2", "tanh", ["h2"], {}),
        ("y", "linear", ["t2", "fc3.weight", "fc3.bias"], {}),
    ]
    input_shape = [1, 3]


def bounds(model, x, lo, hi, method, C=None):
    ptb = PerturbationLpNorm(norm=float("inf"), x_L=lo, x_U=hi)
    bx = BoundedTensor(x, ptb)
    l, u = model.compute_bounds(x=(bx,), method=method, C=C)
    return [float(v) for v in l.reshape(-1)], [float(v) for v in u.reshape(-1)]


def fixture(name, net, seed, boxes):
    torch.manual_seed(seed)
    for p in net.parameters():
        nn.init.normal_(p, std=0.6)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    net.eval()
    x0 = torch.zeros(net.input_shape)
    # conv_mode="matrix" works around an auto_LiRPA 0.3 crash on add nodes of 2-D tensors in the
    # default patches mode (get_sparse_C reads a channel axis); it changes the representation of
    # conv coefficients, not the bounds.
    model = BoundedModule(net, x0, device="cpu", bound_opts={"conv_mode": "matrix"})
    out_n = net(x0).numel()
    cases = []
    for centre_seed, eps in boxes:
        g = torch.Generator().manual_seed(centre_seed)
        centre = torch.rand(net.input_shape, generator=g) * 2 - 1
        lo, hi = centre - eps, centre + eps
        ibp = bounds(model, centre, lo, hi, "IBP")
        crown = bounds(model, centre, lo, hi, "CROWN")
        # Spec: y_0 - y_j for every j > 0 (a "class 0 wins" property), as auto_LiRPA's C.
        C = torch.zeros(1, out_n - 1, out_n)
        for j in range(1, out_n):
            C[0, j - 1, 0] = 1.0
            C[0, j - 1, j] = -1.0
        spec = bounds(model, centre, lo, hi, "CROWN", C=C)
        cases.append({
            "lower": lo.reshape(-1).tolist(),
            "upper": hi.reshape(-1).tolist(),
            "ibp": {"lower": ibp[0], "upper": ibp[1]},
            "crown": {"lower": crown[0], "upper": crown[1]},
            "spec": {"c": C[0].tolist(), "lower": spec[0], "upper": spec[1]},
        })
    params = {k: tensor_json(v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    doc = {
        "name": name,
        "generator": "tools/lirpa/make_fixtures.py (auto_LiRPA 0.3, torch %s, float64)" % torch.__version__,
        "input_shape": net.input_shape,
        "nodes": [{"name": n, "op": op, "inputs": ins, "attrs": at} for n, op, ins, at in net.nodes],
        "output": net.nodes[-1][0],
        "params": params,
        "cases": cases,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
    print("wrote", name, "with", len(cases), "cases")


def time_acas(path, repeats):
    """CROWN on one ACAS Xu network over prop_1's input box: median wall time per call."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    init = {t.name: torch.tensor(numpy_helper.to_array(t), dtype=torch.float32) for t in m.graph.initializer}
    layers, mean = [], init["input_AvgImg"].reshape(-1)
    ws = [n for n in m.graph.node if n.op_type == "MatMul"]
    bs = [n for n in m.graph.node if n.op_type == "Add"]
    for w, b in zip(ws, bs):
        lin = nn.Linear(init[w.input[1]].shape[0], init[w.input[1]].shape[1])
        lin.weight.data = init[w.input[1]].t().contiguous()
        lin.bias.data = init[b.input[1]]
        layers += [lin, nn.ReLU()]
    layers = layers[:-1]
    seq = nn.Sequential(*layers).float().eval()
    lo = torch.tensor([[0.6, -0.5, -0.5, 0.45, -0.5]]) - mean
    hi = torch.tensor([[0.679857769, 0.5, 0.5, 0.5, -0.45]]) - mean
    x = (lo + hi) / 2
    model = BoundedModule(seq, x, device="cpu")
    bounds(model, x, lo, hi, "CROWN")
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        bounds(model, x, lo, hi, "CROWN")
        times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps({"auto_lirpa_crown_median_s": times[len(times) // 2], "repeats": repeats,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-acas", metavar="ONNX")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    if args.time_acas:
        torch.set_default_dtype(torch.float32)
        time_acas(args.time_acas, args.repeats)
        return
    boxes = [(1, 0.05), (2, 0.3), (3, 1.0)]
    fixture("mlp", Mlp(), 10, boxes)
    fixture("cnn", Cnn(), 11, boxes)
    fixture("residual", Residual(), 12, boxes)
    fixture("residual_sub", ResidualSub(), 13, boxes)
    fixture("sigmoid_tanh", SigTanh(), 14, boxes)


if __name__ == "__main__":
    sys.exit(main())
