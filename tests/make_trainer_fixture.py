#!/usr/bin/python3
"""Golden fixture for tests/test_trainer_parity.c: a whole language-model
training run in PyTorch, which `charlstm train` must reproduce.

Regenerate (needs Debian's python3-torch, under /usr/bin/python3):

    /usr/bin/python3 tests/make_trainer_fixture.py

It writes, under tests/data/:
    trainer_text.txt            the training text ('f' and 'z' are not in the
                                vocabulary: they map to the unknown id 0)
    trainer_lstm.model          initial weights of each case, as a charlstm
    trainer_gru.model           model file (encoder + head.lm)
    trainer_fixture.txt         per case: the command-line options, the loss
                                of every step and the final weights
CI never runs this script; the test reads only the committed files.

What is trained, exactly as lib/cl_lmtrain.c does: the text is cut into
`batch` contiguous streams of chunks*seq characters (chunks = (n-1) /
(batch*seq)); step s trains chunk i = s mod chunks of every stream, with
truncated BPTT: the recurrent state is carried from chunk to chunk (no
gradient flows into it) and reset to zero when i = 0 (a new epoch).  The loss
is the mean cross-entropy over the batch*seq targets.  Then the gradient of
the whole parameter vector is clipped to norm `clip` (scaled by
clip/(norm+1e-6) when its norm exceeds clip, as cl_grad_clip), and Adam
(beta 0.9/0.999, eps 1e-8, PyTorch's bias correction) steps with the
learning rate lr * decay^(s // decay_every + 1) of cl_lr_at (decay_start 0:
the first decay applies from step 0).  Dropout is 0.

The reference run is in float64 from float32 initial weights, its results
rounded to float32; the script asserts that PyTorch's own float32 run meets
the C test's tolerances against it, so a correct float32 trainer can too, and
that clipping really clips on most steps.

Fixture format (text, '#' starts a comment line):
    case NAME model=FILE
    args OPTIONS...              the rest of the `charlstm train` command line
    eval STREAMS NATS            `charlstm eval --batch STREAMS` of the initial
                                 model on the text: mean nats/char
    loss STEP VALUE              one per step, STEP from 1
    tensor SECTION/NAME N v1 ... vN   final weights (flat, row-major, %.9g)
    end
"""
import math
import os
import struct
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SEED = 20261130
VOCAB = sorted("\n .,abcdehilnorst")  # 'f' and 'z' of the text are left out on purpose
EMB, HIDDEN, LAYERS = 6, 16, 2
BATCH, SEQ, STEPS = 4, 12, 30
LR, CLIP, DECAY, DECAY_EVERY = 0.01, 0.25, 0.9, 5
LOSS_TOL = 1e-4            # the C test's tolerances (see check())
WEIGHT_TOL = 1e-4          # relative to max(1, |w|)


# ==== a charlstm model file (docs/model-format.md) ==========================

def pad(off):
    return b"\0" * ((64 - off % 64) % 64)


def name(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def entry(key, v):
    if isinstance(v, str):
        return name(key) + b"\x03" + name(v)
    if isinstance(v, list):
        return name(key) + b"\x04" + struct.pack("<I", len(v)) + b"".join(name(x) for x in v)
    if isinstance(v, float):
        return name(key) + b"\x02" + struct.pack("<d", v)
    return name(key) + b"\x01" + struct.pack("<q", v)


def payload(keys, tensors):
    """Bytes of a section payload; it starts at a multiple of 64."""
    out = struct.pack("<I", len(keys)) + b"".join(entry(k, v) for k, v in keys.items())
    out += struct.pack("<I", len(tensors))
    for tname, (dtype, shape, values) in tensors.items():
        data = struct.pack("<%d%s" % (len(values), "f" if dtype == 1 else "i"), *values)
        out += name(tname) + bytes([dtype]) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", d) for d in shape) + struct.pack("<I", zlib.crc32(data))
        out += pad(len(out)) + data
    return out


def write_model(path, sections):
    out = b"CHARLSTM" + struct.pack("<III", 1, 0x01020304, len(sections))
    out += struct.pack("<I", zlib.crc32(out))
    for sname, (keys, tensors) in sections.items():
        p = payload(keys, tensors)
        head = name(sname) + struct.pack("<QI", len(p), zlib.crc32(p))
        out += head + struct.pack("<I", zlib.crc32(head))
        out += pad(len(out)) + p
    with open(path, "wb") as f:
        f.write(out)


def f32(t):
    return (1, list(t.shape), t.detach().float().flatten().tolist())


def model_sections(cell, model):
    enc = {"embed": f32(model.embed.weight)}
    for k, v in model.rnn.state_dict().items():
        enc["rnn." + k] = f32(v)
    V = len(VOCAB) + 1
    return {
        "meta": ({"format": "charlstm-model", "text.nfc": 1, "text.casefold": 0,
                  "heads": ["head.lm"]}, {}),
        "vocab": ({"size": V}, {"codepoints": (2, [V - 1], [ord(c) for c in VOCAB])}),
        "encoder": ({"vocab": V, "emb": EMB, "cell": cell, "hidden": HIDDEN, "layers": LAYERS,
                     "bidir": 0, "dropout": 0.0}, enc),
        "head.lm": ({"dropout": 0.0}, {"weight": f32(model.out.weight),
                                       "bias": f32(model.out.bias)}),
    }


# ==== the model and the trainer ==============================================

class CharLM(nn.Module):
    def __init__(self, cell):
        super().__init__()
        V = len(VOCAB) + 1
        self.embed = nn.Embedding(V, EMB)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(EMB, HIDDEN, LAYERS)
        self.out = nn.Linear(HIDDEN, V)

    def forward(self, x, state):
        h, state = self.rnn(self.embed(x), state)
        return self.out(h), state


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def zero_state_for(cell, batch, dtype=torch.float64):
    z = torch.zeros(LAYERS, batch, HIDDEN, dtype=dtype)
    return (z, z.clone()) if cell == "lstm" else z


def zero_state(cell, dtype):
    z = torch.zeros(LAYERS, BATCH, HIDDEN, dtype=dtype)
    return (z, z.clone()) if cell == "lstm" else z


def lr_at(step):
    return LR * DECAY ** (step // DECAY_EVERY + 1)


def train(cell, init, ids, dtype):
    """Losses of every step, the final weights and how many steps clipped."""
    model = CharLM(cell).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()})
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    chunks = (len(ids) - 1) // (BATCH * SEQ)
    L = chunks * SEQ
    losses, clipped = [], 0
    for step in range(STEPS):
        i = step % chunks
        if i == 0:
            state = zero_state(cell, dtype)
        win = torch.stack([ids[b * L + i * SEQ: b * L + i * SEQ + SEQ + 1] for b in range(BATCH)])
        x, y = win[:, :-1].t(), win[:, 1:].t()          # [T, B], time-major
        opt.zero_grad()
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        state = detach(state)
        norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in model.parameters()))
        if norm > CLIP:
            clipped += 1
            for p in model.parameters():
                p.grad.mul_(CLIP / (norm + 1e-6))
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.step()
        losses.append(loss.item())
    return losses, model, clipped, chunks


def evaluate(model, cell, ids, streams):
    """Mean nats/char as `charlstm eval` defines it: `streams` streams of
    L = ceil((n-1)/streams) predictions each from a zero state, the positions
    past the end masked; here each stream in one piece (charlstm cuts it into
    chunks and carries the state, which must not change the answer)."""
    n = len(ids)
    L = -(-(n - 1) // streams)
    x = torch.zeros(streams * L, dtype=torch.long)
    y = torch.full((streams * L,), -1, dtype=torch.long)
    x[:n - 1], y[:n - 1] = ids[:-1], ids[1:]
    with torch.no_grad():
        logits, _ = model(x.view(streams, L).t(), zero_state_for(cell, streams))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.view(streams, L).t().reshape(-1),
                               ignore_index=-1, reduction="mean").item()


def make_text():
    """~400 characters of the vocabulary's letters, with one unknown 'z'."""
    gen = torch.Generator().manual_seed(SEED)
    words = ["the", "cat", "sat", "on", "a", "hot", "tin", "roof", "and", "she", "lit",
             "one", "red", "coal", "here", "in", "bed", "lost", "his", "cold", "toe"]
    out = ""
    while len(out) < 400:
        w = words[int(torch.randint(len(words), (1,), generator=gen))]
        r = float(torch.rand(1, generator=gen))
        out += w + (". " if r < 0.1 else ", " if r < 0.15 else "\n" if r < 0.2 else " ")
    return out[:180] + "z" + out[181:400]


def metric(ours, ref, scale_floor):
    return max(abs(a - b) / max(scale_floor, abs(b)) for a, b in zip(ours, ref))


def check(cell, ref_losses, ref_model, f32_losses, f32_model):
    """PyTorch's float32 run must meet the C test's tolerances."""
    lerr = max(abs(a - b) for a, b in zip(f32_losses, ref_losses))
    werr = max(metric(a.flatten().tolist(), b.float().flatten().tolist(), 1.0)
               for a, b in zip(f32_model.state_dict().values(), ref_model.state_dict().values()))
    print(f"{cell}: float32 vs float64: loss {lerr:.2e}, weights {werr:.2e}")
    assert lerr < LOSS_TOL / 4 and werr < WEIGHT_TOL / 4, "the fixture's tolerance is too tight"


def main():
    torch.manual_seed(SEED)
    text = make_text()
    with open(os.path.join(DATA, "trainer_text.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    index = {c: i + 1 for i, c in enumerate(VOCAB)}
    ids = torch.tensor([index.get(c, 0) for c in text])
    lines = ["# Generated by tests/make_trainer_fixture.py: do not edit.",
             "# Training text tests/data/trainer_text.txt (%d characters)." % len(text)]
    for cell in ("lstm", "gru"):
        init = {k: v.detach().clone() for k, v in CharLM(cell).state_dict().items()}
        with torch.no_grad():  # a wider start than PyTorch's default: a loss that moves
            init["embed.weight"].uniform_(-1, 1)
        model_file = "trainer_%s.model" % cell
        ref = CharLM(cell)
        ref.load_state_dict(init)
        write_model(os.path.join(DATA, model_file), model_sections(cell, ref))
        losses, model, clipped, chunks = train(cell, init, ids, torch.float64)
        f32_losses, f32_model, _, _ = train(cell, init, ids, torch.float32)
        check(cell, losses, model, f32_losses, f32_model)
        print(f"{cell}: {chunks} chunks a epoch, {STEPS} steps, clipped on {clipped}; "
              f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
        assert clipped >= STEPS * 2 // 3, "clipping must act on most steps"
        assert STEPS > 2 * chunks, "more than two epochs: the state reset is exercised"
        lines.append("case %s model=%s" % (cell, model_file))
        lines.append("args --dev-fraction 0 --steps %d --batch %d --seq %d --lr %g --clip %g "
                     "--lr-decay %g --decay-every %d --eval-every 1 --dropout 0 --threads 1"
                     % (STEPS, BATCH, SEQ, LR, CLIP, DECAY, DECAY_EVERY))
        evaluator = CharLM(cell).double()
        evaluator.load_state_dict({k: v.double() for k, v in init.items()})
        lines += ["eval %d %.9g" % (S, evaluate(evaluator, cell, ids, S)) for S in (1, 3, 64)]
        lines += ["loss %d %.9g" % (s + 1, v) for s, v in enumerate(losses)]
        sd = model.state_dict()
        final = [("encoder/embed", sd["embed.weight"])]
        final += [("encoder/rnn." + k, sd["rnn." + k]) for k in model.rnn.state_dict()]
        final += [("head.lm/weight", sd["out.weight"]), ("head.lm/bias", sd["out.bias"])]
        for tname, t in final:
            v = t.float().flatten().tolist()
            lines.append("tensor %s %d %s" % (tname, len(v), " ".join("%.9g" % x for x in v)))
        lines.append("end")
    with open(os.path.join(DATA, "trainer_fixture.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
