"""Failures are charlstm.Error with the library's message."""
import pytest

import charlstm


def test_missing_file(tmp_path):
    with pytest.raises(charlstm.Error) as e:
        charlstm.Model(tmp_path / "nope.model")
    assert "nope.model" in str(e.value) and "No such file" in str(e.value)
    assert e.value.name == "EIO"


def test_corrupt_model(lm_path, tmp_path):
    raw = bytearray(lm_path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    bad = tmp_path / "bad.model"
    bad.write_bytes(bytes(raw))
    with pytest.raises(charlstm.Error) as e:
        charlstm.Model(bad)
    assert "bad.model" in str(e.value) and e.value.name == "ECHECKSUM"
    short = tmp_path / "short.model"
    short.write_bytes(bytes(raw[:100]))
    with pytest.raises(charlstm.Error) as e:
        charlstm.Model(short)
    assert "short.model" in str(e.value)


def test_not_a_model(data):
    with pytest.raises(charlstm.Error) as e:
        charlstm.Model(data / "text.txt")
    assert e.value.name == "EFORMAT"


def test_invalid_utf8(lm, tagger, classifier):
    bad = b"the cat \xff sat"
    for call in (lambda: tagger.tag(bad), lambda: lm.score(bad), lambda: lm.generate(bad, n=5),
                 lambda: lm.states([b"ok", bad])):
        with pytest.raises(charlstm.Error) as e:
            call()
        assert "invalid UTF-8 at byte 8" in str(e.value) and e.value.name == "EUTF8"
    with pytest.raises(charlstm.Error, match=r"texts\[1\]: invalid UTF-8 at byte 8"):
        classifier.classify(["fine", bad])
    # a str that is not valid Unicode (a lone surrogate) reaches the same check
    with pytest.raises(charlstm.Error, match="invalid UTF-8"):
        tagger.tag("the \ud800 cat")


def test_wrong_types(lm):
    with pytest.raises(TypeError):
        lm.score(42)
