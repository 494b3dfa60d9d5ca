"""PyTorch DDP side of the engine benchmark: the GPT-2 'small' model of gpt2_baseline.py trained
with DistributedDataParallel over gloo, N processes on this machine, each with micro-batch 8 and
one intra-op thread (the same shape as apps/bench/src/engine.ts), fp32, AdamW.

torch.set_num_threads(1) does not cap OpenBLAS's own thread pool: the caller decides with
OPENBLAS_NUM_THREADS whether each process's GEMMs also run on one thread.

Usage: python3 ddp_baseline.py [--ranks N] [--steps N] [--warmup N]
Prints one JSON line from rank 0: {"ranks", "tokens_per_s", "median_step_ms", "torch", "openblas_threads"}.
"""
import argparse
import json
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from gpt2_baseline import GPT, SIZES


def run(rank, ranks, port, steps, warmup, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    torch.manual_seed(0)
    s = SIZES["small"]
    model = DistributedDataParallel(GPT(s["vocab"], s["n_embd"], s["n_layer"], s["n_head"], s["seq"]))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(100 + rank)
    times = []
    for step in range(warmup + steps):
        ids = torch.randint(0, s["vocab"], (s["batch"], s["seq"]), generator=gen)
        tgt = torch.randint(0, s["vocab"], (s["batch"], s["seq"]), generator=gen)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(ids).view(-1, s["vocab"]), tgt.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    if rank == 0:
        med = statistics.median(times)
        out.put({
            "ranks": ranks,
            "tokens_per_s": ranks * s["batch"] * s["seq"] / med,
            "median_step_ms": med * 1000,
            "torch": torch.__version__,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        })
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.SimpleQueue()
    mp.start_processes(run, args=(a.ranks, port, a.steps, a.warmup, out), nprocs=a.ranks, start_method="spawn")
    print(json.dumps(out.get()))


if __name__ == "__main__":
    main()
