#!/usr/bin/env python3
"""Co-process latency of a line-answering charlstm command.

    bench/coproc_latency.py [--conllu FILE] N CMD ARGS...
        (e.g. 50 charlstm classify -m sentiment.model,
         --conllu dev.conllu 50 charlstm tag -m pos.model --input conllu)

Starts CMD with pipes, waits for the answer to a warm-up question, then asks
N questions one at a time, each after the previous answer came back, and
prints the median and the 90th percentile of the time from writing a
question to reading its whole answer (the way a program that uses the
command as a co-process sees it).  A question is a line of text, answered
by one line; with --conllu it is a sentence of FILE (its lines and the
blank line after it), answered by lines up to a blank line."""
import subprocess
import sys
import time

LINES = ["I saw it.", "They left early because the weather was bad.", "Good.",
         "The cat didn't sleep on the mat last night.", "Where are you going?"]


def conllu_sentences(path, n):
    with open(path, encoding="utf-8") as f:
        sents = [s.strip("\n") + "\n\n" for s in f.read().split("\n\n") if s.strip()]
    return sents[:n + 1]


def main():
    args = sys.argv[1:]
    questions, conllu = [l + "\n" for l in LINES], False
    if args[0] == "--conllu":
        questions, conllu, args = conllu_sentences(args[1], int(args[2])), True, args[2:]
    n, cmd = int(args[0]), args[1:]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)

    def answer():
        line = p.stdout.readline()
        while conllu and line not in (b"\n", b""):
            line = p.stdout.readline()
        if not line:
            sys.exit("coproc_latency: %s stopped answering" % cmd[0])

    def ask(q):
        t0 = time.perf_counter()
        p.stdin.write(q.encode())
        answer()
        return time.perf_counter() - t0

    ask(questions[0])  # loading the model is not latency
    times = sorted(ask(questions[i % len(questions)]) for i in range(n))
    p.stdin.close()
    p.wait()
    what = "sentences" if conllu else "lines"
    print("%-8s %s as a co-process: %d %s one at a time, answer after %.1f ms (median), "
          "%.1f ms (90th percentile)" % (cmd[1], "conllu" if conllu else "text", n, what,
                                          1e3 * times[n // 2], 1e3 * times[(9 * n) // 10]))


if __name__ == "__main__":
    main()
