"""pip install against the installed library: `make install` into a
temporary prefix, `pip install --no-build-isolation --no-index --target` of a
copy of python/ (outside the source tree, so only pkg-config can find the
library), then a fresh interpreter imports charlstm from the target and
runs it."""
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHECK = r"""
import json, sys, charlstm
prefix, target, model, text = sys.argv[1:5]
assert charlstm.__file__.startswith(target), charlstm.__file__
maps = open("/proc/self/maps").read()
assert prefix + "/lib/libcharlstm.so" in maps, "not the installed library"
assert charlstm.ffi.string(charlstm.lib.clpy_tool()).decode() == prefix + "/bin/charlstm"
m = charlstm.Model(model)
print(json.dumps(m.prompt_as_read("the ") + m.generate("the ", n=40, seed=3)))
res = charlstm.train(train=text, output=target + "/m.model", steps=2, hidden=8, emb=8,
                     layers=1, batch=2, seq=8, dev_fraction=0)
print(res["step"])
"""


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("CHARLSTM_BUILD", "CHARLSTM_TOOL", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(extra)
    return env


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    assert p.returncode == 0, "%s: exit %d\n%s\n%s" % (" ".join(args), p.returncode, p.stdout,
                                                        p.stderr)
    return p.stdout


def test_pip_install_against_the_installed_library(tmp_path, data, lm_path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("pip is not installed for %s (Debian: python3-pip; make deps)" % sys.executable)
    prefix, target, src = tmp_path / "prefix", tmp_path / "site", tmp_path / "src"
    run(["make", "-C", ROOT, "-s", "install", "PREFIX=%s" % prefix], env=clean_env())
    assert (prefix / "lib" / "pkgconfig" / "charlstm.pc").exists()
    shutil.copytree(os.path.join(ROOT, "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.so", "__pycache__", "*.egg-info",
                                                  "_cffi.c", "tests"))
    env = clean_env(PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
         "--no-deps", "--target", str(target), str(src)], env=env, cwd=tmp_path)
    out = run([sys.executable, "-c", CHECK, str(prefix), str(target), str(lm_path),
               str(data / "text.txt")], env=clean_env(PATH="/usr/bin:/bin", PYTHONPATH=str(target)), cwd=tmp_path)
    text, steps = out.splitlines()[-2:]
    want = subprocess.run([str(prefix / "bin" / "charlstm"), "generate", "-m", str(lm_path),
                           "--prompt", "the ", "-n", "40", "--seed", "3"],
                          capture_output=True, text=True, check=True).stdout
    assert want == json.loads(text) + "\n"
    assert steps == "2"
