"""charlstm: character-level LSTM/GRU models from Python.

    import charlstm
    m = charlstm.Model("en.model")
    m.heads                                  # ('lm', 'tagger', 'classifier')
    m.generate("The meaning of life is", n=200, temperature=0.8, seed=1)
    m.tag("I loved it. Mr. Smith didn't.")   # {"sentences": [{"text", "tokens", "words"}, ...]}
    m.classify(["a gorgeous movie", "dull"]) # [{"label", "probability", "probabilities"}, ...]
    m.score("some text")                     # surprisal of each character (nats)
    m.states(["some text"])                  # encoder states as NumPy arrays
    charlstm.train(task="lm", train="corpus.txt", output="en.model", minutes=10)

Everything runs in libcharlstm (the same code as the `charlstm` command); the
GIL is released while it works.  Errors raise charlstm.Error with the
library's message (file, line, byte).  See docs/python.md.
"""
import json
import math
import os
import signal
import sys
import threading
from collections import namedtuple

import numpy as np

try:
    from ._cffi import ffi, lib
except ImportError as e:  # a source tree without `make python`
    raise ImportError("charlstm: the C extension is not built (%s): run `make python` in the "
                      "source tree, or pip install ./python" % e) from e

__version__ = "0.1.0"
__all__ = ["Model", "Error", "Interrupted", "States", "train"]

_ERR_NAMES = {0: "OK", -1: "ENOMEM", -2: "EIO", -3: "EINVAL", -4: "EFORMAT", -5: "ETRUNC",
              -6: "ECHECKSUM", -7: "EVERSION", -8: "EUTF8", -9: "EEMPTY", -10: "EPARSE",
              -11: "ENOTFOUND", -12: "EINTR", -13: "EMISMATCH", -14: "ENONFINITE",
              -15: "EISA"}


class Error(Exception):
    """A failure reported by libcharlstm.  str() is its message ("FILE:LINE:
    ...", "NAME: invalid UTF-8 at byte N", ...); .code is the cl_err number
    and .name its name ("EUTF8", "ECHECKSUM", ...)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code
        self.name = _ERR_NAMES.get(code, "") if code is not None else ""


class Interrupted(KeyboardInterrupt):
    """charlstm.train() stopped by Ctrl-C: the latest state is in MODEL.last
    (resume with train(resume=MODEL + ".last", output=MODEL))."""


def _check(err, msg):
    if err:
        raise Error(ffi.string(msg).decode("utf-8", "replace"), err)


def _utf8(text):
    """UTF-8 bytes for the library.  str is encoded with surrogatepass so that
    text that is not valid Unicode reaches the library's validation (and its
    message) instead of failing here; bytes go as they are."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    if not isinstance(text, str):
        raise TypeError("expected str or bytes, got %s" % type(text).__name__)
    return text.encode("utf-8", "surrogatepass")


def _text_of(data):
    """A str for slicing by code point (the library validated the bytes)."""
    return data if isinstance(data, str) else bytes(data).decode("utf-8")


def _cps_to_str(cps):
    return "".join(map(chr, cps))


States = namedtuple("States", "text chars words tokens")
States.__doc__ = """Encoder states of one text.

text: the text as the model read it (NFC, case-folded if the model folds case);
chars: float32 [len(text), dim], the encoder output at each character;
words: float32 [len(tokens), dim], the output at each word's last character;
tokens: [(form, start, end)] the words of text (code-point offsets)."""


class Model:
    """A charlstm model file: an encoder and its heads ("lm", "tagger",
    "classifier").  threads: OpenMP threads for this model's work.
    precision: "auto", "fp32" or "bf16", the products of tag(),
    classify() and states(), as the commands' --precision (auto: bf16 where the CPU has
    AMX or AVX512-BF16).

    A Model may be used from several Python threads: calls on one model
    take turns (a lock), calls on different models run in parallel."""

    def __init__(self, path, threads=1, precision="auto"):
        out = ffi.new("clpy_model **")
        msg = ffi.new("char[]", lib.CLPY_MSG)
        _check(lib.clpy_load(os.fsencode(path), out, msg), msg)
        self._m = ffi.gc(out[0], lib.clpy_free)
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self.threads = threads
        self.precision = precision
        self._info()

    @classmethod
    def _wrap(cls, handle, path=None):
        self = cls.__new__(cls)
        self._m = ffi.gc(handle, lib.clpy_free)
        self.path = path
        self._lock = threading.Lock()
        self.threads = 1
        self.precision = "auto"
        self._info()
        return self

    def _info(self):
        info = ffi.new("clpy_info *")
        lib.clpy_get_info(self._m, info)
        self.info = {k: getattr(info, k) for k in dir(info)}
        heads = []
        while True:
            h = lib.clpy_head(self._m, len(heads))
            if h == ffi.NULL:
                break
            heads.append(ffi.string(h).decode())
        self.heads = tuple(h[len("head."):] if h.startswith("head.") else h for h in heads)
        cps = ffi.new("int32_t[]", self.info["vocab"])
        lib.clpy_vocab(self._m, cps)
        #: characters by id; id 0 is the unknown character (None)
        self.vocab = [None] + [chr(c) for c in list(cps)[1:]]
        self.tags = [ffi.string(lib.clpy_tag_name(self._m, i)).decode()
                     for i in range(self.info["ntags"])]
        self.labels = [ffi.string(lib.clpy_label(self._m, k)).decode()
                       for k in range(self.info["nlabels"])]

    @property
    def threads(self):
        return self._threads

    @threads.setter
    def threads(self, n):
        self._threads = int(n)
        lib.clpy_set_threads(self._m, self._threads)

    @property
    def precision(self):
        return self._precision

    @precision.setter
    def precision(self, p):
        msg = ffi.new("char[]", lib.CLPY_MSG)
        _check(lib.clpy_set_precision(self._m, str(p).encode(), msg), msg)
        self._precision = str(p)

    def __repr__(self):
        i = self.info
        return "<charlstm.Model %r: %s %dx%d%s, vocab %d, heads %s>" % (
            self.path, "gru" if i["gru"] else "lstm", i["layers"], i["hidden"],
            " bidir" if i["bidir"] else "", i["vocab"], ",".join(self.heads))

    # ---- generation ------------------------------------------------------

    def generate(self, prompt="", n=500, temperature=1.0, top_k=0, top_p=1.0, seed=None,
                 stop=None):
        """The continuation of prompt: n characters sampled as `charlstm
        generate` does (the same seed gives the same text).  seed None: a
        fresh random one.  stop: strings that end the text early (the text
        ends right after the first one found)."""
        return "".join(self.stream(prompt, n, temperature, top_k, top_p, seed, stop))

    def stream(self, prompt="", n=500, temperature=1.0, top_k=0, top_p=1.0, seed=None,
               stop=None, chunk=16):
        """generate() as a generator that yields the text as it is sampled
        (chunk characters at a time, fewer around a stop string)."""
        g = _Generator(self, prompt, temperature, top_k, top_p, seed)
        stops = [s for s in ([stop] if isinstance(stop, str) else (stop or [])) if s]
        keep = max((len(s) for s in stops), default=1) - 1
        done, pending = 0, ""
        while done < n:
            k = min(chunk, n - done)
            pending += g.next(k)
            done += k
            hit = min((i + len(s) for s in stops for i in [pending.find(s)] if i >= 0),
                      default=-1)
            if hit >= 0:
                yield pending[:hit]
                return
            # hold back what could be the start of a stop string
            cut = len(pending) - keep if stops else len(pending)
            if cut > 0:
                yield pending[:cut]
                pending = pending[cut:]
        if pending:
            yield pending

    def prompt_as_read(self, prompt):
        """The prompt as the model reads it (normalised, unknown characters
        as U+FFFD): what `charlstm generate` prints before the continuation."""
        return _Generator(self, prompt, 1.0, 0, 1.0, 1).prompt

    # ---- language-model scores ---------------------------------------------

    def logits(self, text):
        """float32 [len, vocab]: the lm head's logits after each character
        of text, read from a zero state (row t predicts character t + 1)."""
        return self._logits(text, False)[0]

    def score(self, text):
        """Surprisal in nats of each character of text, read from the start
        of a line (as generation starts): float64 [len]; the mean is the
        text's nats/char (divide by log 2 for bits)."""
        logits, ids = self._logits(text, True)
        x = logits.astype(np.float64)
        top = x.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
        return lse - x[np.arange(len(ids)), ids]

    def _logits(self, text, after_newline):
        data = _utf8(text)
        lp, ip, T = ffi.new("float **"), ffi.new("int **"), ffi.new("size_t *")
        msg = ffi.new("char[]", lib.CLPY_MSG)
        with self._lock:
            _check(lib.clpy_logits(self._m, data, len(data), int(after_newline), lp, ip, T,
                                   msg), msg)
        try:
            V, n = self.info["vocab"], T[0]
            logits = np.frombuffer(ffi.buffer(lp[0], 4 * n * V), np.float32).reshape(n, V).copy()
            ids = np.frombuffer(ffi.buffer(ip[0], ffi.sizeof("int") * n), np.intc).copy()
        finally:
            lib.clpy_release(lp[0])
            lib.clpy_release(ip[0])
        return logits, ids

    # ---- encoder states ----------------------------------------------------

    def states(self, texts):
        """Encoder states of each text (a str or a list of them; one call
        into C for all): a list of States(text, chars [T, dim], words [W,
        dim], tokens).  Each text is read from the start of a line; words
        are found by the tokenizer of `charlstm tag`, and a word's state is
        the encoder output at its last character (for a unidirectional
        encoder: everything read up to the end of the word)."""
        single = isinstance(texts, (str, bytes))
        datas = [_utf8(t) for t in ([texts] if single else texts)]
        keep = [ffi.new("char[]", d) for d in datas]
        s = ffi.new("clpy_states *")
        msg = ffi.new("char[]", lib.CLPY_MSG)
        try:
            with self._lock:
                err = lib.clpy_states_of(self._m, keep, [len(d) for d in datas], len(datas), s,
                                         msg)
            _check(err, msg)
            out = self._unpack_states(s, len(datas))
        finally:
            lib.clpy_states_free(s)
        return out[0] if single else out

    def _unpack_states(self, s, n):
        D = s.dim
        co = list(s.char_off[0:n + 1])
        wo = list(s.word_off[0:n + 1])
        chars = np.frombuffer(ffi.buffer(s.chars, 4 * co[n] * D), np.float32).reshape(co[n], D)
        words = np.frombuffer(ffi.buffer(s.words, 4 * wo[n] * D), np.float32).reshape(wo[n], D)
        cps = list(s.cps[0:co[n]])
        starts, ends = list(s.word_start[0:wo[n]]), list(s.word_end[0:wo[n]])
        out = []
        for i in range(n):
            text = _cps_to_str(cps[co[i]:co[i + 1]])
            tokens = [(text[a:b], a, b) for a, b in zip(starts[wo[i]:wo[i + 1]],
                                                        ends[wo[i]:wo[i + 1]])]
            out.append(States(text, chars[co[i]:co[i + 1]].copy(),
                              words[wo[i]:wo[i + 1]].copy(), tokens))
        return out

    # ---- tagging -----------------------------------------------------------

    def tag(self, text_or_tokens, split=True, top=0):
        """Part-of-speech tags, as `charlstm tag --output json` gives them.

        A str (or UTF-8 bytes) is raw text: each line a paragraph split into
        sentences (split=False: each line one sentence, as --input text),
        tokens and words made as by the command (multiword tokens: "don't" is
        one token with the words "do" and "n't").  A list of str is one
        sentence of given words, a list of such lists several; each word is
        then a token and the sentence's text the words joined by spaces.

        Returns {"sentences": [...]}, each sentence the object of
        docs/json.md: "id" (from 1), "text", "start", "end", "tokens" (text,
        start, end, words, space_after) and "words" (form, start, end, token,
        tag, prob, and with top=K the K most likely tags).  Offsets are code
        points into the text passed (text[start:end]); for given words, into
        the sentence's text.  Probabilities are rounded to 6 decimals as in
        the JSON; None for the words of a sentence over 512 words."""
        x = text_or_tokens
        msg = ffi.new("char[]", lib.CLPY_MSG)
        out = ffi.new("clpy_tagged *")
        try:
            if isinstance(x, (str, bytes, bytearray)):
                data = _utf8(x)
                with self._lock:
                    err = lib.clpy_tag_text(self._m, data, len(data), int(bool(split)), out, msg)
            else:
                sents = [x] if x and all(isinstance(w, str) for w in x) else list(x)
                forms, starts = [], [0]
                for s in sents:
                    forms += [_utf8(w) for w in s]
                    starts.append(len(forms))
                keep = [ffi.new("char[]", f) for f in forms]
                with self._lock:
                    err = lib.clpy_tag_words(self._m, keep, starts, len(sents), out, msg)
            _check(err, msg)
            return {"sentences": _Tagged(out, self.tags).sentences(int(top))}
        finally:
            lib.clpy_tagged_free(out)

    # ---- classification ------------------------------------------------------

    def classify(self, texts):
        """Labels of texts (a str or a list; one call into C for all), as
        `charlstm classify --output json --all` writes them: for each text
        {"label": best, "probability": its probability, "probabilities":
        {label: probability}}, rounded to 6 decimals as there
        (classify_probs has them unrounded)."""
        single = isinstance(texts, (str, bytes))
        probs = self.classify_probs([texts] if single else texts)
        out = []
        for row in probs:
            k = int(np.argmax(row))
            out.append({"label": self.labels[k], "probability": _p6(float(row[k])),
                        "probabilities": {lab: _p6(float(p)) for lab, p in zip(self.labels, row)}})
        return out[0] if single else out

    def classify_probs(self, texts):
        """float32 [len(texts), len(self.labels)]: every label's probability."""
        datas = [_utf8(t) for t in texts]
        keep = [ffi.new("char[]", d) for d in datas]
        probs = np.zeros((len(datas), max(len(self.labels), 1)), np.float32)
        msg = ffi.new("char[]", lib.CLPY_MSG)
        with self._lock:
            err = lib.clpy_classify(self._m, keep, [len(d) for d in datas], len(datas),
                                    ffi.from_buffer("float[]", probs), msg)
        _check(err, msg)
        return probs

    # ---- tensors ---------------------------------------------------------------

    def tensors(self):
        """{name: float32 array} of every tensor of the model (copies), PyTorch
        names and layouts: "encoder.embed", "encoder.rnn.weight_ih_l0", ...,
        "head.lm.weight", "head.lm.bias", ..."""
        return {name: arr.copy() for name, arr in self._tensor_views()}

    def _tensor_views(self):
        ndim, shape = ffi.new("int *"), ffi.new("int[4]")
        vals, const = ffi.new("float **"), ffi.new("int *")
        i = 0
        while True:
            name = lib.clpy_tensor(self._m, i, ndim, shape, vals, const)
            if name == ffi.NULL:
                return
            dims = tuple(shape[0:ndim[0]])
            size = int(np.prod(dims)) if dims else 1
            arr = np.frombuffer(ffi.buffer(vals[0], 4 * size), np.float32).reshape(dims)
            yield ffi.string(name).decode(), arr
            i += 1

    def save(self, path):
        """Write the model file (atomically)."""
        msg = ffi.new("char[]", lib.CLPY_MSG)
        with self._lock:
            _check(lib.clpy_save(self._m, os.fsencode(path), msg), msg)


def _p6(p):
    """A probability as the JSON writes it: rounded to 6 decimals half away
    from zero (C's round()), NaN as None."""
    if p != p:
        return None
    x = p * 1e6
    r = math.floor(x)
    return (r + (x - r >= 0.5)) / 1e6


class _Tagged:
    """A clpy_tagged read into Python lists (one ffi.unpack per array)."""

    def __init__(self, t, tags):
        def ints(a, n):
            return ffi.unpack(a, n) if n else []
        S, K, W = t.nsent, t.ntok, t.nword
        self.S, self.tags = S, tags
        self.sent_tok, self.sent_word = ints(t.sent_tok, S + 1), ints(t.sent_word, S + 1)
        self.text = [ffi.string(t.sent_text[s]).decode("utf-8") for s in range(S)]
        self.sent_start, self.sent_end = ints(t.sent_start, S), ints(t.sent_end, S)
        self.tok = list(zip(ints(t.tok_start, K), ints(t.tok_end, K), ints(t.tok_word, K),
                            ints(t.tok_nwords, K), ints(t.tok_space_after, K)))
        self.form = [ffi.string(t.form[w]).decode("utf-8") for w in range(W)]
        self.word = list(zip(ints(t.word_start, W), ints(t.word_end, W), ints(t.word_token, W),
                             ints(t.tag, W), ints(t.prob, W)))
        self.probs = np.frombuffer(ffi.buffer(t.probs, 4 * W * t.ntags), np.float32) \
            .reshape(W, t.ntags) if W and t.ntags else None

    def sentences(self, top):
        return [self.sentence(s, top) for s in range(self.S)]

    def sentence(self, s, top):
        text, at = self.text[s], self.sent_start[s]
        tokens = [{"text": text[a - at:b - at], "start": a, "end": b,
                   "words": list(range(w, w + n)), "space_after": bool(sp)}
                  for a, b, w, n, sp in self.tok[self.sent_tok[s]:self.sent_tok[s + 1]]]
        words = []
        for w in range(self.sent_word[s], self.sent_word[s + 1]):
            a, b, k, tag, p = self.word[w]
            o = {"form": self.form[w], "start": a, "end": b, "token": k,
                 "tag": self.tags[tag] if tag >= 0 else "_", "prob": _p6(p)}
            if top > 0:
                row = self.probs[w]
                best = np.argsort(-row, kind="stable")[:top]  # ties: lower index first
                o["top"] = [{"tag": self.tags[j], "prob": _p6(float(row[j]))} for j in best]
            words.append(o)
        return {"id": s + 1, "text": text, "start": at, "end": self.sent_end[s],
                "tokens": tokens, "words": words}


class _Generator:
    def __init__(self, model, prompt, temperature, top_k, top_p, seed):
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little") or 1
        data = _utf8(prompt)
        out, plen = ffi.new("clpy_gen **"), ffi.new("size_t *")
        msg = ffi.new("char[]", lib.CLPY_MSG)
        self.model = model  # the generator reads the model: keep it alive
        with model._lock:
            err = lib.clpy_gen_new(model._m, data, len(data), float(temperature), int(top_k),
                                   float(top_p), int(seed) & (2 ** 64 - 1), out, plen, msg)
        _check(err, msg)
        self.g = ffi.gc(out[0], lib.clpy_gen_free)
        cps = ffi.new("int32_t[]", max(plen[0], 1))
        lib.clpy_gen_prompt(self.g, cps)
        self.prompt = _cps_to_str(cps[0:plen[0]])

    def next(self, n):
        cps = ffi.new("int32_t[]", n)
        with self.model._lock:
            err = lib.clpy_gen_next(self.g, cps, n)
        if err:
            raise Error("generation failed", err)
        return _cps_to_str(cps[0:n])


# ---- training -------------------------------------------------------------------
#
# charlstm.train runs the `charlstm train` command in a child process with
# --progress json: the one training core with the command's own options,
# files, messages, Ctrl-C and --resume, and nothing of the command linked
# into this module (which needs only the installed library).  The reports
# on the child's stderr become callback calls; a stop is the command's
# first Ctrl-C (SIGINT: save and stop), sent to the child alone.


def _tool():
    """The charlstm command: $CHARLSTM_TOOL, the one next to the library
    this module was built against, or the one on PATH."""
    import shutil

    built = ffi.string(lib.clpy_tool()).decode()
    for path in (os.environ.get("CHARLSTM_TOOL"), built):
        if path and os.access(path, os.X_OK):
            return path
    path = shutil.which("charlstm")
    if not path:
        raise Error("charlstm.train runs the charlstm command: not found (looked for %s and on "
                    "PATH; set CHARLSTM_TOOL)" % built)
    return path


def _argv(task, options):
    argv = ["train"]
    if task is not None:
        argv += ["--task", task]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                argv += [flag, os.fspath(v) if isinstance(v, os.PathLike) else str(v)]
        else:
            argv += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return argv


def _child_setup():
    """What the child runs before the command: its own process group, so that
    a Ctrl-C at the terminal reaches Python alone (which passes on one
    SIGINT: a second would quit without saving), and SIGTERM (save and stop)
    when Python dies.  prctl is looked up here, in the parent: the child of
    a threaded process should only make system calls."""
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        prctl = None

    def setup():
        os.setpgid(0, 0)
        if prctl is not None:
            prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    return setup


class _Run:
    """One `charlstm train` child: its reports, its messages, its stop."""

    def __init__(self, argv, callback, verbose):
        import subprocess

        self.callback, self.verbose = callback, verbose
        self.last, self.stopped, self.messages = None, False, []
        self.p = subprocess.Popen([_tool()] + argv + ["--progress", "json"],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  preexec_fn=_child_setup())

    def stop(self):
        """The command's first Ctrl-C: save MODEL.last and stop."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)

    def line(self, raw):
        text = raw.decode("utf-8", "replace").rstrip("\n")
        if not text.startswith("{"):
            self.messages.append(text)
            if self.verbose:
                print(text, file=sys.stderr, flush=True)
            return
        info = json.loads(text)
        info = {k: (math.nan if v is None else v) for k, v in info.items()}
        self.last = info
        if self.verbose and info["evaluation"]:
            print("charlstm train: step %d  epoch %.2f  train %.4f  evaluation %.4f"
                  % (info["step"], info["epochs"], info["train_loss"], info["last_metric"]),
                  file=sys.stderr, flush=True)
        if self.callback is not None and not self.stopped and self.callback(info) is False:
            self.stopped = True
            self.stop()

    def run(self):
        """Read the child's reports until it exits; its exit status."""
        try:
            for raw in self.p.stderr:
                self.line(raw)
        except BaseException:
            # the callback raised, or Ctrl-C came: the child saves and stops
            self.callback = None
            self.stop()
            self.drain()
            raise
        return self.p.wait()

    def drain(self):
        """The rest of the child's lines, until it exits."""
        while True:
            try:
                for raw in self.p.stderr:
                    self.line(raw)
                self.p.wait()
                return
            except KeyboardInterrupt:  # a second Ctrl-C: quit at once, as in the shell
                self.p.send_signal(signal.SIGINT)


def train(task=None, callback=None, verbose=False, **options):
    """Train a model with `charlstm train` (the one training core).

    task: "lm", "tagger" or "classifier"; options: the command's options
    with "_" for "-" (train="corpus.txt" or a list, dev=..., output=...,
    minutes=..., steps=..., hidden=..., resume=MODEL.last, ...; True for a
    flag), see `charlstm train --help`.  callback(info) is called about 4
    times a second and after each evaluation with a dict (step, epochs,
    items, train_loss, last_metric, best_metric, items_per_sec, eta,
    evaluation, ...; NaN where there is no figure yet); returning False
    stops the run cleanly, as Ctrl-C does: the latest state is saved to
    OUTPUT.last and train() returns.

    Ctrl-C saves and raises charlstm.Interrupted; resume with
    train(resume=OUTPUT + ".last", output=OUTPUT).  verbose=True shows the
    command's messages and each evaluation on stderr.  Returns the last
    progress dict, with "stopped" True when the callback stopped the run."""
    if not verbose:
        options.setdefault("quiet", True)
    run = _Run(_argv(task, options), callback, verbose)
    try:
        rc = run.run()
    except KeyboardInterrupt:
        raise Interrupted("\n".join(m for m in run.messages if m.strip()) or
                          "training interrupted") from None
    if rc == 130 and not run.stopped:
        raise Interrupted("\n".join(m for m in run.messages if m.strip()) or
                          "training interrupted")
    if rc not in (0, 130):
        lines = [m for m in run.messages if m.strip()]
        raise Error("\n".join(lines) if lines else "charlstm train failed (exit status %d)" % rc)
    if not verbose and run.messages:  # what the command had to say (-q leaves warnings)
        print("\n".join(run.messages), file=sys.stderr)
    result = dict(run.last or {})
    result["stopped"] = run.stopped
    return result
