#!/usr/bin/python3
"""Golden fixture for tests/test_torch_parity.c: torch.nn.LSTM / torch.nn.GRU
forward values and every gradient, for charlstm's recurrent stack (cl_nn.h).

Regenerate (needs PyTorch; Debian's python3-torch lives under /usr/bin/python3):

    /usr/bin/python3 tests/make_torch_fixture.py > tests/data/torch_rnn_fixture.txt

CI never runs this script: the test only reads the committed fixture file, so
the build does not depend on PyTorch.  The output is deterministic (fixed seed).

Why the reference is computed in float64: every input (weights, X, h0, c0 and
the loss weights) is drawn and rounded to float32 first, then the module runs in
double precision, and the results are rounded to float32 for the file.  The
fixture is thus the exact answer for float32 inputs, not torch's own float32
rounding noise; the script asserts that torch's float32 run meets the test's
tolerance against it, so a correct float32 implementation can meet it too.

File format (text, one record per line, '#' starts a comment line):

    case NAME cell=lstm|gru layers=L bidir=0|1 T=T B=B I=I H=H
    param KEY OFFSET ROWS COLS      one per tensor, in module.parameters() order:
                                    the state_dict() key, the tensor's offset in
                                    the flat parameter buffer, its shape
                                    (COLS = 1 for biases)
    tensor NAME N v1 ... vN         float32 values printed with %.9g (exact)
    end

Tensors of a case (all flat, row-major, time-major data as in torch):
    params  [P]            flat parameters in parameters() order
    X       [T,B,I]        input
    h0      [L*dirs,B,H]   initial hidden state (non-zero)
    c0      [L*dirs,B,H]   initial cell state (LSTM only)
    RY      [T,B,H*dirs]   loss weights: loss = sum(Y*RY) + sum(hT*Rh) + sum(cT*Rc)
    Rh, Rc  [L*dirs,B,H]   (Rc for LSTM only); so dY = RY, dhT = Rh, dcT = Rc
    Y, hT, cT              forward outputs
    loss    [1]
    dX, dh0, dc0, dparams  gradients of loss (dparams in the order of params)
"""
import sys

import torch

SEED = 20240611
# Dims differ from each other inside a case (also H*dirs, G*H, L*dirs) so that
# a transposed or mis-strided tensor cannot pass by accident.
CASES = [
    # name,               cell,   L, bidir, T, B, I, H
    ("lstm_1layer_uni", "lstm", 1, 0, 5, 3, 4, 6),
    ("lstm_2layer_uni", "lstm", 2, 0, 6, 4, 5, 3),
    ("lstm_2layer_bidir", "lstm", 2, 1, 7, 3, 5, 6),
    ("gru_1layer_uni", "gru", 1, 0, 5, 3, 4, 6),
    ("gru_2layer_bidir", "gru", 2, 1, 7, 3, 5, 6),
]
TOL = 1e-5  # the C test's relative tolerance, see metric()


def uniform(gen, *shape):
    return (torch.rand(*shape, generator=gen, dtype=torch.float32) - 0.5)


def metric(ours, ref):
    """max|ours - ref| / max(max|ref|, 1e-3): same as the C test."""
    ref = ref.double().flatten()
    err = (ours.double().flatten() - ref).abs().max().item()
    return err / max(ref.abs().max().item(), 1e-3)


def run(module, dtype, inputs, lstm):
    """Forward + backward of the fixture loss; returns name -> tensor."""
    m = module.to(dtype)
    for p in m.parameters():
        p.grad = None
    X, h0, c0, RY, Rh, Rc = [None if t is None else t.to(dtype).detach().requires_grad_(True)
                             for t in inputs]
    if lstm:
        Y, (hT, cT) = m(X, (h0, c0))
        loss = (Y * RY).sum() + (hT * Rh).sum() + (cT * Rc).sum()
    else:
        Y, hT = m(X, h0)
        cT = None
        loss = (Y * RY).sum() + (hT * Rh).sum()
    loss.backward()
    out = {"Y": Y, "hT": hT, "loss": loss.reshape(1), "dX": X.grad, "dh0": h0.grad,
           "dparams": torch.cat([p.grad.flatten() for p in m.parameters()])}
    if lstm:
        out.update(cT=cT, dc0=c0.grad)
    return {k: v.detach() for k, v in out.items()}


def emit_tensor(f, name, t):
    vals = t.detach().to(torch.float32).flatten().tolist()
    f.write("tensor %s %d %s\n" % (name, len(vals), " ".join("%.9g" % v for v in vals)))


def emit_case(f, gen, name, cell, L, bidir, T, B, I, H):
    lstm = cell == "lstm"
    cls = torch.nn.LSTM if lstm else torch.nn.GRU
    m = cls(I, H, num_layers=L, bidirectional=bool(bidir), dropout=0.0)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(uniform(gen, *p.shape))
    D = 2 if bidir else 1
    X = uniform(gen, T, B, I) * 2
    h0 = uniform(gen, L * D, B, H)
    c0 = uniform(gen, L * D, B, H) if lstm else None
    RY = uniform(gen, T, B, H * D) * 2
    Rh = uniform(gen, L * D, B, H) * 2
    Rc = uniform(gen, L * D, B, H) * 2 if lstm else None
    inputs = (X, h0, c0, RY, Rh, Rc)

    params = torch.cat([p.detach().flatten() for p in m.parameters()])
    ref = run(m, torch.float64, inputs, lstm)
    f32 = run(m, torch.float32, inputs, lstm)
    for k in ref:
        e = metric(f32[k], ref[k])
        assert e <= TOL / 4, "%s %s: torch float32 is %.3g off the reference" % (name, k, e)

    f.write("case %s cell=%s layers=%d bidir=%d T=%d B=%d I=%d H=%d\n"
            % (name, cell, L, bidir, T, B, I, H))
    # Keys from state_dict(), offsets from walking parameters(): the test checks
    # that cl_rnn_param_name/offset reproduce both, i.e. that import/export of
    # torch weights is a pure name -> offset mapping.
    keys = list(m.state_dict().keys())
    assert keys == [n for n, _ in m.named_parameters()]
    off = 0
    for key, p in zip(keys, m.parameters()):
        rows = p.shape[0]
        cols = p.shape[1] if p.dim() == 2 else 1
        f.write("param %s %d %d %d\n" % (key, off, rows, cols))
        off += p.numel()
    emit_tensor(f, "params", params)
    for k, t in (("X", X), ("h0", h0), ("c0", c0), ("RY", RY), ("Rh", Rh), ("Rc", Rc)):
        if t is not None:
            emit_tensor(f, k, t)
    for k in ("Y", "hT", "cT", "loss", "dX", "dh0", "dc0", "dparams"):
        if k in ref:
            emit_tensor(f, k, ref[k])
    f.write("end\n")


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    f = sys.stdout
    f.write("# charlstm golden fixture: torch %s nn.LSTM/nn.GRU, float64 reference rounded\n"
            "# to float32.  Generated by tests/make_torch_fixture.py (see its header for the\n"
            "# format); do not edit by hand.\n" % torch.__version__)
    for case in CASES:
        emit_case(f, gen, *case)


if __name__ == "__main__":
    main()
