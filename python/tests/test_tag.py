"""m.tag equals `charlstm tag --output json`: the same tokenizer, sentence
splitter and multiword tokens (cl_annotate), the same objects."""
import json

import pytest

import charlstm
from conftest import run_tool, sentences

# two sentences; "I'm" and "don't" are multiword tokens of the fixture's
# treebank, "Mr." an abbreviation that ends no sentence
PARAGRAPH = "I'm sure Mr. Smith walked quickly. We don't know his café 🐈 – it sat well."


def cli_json(path, text, *options):
    """The tool's JSON objects, one per input line."""
    out = run_tool("tag", "-m", path, "--output", "json", *options, input=text).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("top", [0, 3])
def test_a_paragraph_equals_cli_json(tagger, tagger_path, top):
    want = cli_json(tagger_path, PARAGRAPH + "\n", "--input", "paragraphs", "--top", str(top))
    got = tagger.tag(PARAGRAPH, top=top)
    assert got == {"sentences": want[0]["sentences"]}
    first, second = got["sentences"]
    assert first["text"] == "I'm sure Mr. Smith walked quickly."
    assert second["text"].startswith("We don't know")
    mwt = {t["text"]: [s["words"][w]["form"] for w in t["words"]]
           for s in (first, second) for t in s["tokens"] if len(t["words"]) > 1}
    assert mwt == {"I'm": ["I", "'m"], "don't": ["do", "n't"]}
    assert "Mr." in [t["text"] for t in first["tokens"]]
    assert all(len(w.get("top", [])) == top for w in first["words"])


def test_lines_are_paragraphs_with_offsets_into_the_text(tagger, tagger_path):
    text = "the café walked quickly. A man sat.\n\n  my dog didn't sleep well.  \r\nher 🐈 slept\n"
    got = tagger.tag(text)["sentences"]
    # the CLI counts offsets from each line and ids over the run; m.tag from
    # the text it was given, ids from 1 in each call (as charlstm serve)
    want, at = [], 0
    for line, obj in zip(text.split("\n"), cli_json(tagger_path, text, "--input", "paragraphs")):
        for s in obj["sentences"]:
            shift = lambda o: dict(o, start=o["start"] + at, end=o["end"] + at)  # noqa: E731
            want.append(dict(shift(s), tokens=[shift(t) for t in s["tokens"]],
                             words=[shift(w) for w in s["words"]]))
        at += len(line) + 1
    assert len(got) == len(want) == 4
    assert got == want
    for s in got:
        assert text[s["start"]:s["end"]] == s["text"]
        for t in s["tokens"]:
            assert text[t["start"]:t["end"]] == t["text"]
        for w in s["words"]:
            assert text[w["start"]:w["end"]] == w["form"]
            assert w["tag"] in tagger.tags and 0 < w["prob"] <= 1
    assert [w["form"] for w in got[-1]["words"]] == ["her", "🐈", "slept"]


def test_split_false_reads_a_sentence_per_line(tagger, tagger_path):
    text = "I'm sure. We don't know.\na man sat.\n"
    want = [s for obj in cli_json(tagger_path, text, "--input", "text") for s in obj["sentences"]]
    got = tagger.tag(text, split=False)["sentences"]
    assert [s["text"] for s in got] == ["I'm sure. We don't know.", "a man sat."]
    assert [[w["form"] for w in s["words"]] for s in got] == \
        [[w["form"] for w in s["words"]] for s in want]
    assert len(tagger.tag(text)["sentences"]) == 3


def test_the_tagger_learned_the_pattern(tagger):
    # DET NOUN VERB ADV PUNCT in most training sentences
    words = tagger.tag("the dog ran well.")["sentences"][0]["words"]
    assert [w["tag"] for w in words] == ["DET", "NOUN", "VERB", "ADV", "PUNCT"]


def test_given_words_equal_cli_conllu_input(tagger, tagger_path):
    sents = [["the", "dog", "ran", "well", "."], ["I", "'m", "sure"]]
    conllu = "".join("".join("%d\t%s\t_\t_\t_\t_\t_\t_\t_\t_\n" % (i + 1, w)
                             for i, w in enumerate(s)) + "\n" for s in sents)
    want = [s for obj in cli_json(tagger_path, conllu, "--input", "conllu")
            for s in obj["sentences"]]
    two = tagger.tag(sents)
    assert two == {"sentences": want}
    assert two["sentences"][0]["text"] == "the dog ran well ."
    one = tagger.tag(sents[0])["sentences"]
    assert len(one) == 1 and [w["tag"] for w in one[0]["words"]] == \
        [w["tag"] for w in want[0]["words"]]
    raw = tagger.tag("the dog ran well.")["sentences"][0]["words"]
    assert [w["tag"] for w in raw] == [w["tag"] for w in want[0]["words"]]


def test_a_model_without_tagger(lm):
    with pytest.raises(charlstm.Error) as e:
        lm.tag("the cat")
    assert e.value.name == "ENOTFOUND"


def test_many_sentences_in_one_call(tagger, tagger_path):
    # capitalised: a "." before a lower-case word ends no sentence
    text = " ".join(s.capitalize() for s in sentences(300, seed=11)) + "\n"
    got = tagger.tag(text)["sentences"]
    want = cli_json(tagger_path, text, "--input", "paragraphs")[0]["sentences"]
    assert len(got) == 300
    assert got == want


def test_a_very_long_sentence(tagger, tagger_path):
    # over 512 words: the library tags it in overlapping windows
    line = " ".join(s[:-1] for s in sentences(160, seed=23)) + " ."
    got = tagger.tag(line, split=False)["sentences"]
    want = cli_json(tagger_path, line + "\n")[0]["sentences"]
    assert len(got) == 1 and len(got[0]["words"]) > 600
    assert got == want
    # a sentence tagged in windows keeps no probabilities (docs/json.md: null)
    assert all(w["prob"] is None for w in got[0]["words"])
