"""RBFMapping speed/memory benchmark: `python -m evaluation.bench_rbf [--shapes ...]`.

Same as `keras-rbf bench`; the benchmark lives in `keras_rbf.benchmarks`.
"""

import sys

from keras_rbf.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
