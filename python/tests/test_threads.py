"""The GIL is released while C works: another Python thread runs meanwhile."""
import threading
import time

import charlstm
from charlstm import ffi, lib
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


def test_tag_releases_the_gil(tagger_path):
    m = charlstm.Model(tagger_path)
    data = TEXT.encode()

    def work():
        res, msg = ffi.new("clpy_tagged *"), ffi.new("char[]", lib.CLPY_MSG)
        t0 = time.perf_counter()
        err = lib.clpy_tag_text(m._m, data, len(data), res, msg)  # what m.tag calls
        t1 = time.perf_counter()
        n = res.nsent
        lib.clpy_tagged_free(res)
        return {"err": err, "t0": t0, "t1": t1, "n": n}

    out, ticks = count_while(work)
    assert out["err"] == 0 and out["n"] == 10000
    inside = sum(out["t0"] < x < out["t1"] for x in ticks)
    seconds = out["t1"] - out["t0"]
    # holding the GIL, the C call would let this thread run 0 times
    assert inside > 1000, "%d loop turns in %.2f s of tagging" % (inside, seconds)


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
