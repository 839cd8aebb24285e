"""cffi build script of charlstm._cffi (used by setup.py's cffi_modules).

Why cffi rather than a hand-written CPython extension: cffi releases the GIL
around every call into C with no code of ours, NumPy arrays pass as plain
pointers (ffi.from_buffer), and the C side (_glue.c) stays plain C with the
project's conventions -- no reference counting, no PyArg parsing.  Debian
ships it (python3-cffi).

The extension uses only the library's public interface (charlstm.h), from
one of three places:

  - a build directory of the source tree, when CHARLSTM_BUILD names one
    (`make python` does): build/libcharlstm.a linked in statically, so the
    module needs no LD_LIBRARY_PATH;
  - the installed library, found by `pkg-config charlstm` (make install;
    PKG_CONFIG_PATH for another prefix): libcharlstm.so, with its directory
    as the module's run path;
  - with neither, in a source tree: its build/, made here first.

charlstm.train runs the charlstm command; the path of the one that belongs
with the library (build/charlstm, or the installed bindir) is compiled in.
"""
import json
import os
import shlex
import subprocess

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# what the library's headers need, and what _glue.c calls itself (OpenMP, OpenBLAS)
DEPS = ["openblas", "libutf8proc", "libpcre2-8", "zlib"]


def pkg_config(*args):
    """pkg-config's answer split into words, or None when it has none."""
    try:
        out = subprocess.run(["pkg-config"] + list(args), check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return shlex.split(out)


def flags(words, prefix):
    return [w[len(prefix):] for w in words or [] if w.startswith(prefix)]


def in_tree(build):
    """Link the source tree's static library from build (made when missing)."""
    lib = os.path.join(build, "libcharlstm.a")
    if not os.path.exists(lib) and os.path.exists(os.path.join(ROOT, "Makefile")):
        subprocess.run(["make", "-C", ROOT, "-j2", os.path.relpath(lib, ROOT),
                        os.path.relpath(os.path.join(build, "charlstm"), ROOT)], check=True)
    if not os.path.exists(lib):
        raise SystemExit("charlstm: %s not found: run `make` in the source tree, or install "
                         "the library (make install) so that pkg-config finds charlstm" % lib)
    cflags, libs = pkg_config("--cflags", *DEPS) or [], pkg_config("--libs", *DEPS) or []
    return {"include_dirs": [os.path.join(ROOT, "lib")] + flags(cflags, "-I"),
            "extra_objects": [lib],
            "libraries": flags(libs, "-l") + ["dnnl", "m"],  # oneDNN: no .pc in Debian 12
            "library_dirs": flags(libs, "-L"),
            "runtime_library_dirs": [],
            "depends": [lib],  # relink when the library changes
            "tool": os.path.join(build, "charlstm")}


def installed():
    """The installed library, as pkg-config describes it."""
    cflags, libs = pkg_config("--cflags", "charlstm", "openblas"), pkg_config("--libs", "charlstm",
                                                                              "openblas")
    libdir = pkg_config("--variable=libdir", "charlstm")
    bindir = pkg_config("--variable=bindir", "charlstm")
    prefix = pkg_config("--variable=prefix", "charlstm")
    tool = os.path.join(bindir[0] if bindir else os.path.join(prefix[0], "bin"), "charlstm")
    return {"include_dirs": flags(cflags, "-I"), "extra_objects": [],
            "libraries": flags(libs, "-l"), "library_dirs": flags(libs, "-L"),
            "runtime_library_dirs": libdir or [], "depends": [], "tool": tool}


def where():
    if "CHARLSTM_BUILD" in os.environ:
        return in_tree(os.environ["CHARLSTM_BUILD"])
    if pkg_config("--exists", "charlstm") is not None:
        return installed()
    return in_tree(os.path.join(ROOT, "build"))


def cdef_text():
    """_glue.h without its preprocessor lines (cffi reads declarations)."""
    with open(os.path.join(HERE, "_glue.h"), encoding="utf-8") as f:
        lines = [ln for ln in f if not ln.startswith("#") or ln.startswith("#define CLPY_MSG")]
    return "".join(lines)


def make_ffi():
    w = where()
    ffi = FFI()
    ffi.cdef(cdef_text())
    ffi.set_source(
        "charlstm._cffi", '#include "_glue.h"',
        sources=[os.path.join(HERE, "_glue.c")],
        include_dirs=[HERE] + w["include_dirs"],
        define_macros=[("_GNU_SOURCE", None), ("CLPY_TOOL", json.dumps(w["tool"]))],
        extra_compile_args=["-std=c11", "-fopenmp", "-Wall"],
        extra_objects=w["extra_objects"],
        libraries=w["libraries"],
        library_dirs=w["library_dirs"],
        runtime_library_dirs=w["runtime_library_dirs"],
        extra_link_args=["-fopenmp"],
        depends=[os.path.join(HERE, "_glue.h")] + w["depends"],
    )
    return ffi


ffi = make_ffi()

if __name__ == "__main__":
    ffi.compile(verbose=True)
