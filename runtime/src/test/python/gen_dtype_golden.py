#!/usr/bin/python3
"""Golden data for Phalanx's dtypes and views, made by real PyTorch.

Run with Debian's python3-torch 1.13 (`/usr/bin/python3`), CPU only:

    /usr/bin/python3 runtime/src/test/python/gen_dtype_golden.py runtime/src/test/resources/golden/dtypes.safetensors

The output is deterministic (no random numbers). Every tensor is named after what made it;
DTypesGoldenTest recomputes each one from the stored inputs and compares exactly (integers,
bool) or to float rounding. The safetensors file is written here by hand (the `safetensors`
package is not in Debian), in the layout ../shared/golden/README.md describes.
"""
import json
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
CODE = {v: k for k, v in DTYPES.items()}


def raw(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = raw(t)
        header[name] = {"dtype": CODE[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = {"producer": "torch " + torch.__version__, "script": "runtime/src/test/python/gen_dtype_golden.py"}
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def main(out):
    g = {}
    a_vals, b_vals = torch.tensor([1, 2, 3, 0]), torch.tensor([2, 1, 1, 3])
    for ka, da in DTYPES.items():
        a = a_vals.to(da)
        g["in.a." + ka] = a
        g["in.b." + ka] = b_vals.to(da)
        g["in.s." + ka] = torch.tensor(2).to(da)  # zero-dimensional
    for ka, da in DTYPES.items():
        a = g["in.a." + ka]
        for kb, db in DTYPES.items():
            b = g["in.b." + kb]
            if da != torch.bool and db != torch.bool:  # PyTorch refuses - with a bool operand
                g["sub.%s.%s" % (ka, kb)] = a - b
            g["add.%s.%s" % (ka, kb)] = a + b
            g["mul.%s.%s" % (ka, kb)] = a * b
            g["div.%s.%s" % (ka, kb)] = a / b
            g["add0.%s.%s" % (ka, kb)] = a + g["in.s." + kb]  # a dimensioned tensor with a zero-dim one
            g["lt.%s.%s" % (ka, kb)] = a < b
            g["eq.%s.%s" % (ka, kb)] = a == b
        g["addint." + ka] = a + 3          # a Python int
        g["addfloat." + ka] = a + 2.5      # a Python float
        if da != torch.bool:
            g["mulint." + ka] = a * 3
        g["sum." + ka] = a.sum()
        g["sum0." + ka] = torch.stack([a, a]).sum(0)
    # integer overflow wraps, as in C
    g["wrap.in.I8"] = torch.tensor([100, -100, 127], dtype=torch.int8)
    g["wrap.in.U8"] = torch.tensor([250, 5, 128], dtype=torch.uint8)
    g["wrap.in.I16"] = torch.tensor([30000, -30000, 32767], dtype=torch.int16)
    g["wrap.in.I32"] = torch.tensor([2000000000, -2000000000, 2147483647], dtype=torch.int32)
    g["wrap.in.I64"] = torch.tensor([2 ** 62, -(2 ** 62), 2 ** 63 - 1], dtype=torch.int64)
    for k in ["I8", "U8", "I16", "I32", "I64"]:
        x = g["wrap.in." + k]
        g["wrap.mul3." + k] = x * 3
        g["wrap.add." + k] = x + x
        g["wrap.sum." + k] = x.sum()
    g["exact.int64"] = torch.tensor([16777217]) + 0
    # conversions between every pair (values every type holds, or rounds the same way)
    src = torch.tensor([-1.75, 0.0, 2.5, 100.9, 0.1, 1.0 / 3], dtype=torch.float64)
    g["conv.src"] = src
    for ka, da in DTYPES.items():
        x = (src.abs() if da == torch.uint8 else src).to(da)
        g["conv.first." + ka] = x
        for kb, db in DTYPES.items():
            g["conv.%s.%s" % (ka, kb)] = x.to(db)
    g["half.src"] = torch.tensor([0.1, 1.0 / 3, 65504.0, 65520.0, 1e-6, 6e-8, -2.5e-8, 3e-5], dtype=torch.float32)
    g["half.F16"] = g["half.src"].half()
    g["half.BF16"] = g["half.src"].bfloat16()
    g["half.F16.up"] = g["half.F16"].float()
    g["half.BF16.up"] = g["half.BF16"].float()
    # views and writes through them
    x = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    g["view.x"] = x
    g["view.select"] = x[:, 1]
    g["view.select.stride"] = torch.tensor(x[:, 1].stride())
    g["view.permute"] = x.permute(2, 0, 1).contiguous()
    g["view.permute.stride"] = torch.tensor(x.permute(2, 0, 1).stride())
    g["view.slice"] = x[:, :, 1::2].contiguous()
    g["view.slice.stride"] = torch.tensor(x[:, :, 1::2].stride())
    g["view.reshape_t"] = x.transpose(1, 2).reshape(2, 12)
    g["view.expand_sum"] = x[:, :1].expand(2, 3, 4).sum(0)
    g["view.t_view_split"] = x.permute(1, 0, 2).view(3, 2, 2, 2).contiguous()
    y = x.clone()
    y[:, 1] = 0
    y.transpose(0, 2)[1] += 100
    y[..., ::2] *= -1
    y.narrow(1, 2, 1).copy_(torch.tensor([7.0, 8.0, 9.0, 10.0]))
    g["write.result"] = y
    layers(g)
    save(out, g)


def layers(g):
    """Layer ops on dtypes other than float32 (issue #8): matmul in float64 and in integers
    (exact, wrapping), and the float32-only layers on float64 inputs with their gradients."""
    a = torch.tensor([[1.0 + 2 ** -40, 3.0, -2.0], [0.5, 2 ** -30, 7.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, -1.0], [2 ** -35, 4.0], [3.0, 1.0 + 2 ** -45]], dtype=torch.float64)
    g["mm.a.F64"], g["mm.b.F64"], g["mm.F64"] = a, b, a @ b
    ia = torch.tensor([[2 ** 62, 3, -1], [5, 2 ** 40, 7]], dtype=torch.int64)
    ib = torch.tensor([[4, 1], [2 ** 30, -2], [9, 2 ** 33]], dtype=torch.int64)
    g["mm.a.I64"], g["mm.b.I64"], g["mm.I64"] = ia, ib, ia @ ib
    ja, jb = torch.tensor([[100, -7], [3, 90]], dtype=torch.int32), torch.tensor([[30000000, 2], [1, 40000000]], dtype=torch.int32)
    g["mm.a.I32"], g["mm.b.I32"], g["mm.I32"] = ja, jb, ja @ jb
    ka, kb = torch.tensor([[100, -7], [3, 90]], dtype=torch.int8), torch.tensor([[2, 2], [1, 3]], dtype=torch.int8)
    g["mm.a.I8"], g["mm.b.I8"], g["mm.I8"] = ka, kb, ka @ kb
    # the layers on float64: values that float32 holds exactly, so that float32 compute differs from
    # PyTorch's float64 only by float32's rounding of the results
    x = (torch.arange(2 * 2 * 6 * 6, dtype=torch.float64).view(2, 2, 6, 6) % 7 - 3) / 4
    w = (torch.arange(3 * 2 * 3 * 3, dtype=torch.float64).view(3, 2, 3, 3) % 5 - 2) / 8
    bias = torch.tensor([0.5, -0.25, 0.125], dtype=torch.float64)
    lw = (torch.arange(4 * 12, dtype=torch.float64).view(4, 12) % 9 - 4) / 16
    target = torch.tensor([1, 3])
    for t in (x, w, bias, lw):
        t.requires_grad_(True)
    h = torch.nn.functional.conv2d(x, w, bias, padding=1)
    p = torch.nn.functional.max_pool2d(torch.relu(h), 2)
    q = torch.nn.functional.adaptive_avg_pool2d(p, (2, 2))
    logits = torch.nn.functional.linear(q.flatten(1), lw)
    loss = torch.nn.functional.cross_entropy(logits, target)
    loss.backward()
    g["layers.x.F64"], g["layers.w.F64"], g["layers.bias.F64"], g["layers.lw.F64"] = x, w, bias, lw
    g["layers.target"] = target
    g["layers.conv.F64"], g["layers.logits.F64"], g["layers.loss.F64"] = h, logits, loss
    g["layers.softmax.F64"] = torch.softmax(logits, 1)
    g["layers.grad.x.F64"], g["layers.grad.w.F64"] = x.grad, w.grad
    g["layers.grad.bias.F64"], g["layers.grad.lw.F64"] = bias.grad, lw.grad


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1])
