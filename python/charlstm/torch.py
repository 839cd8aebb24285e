"""charlstm models to and from PyTorch (needs Debian's python3-torch).

    module = charlstm.torch.export(charlstm.Model("en.model"))
    logits, state = module(module.encode("Some text"))      # [T, 1, V]

    m = charlstm.torch.import_(my_char_lm, vocab=chars, path="mine.model")
    m.generate("Once upon", n=200)                           # charlstm's fast generator

charlstm keeps PyTorch's names, layouts and gate orders for its recurrent
stacks (docs/model-format.md; tested against PyTorch in tests/), so moving
weights is copying tensors by name: "encoder.embed" is the embedding,
"encoder.rnn.<name>" the nn.LSTM/nn.GRU parameter <name>, "head.lm.weight"
and "head.lm.bias" the output layer.  Only the vocabulary needs care:
charlstm's character ids are the characters in code-point order after id 0,
the unknown character.  The tagger and classifier heads are not exported.
"""
import numpy as np
import torch
import torch.nn as nn

from . import Error, Model
from . import ffi, lib

__all__ = ["CharLM", "export", "import_"]


class CharLM(nn.Module):
    """A charlstm encoder (embedding + nn.LSTM/nn.GRU) and its lm head.

    forward(ids [T, B] long, state=None) -> (logits [T, B, V] or, without an
    lm head, the encoder output [T, B, D], state).  vocab[i] is the
    character of id i (vocab[0] None: unknown); encode(text) gives the ids
    [T, 1] as charlstm reads text (NFC, case folding as the model does)."""

    def __init__(self, vocab, emb, hidden, layers, cell="lstm", bidir=False, lm=True,
                 nfc=True, casefold=False):
        super().__init__()
        V = len(vocab)
        self.vocab = list(vocab)
        self.nfc, self.casefold = nfc, casefold
        self.embed = nn.Embedding(V, emb)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(emb, hidden, layers, bidirectional=bidir)
        self.lm = nn.Linear(hidden * (2 if bidir else 1), V) if lm else None
        self._index = {c: i for i, c in enumerate(self.vocab) if c is not None}

    def encode(self, text, start_of_line=False):
        import unicodedata
        if self.nfc:
            text = unicodedata.normalize("NFC", text)
        if self.casefold:
            text = text.casefold()
        ids = [self._index.get(c, 0) for c in text]
        if start_of_line:
            ids = [self._index.get("\n", 1)] + ids
        return torch.tensor(ids, dtype=torch.long).view(-1, 1)

    def forward(self, ids, state=None):
        y, state = self.rnn(self.embed(ids), state)
        return (self.lm(y) if self.lm is not None else y), state


def export(model):
    """A CharLM with the weights of model (a charlstm.Model or a path): the
    same outputs as charlstm, to float32 rounding."""
    m = model if isinstance(model, Model) else Model(model)
    i = m.info
    module = CharLM(m.vocab, i["emb"], i["hidden"], i["layers"], "gru" if i["gru"] else "lstm",
                    bool(i["bidir"]), "lm" in m.heads, bool(i["nfc"]), bool(i["casefold"]))
    t = m.tensors()
    state = {"embed.weight": t["encoder.embed"]}
    for name in module.rnn.state_dict():
        state["rnn." + name] = t["encoder.rnn." + name]
    if module.lm is not None:
        state["lm.weight"], state["lm.bias"] = t["head.lm.weight"], t["head.lm.bias"]
    module.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                            for k, v in state.items()})
    return module.eval()


def _parts(module):
    """The embedding, recurrent stack and output layer of a character LM."""
    def first(kind):
        found = [x for x in module.modules() if isinstance(x, kind)]
        if not found:
            raise ValueError("import_: the module has no %s" % kind.__name__)
        return found[0]
    emb, rnn, out = first(nn.Embedding), first((nn.LSTM, nn.GRU)), first(nn.Linear)
    if rnn.bidirectional or getattr(rnn, "proj_size", 0):
        raise ValueError("import_: a language model's recurrent stack is unidirectional, "
                         "without projections")
    if rnn.input_size != emb.embedding_dim or out.in_features != rnn.hidden_size:
        raise ValueError("import_: embedding %d, %s input %d / hidden %d and linear input %d "
                         "do not chain" % (emb.embedding_dim, type(rnn).__name__,
                                           rnn.input_size, rnn.hidden_size, out.in_features))
    return emb, rnn, out


def _order(vocab, V):
    """charlstm's id order: perm[id] = the PyTorch index of that character,
    -1 for an unknown character PyTorch does not have."""
    if len(vocab) != V:
        raise ValueError("import_: vocab has %d entries, the embedding %d rows" % (len(vocab), V))
    unk = [i for i, c in enumerate(vocab) if c is None]
    chars = [(ord(c), i) for i, c in enumerate(vocab) if c is not None]
    if len(unk) > 1 or any(len(c) != 1 for c in vocab if c is not None):
        raise ValueError("import_: vocab entries are single characters, and at most one None "
                         "(the unknown character)")
    if len({cp for cp, _ in chars}) != len(chars):
        raise ValueError("import_: a character appears twice in vocab")
    chars.sort()
    return [unk[0] if unk else -1] + [i for _, i in chars], [cp for cp, _ in chars]


def import_(module, vocab, path=None, nfc=None, casefold=None, dropout=0.0):
    """A charlstm.Model (written to path when given) from a PyTorch character
    language model: the first nn.Embedding, nn.LSTM/nn.GRU and nn.Linear of
    module, which must chain (embedding -> stack -> linear over the same
    vocabulary).  vocab[i] is the character of PyTorch index i; None marks
    an unknown-character entry, if the model has one (else charlstm's
    unknown id gets a zero embedding and a -1e4 logit bias, so it changes
    no probability).  nfc / casefold: how charlstm reads text for it
    (default: module.nfc / module.casefold, else NFC without folding)."""
    emb, rnn, out = _parts(module)
    perm, cps = _order(list(vocab), emb.num_embeddings)
    if out.out_features != emb.num_embeddings:
        raise ValueError("import_: the linear layer has %d outputs for %d characters"
                         % (out.out_features, emb.num_embeddings))
    nfc = getattr(module, "nfc", True) if nfc is None else nfc
    casefold = getattr(module, "casefold", False) if casefold is None else casefold
    handle = ffi.new("clpy_model **")
    msg = ffi.new("char[]", lib.CLPY_MSG)
    err = lib.clpy_new_lm(cps, len(cps), emb.embedding_dim, rnn.hidden_size, rnn.num_layers,
                          int(isinstance(rnn, nn.GRU)), int(bool(nfc)), int(bool(casefold)),
                          float(dropout), 1, handle, msg)
    if err:
        raise Error(ffi.string(msg).decode("utf-8", "replace"), err)
    m = Model._wrap(handle[0], path)
    _fill(m, emb, rnn, out, perm)
    if path is not None:
        m.save(path)
    return m


def _rows(weight, perm, fill):
    """Rows of weight in charlstm's id order; fill for a missing row."""
    w = weight.detach().to(torch.float32).cpu().numpy()
    rows = np.empty((len(perm),) + w.shape[1:], np.float32)
    for cid, ti in enumerate(perm):
        rows[cid] = w[ti] if ti >= 0 else fill
    return rows


def _fill(m, emb, rnn, out, perm):
    bias = out.bias if out.bias is not None else torch.zeros(out.out_features)
    values = {"encoder.embed": _rows(emb.weight, perm, 0.0),
              "head.lm.weight": _rows(out.weight, perm, 0.0),
              "head.lm.bias": _rows(bias, perm, -1e4)}
    sd = rnn.state_dict()
    views = dict(m._tensor_views())
    for name, view in views.items():
        if name.startswith("encoder.rnn."):
            key = name[len("encoder.rnn."):]
            src = sd[key] if key in sd else torch.zeros(view.shape)  # bias=False
            values[name] = src.detach().to(torch.float32).cpu().numpy()
    for name, value in values.items():
        view = views[name]
        if tuple(value.shape) != view.shape:
            raise ValueError("import_: %s has shape %s, charlstm expects %s"
                             % (name, tuple(value.shape), view.shape))
        view[...] = value  # the model's own buffer
