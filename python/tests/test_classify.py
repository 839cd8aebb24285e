"""m.classify equals `charlstm classify --output json --all`."""
import json

import numpy as np
import pytest

import charlstm
from conftest import run_tool, sentences

TEXTS = ["the cat ran well. good", "a dog slept badly. awful", "", "été 🐈 nice nice",
         "x" * 3000] + sentences(70, seed=5)


def test_classify_equals_cli(classifier, classifier_path):
    got = classifier.classify(TEXTS)
    out = run_tool("classify", "-m", classifier_path, "--output", "json", "--all",
                   input="\n".join(TEXTS) + "\n").stdout
    want = [json.loads(line) for line in out.splitlines()]
    assert len(got) == len(want) == len(TEXTS)
    # The same labels, and probabilities to the last printed digit: the
    # encoder's states depend on the batch a text shares (float rounding in
    # the products), and the two sides batch differently (the command groups
    # lines by length); a head trained with NBSVM shows it in the 6th digit.
    assert [g["label"] for g in got] == [w["label"] for w in want]
    for g, w in zip(got, want):
        assert g["probabilities"].keys() == w["probabilities"].keys()
        for k, p in g["probabilities"].items():
            assert p == pytest.approx(w["probabilities"][k], abs=2e-6)
    assert all(set(g["probabilities"]) == set(classifier.labels) for g in got)


def test_single_text_and_probabilities(classifier):
    one = classifier.classify("the cat ran well. great")
    assert one["label"] in classifier.labels
    p = classifier.classify_probs(["the cat ran well. great", "a man sat. dull"])
    assert p.shape == (2, len(classifier.labels))
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert one["probability"] == pytest.approx(float(p[0].max()), abs=1e-6)


def test_the_classifier_learned_the_words(classifier):
    assert classifier.classify("his cat sat well. great")["label"] == "pos"
    assert classifier.classify("his cat sat well. awful")["label"] == "neg"


def test_a_model_without_classifier(lm):
    with pytest.raises(charlstm.Error) as e:
        lm.classify(["x"])
    assert "no classifier head" in str(e.value)
