"""The strong suite's APGD vs ART's: `python -m evaluation.bench_attacks [--n-test 500]`.

The benchmark lives in `keras_rbf.benchmarks.attack_main`.
"""

import sys

from keras_rbf.benchmarks import attack_main

if __name__ == "__main__":
    sys.exit(attack_main(sys.argv[1:]))
