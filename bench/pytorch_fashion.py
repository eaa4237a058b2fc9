#!/usr/bin/env python3
"""PyTorch's side of the Fashion-MNIST benchmark: the blitz's training loop, the same
network, data, hyper-parameters and thread count as conf/fashion-lenet.conf.

  /usr/bin/python3 bench/pytorch_fashion.py [--threads 1] [--epochs 2] [--batch-size 4] [--lr 0.001]
"""
import argparse
import gzip
import time

import numpy as np
import torch
import torch.nn.functional as F

from pytorch_bench import Net  # the same LeNet as the throughput benchmark

DATA = "/usr/share/datasets/fashion-mnist/"


def idx(name):
    with gzip.open(DATA + name) as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def tensors(prefix):
    x = torch.from_numpy(idx(prefix + "-images-idx3-ubyte.gz").astype(np.float32) / 255.0).unsqueeze(1)
    return (x - 0.5) / 0.5, torch.from_numpy(idx(prefix + "-labels-idx1-ubyte.gz").astype(np.int64))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.001)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    start = time.perf_counter()
    xtr, ytr = tensors("train")
    xte, yte = tensors("t10k")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=a.batch_size, shuffle=True)
    net = Net(1, 28)
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9)
    for epoch in range(a.epochs):
        running = 0.0
        for i, (x, y) in enumerate(loader):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            running += loss.item()
            if i % 2000 == 1999:
                print("[%d, %5d] loss: %.3f" % (epoch + 1, i + 1, running / 2000))
                running = 0.0
    with torch.no_grad():
        correct = (net(xte).argmax(1) == yte).sum().item()
    print("Accuracy of the network on the 10000 test images: %.2f %%" % (100 * correct / len(yte)))
    print("wall time: %.1f s (threads %d)" % (time.perf_counter() - start, a.threads))


if __name__ == "__main__":
    main()
