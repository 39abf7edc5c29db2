"""PyTorch CPU peer of the conv and matmul benches (bench/conv.bench.ts, bench/matmul.bench.ts).

Times, with PyTorch's CPU build and a given thread count, the three passes of each convolution shape
(forward, input gradient, weight gradient: the aten calls autograd makes in training) and the 256³
float32 matmul, and prints one JSON line of GFLOP/s from medians. Shapes come as JSON on the command line.

    /usr/bin/python3 bench/peers/torch_kernels.py --threads 2 --convs '[{"name": ..., "N": 32, ...}]'

Debian: apt-get install -y python3-torch.
"""
import argparse
import json
import statistics
import time

import torch


def median_seconds(fn, reps, warmup=3):
    # Each result stays alive until the next call returns, as tensors do in a training step. (Dropping it
    # at once let glibc hand the megabytes back to the system and map them afresh on the next call: the
    # 16→16 forward then measured 10 GFLOP/s, page faults, against 240 with the result kept.)
    kept = None
    for _ in range(warmup):
        kept = fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        kept = fn()
        times.append(time.perf_counter() - t)
    del kept
    return statistics.median(times)


def conv_passes(c, reps):
    x = torch.randn(c["N"], c["C"], c["H"], c["W"])
    w = torch.randn(c["O"], c["C"], c["k"], c["k"])
    stride, padding = [c["s"], c["s"]], [c["p"], c["p"]]
    y = torch.nn.functional.conv2d(x, w, stride=stride, padding=padding)
    dy = torch.randn_like(y)
    flops = 2 * c["N"] * c["O"] * y.shape[2] * y.shape[3] * c["C"] * c["k"] * c["k"]

    def backward(mask):
        # what autograd runs for a conv2d node in training
        return torch.ops.aten.convolution_backward(dy, x, w, None, stride, padding, [1, 1], False, [0, 0], 1, mask)

    passes = {
        "forward": lambda: torch.nn.functional.conv2d(x, w, stride=stride, padding=padding),
        "input grad": lambda: backward([True, False, False]),
        "weight grad": lambda: backward([False, True, False]),
    }
    with torch.no_grad():
        return {name: round(flops / median_seconds(fn, reps) / 1e9, 2) for name, fn in passes.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--convs", default="[]", help="JSON list of {name, N, C, H, W, O, k, s, p}")
    ap.add_argument("--matmul", type=int, default=0, help="size n of an n×n·n×n float32 matmul to time (0: none)")
    ap.add_argument("--reps", type=int, default=15)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "convs": {}}
    for c in json.loads(a.convs):
        out["convs"][c["name"]] = conv_passes(c, a.reps)
    if a.matmul > 0:
        n = a.matmul
        A, B = torch.randn(n, n), torch.randn(n, n)
        out["matmul_gflops"] = round(2 * n**3 / median_seconds(lambda: A @ B, max(a.reps, 20)) / 1e9, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
