"""PyTorch's CPU autograd on the graphs of kernels/benches/autograd.rs, same shapes, f64 (tl's
reference semantics are f64), one thread: reverse mode (forward + one VJP from a cotangent of
ones) and forward mode (forward + one JVP along a random direction, torch.func.jvp).

Run: python3 tools/autograd_peer/torch_autograd.py   (needs torch; prints a markdown table)
Skips with a printed reason where torch is absent.
"""
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    from torch.func import jvp
except ImportError as e:  # pragma: no cover
    print(f"skipped: torch is not installed ({e})")
    sys.exit(0)

torch.set_num_threads(1)
torch.manual_seed(0)
DT = torch.float64


def param(*shape):
    fan = 1
    for s in shape[1:]:
        fan *= s
    return (torch.rand(*shape, dtype=DT) * 2 - 1) / max(fan, 1) ** 0.5


def encoder(b, s, d):
    p = {n: (param(o, i), param(o)) for n, o, i in
         [("q", d, d), ("k", d, d), ("v", d, d), ("o", d, d), ("f1", 4 * d, d), ("f2", d, 4 * d)]}
    causal = torch.ones(s, s, dtype=torch.bool).triu(1)

    def f(x):
        lin = lambda n, t: F.linear(t, *p[n])
        # Attention written out (the fused CPU kernel has no forward-mode rule in torch).
        q, k, v = lin("q", x), lin("k", x), lin("v", x)
        scores = q @ k.transpose(-1, -2) / d ** 0.5
        a = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1) @ v
        n1 = F.layer_norm(x + lin("o", a), (d,))
        return F.layer_norm(n1 + lin("f2", F.gelu(lin("f1", n1))), (d,))

    return f, (b, s, d)


def resnet(b, c, hw):
    convs = {n: (param(c, i, 3, 3), param(c)) for n, i in
             [("stem", 3), ("b0.c1", c), ("b0.c2", c), ("b1.c1", c), ("b1.c2", c)]}
    fc = param(10, c)

    def f(x):
        conv = lambda n, t: F.conv2d(t, *convs[n], padding=1)
        h = F.relu(conv("stem", x))
        for blk in range(2):
            h = F.relu(h + conv(f"b{blk}.c2", F.relu(conv(f"b{blk}.c1", h))))
        return F.linear(h.mean(dim=(2, 3)), fc)

    return f, (b, 3, hw, hw)


def median_ms(fn):
    fn()
    t, start = [], time.perf_counter()
    while len(t) < 5 or (time.perf_counter() - start < 1.0 and len(t) < 200):
        s = time.perf_counter()
        fn()
        t.append((time.perf_counter() - s) * 1e3)
    return statistics.median(t)


def main():
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, f64")
    print("| graph | forward (ms) | reverse: forward + VJP (ms) | forward mode: forward + JVP (ms) |")
    print("|---|---|---|---|")
    for name, (f, shape) in [("encoder layer x [8, 32, 64]", encoder(8, 32, 64)),
                             ("ResNet-style CNN x [8, 3, 32, 32]", resnet(8, 16, 32))]:
        x = torch.rand(*shape, dtype=DT) * 2 - 1
        u = torch.rand(*shape, dtype=DT) * 2 - 1

        def fwd():
            with torch.no_grad():
                f(x)

        def rev():
            xr = x.clone().requires_grad_(True)
            y = f(xr)
            y.backward(torch.ones_like(y))

        def fm():
            jvp(f, (x,), (u,))

        print(f"| {name} | {median_ms(fwd):.1f} | {median_ms(rev):.1f} | {median_ms(fm):.1f} |")


if __name__ == "__main__":
    main()
