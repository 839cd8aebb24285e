#!/usr/bin/env python3
"""The cost of data-parallel training at scale, from numbers measured here.

    bench/cost_model.py NAME WEIGHTS STEP_SECONDS [NAME WEIGHTS STEP_SECONDS ...]

WEIGHTS: trained float32 weights (4 bytes each are all-reduced per step);
STEP_SECONDS: one rank's step (forward + backward + update) measured here.
Ring all-reduce of S bytes over N ranks: 2 (N - 1) / N * S / bandwidth
+ 2 (N - 1) * latency, not overlapped with the backward pass (as charlstm
does it today); efficiency = step / (step + all-reduce).  Prints a
Markdown table (docs/scale-out.md explains the assumptions)."""
import sys

LINKS = [("10 Gbit/s TCP", 10e9 / 8 * 0.9, 25e-6), ("100 Gbit/s RDMA", 100e9 / 8 * 0.9, 3e-6)]
RANKS = (8, 64, 512)


def allreduce_seconds(nbytes, ranks, bandwidth, latency):
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth + 2 * (ranks - 1) * latency


def main(args):
    if not args or len(args) % 3:
        sys.exit(__doc__)
    print("| model | MB per step | step here | link | " + " | ".join("%d ranks" % n for n in RANKS) + " |")
    print("|---|---|---|---|" + "---|" * len(RANKS))
    for k in range(0, len(args), 3):
        name, weights, step = args[k], float(args[k + 1]), float(args[k + 2])
        nbytes = 4 * weights
        for link, bandwidth, latency in LINKS:
            cells = []
            for n in RANKS:
                t = allreduce_seconds(nbytes, n, bandwidth, latency)
                e = step / (step + t)
                cells.append("%.0f %%%s (%.1f ms)" % (100 * e, " **< 80 %**" if e < 0.8 else "", 1e3 * t))
            print("| %s | %.1f | %.0f ms | %s | %s |" % (name, nbytes / 1e6, 1e3 * step, link, " | ".join(cells)))


if __name__ == "__main__":
    main(sys.argv[1:])
