#!/usr/bin/python3
"""Export a charlstm language model to PyTorch, and check it there.

    /usr/bin/python3 scripts/torch_export.py MODEL OUT.pt [--check TEXT]

A thin wrapper of charlstm.torch.export (the Python package, python/; build
it with `make python`, or pip install it): writes {"state_dict",
"codepoints", "nfc", "casefold"} for charlstm.torch.CharLM.  With --check,
evaluates TEXT in PyTorch the way `charlstm eval` does (64 streams from a
zero state) and prints nats/char, which must match `charlstm eval -m MODEL
TEXT` to float32 rounding.
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import charlstm.torch as ct  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def evaluate(module, ids, streams=64, chunk=256):
    n = len(ids)
    L = math.ceil((n - 1) / streams)
    x = torch.full((streams * L,), -1, dtype=torch.long)
    y = torch.full((streams * L,), -1, dtype=torch.long)
    x[:n - 1], y[:n - 1] = ids[:-1], ids[1:]
    x, y = x.view(streams, L), y.view(streams, L)
    total, state = 0.0, None
    with torch.no_grad():
        for i in range(0, L, chunk):
            xi = x[:, i:i + chunk].t()
            emb_mask = (xi >= 0).unsqueeze(-1).float()
            h, state = module.rnn(module.embed(xi.clamp(min=0)) * emb_mask, state)
            total += F.cross_entropy(module.lm(h).flatten(0, 1), y[:, i:i + chunk].t().flatten(),
                                     ignore_index=-1, reduction="sum").item()
    return total / (n - 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--check", metavar="TEXT")
    a = p.parse_args()
    module = ct.export(a.model)
    cps = [0] + [ord(c) for c in module.vocab[1:]]
    torch.save({"state_dict": module.state_dict(), "codepoints": cps[1:], "nfc": module.nfc,
                "casefold": module.casefold}, a.out)
    print(f"wrote {a.out}: {sum(t.numel() for t in module.parameters())} parameters")
    if a.check:
        with open(a.check, encoding="utf-8") as f:
            ids = module.encode(f.read()).view(-1)
        print(f"PyTorch nats/char\t{evaluate(module, ids):.4f}")


if __name__ == "__main__":
    main()
