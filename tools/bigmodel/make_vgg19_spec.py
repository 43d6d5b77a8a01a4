#!/usr/bin/env python3
"""Writes a VGG-19-sized spec and its weights (random, ~550 MB of f32) into a directory, for
measuring that `tlc check` and the server's diagnostics never read weight data.

    python3 tools/bigmodel/make_vgg19_spec.py /tmp/vgg19
    /usr/bin/time -v target/release/tlc check /tmp/vgg19/vgg19.tl

The weights are written with the safetensors layout by hand (8-byte header length, JSON header,
raw little-endian data) so only numpy is needed. Never commit the output.
"""
import json
import os
import sys

import numpy as np

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
       512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    params = []  # (name, shape)
    lines = ["// VGG-19-sized classifier with random weights (tools/bigmodel/make_vgg19_spec.py).", ""]
    body = []
    cur, channels, conv_i, pool_i = "image", 3, 0, 0
    for c in CFG:
        if c == "M":
            pool_i += 1
            body.append(f"  pool{pool_i} = max_pool2d({cur}, kernel_size = 2, stride = 2)")
            cur = f"pool{pool_i}"
            continue
        conv_i += 1
        w, b = f"conv{conv_i}.weight", f"conv{conv_i}.bias"
        params += [(w, [c, channels, 3, 3]), (b, [c])]
        body.append(f"  c{conv_i} = relu(conv2d({cur}, {w}, {b}, stride = 1, padding = 1))")
        cur, channels = f"c{conv_i}", c
    body.append(f"  flat = flatten({cur})")
    dims = [512 * 7 * 7, 4096, 4096, 1000]
    for i in range(3):
        w, b = f"fc{i + 1}.weight", f"fc{i + 1}.bias"
        params += [(w, [dims[i + 1], dims[i]]), (b, [dims[i + 1]])]
        src = "flat" if i == 0 else f"h{i}"
        if i < 2:
            body.append(f"  h{i + 1} = relu(linear({src}, {w}, {b}))")
        else:
            body.append(f"  logits = linear({src}, {w}, {b})")
    lines.append("graph vgg19(image: f32[N, 3, 224, 224]) -> logits: f32[N, 1000] {")
    lines.append('  params from "vgg19.safetensors"')
    for name, shape in params:
        lines.append(f"  param {name}: f32[{', '.join(map(str, shape))}]")
    lines.append("")
    lines += body
    lines.append("}")
    lines.append("")
    lines.append("contract logits_bounded on vgg19 {")
    lines.append("  given image in box(0.0, 1.0)")
    lines.append("  ensure all(logits <= 1000.0)")
    lines.append("  check by ibp")
    lines.append("}")
    with open(os.path.join(out_dir, "vgg19.tl"), "w") as f:
        f.write("\n".join(lines) + "\n")

    header, offset = {}, 0
    for name, shape in params:
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(os.path.join(out_dir, "vgg19.safetensors"), "wb") as f:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for name, shape in params:
            f.write((rng.standard_normal(int(np.prod(shape)), dtype=np.float32) * 0.01).tobytes())
    print(f"{out_dir}: {len(params)} params, {offset / 1e6:.0f} MB of weights")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/vgg19")
