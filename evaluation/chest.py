"""The paper's Table 3 (CHEST): `python -m evaluation.chest --data-dir DIR [--out-dir DIR]`.

Same as `keras-rbf reproduce chest --data-dir DIR`; the protocol lives in
`keras_rbf.reports.chest`.
"""

import sys

from keras_rbf.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "chest", *sys.argv[1:]]))  # cli reports errors
