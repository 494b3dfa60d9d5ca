"""PyTorch side of the GPT-2 training benchmark: the same model, sizes, batch and step as
apps/bench/src/gpt2.ts (forward + mean CE + backward + AdamW step + zero_grad, fp32, eager,
dropout off, tied LM head), so tokens/s can be compared on the same machine in the same run.

Usage: python3 gpt2_baseline.py small|medium [--steps N] [--warmup N] [--threads N]
Prints one JSON line: {"size", "tokens_per_s", "median_step_ms", "peak_rss_gib", "torch", "threads"}.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {
    "small": dict(vocab=8192, n_embd=256, n_layer=4, n_head=8, seq=128, batch=8),
    "medium": dict(vocab=16384, n_embd=512, n_layer=6, n_head=8, seq=256, batch=4),
}


class Block(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(c)
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c)
        self.c_fc = nn.Linear(c, 4 * c)
        self.c_fc_proj = nn.Linear(4 * c, c)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.h)
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)
        x = x + self.c_proj(y)
        return x + self.c_fc_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, n_embd, n_layer, n_head, seq):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(seq, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe.weight[: ids.shape[1]]
        for blk in self.h:
            x = blk(x)
        return self.ln_f(x) @ self.wte.weight.t()


def peak_rss_gib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size", choices=SIZES)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    s = SIZES[a.size]
    model = GPT(s["vocab"], s["n_embd"], s["n_layer"], s["n_head"], s["seq"])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for step in range(a.warmup + a.steps):
        ids = torch.randint(0, s["vocab"], (s["batch"], s["seq"]))
        tgt = torch.randint(0, s["vocab"], (s["batch"], s["seq"]))
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(ids).view(-1, s["vocab"]), tgt.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({
        "size": a.size,
        "tokens_per_s": s["batch"] * s["seq"] / med,
        "median_step_ms": med * 1000,
        "peak_rss_gib": peak_rss_gib(),
        "torch": torch.__version__,
        "threads": a.threads,
    }))


if __name__ == "__main__":
    main()
