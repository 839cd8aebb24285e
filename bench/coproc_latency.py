#!/usr/bin/env python3
"""Co-process latency of a line-answering charlstm command.

    bench/coproc_latency.py N CMD ARGS...      (e.g. N=50 charlstm tag -m pos.model)

Starts CMD with pipes, waits for the answer to a warm-up line, then writes
N lines one at a time, each after the previous answer came back, and prints
the median and the 90th percentile of the time from writing a line to
reading its answer (the way a program that uses the tagger as a co-process
sees it)."""
import subprocess
import sys
import time

LINES = ["I saw it.", "They left early because the weather was bad.", "Good.",
         "The cat didn't sleep on the mat last night.", "Where are you going?"]


def main():
    n, cmd = int(sys.argv[1]), sys.argv[2:]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)

    def ask(line):
        t0 = time.perf_counter()
        p.stdin.write((line + "\n").encode())
        if not p.stdout.readline():
            sys.exit("coproc_latency: %s stopped answering" % cmd[0])
        return time.perf_counter() - t0

    ask(LINES[0])  # loading the model is not latency
    times = sorted(ask(LINES[i % len(LINES)]) for i in range(n))
    p.stdin.close()
    p.wait()
    print("%s as a co-process: %d lines one at a time, answer after %.1f ms (median), %.1f ms (90th percentile)"
          % (" ".join(cmd[1:2]), n, 1e3 * times[n // 2], 1e3 * times[(9 * n) // 10]))


if __name__ == "__main__":
    main()
