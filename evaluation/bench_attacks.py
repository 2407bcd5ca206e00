"""The strong suite's APGD vs ART's: `python -m evaluation.bench_attacks [--n-test 500]`.

The benchmark lives in `keras_rbf.attack_benchmark`.
"""

import sys

from keras_rbf.attack_benchmark import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
