"""Encoder states: documented shapes, and the values the encoder computes
(checked against PyTorch running the same weights when torch is there)."""
import numpy as np
import pytest

TEXTS = ["the café walked quickly.", "my dog didn't sleep", "x", ""]


def test_shapes(lm):
    out = lm.states(TEXTS)
    D = lm.info["dim"]
    assert len(out) == len(TEXTS)
    for text, s in zip(TEXTS, out):
        assert s.text == text
        assert s.chars.shape == (len(text), D) and s.chars.dtype == np.float32
        assert s.words.shape == (len(s.tokens), D)
        for (form, a, b), row in zip(s.tokens, s.words):
            assert text[a:b] == form
            assert np.array_equal(row, s.chars[b - 1])
    assert [f for f, _, _ in out[1].tokens] == ["my", "dog", "did", "n't", "sleep"]
    single = lm.states("the café walked quickly.")
    # alone or in a batch (padded after its end): the same, to float rounding
    assert np.allclose(single.chars, out[0].chars, atol=1e-6)
    many = lm.states(TEXTS * 20)
    for s, t in zip(many, out * 20):
        assert s.text == t.text and np.allclose(s.chars, t.chars, atol=1e-6)


def test_text_as_the_model_reads_it(lm):
    s = lm.states("cafe\u0301")
    assert s.text == "caf\u00e9" and s.chars.shape[0] == 4


def test_states_match_pytorch(lm32):
    ct = pytest.importorskip("charlstm.torch", reason="python3-torch is not installed")
    import torch
    module = ct.export(lm32)
    for text in TEXTS[:3]:
        with torch.no_grad():
            y, _ = module.rnn(module.embed(module.encode(text, start_of_line=True)))
        assert np.allclose(lm32.states(text).chars, y[1:, 0].numpy(), atol=1e-5)


def test_score_is_the_surprisal_of_each_character(lm):
    text = "the cat sat well."
    s = lm.score(text)
    assert s.shape == (len(text),) and (s > 0).all()
    # row t of logits (zero state, no start) predicts character t + 1
    lg = lm.logits("\n" + text)[:-1].astype(np.float64)
    ids = [lm.vocab.index(c) for c in text]
    logp = lg - np.log(np.exp(lg - lg.max(1, keepdims=True)).sum(1, keepdims=True)) \
        - lg.max(1, keepdims=True)
    assert np.allclose(s, -logp[np.arange(len(text)), ids], atol=1e-5)
    # a trained model finds its own kind of text less surprising
    assert s.mean() < lm.score("zqxv jjkw yqqz vvx.").mean()


def test_states_are_what_the_lm_head_reads(lm32):
    # the library's own logits are the lm head (head.lm.weight, .bias) applied to these states
    text = "my cat ran badly."
    t = lm32.tensors()
    chars = lm32.states(text).chars
    want = lm32.logits("\n" + text)[1:]
    got = chars @ t["head.lm.weight"].T + t["head.lm.bias"]
    assert np.allclose(got, want, atol=1e-4)
