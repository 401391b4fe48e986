#!/usr/bin/python3
"""An independent PyTorch implementation of DESIGN.md's language-model protocol.

It shares no code with forgetlab: it reads the text domains itself, builds its
own byte-level Transformer, and trains it with torch.optim.AdamW and
torch.nn.utils.clip_grad_norm_. For each model size, pretraining size and seed
it prints one JSON line with the loss and accuracy matrices and the metrics,
so forgetlab's tables can be checked against it within seed noise:

  /usr/bin/python3 tests/reference/lm_reference.py --dims 16 64 \
      --examples 0 100000 --seeds 0 1 2

With --lockstep it draws its random numbers in forgetlab's order (the same
generators, seeds and calls), so for one seed it should reproduce forgetlab's
matrices to float rounding. Needs Debian's python3-torch.
"""
import argparse
import gzip
import json
import math
import os
import time

import torch
import torch.nn.functional as F

DEBIAN = {
    "dictionary": ("/usr/share/dictd/gcide.dict.dz", ""),
    "prose": ("/usr/share/games/fortunes", ""),
    "german": ("/usr/share/games/fortunes/de", ""),
    "code": ("/usr/lib/python3.11", ".py"),
}
RULES = {"dictionary": "blank", "prose": "percent", "german": "percent", "code": "file"}
EVAL_SEED, EVAL_WINDOWS = 20231, 128
TASK_SEED_OFFSET = 0x9E3779B97F4A7C15
LOCKSTEP = False


def files_of(folder, domain):
    if folder:
        where, suffix = os.path.join(folder, domain), ""
    else:
        where, suffix = DEBIAN[domain]
        if os.path.isfile(where):
            return [where]
    names = []
    for name in os.listdir(where):
        path = os.path.join(where, name)
        if os.path.islink(path) or not os.path.isfile(path) or path.endswith(".dat"):
            continue
        if suffix and not path.endswith(suffix):
            continue
        names.append(path)
    return sorted(names, key=lambda p: p.encode())


def documents(rule, data):
    """Splits one file's bytes into documents, each ending in a newline."""
    if rule == "file":
        if data and not data.endswith(b"\n"):
            data += b"\n"
        return [data] if data.strip() else []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    docs, current = [], []
    for line in lines:
        if rule == "percent":
            separator = line in (b"%", b"%\r")
        else:
            separator = line.strip(b" \t\r") == b""
        if separator:
            if current:
                docs.append(b"".join(current))
            current = []
        else:
            current.append(line + b"\n")
    if current:
        docs.append(b"".join(current))
    return [d for d in docs if d.strip(b" \t\r\n")]


def load_domain(folder, domain):
    """(train bytes, held-out bytes): every 10th document held out."""
    train, heldout, index = [], [], 0
    for path in files_of(folder, domain):
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for doc in documents(RULES[domain], data):
            index += 1
            (heldout if index % 10 == 0 else train).append(doc)
    return b"".join(train), b"".join(heldout)


def windows(data, width):
    n = len(data) // width
    return torch.frombuffer(bytearray(data[:n * width]), dtype=torch.uint8).view(n, width)


class ByteLM(torch.nn.Module):
    """Pre-LN decoder; parameters registered in forgetlab's documented order."""

    def __init__(self, dim, depth, heads, context, ratio):
        super().__init__()
        self.dim, self.heads = dim, heads
        p = lambda *shape: torch.nn.Parameter(torch.empty(*shape))  # noqa: E731
        self.embedding = p(256, dim)
        self.positions = p(context, dim)
        self.blocks = []
        for i in range(depth):
            block = {}
            for name, shape in [("ln1_weight", (dim,)), ("ln1_bias", (dim,)),
                                ("qkv_weight", (3 * dim, dim)), ("qkv_bias", (3 * dim,)),
                                ("proj_weight", (dim, dim)), ("proj_bias", (dim,)),
                                ("ln2_weight", (dim,)), ("ln2_bias", (dim,)),
                                ("fc1_weight", (ratio * dim, dim)), ("fc1_bias", (ratio * dim,)),
                                ("fc2_weight", (dim, ratio * dim)), ("fc2_bias", (dim,))]:
                block[name] = p(*shape)
                self.register_parameter(f"block{i}_{name}", block[name])
            self.blocks.append(block)
        self.lnf_weight = p(dim)
        self.lnf_bias = p(dim)
        with torch.no_grad():
            for name, param in self.named_parameters():
                if name.endswith(("ln1_weight", "ln2_weight")) or name == "lnf_weight":
                    param.fill_(1.0)
                elif name.endswith("_bias"):
                    param.zero_()
                else:
                    param.normal_(0.0, 0.02)

    def forward(self, x):
        b, t = x.shape
        d, h = self.dim, self.heads
        y = (F.embedding(x, self.embedding) + self.positions[:t]).view(b * t, d)
        future = torch.full((t, t), float("-inf")).triu(1)
        for k in self.blocks:
            a = F.layer_norm(y, (d,), k["ln1_weight"], k["ln1_bias"])
            q, kk, v = (z.reshape(b * h, t, d // h) for z in F.linear(
                a, k["qkv_weight"], k["qkv_bias"]).view(b, t, 3, h, d // h).permute(2, 0, 3, 1, 4))
            scores = torch.baddbmm(future, q, kk.transpose(1, 2), alpha=1.0 / math.sqrt(d // h))
            att = torch.bmm(torch.softmax(scores, -1), v).view(b, h, t, d // h)
            att = att.transpose(1, 2).reshape(b * t, d)
            y = y + F.linear(att, k["proj_weight"], k["proj_bias"])
            m = F.layer_norm(y, (d,), k["ln2_weight"], k["ln2_bias"])
            y = y + F.linear(F.gelu(F.linear(m, k["fc1_weight"], k["fc1_bias"])),
                             k["fc2_weight"], k["fc2_bias"])
        y = F.layer_norm(y, (d,), self.lnf_weight, self.lnf_bias)
        return torch.mm(y, self.embedding.t()).view(b, t, 256)


def run(cfg, seed, domains, examples):
    """Returns (R, L, pool trace) for one job; cfg holds the spec's numbers."""
    c = cfg["context"]
    torch.manual_seed(seed)
    model = ByteLM(cfg["dim"], cfg["depth"], cfg["heads"], c, cfg["ratio"])

    def evaluate(eval_windows):
        with torch.no_grad():
            logits = model(eval_windows[:, :c])
            target = eval_windows[:, 1:]
            loss = F.cross_entropy(logits.reshape(-1, 256), target.reshape(-1)).item()
            acc = (logits.argmax(-1) == target).sum().item() / target.numel()
        return loss / math.log(2.0), acc

    def phase(data, steps, batch, lr, warmup, gen, replay=None, replay_count=0):
        opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), eps=1e-8,
                                weight_decay=0.0, foreach=True)
        for step in range(1, steps + 1):
            rows = data[torch.randint(len(data), (batch - replay_count,), generator=gen)]
            if replay_count:
                picks = torch.randint(len(replay), (replay_count,), generator=gen)
                rows = torch.cat([rows, replay[picks]])
            w = rows.long()
            model.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(w[:, :c]).reshape(-1, 256), w[:, 1:].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            for group in opt.param_groups:
                group["lr"] = lr * step / warmup if warmup > 0 and step < warmup else lr
            opt.step()

    names = [cfg["pool"]] + [t for t in cfg["tasks"] if t != cfg["pool"]]
    train = {n: windows(domains[n][0], c + 1) for n in names}
    evals = {}
    for n in names:
        held = windows(domains[n][1], c + 1)
        pick = torch.randperm(len(held), generator=torch.Generator().manual_seed(EVAL_SEED))
        evals[n] = held[pick[:EVAL_WINDOWS]].long()
    if LOCKSTEP:
        pre_gen = torch.Generator().manual_seed(seed)
        task_gen = torch.Generator().manual_seed((seed + TASK_SEED_OFFSET) % 2**64)
    else:
        pre_gen = torch.Generator().manual_seed(1_000_003 * seed + 17)
        task_gen = torch.Generator().manual_seed(1_000_003 * seed + 29)
    trace = {}
    replay = None
    if examples > 0:
        pool = train[cfg["pool"]]
        replay = pool[torch.randperm(len(pool), generator=pre_gen)[:examples]]
        phase(replay, cfg["pretrain_steps"], cfg["batch"], cfg["pretrain_lr"], cfg["warmup"],
              pre_gen)
        trace["pool0"] = evaluate(evals[cfg["pool"]])
    # round half away from zero, as forgetlab (std::llround) does
    count = math.floor(cfg["replay"] * cfg["batch"] + 0.5) if replay is not None else 0
    R, L, pool_after = [], [], []
    for task in cfg["tasks"]:
        phase(train[task], cfg["task_steps"], cfg["batch"], cfg["task_lr"], 0, task_gen,
              replay, count)
        measured = [evaluate(evals[t]) for t in cfg["tasks"]]
        L.append([m[0] for m in measured])
        R.append([m[1] for m in measured])
        pool_after.append(evaluate(evals[cfg["pool"]]))
    trace["pool_after"] = pool_after
    return R, L, trace


def metrics(R, L, trace):
    k = len(R)
    out = {"forgetting": max(R[l][0] for l in range(k - 1)) - R[k - 1][0],
           "loss_forgetting": L[k - 1][0] - min(L[l][0] for l in range(k - 1)),
           "acc": sum(R[k - 1]) / k}
    if "pool0" in trace:
        l0, r0 = trace["pool0"]
        out["pretrain_forgetting"] = trace["pool_after"][-1][0] - l0
        out["pretrain_progress_lost"] = out["pretrain_forgetting"] / (8 - l0) if l0 < 8 else 0
        out["fg_general"] = (sum((r0 - r) / r0 * 100 for _, r in trace["pool_after"]) / k
                             if r0 > 0 else 0.0)
    return out


DEFAULT = {"dim": 64, "depth": 2, "heads": 4, "context": 64, "ratio": 4, "pool": "dictionary",
           "tasks": ["prose", "code"], "pretrain_steps": 240, "batch": 32,
           "pretrain_lr": 1e-2, "warmup": 24, "task_steps": 120, "task_lr": 3e-3, "replay": 0.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--examples", type=int, nargs="+", default=[0, 1000, 100000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default="", help="folder with one subfolder per domain "
                        "(default: Debian's packages)")
    parser.add_argument("--lockstep", action="store_true",
                        help="draw random numbers in forgetlab's order")
    args = parser.parse_args()
    global LOCKSTEP
    LOCKSTEP = args.lockstep
    torch.set_num_threads(args.threads)
    domains = {n: load_domain(args.data, n) for n in ["dictionary", "prose", "code"]}
    for dim in args.dims:
        for examples in args.examples:
            start = time.time()
            runs = []
            for seed in args.seeds:
                cfg = dict(DEFAULT, dim=dim)
                R, L, trace = run(cfg, seed, domains, examples)
                runs.append(metrics(R, L, trace))
            line = {"dim": dim, "pretrain_examples": examples}
            for name in runs[0]:
                values = [r[name] for r in runs]
                mean = sum(values) / len(values)
                sd = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                      if len(values) > 1 else 0.0)
                line[name] = [round(v, 4) for v in values]
                line[name + "_mean"] = round(mean, 4)
                line[name + "_std"] = round(sd, 4)
            line["seconds"] = round(time.time() - start, 1)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
