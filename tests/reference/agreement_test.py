#!/usr/bin/python3
"""ctest: forgetlab-train and the independent PyTorch reference agree exactly.

Both implement DESIGN.md's protocol. In lockstep mode the reference draws its
random numbers in forgetlab's order, so for the same seed the two must produce
the same accuracy matrix (to float rounding). Runs on a small IDX folder this
test writes itself. Exit 77 (skipped) without Debian's python3-torch.

  agreement_test.py FORGETLAB_TRAIN_BINARY
"""
import gzip
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

try:
    import torch  # noqa: F401
except ImportError:
    print("skipped: python3-torch is not installed (deploy/install-deps.sh installs it)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocol_reference as reference  # noqa: E402

POOL, PRETRAIN_STEPS, TASK_STEPS = 1500, 40, 30


def write_idx(path, dims, payload):
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims))
        f.write(bytes(payload))


def make_folder(folder):
    """10 classes of 10x10 images: a bright bar per class plus noise."""
    rng = random.Random(5)

    def split(n, images, labels):
        pixels, classes = [], []
        for i in range(n):
            c = rng.randrange(10)
            classes.append(c)
            for p in range(100):
                on = p // 10 == c or p % 10 == (c * 3) % 10
                pixels.append(min(255, rng.randrange(200) + (70 if on else 0)))
        write_idx(os.path.join(folder, images), [n, 10, 10], pixels)
        write_idx(os.path.join(folder, labels), [n], classes)

    split(2000, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    split(600, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def forgetlab(binary, folder, width, examples, seed):
    spec = (f'model {{ width: {width} }} '
            f'data {{ dataset: "fashion_mnist" path: "{folder}" pretrain_pool: {POOL} }} '
            f'pretrain {{ examples: {examples} steps: {PRETRAIN_STEPS} }} '
            f'finetune {{ steps: {TASK_STEPS} }} eval {{ eval_every: 0 }} seed: {seed}')
    spec_file = os.path.join(folder, "spec.textproto")
    with open(spec_file, "w") as f:
        f.write(spec)
    out = subprocess.run([binary, f"--spec={spec_file}", "--format=json", "--threads=1"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["accuracy_matrix"]


def main():
    binary = sys.argv[1]
    torch.set_num_threads(1)
    reference.LOCKSTEP = True
    passed = failed = 0
    with tempfile.TemporaryDirectory() as folder:
        make_folder(folder)
        data = reference.load(folder)
        for width, examples, seed in [(16, 0, 0), (16, 800, 1), (48, 1500, 2)]:
            ours = forgetlab(binary, folder, width, examples, seed)
            theirs = reference.run(width, examples, seed, data, pool=POOL,
                                   pretrain_steps=PRETRAIN_STEPS, task_steps=TASK_STEPS)
            same = all(abs(a - b) < 1e-6 for ra, rb in zip(ours, theirs)
                       for a, b in zip(ra, rb))
            print(f"width {width} N {examples} seed {seed}: forgetlab {ours} "
                  f"reference {[[round(v, 4) for v in row] for row in theirs]} "
                  f"{'agree' if same else 'DIFFER'}")
            passed, failed = passed + same, failed + (not same)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
