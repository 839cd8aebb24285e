"""The GIL is released while C works: another Python thread runs meanwhile."""
import threading
import time

import charlstm
from charlstm import lib
from conftest import sentences

TEXT = "\n".join(sentences(10000, seed=13)) + "\n"


def count_while(work):
    """Run work() in a thread; return its result and the timestamps of a
    pure-Python loop running meanwhile in this thread."""
    out, ticks = {}, []
    t = threading.Thread(target=lambda: out.update(work()))
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    return out, ticks


class TimedLib:
    """charlstm's cffi lib, with the time of each clpy_tag_text call noted."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def clpy_tag_text(self, *args):
        t0 = time.perf_counter()
        err = self.real.clpy_tag_text(*args)
        self.calls.append((t0, time.perf_counter()))
        return err


def test_tag_releases_the_gil(tagger_path, monkeypatch):
    m = charlstm.Model(tagger_path, threads=2)
    timed = TimedLib(lib)
    monkeypatch.setattr(charlstm, "lib", timed)  # m.tag's own path, timed
    out, ticks = count_while(lambda: {"n": len(m.tag(TEXT)["sentences"])})
    assert out["n"] == 10000 and len(timed.calls) == 1
    t0, t1 = timed.calls[0]
    inside = sum(t0 < x < t1 for x in ticks)
    # holding the GIL, the C call would let this thread run 0 times
    assert inside > 1000, "%d loop turns in %.2f s of tagging" % (inside, t1 - t0)


def test_two_threads_tag_like_one(tagger_path):
    a, b = charlstm.Model(tagger_path), charlstm.Model(tagger_path)
    text = "\n".join(sentences(500, seed=17))
    want = a.tag(text)
    res = {}
    ts = [threading.Thread(target=lambda k=k, m=m: res.update({k: m.tag(text)}))
          for k, m in (("a", a), ("b", b))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert res["a"] == want and res["b"] == want
    # one model shared by two threads: the calls take turns
    shared = {}
    ts = [threading.Thread(target=lambda k=k: shared.update({k: a.tag(text)})) for k in "xy"]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert shared["x"] == want and shared["y"] == want
