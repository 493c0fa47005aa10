"""The gloo all-reduce of ../shared/peers/allreduce_gloo.py (torch.distributed, W processes on
loopback, 3 warm-ups then 10 timed all-reduces of each size, one torch thread), also reporting
rank 0's process CPU time per all-reduce, for bench/mesh_bench --gloo.
usage: /usr/bin/python3 bench/allreduce_gloo_cpu.py [WORLD=2] [PORT=29533] [SIZES=1,4,14.7,64]"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def run(rank, world, sizes, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    for mb in sizes:
        x = torch.ones(int(mb * 1e6 / 4))
        for _ in range(3):
            dist.all_reduce(x)
        dist.barrier()
        c0, t0, iters = time.process_time(), time.perf_counter(), 10
        for _ in range(iters):
            dist.all_reduce(x)
        dist.barrier()
        dt = (time.perf_counter() - t0) / iters
        dc = (time.process_time() - c0) / iters
        if rank == 0:
            bus = mb * 1e6 * 2 * (world - 1) / world / dt / 1e9
            print(f"world {world} size {mb:6.1f} MB: {dt * 1e3:8.2f} ms, busbw {bus:.2f} GB/s, "
                  f"cpu {dc * 1e3:.1f} ms", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    w = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    port = sys.argv[2] if len(sys.argv) > 2 else "29533"
    sizes = [float(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "1,4,14.7,64").split(",")]
    print("torch", torch.__version__)
    mp.spawn(run, args=(w, sizes, port), nprocs=w)
