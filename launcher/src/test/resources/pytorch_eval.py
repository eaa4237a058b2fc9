"""Loads a Phalanx model.safetensors into PyTorch's own Net with load_state_dict(strict=True)
and counts correct predictions on a Fashion-MNIST test set (gzipped IDX).
No safetensors package needed: the format is parsed here.

  python3 pytorch_eval.py MODEL.safetensors IMAGES.gz LABELS.gz
"""
import gzip
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def idx(path):
    data = gzip.open(path).read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


net = Net()
net.load_state_dict(load_safetensors(sys.argv[1]), strict=True)
x = torch.from_numpy(idx(sys.argv[2]).astype(np.float32) / 255.0).unsqueeze(1)
x = (x - 0.5) / 0.5
y = torch.from_numpy(idx(sys.argv[3]).astype(np.int64))
with torch.no_grad():
    correct = (net(x).argmax(1) == y).sum().item()
print("correct %d of %d" % (correct, len(y)))
