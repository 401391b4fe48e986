#!/usr/bin/python3
"""forgetlab-train against the PyTorch script a researcher would write.

Runs the same job through `forgetlab-train` and through PyTorch in Python
(Debian's python3-torch 1.13, which shares its kernels with our LibTorch
1.13): same model, data (Fashion-MNIST in memory), pretraining and task
steps, batch sizes, SGD with momentum, evaluation after each phase, and
threads. Prints one JSON line per model:

  {"model": "mlp_w32", "forgetlab_samples_per_s": x, "pytorch_samples_per_s": x,
   "ratio": x, "gflops": x, "sgemm_peak_gflops": x, "peak_fraction": x}

gflops is forgetlab's achieved rate (6 x parameters x samples / training
time, the usual dense estimate; MLP only) and sgemm_peak_gflops this
machine's float32 matrix-multiply rate with the same threads, measured in the
same run (on a GPU, the float32 torch.mm rate).

  /usr/bin/python3 tests/bench/trainer_vs_pytorch.py build/worker/forgetlab-train \
      [--threads 2] [--repeats 3] [--models mlp_w32 mlp_w128 mlp_w512 mlp_w2048 resnet vit
      lm_d32 lm_d64]

The LM models train on Debian's text domains (dict-gcide, fortunes, Python's
standard library) with AdamW, 100 pretraining and 2 x 50 task steps of 32
windows; samples are windows.

On a GPU machine, against the standalone CUDA build of worker/train (which
has forgetlab-train-bench but no forgetlab-train) and that machine's PyTorch:

  python3 tests/bench/trainer_vs_pytorch.py build-cuda/forgetlab-train-bench \
      --device cuda --data DIR_WITH_FASHION_MNIST
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from protocol_reference import load  # noqa: E402  (reads the IDX files)
import lm_reference  # noqa: E402  (reads the text domains; the LM module)

FASHION = "/usr/share/datasets/fashion-mnist"
DEVICE = torch.device("cpu")
PRETRAIN_EXAMPLES = 10000
PRETRAIN_STEPS, PRETRAIN_BATCH, PRETRAIN_LR = 200, 128, 0.05
TASK_STEPS, TASK_BATCH, TASK_LR = 100, 64, 0.01
MOMENTUM = 0.9

MODELS = {
    "mlp_w32": ("MLP", {"depth": 2, "width": 32}),
    "mlp_w128": ("MLP", {"depth": 2, "width": 128}),
    "mlp_w512": ("MLP", {"depth": 2, "width": 512}),
    "mlp_w2048": ("MLP", {"depth": 2, "width": 2048}),
    "resnet": ("RESNET", {"width_multiplier": 0.25, "blocks_per_stage": 1}),
    "vit": ("VIT", {"dim": 64, "vit_depth": 2, "heads": 4, "mlp_ratio": 2,
                    "patch_size": 7}),
    # The language-model track (DESIGN.md): byte-level Transformer LMs on
    # Debian's text domains, AdamW with clipping; its own step counts below.
    "lm_d32": ("LM", {"dim": 32, "lm_depth": 2, "heads": 4, "context": 64, "mlp_ratio": 4}),
    "lm_d64": ("LM", {"dim": 64, "lm_depth": 2, "heads": 4, "context": 64, "mlp_ratio": 4}),
}
LM_PRETRAIN_EXAMPLES, LM_PRETRAIN_STEPS, LM_TASK_STEPS, LM_BATCH = 20000, 100, 50, 32


# --- the Python side: the models of worker/train/models.cc ------------------

class BasicBlock(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        conv = lambda i, o, k, s: torch.nn.Conv2d(i, o, k, s, k // 2, bias=False)
        self.conv1, self.bn1 = conv(cin, cout, 3, stride), torch.nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv(cout, cout, 3, 1), torch.nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = torch.nn.Sequential(conv(cin, cout, 1, stride),
                                             torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.short(x) if self.short is not None else x))


class ResNet(torch.nn.Module):
    def __init__(self, multiplier, blocks):
        super().__init__()
        widths = [max(1, round((16 << s) * multiplier)) for s in range(3)]
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(1, widths[0], 3, 1, 1, bias=False),
            torch.nn.BatchNorm2d(widths[0]), torch.nn.ReLU())
        layers, cin = [], widths[0]
        for s in range(3):
            for b in range(blocks):
                layers.append(BasicBlock(cin, widths[s], 2 if s > 0 and b == 0 else 1))
                cin = widths[s]
        self.blocks = torch.nn.Sequential(*layers)
        self.features = cin

    def forward(self, x):
        return self.blocks(self.stem(x.view(-1, 1, 28, 28))).mean((2, 3))


class Encoder(torch.nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(dim)
        self.attention = torch.nn.MultiheadAttention(dim, heads)
        self.norm2 = torch.nn.LayerNorm(dim)
        self.fc1, self.fc2 = torch.nn.Linear(dim, hidden), torch.nn.Linear(hidden, dim)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x))))


class Vit(torch.nn.Module):
    def __init__(self, dim, vit_depth, heads, mlp_ratio, patch_size):
        super().__init__()
        tokens = (28 // patch_size) ** 2
        self.patch = torch.nn.Conv2d(1, dim, patch_size, patch_size)
        self.cls = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.position = torch.nn.Parameter(torch.randn(tokens + 1, 1, dim) * 0.02)
        self.blocks = torch.nn.Sequential(
            *[Encoder(dim, heads, dim * mlp_ratio) for _ in range(vit_depth)])
        self.norm = torch.nn.LayerNorm(dim)
        self.features = dim

    def forward(self, x):
        x = self.patch(x.view(-1, 1, 28, 28)).flatten(2).permute(2, 0, 1)
        x = torch.cat([self.cls.expand(1, x.shape[1], x.shape[2]), x], 0)
        x = self.norm(self.blocks(x + self.position))
        return x[0]


def make_body(family, knobs):
    if family == "RESNET":
        return ResNet(knobs["width_multiplier"], knobs["blocks_per_stage"])
    if family == "VIT":
        return Vit(**knobs)
    layers, cin = [], 784
    for _ in range(knobs["depth"]):
        layers += [torch.nn.Linear(cin, knobs["width"]), torch.nn.ReLU()]
        cin = knobs["width"]
    body = torch.nn.Sequential(*layers)
    body.features = cin
    return body


def pytorch_run(family, knobs, data, seed=0):
    """Returns (training samples per second, parameter count)."""
    train_x, train_y, test_x, test_y = data
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    body = make_body(family, knobs).to(DEVICE)
    pre_head = torch.nn.Linear(body.features, 10).to(DEVICE)
    heads = [torch.nn.Linear(body.features, 5).to(DEVICE) for _ in range(2)]
    pool = torch.randperm(train_x.shape[0], generator=g)[:PRETRAIN_EXAMPLES]
    tasks = []
    for classes in (range(0, 5), range(5, 10)):
        mask = (train_y >= classes[0]) & (train_y <= classes[-1])
        tmask = (test_y >= classes[0]) & (test_y <= classes[-1])
        tasks.append((mask.nonzero().squeeze(1), train_y[mask] - classes[0],
                      test_x[tmask].to(DEVICE), test_y[tmask].to(DEVICE) - classes[0]))
    on_device = train_x.to(DEVICE)

    def train(head, rows, labels, steps, batch, lr):
        params = list(body.parameters()) + list(head.parameters())
        opt = torch.optim.SGD(params, lr=lr, momentum=MOMENTUM)
        body.train()
        xb = torch.empty(batch, train_x.shape[1], device=DEVICE)
        labels = labels.to(DEVICE)
        for _ in range(steps):
            picks = torch.randint(rows.shape[0], (batch,), generator=g)
            torch.index_select(on_device, 0, rows.index_select(0, picks).to(DEVICE),
                               out=xb)
            yb = labels.index_select(0, picks.to(DEVICE))
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(head(body(xb)), yb)
            loss.backward()
            opt.step()
            loss.item()  # forgetlab checks every loss for NaN
        return steps * batch

    def evaluate(head, x, y):
        body.eval()
        with torch.no_grad():
            return (head(body(x)).argmax(1) == y).float().mean().item()

    test_x, test_y = test_x.to(DEVICE), test_y.to(DEVICE)
    start = time.perf_counter()
    samples = train(pre_head, pool, train_y[pool], PRETRAIN_STEPS, PRETRAIN_BATCH,
                    PRETRAIN_LR)
    evaluate(pre_head, test_x, test_y)
    for t, (rows, labels, _, _) in enumerate(tasks):
        samples += train(heads[t], rows, labels, TASK_STEPS, TASK_BATCH, TASK_LR)
        for u in range(2):
            evaluate(heads[u], tasks[u][2], tasks[u][3])
    seconds = time.perf_counter() - start
    params = sum(p.numel() for m in [body] + heads for p in m.parameters())
    return samples / seconds, params


def pytorch_lm_run(knobs, domains, seed=0):
    """The LM job in Python: returns (training windows per second, parameters)."""
    c = knobs["context"]
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = lm_reference.ByteLM(knobs["dim"], knobs["lm_depth"], knobs["heads"], c,
                                knobs["mlp_ratio"]).to(DEVICE)
    train = {n: lm_reference.windows(domains[n][0], c + 1) for n in domains}
    evals = {n: lm_reference.windows(domains[n][1], c + 1)[:128].long().to(DEVICE)
             for n in domains}
    F = torch.nn.functional

    def phase(data, steps, lr, warmup):
        opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), eps=1e-8,
                                weight_decay=0.0, foreach=True)
        for step in range(1, steps + 1):
            w = data[torch.randint(len(data), (LM_BATCH,), generator=g)].to(DEVICE).long()
            model.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(w[:, :c]).reshape(-1, 256), w[:, 1:].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            for group in opt.param_groups:
                group["lr"] = lr * step / warmup if warmup and step < warmup else lr
            opt.step()
            if step % 10 == 0:
                loss.item()  # forgetlab checks the losses for NaN every 10 steps
        return steps * LM_BATCH

    def evaluate():
        with torch.no_grad():
            for e in evals.values():
                logits = model(e[:, :c])
                F.cross_entropy(logits.reshape(-1, 256), e[:, 1:].reshape(-1)).item()
                (logits.argmax(-1) == e[:, 1:]).sum().item()

    start = time.perf_counter()
    pool = train["dictionary"]
    pool = pool[torch.randperm(len(pool), generator=g)[:LM_PRETRAIN_EXAMPLES]]
    samples = phase(pool, LM_PRETRAIN_STEPS, 1e-2, 24)
    evaluate()
    for task in ("prose", "code"):
        samples += phase(train[task], LM_TASK_STEPS, 3e-3, 0)
        evaluate()
    seconds = time.perf_counter() - start
    return samples / seconds, sum(p.numel() for p in model.parameters())


# --- the forgetlab side ------------------------------------------------------

def forgetlab_run(binary, family, knobs, threads, data_dir, runs):
    if os.path.basename(binary).startswith("forgetlab-train-bench"):
        flags = [f"--family={family.lower()}", f"--data_path={data_dir}",
                 f"--pretrain_examples={PRETRAIN_EXAMPLES}",
                 f"--pretrain_steps={PRETRAIN_STEPS}",
                 f"--pretrain_batch={PRETRAIN_BATCH}", f"--pretrain_lr={PRETRAIN_LR}",
                 f"--task_steps={TASK_STEPS}", f"--task_batch={TASK_BATCH}",
                 f"--task_lr={TASK_LR}", f"--momentum={MOMENTUM}", "--eval_every=0",
                 "--seed=0", f"--device={DEVICE}", f"--threads={threads}",
                 f"--repeats={runs}"]
        flags += [f"--{k}={v}" for k, v in knobs.items()]
        out = subprocess.run([binary] + flags, check=True, capture_output=True,
                             text=True).stdout
        result = json.loads(out)
        return result["samples_per_second"], result["parameter_count"]
    if DEVICE.type != "cpu":
        sys.exit("--device cuda needs forgetlab-train-bench (the standalone build)")
    if data_dir != FASHION:
        sys.exit("--data needs forgetlab-train-bench; forgetlab-train reads "
                 f"{FASHION}")
    model = " ".join(f"{k}: {v}" for k, v in knobs.items())
    if family == "LM":
        spec = (f"model {{ family: LM {model} }}\n"
                f"pretrain {{ examples: {LM_PRETRAIN_EXAMPLES} steps: {LM_PRETRAIN_STEPS} "
                f"batch_size: {LM_BATCH} }}\n"
                f"finetune {{ steps: {LM_TASK_STEPS} batch_size: {LM_BATCH} }}\n"
                f"eval {{ eval_every: 0 }}\nseed: 0\n")
    else:
        spec = (f"model {{ family: {family} {model} }}\n"
                f"pretrain {{ examples: {PRETRAIN_EXAMPLES} steps: {PRETRAIN_STEPS} "
                f"batch_size: {PRETRAIN_BATCH} lr: {PRETRAIN_LR} }}\n"
                f"finetune {{ steps: {TASK_STEPS} batch_size: {TASK_BATCH} lr: {TASK_LR} }}\n"
                f"optimizer {{ momentum: {MOMENTUM} }}\neval {{ eval_every: 0 }}\nseed: 0\n")
    with tempfile.NamedTemporaryFile("w", suffix=".textproto") as f:
        f.write(spec)
        f.flush()
        out = subprocess.run([binary, f"--spec={f.name}", "--format=json",
                              f"--threads={threads}", f"--repeats={runs}"],
                             check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    return result["samples_per_second"], result["parameter_count"]


def sgemm_peak(n=2048, repeats=5):
    if DEVICE.type == "cuda":
        n = 8192
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def same_blas_kernels():
    """Re-executes this script with the OpenBLAS kernels forgetlab picks.

    forgetlab's binaries choose OpenBLAS's SkylakeX kernels (with AVX-512) or
    Haswell kernels (AVX2 and FMA) when OpenBLAS falls back to its SSE3 ones
    on a CPU it does not know (docs/PERFORMANCE.md); the Python side gets the
    same, so that the ratio compares training loops.
    """
    if os.environ.get("OPENBLAS_CORETYPE"):
        return
    try:
        import ctypes
        core = ctypes.CDLL("libblas.so.3").openblas_get_corename
        core.restype = ctypes.c_char_p
        name = core().decode()
    except (OSError, AttributeError):
        return
    flags = open("/proc/cpuinfo").read()
    if name.lower() == "prescott" and " avx2" in flags and " fma" in flags:
        avx512 = all(f" {f}" in flags for f in
                     ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"))
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX" if avx512 else "Haswell"
        os.execv(sys.executable, [sys.executable] + sys.argv)


def main():
    same_blas_kernels()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("forgetlab_train", help="path of forgetlab-train, or of "
                        "forgetlab-train-bench (the standalone worker/train build)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per side; the best counts")
    parser.add_argument("--data", default=FASHION,
                        help="the Fashion-MNIST folder (forgetlab-train-bench only)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--models", nargs="+", default=list(MODELS),
                        choices=list(MODELS))
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if not os.path.isdir(args.data):
        sys.exit(f"{args.data} is missing; install dataset-fashion-mnist")
    torch.set_num_threads(args.threads)
    data = load(args.data)
    domains = None
    if any(MODELS[name][0] == "LM" for name in args.models):
        domains = {n: lm_reference.load_domain("", n) for n in ("dictionary", "prose", "code")}
    peak = sgemm_peak()
    for name in args.models:
        family, knobs = MODELS[name]
        # Best of --repeats, the two sides interleaved, against a noisy
        # machine. On a GPU each side also runs once untimed first: the first
        # run in a process pays for loading CUDA libraries and kernels.
        # forgetlab starts a new process per call, while the Python side
        # runs in this one, long warm: each forgetlab call runs the job twice
        # and reports the faster run, as a worker's second job would be.
        warm = 2
        python_side = ((lambda: pytorch_lm_run(knobs, domains)) if family == "LM"
                       else (lambda: pytorch_run(family, knobs, data)))
        if DEVICE.type == "cuda":
            python_side()
        ours = theirs = 0
        for _ in range(args.repeats):
            o, params = forgetlab_run(args.forgetlab_train, family, knobs,
                                      args.threads, args.data, warm)
            t, py_params = python_side()
            ours, theirs = max(ours, o), max(theirs, t)
        if py_params != params:
            sys.exit(f"{name}: models differ ({params} vs {py_params} parameters)")
        line = {"model": name, "device": str(DEVICE), "forgetlab_samples_per_s": round(ours, 1),
                "pytorch_samples_per_s": round(theirs, 1),
                "ratio": round(ours / theirs, 3), "parameters": params}
        if family == "MLP":
            gflops = 6 * params * ours / 1e9
            line.update(gflops=round(gflops, 1), sgemm_peak_gflops=round(peak, 1),
                        peak_fraction=round(gflops / peak, 3))
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
