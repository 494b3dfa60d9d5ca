"""PyTorch side of the comm benchmark: torch.distributed gloo collectives between N processes on
this machine, float32, the sizes given, with the nccl-tests bus-bandwidth formulas the comm
suite uses (all_reduce: algbw*2(n-1)/n; all_gather, reduce_scatter, all_to_all: algbw*(n-1)/n).
gloo in torch 1.13 has no reduce_scatter, so it is left out.

Usage: python3 comm_baseline.py --ranks N --sizes 4096,67108864 [--target-ms 300]
Prints one JSON line per (op, size) from rank 0.
"""
import argparse
import json
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def timed(fn, target_ms):
    # Every rank must make the same calls: warm up in doubling batches until the slowest rank
    # has spent a fifth of the budget, then time as many calls as fill it on the slowest rank.
    def agreed(v):
        t = torch.tensor([v], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t.item())

    t0 = time.perf_counter()
    batch = 1
    while True:
        for _ in range(batch):
            fn()
        if agreed((time.perf_counter() - t0) * 1e3) >= target_ms / 5:
            break
        batch *= 2
    t1 = time.perf_counter()
    for _ in range(3):
        fn()
    one = agreed((time.perf_counter() - t1) * 1e3 / 3)
    iters = max(3, int(target_ms / max(one, 1e-3)))
    dist.barrier()
    t1 = time.perf_counter()
    for _ in range(iters):
        fn()
    return agreed((time.perf_counter() - t1) * 1e3 / iters)


def run(rank, ranks, port, sizes, target_ms):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    for nbytes in sizes:
        n = nbytes // 4
        x = torch.ones(n)
        # the comm suite sizes all_gather by its output: each rank contributes 1/ranks of it
        part = torch.ones(n // ranks)
        outs = [torch.empty(n // ranks) for _ in range(ranks)]
        a2a_in = torch.ones(n)
        a2a_out = torch.empty(n)
        ops = {
            "allReduce": (lambda: dist.all_reduce(x), 2 * (ranks - 1) / ranks),
            "allGather": (lambda: dist.all_gather(outs, part), (ranks - 1) / ranks),
        }
        if n % ranks == 0:
            ops["allToAll"] = (lambda: dist.all_to_all_single(a2a_out, a2a_in), (ranks - 1) / ranks)
        for name, (fn, factor) in ops.items():
            try:
                ms = timed(fn, target_ms)
            except RuntimeError as e:  # an op this gloo build lacks
                if rank == 0:
                    print(json.dumps({"op": name, "bytes": nbytes, "error": str(e)[:200]}), flush=True)
                continue
            algbw = nbytes / (ms * 1e-3) / 1e9
            if rank == 0:
                print(json.dumps({"op": name, "bytes": nbytes, "ranks": ranks, "latency_us": ms * 1e3,
                                  "algbw_gbps": algbw, "busbw_gbps": algbw * factor, "torch": torch.__version__}), flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--sizes", default="4096,67108864")
    ap.add_argument("--target-ms", type=float, default=300)
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sizes = [int(x) for x in a.sizes.split(",")]
    mp.start_processes(run, args=(a.ranks, port, sizes, a.target_ms), nprocs=a.ranks, start_method="spawn")


if __name__ == "__main__":
    main()
