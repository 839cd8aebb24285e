"""charlstm.train runs `charlstm train`'s code: progress callback, stop,
Ctrl-C and exact resume."""
import os
import signal

import pytest

import charlstm

LM = dict(task="lm", layers=1, hidden=16, emb=8, batch=4, seq=16, threads=1,
          dev_fraction=0.1, eval_every=10)


def test_progress_callback(data, tmp_path):
    seen = []
    out = tmp_path / "m.model"
    res = charlstm.train(train=data / "text.txt", output=out, steps=30, callback=seen.append,
                         **LM)
    assert res["step"] == 30 and not res["stopped"]
    evals = [s for s in seen if s["evaluation"]]
    assert [s["step"] for s in evals] == [10, 20, 30]
    assert all(s["last_metric"] > 0 for s in evals)  # validation loss, nats/char
    assert seen[-1]["step"] == 30 and seen[-1]["items"] > 0
    assert charlstm.Model(out).heads == ("lm",)
    assert os.path.exists(str(out) + ".last")


def test_stop_then_resume_is_exact(data, tmp_path):
    ref = tmp_path / "ref.model"
    charlstm.train(train=data / "text.txt", output=ref, steps=60, **LM)
    cut = tmp_path / "cut.model"
    res = charlstm.train(train=data / "text.txt", output=cut, steps=60,
                         callback=lambda s: s["step"] < 20, **LM)
    assert res["stopped"] and 20 <= res["step"] < 60
    res = charlstm.train(resume=str(cut) + ".last", output=cut)
    assert res["step"] == 60
    assert cut.read_bytes() == ref.read_bytes()
    assert (tmp_path / "cut.model.last").read_bytes() == (tmp_path / "ref.model.last").read_bytes()


@pytest.fixture
def python_ctrl_c():
    """Python's own SIGINT handler for the test: a process started in the
    background by a shell without job control inherits SIGINT ignored, and
    Python then installs no handler, so a Ctrl-C would never arrive."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_ctrl_c_saves_and_raises(data, tmp_path, python_ctrl_c):
    out = tmp_path / "int.model"

    pressed = []

    def press_ctrl_c(s):
        if s["step"] >= 3 and not pressed:  # once: a second Ctrl-C quits at once
            pressed.append(s["step"])
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(charlstm.Interrupted) as e:
        # minutes=2: should the Ctrl-C not arrive, the test fails instead of hanging
        charlstm.train(train=data / "text.txt", output=out, steps=10 ** 8, minutes=2,
                       callback=press_ctrl_c, **LM)
    assert "resume with" in str(e.value)
    assert os.path.exists(str(out) + ".last")
    # Python's own Ctrl-C handling is back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10 ** 6):
            pass


def test_callback_exception_stops_and_propagates(data, tmp_path):
    def boom(s):
        raise RuntimeError("from the callback")
    with pytest.raises(RuntimeError, match="from the callback"):
        charlstm.train(train=data / "text.txt", output=tmp_path / "x.model", steps=10 ** 8,
                       minutes=2, callback=boom, **LM)


def test_other_tasks(data, tmp_path):
    res = charlstm.train(task="classifier", train=data / "text.tsv", output=tmp_path / "c.model",
                         hidden=8, emb=8, epochs=1, ngram_bits=10, dev_fraction=0.2)
    assert 0 <= res["best_metric"] <= 1  # dev accuracy
    assert charlstm.Model(tmp_path / "c.model").labels == ["neg", "pos"]


def test_errors_carry_the_message(tmp_path):
    with pytest.raises(charlstm.Error, match="nothing.txt"):
        charlstm.train(train=tmp_path / "nothing.txt", output=tmp_path / "m.model", steps=1)
    with pytest.raises(charlstm.Error, match="--hidden"):
        charlstm.train(train="x.txt", output=tmp_path / "m.model", hidden="many")
