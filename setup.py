"""Build of the project's compiled code: the HNSW graph core (`algorithms/hnsw/_graph.pyx`)
and the erasure protocol's scan loop (`harness/protocols/erasure/_scan.pyx`).

`pip install -e .` (the last line of requirements.txt) runs this. Flags are portable: `-O3`
without `-march=native`; the distance kernels are compiled for AVX2+FMA and for the baseline
and one is picked at import from the CPU's features (see `algorithms/hnsw/distances.h`).
"""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

compile_args = [] if sys.platform == "win32" else ["-O3", "-fno-math-errno"]

extensions = [
    Extension(
        "algorithms.hnsw._graph",
        ["algorithms/hnsw/_graph.pyx"],
        include_dirs=["algorithms/hnsw"],
        depends=["algorithms/hnsw/distances.h"],
        extra_compile_args=compile_args,
    ),
    Extension(
        "harness.protocols.erasure._scan",
        ["harness/protocols/erasure/_scan.pyx"],
        extra_compile_args=compile_args,
    ),
]

setup(ext_modules=cythonize(extensions, language_level=3))
