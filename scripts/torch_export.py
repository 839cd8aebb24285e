#!/usr/bin/python3
"""Export a charlstm language model to PyTorch, and check it there.

    /usr/bin/python3 scripts/torch_export.py MODEL OUT.pt [--check TEXT]

Writes a state_dict for the reference module below (the model of
bench/torch_charlm.py): embed.weight, lstm.weight_ih_l0 ... (the names and
layout charlstm already uses, see docs/model-format.md), out.weight/bias, and
the vocabulary.  With --check, evaluates TEXT in PyTorch the way `charlstm
eval` does (64 streams from a zero state) and prints nats/char, which must
match `charlstm eval -m MODEL TEXT` to float32 rounding.
Needs Debian's python3-torch; reads the file with docs/read_model.py.
"""
import argparse
import math
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs"))
import read_model  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import unicodedata  # noqa: E402


class CharLM(nn.Module):
    def __init__(self, vocab, emb, hidden, layers, cell):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.lstm = rnn(emb, hidden, layers)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)
        return self.out(h), state


def tensor(section, name):
    dtype, shape, raw = section["tensors"][name]
    fmt = "<%d%s" % (len(raw) // 4, "f" if dtype == "f32" else "i")
    return torch.tensor(struct.unpack(fmt, raw)).reshape(shape)


def build(path):
    s = read_model.load(path)
    enc, lm = s["encoder"], s["head.lm"]
    k = enc["keys"]
    model = CharLM(k["vocab"], k["emb"], k["hidden"], k["layers"], k["cell"])
    state = {"embed.weight": tensor(enc, "embed"), "out.weight": tensor(lm, "weight"),
             "out.bias": tensor(lm, "bias")}
    for name in model.lstm.state_dict():
        state["lstm." + name] = tensor(enc, "rnn." + name)
    model.load_state_dict(state)
    cps = tensor(s["vocab"], "codepoints").tolist()
    return model, cps, s["meta"]["keys"]


def evaluate(model, ids, streams=64, chunk=256):
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
            h, state = model.lstm(model.embed(xi.clamp(min=0)) * emb_mask, state)
            logits = model.out(h)
            total += F.cross_entropy(logits.flatten(0, 1), y[:, i:i + chunk].t().flatten(),
                                     ignore_index=-1, reduction="sum").item()
    return total / (n - 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--check", metavar="TEXT")
    a = p.parse_args()
    model, cps, meta = build(a.model)
    torch.save({"state_dict": model.state_dict(), "codepoints": cps}, a.out)
    print(f"wrote {a.out}: {sum(t.numel() for t in model.parameters())} parameters")
    if a.check:
        text = open(a.check, encoding="utf-8").read()
        if meta.get("text.nfc", 1):
            text = unicodedata.normalize("NFC", text)
        index = {cp: i + 1 for i, cp in enumerate(cps)}
        ids = torch.tensor([index.get(ord(ch), 0) for ch in text])
        print(f"PyTorch nats/char\t{evaluate(model, ids):.4f}")


if __name__ == "__main__":
    main()
