"""charlstm's Python package: setuptools with cffi (see charlstm/_build.py).

    make python                                   # in place, from the source tree
    pip install --no-build-isolation ./python     # offline, with Debian's cffi
"""
from setuptools import setup

setup(
    name="charlstm",
    version="0.1.0",
    description="Character-level LSTM/GRU models: generation, tagging, classification",
    packages=["charlstm"],
    package_data={"charlstm": ["_glue.h", "_glue.c"]},
    python_requires=">=3.9",
    install_requires=["cffi>=1.15", "numpy"],
    cffi_modules=["charlstm/_build.py:ffi"],
    zip_safe=False,
)
