#!/usr/bin/python3
"""ctest: forgetlab-train and the independent LM reference agree exactly.

Both implement DESIGN.md's language-model protocol. In lockstep mode the
reference (lm_reference.py) draws its random numbers in forgetlab's order, so
for the same seed both must produce the same loss and next-byte accuracy
matrices, to float rounding. Runs on a small text folder this test writes
itself. Exit 77 (skipped) without Debian's python3-torch.

  lm_agreement_test.py FORGETLAB_TRAIN_BINARY
"""
import ctypes
import json
import os
import random
import subprocess
import sys
import tempfile

try:
    import torch  # noqa: F401
except ImportError:
    print("skipped: python3-torch is not installed (deploy/install-deps.sh installs it)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm_reference as reference  # noqa: E402

WORDS = ["stone", "river", "light", "cold", "measure", "quiet", "number", "green",
         "table", "walk", "north", "paper"]


def make_folder(folder):
    """dictionary/, prose/ and code/ in the formats of Debian's packages."""
    rng = random.Random(11)

    def phrase(n):
        return " ".join(rng.choice(WORDS) for _ in range(n))

    os.makedirs(os.path.join(folder, "dictionary"))
    os.makedirs(os.path.join(folder, "prose"))
    os.makedirs(os.path.join(folder, "code"))
    with open(os.path.join(folder, "dictionary", "small.dict"), "w") as f:
        for i in range(300):
            word = rng.choice(WORDS)
            f.write(f"{word.capitalize()} \\{word}\\, n. [{phrase(2)}.]\n   {phrase(8)}.\n\n")
    with open(os.path.join(folder, "prose", "small"), "w") as f:
        for i in range(200):
            f.write(f"The {phrase(3)} said: {phrase(6)}.\n%\n")
    for m in range(30):
        with open(os.path.join(folder, "code", f"mod{m:02d}.py"), "w") as f:
            for i in range(5):
                f.write(f"def {rng.choice(WORDS)}_{i}(x):\n    return x * {rng.randrange(9)}\n\n")


CFG = dict(reference.DEFAULT, dim=32, depth=2, heads=4, context=32, ratio=2,
           pretrain_steps=30, batch=8, warmup=5, task_steps=20)


def forgetlab(binary, folder, examples, seed, replay, env):
    spec = (f'model {{ family: LM dim: {CFG["dim"]} lm_depth: {CFG["depth"]} '
            f'heads: {CFG["heads"]} context: {CFG["context"]} mlp_ratio: {CFG["ratio"]} }} '
            f'data {{ path: "{folder}" }} '
            f'pretrain {{ examples: {examples} steps: {CFG["pretrain_steps"]} '
            f'batch_size: {CFG["batch"]} warmup_steps: {CFG["warmup"]} }} '
            f'finetune {{ steps: {CFG["task_steps"]} batch_size: {CFG["batch"]} '
            f'replay_fraction: {replay} }} eval {{ eval_every: 0 }} seed: {seed}')
    spec_file = os.path.join(folder, "spec.textproto")
    with open(spec_file, "w") as f:
        f.write(spec)
    out = subprocess.run([binary, f"--spec={spec_file}", "--format=json", "--threads=1"],
                         check=True, capture_output=True, text=True, env=env).stdout
    result = json.loads(out)
    return result["accuracy_matrix"], result["loss_matrix"], result["metrics"]


def blas_env():
    """forgetlab-train with the BLAS kernels this process has."""
    env = dict(os.environ)
    try:
        core = ctypes.CDLL("libblas.so.3").openblas_get_corename
        core.restype = ctypes.c_char_p
        env["OPENBLAS_CORETYPE"] = core().decode()
    except (OSError, AttributeError):
        pass
    return env


def main():
    binary = sys.argv[1]
    torch.set_num_threads(1)
    reference.LOCKSTEP = True
    env = blas_env()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as folder:
        make_folder(folder)
        domains = {n: reference.load_domain(folder, n) for n in ["dictionary", "prose", "code"]}
        for examples, seed, replay in [(0, 0, 0.0), (400, 1, 0.0), (400, 2, 0.25)]:
            R, L, m = forgetlab(binary, folder, examples, seed, replay, env)
            R2, L2, trace = reference.run(dict(CFG, replay=replay), seed, domains, examples)
            m2 = reference.metrics(R2, L2, trace)
            same = (all(abs(a - b) < 1e-9 for ra, rb in zip(R, R2) for a, b in zip(ra, rb))
                    and all(abs(a - b) < 1e-5 for la, lb in zip(L, L2) for a, b in zip(la, lb))
                    and all(abs(m[k] - v) < 1e-5 for k, v in m2.items()))
            print(f"N {examples} seed {seed} replay {replay}: forgetlab L {L} "
                  f"reference L {L2} {'agree' if same else 'DIFFER'}")
            passed, failed = passed + same, failed + (not same)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
