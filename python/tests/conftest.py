"""Fixtures of the Python package's tests: the in-place build (make python),
the charlstm tool of the same tree, small data made here, and small models
trained by the tool (so the Python side is compared with the command line).

CHARLSTM_TOOL names the tool (default: ../../build/charlstm)."""
import os
import random
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
TOOL = os.environ.get("CHARLSTM_TOOL", os.path.join(HERE, "..", "..", "build", "charlstm"))

import charlstm  # noqa: E402

DET, NOUN = "the a one my his her".split(), "cat dog nation motion man café".split()
VERB, ADV = "walked opened slept ran sat".split(), "quickly slowly badly well".split()
GOOD, BAD = "good fine great nice".split(), "bad awful poor dull".split()


def run_tool(*args, input=None, check=True):
    """The charlstm tool's stdout (text); fails the test on a non-zero exit."""
    p = subprocess.run([TOOL] + [str(a) for a in args], input=input, capture_output=True,
                       text=True)
    if check and p.returncode != 0:
        raise AssertionError("charlstm %s: exit %d\n%s" % (" ".join(map(str, args)),
                                                           p.returncode, p.stderr))
    return p


def sentences(n, seed=7):
    r = random.Random(seed)
    return ["%s %s %s %s." % (r.choice(DET), r.choice(NOUN), r.choice(VERB), r.choice(ADV))
            for _ in range(n)]


# What the tagger's sentence and token rules learn from (cl_seg): multiword
# tokens ("don't" = do n't, "I'm" = I 'm) and the abbreviation "Mr.".
TREEBANK_EXTRAS = """\
# text = I'm sure Mr. Smith walked.
1-2\tI'm\t_\t_\t_\t_\t_\t_\t_\t_
1\tI\t_\tPRON\t_\t_\t_\t_\t_\t_
2\t'm\t_\tAUX\t_\t_\t_\t_\t_\t_
3\tsure\t_\tADJ\t_\t_\t_\t_\t_\t_
4\tMr.\t_\tPROPN\t_\t_\t_\t_\t_\t_
5\tSmith\t_\tPROPN\t_\t_\t_\t_\t_\t_
6\twalked\t_\tVERB\t_\t_\t_\t_\t_\tSpaceAfter=No
7\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_

# text = We don't know Mr. Jones.
1\tWe\t_\tPRON\t_\t_\t_\t_\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\t_\tAUX\t_\t_\t_\t_\t_\t_
3\tn't\t_\tPART\t_\t_\t_\t_\t_\t_
4\tknow\t_\tVERB\t_\t_\t_\t_\t_\t_
5\tMr.\t_\tPROPN\t_\t_\t_\t_\t_\t_
6\tJones\t_\tPROPN\t_\t_\t_\t_\t_\tSpaceAfter=No
7\t.\t_\tPUNCT\t_\t_\t_\t_\t_\t_
""".split("\n")


def write_data(d):
    text = sentences(400)
    (d / "text.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    conllu = []
    for s in text[:120]:
        words = s[:-1].split() + ["."]
        conllu.append("# text = %s" % s)
        for i, (w, t) in enumerate(zip(words, ["DET", "NOUN", "VERB", "ADV", "PUNCT"])):
            conllu.append("%d\t%s\t_\t%s\t_\t_\t_\t_\t_\t_" % (i + 1, w, t))
        conllu.append("")
    conllu += TREEBANK_EXTRAS * 3
    (d / "text.conllu").write_text("\n".join(conllu) + "\n", encoding="utf-8")
    r = random.Random(3)
    tsv = []
    for s in text:
        pos = r.random() < 0.5
        tsv.append("%s\t%s %s" % ("pos" if pos else "neg", s, r.choice(GOOD if pos else BAD)))
    (d / "text.tsv").write_text("\n".join(tsv) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    if not os.path.exists(TOOL):
        pytest.fail("the charlstm tool is not built: %s (run make)" % TOOL)
    d = tmp_path_factory.mktemp("data")
    write_data(d)
    return d


TINY = ["--hidden", "16", "--emb", "8", "--threads", "1", "-q"]


@pytest.fixture(scope="session")
def lm_path(data):
    out = data / "lm.model"
    run_tool("train", "--train", data / "text.txt", "-o", out, "--layers", "2", "--batch", "4",
             "--seq", "16", "--steps", "40", "--dev-fraction", "0", *TINY)
    return out


@pytest.fixture(scope="session")
def tagger_path(data, lm_path):
    out = data / "tagger.model"
    run_tool("train", "--task", "tagger", "--train", data / "text.conllu", "-o", out,
             "--init", lm_path, "--batch", "8", "--epochs", "2", *TINY)
    return out


@pytest.fixture(scope="session")
def classifier_path(data):
    out = data / "classifier.model"
    run_tool("train", "--task", "classifier", "--train", data / "text.tsv", "-o", out,
             "--batch", "8", "--epochs", "2", "--ngram-bits", "10", "--dev-fraction", "0",
             *TINY)
    return out


@pytest.fixture(scope="session")
def lm(lm_path):
    return charlstm.Model(lm_path)


@pytest.fixture(scope="session")
def lm32(lm_path):
    """The LM with fp32 products: what PyTorch parity compares (states() follow --precision)."""
    return charlstm.Model(lm_path, precision="fp32")


@pytest.fixture(scope="session")
def tagger(tagger_path):
    return charlstm.Model(tagger_path)


@pytest.fixture(scope="session")
def classifier(classifier_path):
    return charlstm.Model(classifier_path)
