#!/usr/bin/env python3
"""PyTorch's figures for BENCHMARKS.md, measured the way `phalanx bench` measures ours:
synthetic batches, a warm-up, then the median of five timed windows.

  /usr/bin/python3 bench/pytorch_bench.py --model cifar-lenet --batch-size 64 --threads 1 --mode train
  python3 bench/pytorch_bench.py --device cuda --model cifar-lenet --batch-size 64    (PyTorch 2.x eager on the GPU)
On a GPU the model and the batch live there, the host synchronises every 8 steps before reading
the clock, and TF32 is off for convolutions and matmuls (Phalanx's default; PyTorch's own default
lets cuDNN's convolutions use TF32): --tf32 turns it on for both.
Last line: `throughput: N images/s`.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, channels, size, c1=6, c2=16, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        s = ((size - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(c2 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


MODELS = {
    "cifar-lenet": lambda: (Net(3, 32), 3, 32),
    "fashion-lenet": lambda: (Net(1, 28), 1, 28),
    "cifar-wide": lambda: (Net(3, 32, 64, 128), 3, 32),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="cifar-lenet", choices=MODELS)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mode", default="train", choices=["train", "infer"])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--tf32", action="store_true", help="on a GPU: let convolutions and matmuls use TF32 (off by default, as in Phalanx)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net, ch, size = MODELS[a.model]()
    dev = torch.device(a.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("pytorch_bench: --device %s, but torch %s sees no CUDA device" % (a.device, torch.__version__))
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    net.to(dev)
    x = torch.randn(a.batch_size, ch, size, size, device=dev)
    y = torch.randint(0, 10, (a.batch_size,), device=dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    def step():
        if a.mode == "train":
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
        else:
            with torch.no_grad():
                net(x)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    end = time.perf_counter() + max(1.0, a.seconds / 3)
    while time.perf_counter() < end:
        step()
    sync()
    rates = []
    cpu_start, images = time.thread_time(), 0
    for _ in range(5):
        start = time.perf_counter()
        stop = start + a.seconds / 5
        n = 0
        while True:
            step()
            n += 1
            if n % 8 == 0 or dev.type == "cpu":
                sync()
                now = time.perf_counter()
                if now >= stop:
                    break
        rates.append(n * a.batch_size / (now - start))
        images += n * a.batch_size
    cpu = time.thread_time() - cpu_start
    rates.sort()
    if dev.type == "cuda":
        print(f"torch {torch.__version__}, {dev} ({torch.cuda.get_device_name(dev)}, CUDA {torch.version.cuda}, "
              f"cuDNN {torch.backends.cudnn.version()}, TF32 convolutions {torch.backends.cudnn.allow_tf32}, "
              f"matmuls {torch.backends.cuda.matmul.allow_tf32}), {a.model}, {a.mode}, batch {a.batch_size}")
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.model}, {a.mode}, batch {a.batch_size}")
    print(f"this thread's CPU time: {images / cpu:.0f} images per CPU-second")
    print(f"throughput: {rates[2]:.0f} images/s")


if __name__ == "__main__":
    main()
