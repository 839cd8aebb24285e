"""Weights to and from PyTorch (skipped without python3-torch)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="python3-torch is not installed")
import charlstm  # noqa: E402
import charlstm.torch as ct  # noqa: E402
from conftest import run_tool  # noqa: E402


def test_export_gives_the_same_logits(lm):
    module = ct.export(lm)
    assert isinstance(module.rnn, torch.nn.LSTM) and module.vocab == lm.vocab
    text = "the café ran badly.\nmy dog"
    with torch.no_grad():
        logits, _ = module(module.encode(text))
    assert np.allclose(logits[:, 0].numpy(), lm.logits(text), atol=1e-5)


def test_round_trip_is_exact(lm, lm_path, data, tmp_path):
    module = ct.export(lm)
    out = tmp_path / "back.model"
    back = ct.import_(module, module.vocab, path=out)
    a, b = lm.tensors(), charlstm.Model(out).tensors()
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    assert back.vocab == lm.vocab
    ev = [run_tool("eval", "-m", p, data / "text.txt").stdout for p in (lm_path, out)]
    assert ev[0] == ev[1] and "nats" in ev[0]


@pytest.mark.parametrize("cell", [torch.nn.LSTM, torch.nn.GRU])
def test_import_of_a_pytorch_lm(cell, tmp_path):
    torch.manual_seed(0)

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(7, 5)
            self.rnn = cell(5, 12, 2)
            self.out = torch.nn.Linear(12, 7)

    net = LM()
    vocab = ["z", "a", " ", "b", "\n", "c", "é"]  # PyTorch's order, no unknown entry
    m = ct.import_(net, vocab, path=tmp_path / "t.model")
    text = "abc zéab\nba"
    ids = torch.tensor([vocab.index(c) for c in text]).view(-1, 1)
    with torch.no_grad():
        want = net.out(net.rnn(net.emb(ids))[0])[:, 0].numpy()
    got = m.logits(text)
    order = [vocab.index(c) for c in m.vocab[1:]]
    assert np.allclose(got[:, 1:], want[:, order], atol=1e-5)
    assert (got[:, 0] < -1e3).all()  # charlstm's unknown id: never likely
    # the file is a charlstm model: the fast generator serves it
    assert len(charlstm.Model(tmp_path / "t.model").generate("ab", n=20, seed=1)) == 20


def test_import_rejects_a_bad_vocabulary():
    net = torch.nn.Sequential(torch.nn.Embedding(3, 4), torch.nn.LSTM(4, 4),
                              torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match="entries"):
        ct.import_(net, ["a", "b"])
    with pytest.raises(ValueError, match="twice"):
        ct.import_(net, ["a", "b", "a"])
