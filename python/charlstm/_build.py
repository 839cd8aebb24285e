"""cffi build script of charlstm._cffi (used by setup.py's cffi_modules).

Why cffi rather than a hand-written CPython extension: cffi releases the GIL
around every call into C with no code of ours, NumPy arrays pass as plain
pointers (ffi.from_buffer), Python progress callbacks are one decorator, and
the C side (_glue.c) stays plain C with the project's conventions -- no
reference counting, no PyArg parsing.  Debian ships it (python3-cffi).

The extension links the library statically (build/libcharlstm.a) and the
command-line tool's objects (build/libcharlstm-cli.a), so that
charlstm.train() runs the very code of `charlstm train`; an installed
package then needs no LD_LIBRARY_PATH.  CHARLSTM_BUILD names another build
directory (default: build/ of the source tree, made here when missing).
"""
import os
import re
import shlex
import subprocess

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("CHARLSTM_BUILD", os.path.join(ROOT, "build"))
PKGS = ["openblas", "libutf8proc", "libpcre2-8", "zlib", "libcjson", "libmicrohttpd"]


def pkg_config(flag):
    try:
        out = subprocess.run(["pkg-config", flag] + PKGS, check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return shlex.split(out)


def cdef_text():
    """_glue.h without its preprocessor lines (cffi reads declarations)."""
    with open(os.path.join(HERE, "_glue.h"), encoding="utf-8") as f:
        lines = [ln for ln in f if not ln.startswith("#") or ln.startswith("#define CLPY_MSG")]
    text = "".join(lines)
    return text + '\nextern "Python" int clpy_py_progress(const clpy_progress *, void *);\n'


def make_libraries():
    """In a source tree, build what the extension links (pip install ./python
    from a fresh checkout)."""
    if "CHARLSTM_BUILD" in os.environ or not os.path.exists(os.path.join(ROOT, "Makefile")):
        return
    subprocess.run(["make", "-C", ROOT, "-j2", "build/libcharlstm.a", "build/libcharlstm-cli.a"],
                   check=True)


def make_ffi():
    missing = [x for x in ("libcharlstm-cli.a", "libcharlstm.a")
               if not os.path.exists(os.path.join(BUILD, x))]
    if missing:
        make_libraries()
    for lib in ("libcharlstm-cli.a", "libcharlstm.a"):
        if not os.path.exists(os.path.join(BUILD, lib)):
            raise SystemExit("charlstm: %s not found in %s: run `make python` in the source "
                             "tree (or set CHARLSTM_BUILD)" % (lib, BUILD))
    cflags = pkg_config("--cflags")
    libs = pkg_config("--libs")
    ffi = FFI()
    ffi.cdef(cdef_text())
    ffi.set_source(
        "charlstm._cffi", '#include "_glue.h"',
        sources=[os.path.join(HERE, "_glue.c")],
        include_dirs=[HERE, os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]
        + [f[2:] for f in cflags if f.startswith("-I")],
        define_macros=[("_GNU_SOURCE", None)],
        extra_compile_args=["-std=c11", "-fopenmp", "-Wall"],
        extra_objects=[os.path.join(BUILD, "libcharlstm-cli.a"),
                       os.path.join(BUILD, "libcharlstm.a")],
        libraries=[f[2:] for f in libs if f.startswith("-l")] + ["dnnl", "m"],  # oneDNN: no .pc
        library_dirs=[f[2:] for f in libs if f.startswith("-L")],
        extra_link_args=["-fopenmp"],
        # relink when the library changes (setuptools only watches sources)
        depends=[os.path.join(HERE, "_glue.h"), os.path.join(BUILD, "libcharlstm-cli.a"),
                 os.path.join(BUILD, "libcharlstm.a")],
    )
    return ffi


ffi = make_ffi()

if __name__ == "__main__":
    ffi.compile(verbose=True)
