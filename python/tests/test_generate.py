"""Generation equals `charlstm generate` with the same seed."""
import pytest

from conftest import run_tool


@pytest.mark.parametrize("opts", [
    {"seed": 1},
    {"seed": 42, "temperature": 0.7},
    {"seed": 5, "top_k": 3},
    {"seed": 9, "top_p": 0.8, "temperature": 1.3},
])
def test_generate_equals_cli(lm, lm_path, opts):
    prompt = "the café "
    text = lm.generate(prompt, n=300, **opts)
    args = ["generate", "-m", lm_path, "--prompt", prompt, "-n", "300"]
    for k, v in opts.items():
        args += ["--" + k.replace("_", "-"), v]
    cli = run_tool(*args).stdout
    assert len(text) == 300
    assert cli == lm.prompt_as_read(prompt) + text + "\n"


def test_stream_yields_the_same_text(lm):
    chunks = list(lm.stream("a ", n=100, seed=3, chunk=7))
    assert len(chunks) > 1
    assert "".join(chunks) == lm.generate("a ", n=100, seed=3)


def test_stop_strings_end_the_text(lm):
    full = lm.generate("the ", n=400, seed=2)
    stop = full[50:53]
    cut = lm.generate("the ", n=400, seed=2, stop=["\u2603", stop])
    assert cut == full[:full.find(stop) + len(stop)]
    assert "".join(lm.stream("the ", n=400, seed=2, stop=stop, chunk=1)) == cut


def test_no_seed_varies(lm):
    assert lm.generate("a", n=60) != lm.generate("a", n=60)


def test_prompt_as_read_normalises(lm):
    # NFC: e + combining acute is é; a character the model never saw is U+FFFD
    assert lm.prompt_as_read("cafe\u0301 \u4e2d") == "caf\u00e9 \ufffd"
