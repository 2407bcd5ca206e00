"""RBFMapping speed/memory benchmark: `python -m evaluation.bench_rbf [--quick] [--shapes ...]`.

Same as `keras-rbf bench`; the benchmark lives in `keras_rbf.benchmarks`. For each shape
(flat, 2D and 3D feature maps as the models see them) it times RBFMapping, Dense on the
same input, the naive formula, the layer's weight-only part and a GEMM in one process,
and prints ratios, arithmetic and the achieved rate; peak memory per case in subprocesses.
"""

import sys

from keras_rbf.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))  # cli reports errors
