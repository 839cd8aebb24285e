#!/usr/bin/python3
"""Golden fixture for the classifier case of tests/test_trainer_parity.c: a
whole classifier training run in PyTorch, which charlstm's classifier task
(lib/cl_clftrain.c under the training core lib/cl_train.c) must reproduce.

Regenerate (needs Debian's python3-torch, under /usr/bin/python3):

    /usr/bin/python3 tests/make_clf_fixture.py

It writes, under tests/data/:
    clf_train.tsv               the training sentences (label<TAB>text; 'f', 'k',
                                'y', 'z' are not in the vocabulary: unknown id 0)
    clf_bilstm.model            initial weights of each case, as a charlstm
    clf_gru.model               model file (encoder + head.classifier)
    clf_fixture.txt             per case: the training settings, the loss of
                                every step and the final weights
CI never runs this script; the test reads only the committed files.

What is trained, exactly as cl_clftrain does (docs/classifier.md):

  - features of a sentence: its characters through the embedding and the
    recurrent stack (each sentence on its own length; a bidirectional stack's
    reverse direction starts at the sentence's last character), the top
    layer's states pooled (last, mean, max, those in use, in that order;
    "last" of the reverse direction is its state at the first character);
    with n-grams, the naive Bayes evidence of the sentence's word n-grams
    after them (cl_ngram.h: hashed words and n-grams, leave-one-out for
    training sentences, centred over the labels);
  - standardisation of the pooled part, fixed before the first step from
    the initial encoder's features of the training set: mean and
    1 / sqrt(variance + 1e-4);
  - logits = W2 tanh(W1 x + b1) + b2 (or W2 x + b2 without the hidden
    layer), + ngram_scale * evidence; the loss is the class-weighted mean
    cross-entropy (weights n / (K * count_k));
  - the epoch order of the training core's data generator: xoshiro256**
    seeded by splitmix64 with seed ^ 0xda7a, the sentences shuffled, sorted
    by length within windows of 50 batches (stable), the batches shuffled;
    batch k holds sorted positions [k*B, k*B + B) (the last one short);
  - the gradient of the trained groups clipped to norm `clip` (scaled by
    clip / (norm + 1e-6) when larger), Adam (0.9/0.999, eps 1e-8, bias
    corrected) at lr * decay^(step // decay_every + 1) for the head and
    encoder_lr times the same factor for the encoder (or the encoder
    frozen: its features are then computed once, as cl_clftrain does).
Dropout (encoder, head, n-gram evidence) is 0.

The reference runs in float64 from float32 initial weights, its results
rounded to float32; the script asserts that PyTorch's own float32 run meets
the C test's tolerances against it, so a correct float32 trainer can too, and
that clipping really clips on most steps.

The fixture's format is trainer_fixture.txt's (make_trainer_fixture.py),
with `args KEY=VALUE...` (the training settings of the test's
configuration) in place of the command-line options, and no `eval` lines.
"""
import math
import os
import unicodedata

import torch
import torch.nn as nn

from make_trainer_fixture import DATA, SEED, f32, write_model

M64 = (1 << 64) - 1

# The training set: three labels of uneven sizes (class weights differ),
# lengths from 9 to 38 characters, punctuation inside and after words,
# characters outside the vocabulary.
SENTENCES = [
    ("pos", "a good film, good actors."),
    ("neg", "the plot was bad"),
    ("pos", "i loved it!"),
    ("mid", "it was a film"),
    ("neg", "bad acting, a dull story."),
    ("pos", "great story and a great cast"),
    ("neg", "i hated the end"),
    ("mid", "the film is long"),
    ("pos", "don't miss it: the best film"),
    ("neg", "too slow, too long and too dull"),
    ("pos", "so good"),
    ("mid", "a story about a zoo keeper"),
    ("neg", "a waste of time"),
    ("pos", "the cast is wonderful and very funny"),
]
VOCAB = sorted(set("".join(t for _, t in SENTENCES)) - set("fkyz"))
LABELS = sorted({y for y, _ in SENTENCES})
NGRAM_BITS, NGRAM_ALPHA = 8, 1.0
LOSS_TOL = 1e-4            # the C test's tolerances
WEIGHT_TOL = 1e-4          # relative to max(1, |w|)

CASES = [
    # name, cell, emb, hidden, layers, bidir, pools, head hidden, ngram, freeze, class weights
    dict(name="bilstm", cell="lstm", emb=5, hidden=6, layers=2, bidir=1,
         pool=["last", "mean", "max"], head=8, ngram=2, freeze=0, class_weights=1,
         steps=24, batch=4, lr=0.02, encoder_lr=0.01, clip=0.5, decay=0.8, decay_every=5,
         seed=7),
    dict(name="gru", cell="gru", emb=5, hidden=7, layers=2, bidir=0,
         pool=["mean", "max"], head=0, ngram=0, freeze=1, class_weights=0,
         steps=20, batch=5, lr=0.03, encoder_lr=0, clip=0.3, decay=0.7, decay_every=3,
         seed=3),
]


# ==== the data generator of the training core (lib/cl_rng.c) =================

def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    """xoshiro256** seeded with splitmix64, as cl_rng."""

    def __init__(self, seed):
        self.s = []
        for _ in range(4):
            seed, z = splitmix64(seed)
            self.s.append(z)

    def u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        limit = M64 - M64 % n
        while True:
            x = self.u64()
            if x < limit:
                return x % n

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = self.below(i + 1)
            a[i], a[j] = a[j], a[i]


def epoch_batches(rng, lengths, B, window=50):
    """cl_clftrain's begin_epoch: the batches of one epoch, in order."""
    n = len(lengths)
    perm = list(range(n))
    rng.shuffle(perm)
    win = B * window
    for i in range(0, n, win):  # sorted() is stable, as the (length, position) key
        perm[i:i + win] = sorted(perm[i:i + win], key=lambda s: lengths[s])
    nb = (n + B - 1) // B
    order = list(range(nb))
    rng.shuffle(order)
    return [perm[k * B:k * B + B] for k in order]


# ==== word n-grams and their evidence (lib/cl_ngram.c) =======================

PUNCT = 0x80000000


def mix(x):
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def char_key(c):
    if c.isspace():
        return 0
    k = ord(c.lower()) + 1
    return k | PUNCT if unicodedata.category(c).startswith("P") else k


KEYS = [0x110000 + 1] + [char_key(c) for c in VOCAB]


def buckets(ids, order):
    """The distinct buckets of a sentence (cl_ngram_buckets)."""
    def key(i):
        return KEYS[ids[i]] if 0 <= i < len(ids) else 0

    def letter(k):
        return k != 0 and not k & PUNCT

    ring, words, out = [0] * 4, 0, []

    def end_word(h):
        nonlocal words
        ring[words % 4] = h
        for o in range(1, order + 1):
            if o > words + 1:
                break
            g = mix(o)
            for j in range(o - 1, -1, -1):
                g = mix((g * 0x100000001B3 + ring[(words - j) % 4]) & M64)
            out.append((g >> 32) & ((1 << NGRAM_BITS) - 1))
        words += 1

    h, in_word = 0, False
    for i in range(len(ids) + 1):
        k = key(i)
        alone = bool(k & PUNCT) and not (letter(key(i - 1)) and letter(key(i + 1)))
        if k and not alone:
            h, in_word = mix((h + k) & M64), True
            continue
        if in_word:
            end_word(h)
        h, in_word = 0, False
        if alone:
            end_word(mix(k))
    return sorted(set(out))


def evidence_of(all_buckets, ys, K):
    """Leave-one-out naive Bayes evidence of every training sentence."""
    counts = [[0] * (1 << NGRAM_BITS) for _ in range(K)]
    for u, y in zip(all_buckets, ys):
        for b in u:
            counts[y][b] += 1
    total = [sum(row) for row in counts]
    seen = sum(1 for b in range(1 << NGRAM_BITS) if any(counts[k][b] for k in range(K)))
    out = []
    for u, own in zip(all_buckets, ys):
        s_seen = seen - sum(1 for b in u if sum(counts[k][b] for k in range(K)) <= 1)
        e = []
        for k in range(K):
            self_ = 1.0 if k == own else 0.0
            s = 0.0
            if s_seen > 0:
                s = sum(math.log(max(counts[k][b] - self_, 0) + NGRAM_ALPHA) for b in u)
                s -= len(u) * math.log(max(total[k] - self_ * len(u), 0) + NGRAM_ALPHA * s_seen)
            e.append(s)
        mean = sum(e) / K
        out.append([x - mean for x in e])
    return out


# ==== the network ============================================================

class Classifier(nn.Module):
    def __init__(self, c, K):
        super().__init__()
        V = len(VOCAB) + 1
        self.c = c
        self.embed = nn.Embedding(V, c["emb"])
        self.rnn = (nn.LSTM if c["cell"] == "lstm" else nn.GRU)(
            c["emb"], c["hidden"], c["layers"], bidirectional=bool(c["bidir"]))
        D = c["hidden"] * (2 if c["bidir"] else 1)
        P = len(c["pool"]) * D
        self.w1 = nn.Linear(P, c["head"]) if c["head"] else None
        self.w2 = nn.Linear(c["head"] or P, K)
        self.ngram_scale = nn.Parameter(torch.ones(K)) if c["ngram"] else None

    def pooled(self, ids):
        """The pooled top-layer states of one sentence [P]."""
        y, _ = self.rnn(self.embed(torch.tensor(ids)).unsqueeze(1))
        y = y[:, 0, :]                                   # [T, D]
        H, parts = self.c["hidden"], []
        last = y[-1] if not self.c["bidir"] else torch.cat([y[-1, :H], y[0, H:]])
        for p in self.c["pool"]:
            parts.append(last if p == "last" else y.mean(0) if p == "mean" else y.max(0).values)
        return torch.cat(parts)

    def head(self, x, ev):
        h = torch.tanh(self.w1(x)) if self.w1 is not None else x
        logits = self.w2(h)
        return logits + self.ngram_scale * ev if ev is not None else logits


def class_weights(ys, K, on):
    """n / (K * count_k), computed in float32 as cl_clftrain does."""
    if not on:
        return torch.ones(K, dtype=torch.float64)
    n = torch.tensor(float(len(ys)), dtype=torch.float32)
    counts = torch.tensor([float(ys.count(k)) for k in range(K)], dtype=torch.float32)
    return (n / (K * counts)).double()


def standardisation(model, data):
    """Mean and 1 / sqrt(var + 1e-4) of the initial pooled features, as
    float32 (the model file's constants)."""
    with torch.no_grad():
        f = torch.stack([model.pooled(ids).double() for ids in data])
    mean = f.mean(0)
    var = torch.clamp((f * f).mean(0) - mean * mean, min=0)
    return mean.float(), (1 / torch.sqrt(var + 1e-4)).float()


def lr_factor(c, step):
    return c["decay"] ** (step // c["decay_every"] + 1)


def train(c, init, data, ys, ev, dtype):
    """Losses of every step, the final model and how many steps clipped."""
    K = len(LABELS)
    model = Classifier(c, K).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()})
    mu, sc = standardisation(model, data)
    mu, sc = mu.to(dtype), sc.to(dtype)
    w = class_weights(ys, K, c["class_weights"]).to(dtype)
    head = [p for n, p in model.named_parameters() if not n.startswith(("embed", "rnn"))]
    enc = [p for n, p in model.named_parameters() if n.startswith(("embed", "rnn"))]
    groups = [{"params": head, "lr": c["lr"], "base": c["lr"]}]
    if not c["freeze"]:
        groups.append({"params": enc, "lr": c["encoder_lr"], "base": c["encoder_lr"]})
    trained = head + ([] if c["freeze"] else enc)
    opt = torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8)
    evd = torch.tensor(ev, dtype=dtype) if ev is not None else None
    with torch.no_grad():  # a frozen encoder: features once, as cl_clftrain caches them
        cached = [model.pooled(ids) for ids in data] if c["freeze"] else None
    rng = Rng(c["seed"] ^ 0xDA7A)
    lengths = [len(ids) for ids in data]
    losses, clipped, batches = [], 0, []
    for step in range(c["steps"]):
        if not batches:
            batches = epoch_batches(rng, lengths, c["batch"])
        batch = batches.pop(0)
        opt.zero_grad()
        feats = torch.stack([cached[i] if cached else model.pooled(data[i]) for i in batch])
        logits = model.head((feats - mu) * sc, evd[batch] if evd is not None else None)
        y = torch.tensor([ys[i] for i in batch])
        xent = -torch.log_softmax(logits, 1)[torch.arange(len(batch)), y]
        loss = (w[y] * xent).sum() / w[y].sum()
        loss.backward()
        norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in trained))
        if norm > c["clip"]:
            clipped += 1
            for p in trained:
                p.grad.mul_(c["clip"] / (norm + 1e-6))
        for g in opt.param_groups:
            g["lr"] = g["base"] * lr_factor(c, step)
        opt.step()
        losses.append(loss.item())
    return losses, model, clipped, (mu, sc)


# ==== the model file =========================================================

def model_sections(c, model, K):
    enc = {"embed": f32(model.embed.weight)}
    for k, v in model.rnn.state_dict().items():
        enc["rnn." + k] = f32(v)
    V = len(VOCAB) + 1
    D = c["hidden"] * (2 if c["bidir"] else 1)
    P = len(c["pool"]) * D
    t = {}
    if c["ngram"]:  # counted by the trainer: zero here
        t["ngram_counts"] = (1, [K, 1 << NGRAM_BITS], [0.0] * (K << NGRAM_BITS))
    t["norm_mean"] = (1, [P], [0.0] * P)  # set by the trainer: the identity here
    t["norm_scale"] = (1, [P], [1.0] * P)
    if c["ngram"]:
        t["ngram_scale"] = f32(model.ngram_scale)
    if c["head"]:
        t["w1"], t["b1"] = f32(model.w1.weight), f32(model.w1.bias)
    t["w2"], t["b2"] = f32(model.w2.weight), f32(model.w2.bias)
    keys = {"labels": LABELS, "pool": ",".join(c["pool"]), "hidden": c["head"], "dropout": 0.0,
            "frozen": c["freeze"], "norm": 1, "ngram": c["ngram"], "ngram_bits": NGRAM_BITS,
            "ngram_alpha": NGRAM_ALPHA, "ngram_dropout": 0.0, "max_chars": 1000}
    return {
        "meta": ({"format": "charlstm-model", "text.nfc": 1, "text.casefold": 0,
                  "heads": ["head.classifier"]}, {}),
        "vocab": ({"size": V}, {"codepoints": (2, [V - 1], [ord(ch) for ch in VOCAB])}),
        "encoder": ({"vocab": V, "emb": c["emb"], "cell": c["cell"], "hidden": c["hidden"],
                     "layers": c["layers"], "bidir": c["bidir"], "dropout": 0.0}, enc),
        "head.classifier": (keys, t),
    }


def final_tensors(c, model, mu, sc):
    sd = model.state_dict()
    out = [("encoder/embed", sd["embed.weight"])]
    out += [("encoder/rnn." + k, sd["rnn." + k]) for k in model.rnn.state_dict()]
    out += [("head.classifier/norm_mean", mu), ("head.classifier/norm_scale", sc)]
    if c["ngram"]:
        out.append(("head.classifier/ngram_scale", sd["ngram_scale"]))
    if c["head"]:
        out += [("head.classifier/w1", sd["w1.weight"]), ("head.classifier/b1", sd["w1.bias"])]
    out += [("head.classifier/w2", sd["w2.weight"]), ("head.classifier/b2", sd["w2.bias"])]
    return out


def check(name, ref_losses, ref_model, f32_losses, f32_model):
    """PyTorch's float32 run must meet the C test's tolerances."""
    lerr = max(abs(a - b) for a, b in zip(f32_losses, ref_losses))
    werr = max(max(abs(x - y) / max(1.0, abs(y)) for x, y in
                   zip(a.flatten().tolist(), b.float().flatten().tolist()))
               for a, b in zip(f32_model.state_dict().values(), ref_model.state_dict().values()))
    print(f"{name}: float32 vs float64: loss {lerr:.2e}, weights {werr:.2e}")
    assert lerr < LOSS_TOL / 4 and werr < WEIGHT_TOL / 4, "the fixture's tolerance is too tight"


def run_case(c, data, ys, lines):
    K = len(LABELS)
    init_model = Classifier(c, K)
    init = {k: v.detach().clone() for k, v in init_model.state_dict().items()}
    with torch.no_grad():  # a wider start than PyTorch's default: features that differ
        for k, v in init.items():  # between sentences (small spread = large scales)
            if k.startswith(("embed", "rnn")):
                v.uniform_(-1, 1)
    init_model.load_state_dict(init)
    model_file = "clf_%s.model" % c["name"]
    write_model(os.path.join(DATA, model_file), model_sections(c, init_model, K))
    ev = evidence_of([buckets(ids, c["ngram"]) for ids in data], ys, K) if c["ngram"] else None
    losses, model, clipped, (mu, sc) = train(c, init, data, ys, ev, torch.float64)
    f32_losses, f32_model, _, _ = train(c, init, data, ys, ev, torch.float32)
    check(c["name"], losses, model, f32_losses, f32_model)
    epochs = c["steps"] / -(-len(data) // c["batch"])
    print(f"{c['name']}: {c['steps']} steps ({epochs:.1f} epochs), clipped on {clipped}; "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    assert clipped >= c["steps"] * 2 // 3, "clipping must act on most steps"
    assert len(data) % c["batch"], "a short batch at the end of each epoch"
    lines.append("case %s model=%s" % (c["name"], model_file))
    lines.append("args steps=%d batch=%d lr=%g encoder_lr=%g clip=%g decay=%g decay_every=%d "
                 "freeze=%d class_weights=%d seed=%d"
                 % (c["steps"], c["batch"], c["lr"], c["encoder_lr"], c["clip"], c["decay"],
                    c["decay_every"], c["freeze"], c["class_weights"], c["seed"]))
    lines += ["loss %d %.9g" % (s + 1, v) for s, v in enumerate(losses)]
    for tname, t in final_tensors(c, model, mu, sc):
        v = t.float().flatten().tolist()
        lines.append("tensor %s %d %s" % (tname, len(v), " ".join("%.9g" % x for x in v)))
    lines.append("end")


def main():
    torch.manual_seed(SEED)
    with open(os.path.join(DATA, "clf_train.tsv"), "w", encoding="utf-8") as f:
        f.write("".join("%s\t%s\n" % s for s in SENTENCES))
    index = {ch: i + 1 for i, ch in enumerate(VOCAB)}
    data = [[index.get(ch, 0) for ch in text] for _, text in SENTENCES]
    ys = [LABELS.index(y) for y, _ in SENTENCES]
    lines = ["# Generated by tests/make_clf_fixture.py: do not edit.",
             "# Training sentences tests/data/clf_train.tsv (%d)." % len(data)]
    for c in CASES:
        run_case(c, data, ys, lines)
    with open(os.path.join(DATA, "clf_fixture.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
