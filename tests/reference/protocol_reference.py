#!/usr/bin/python3
"""An independent PyTorch implementation of DESIGN.md's default protocol.

It shares no code with forgetlab. Given widths, pretraining sizes and seeds it
prints one JSON line per cell with the forgetting and accuracy of each seed, so
forgetlab's table can be checked against it within seed noise:

  /usr/bin/python3 tests/reference/protocol_reference.py --widths 32 512 \
      --examples 0 50000 --seeds 0 1 2 3 4

Needs Debian's python3-torch (same LibTorch 1.13 kernels as forgetlab).
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch

def read_idx(folder, name):
    path = os.path.join(folder, name + ".gz")
    opener = gzip.open if os.path.exists(path) else open
    with opener(path if opener is gzip.open else path[:-3], "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder):
    def images(name):
        raw = read_idx(folder, name)
        x = torch.from_numpy(raw.astype(np.float32)).reshape(raw.shape[0], -1)
        return (x / 255.0 - 0.2860) / 0.3530

    def labels(name):
        return torch.from_numpy(read_idx(folder, name).astype(np.int64))

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


LOCKSTEP = False


def run(width, examples, seed, data, pool=50000, pretrain_steps=600, task_steps=300):
    """Returns the 2x2 accuracy matrix R[i][j]."""
    train_x, train_y, test_x, test_y = data
    inputs = train_x.shape[1]
    torch.manual_seed(seed)
    body = torch.nn.Sequential(torch.nn.Linear(inputs, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, width), torch.nn.ReLU())
    pre_head = torch.nn.Linear(width, 10)
    heads = [torch.nn.Linear(width, 5), torch.nn.Linear(width, 5)]
    # Independent mode: any seeded streams. Lockstep mode: forgetlab's two
    # generators, drawn in forgetlab's order: pretraining from the job seed
    # (permutation, then batch indices), the tasks from the seed plus
    # 0x9E3779B97F4A7C15 (mod 2^64), so both implementations see identical
    # batches.
    if LOCKSTEP:
        pre_gen = torch.Generator().manual_seed(seed)
        task_gen = torch.Generator().manual_seed((seed + 0x9E3779B97F4A7C15) % 2**64)
    else:
        pre_gen = torch.Generator().manual_seed(seed + 1000)
        task_gen = torch.Generator().manual_seed(seed + 2000)
    tasks = [list(range(0, 5)), list(range(5, 10))]

    def train(head, x, y, steps, batch, lr, gen):
        params = list(body.parameters()) + list(head.parameters())
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
        for _ in range(steps):
            idx = torch.randint(0, x.shape[0], (batch,), generator=gen)
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(head(body(x[idx])), y[idx])
            loss.backward()
            opt.step()

    def task_split(x, y, classes):
        mask = (y >= classes[0]) & (y <= classes[-1])
        return x[mask], y[mask] - classes[0]

    def accuracy(head, classes):
        x, y = task_split(test_x, test_y, classes)
        with torch.no_grad():
            return (head(body(x)).argmax(1) == y).float().mean().item()

    if examples > 0:
        perm = torch.randperm(pool, generator=pre_gen)[:examples]
        train(pre_head, train_x[perm], train_y[perm], pretrain_steps, 128, 0.05,
              pre_gen)
    down_x, down_y = train_x[pool:], train_y[pool:]
    r = []
    for t, classes in enumerate(tasks):
        x, y = task_split(down_x, down_y, classes)
        train(heads[t], x, y, task_steps, 64, 0.01, task_gen)
        r.append([accuracy(heads[j], tasks[j]) for j in range(2)])
    return r


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--examples", type=int, nargs="+", default=[0, 1000, 10000, 50000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                        help="MNIST-format IDX folder")
    parser.add_argument("--lockstep", action="store_true",
                        help="draw random numbers in forgetlab's order, so each "
                             "seed should match forgetlab's result to rounding")
    args = parser.parse_args()
    global LOCKSTEP
    LOCKSTEP = args.lockstep
    torch.set_num_threads(args.threads)
    data = load(args.data)
    for width in args.widths:
        for examples in args.examples:
            start = time.time()
            matrices = [run(width, examples, seed, data) for seed in args.seeds]
            runs = [{"forgetting": r[0][0] - r[1][0], "acc": (r[1][0] + r[1][1]) / 2}
                    for r in matrices]
            f = np.array([r["forgetting"] for r in runs])
            print(json.dumps({
                "width": width, "pretrain_examples": examples,
                "forgetting": [round(v, 4) for v in f],
                "forgetting_mean": round(float(f.mean()), 4),
                "forgetting_std": round(float(f.std(ddof=1)), 4) if len(f) > 1 else 0.0,
                "acc_mean": round(float(np.mean([r["acc"] for r in runs])), 4),
                "seconds": round(time.time() - start, 1)}), flush=True)


if __name__ == "__main__":
    main()
