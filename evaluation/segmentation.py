"""The paper's Tables 4-6 and Fig. 5 (segmentation under DAG):
`python -m evaluation.segmentation synthlesion` or
`python -m evaluation.segmentation isic2017 --data-dir ROOT [--weights-dir DIR]`.

Same as `keras-rbf reproduce synthlesion|isic2017 ...`; the protocol lives in
`keras_rbf.reports.segmentation` and writes `reports/<dataset>/` (results.json,
README.md, fig5_*.png).
"""

import sys

from keras_rbf.cli import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("synthlesion", "isic2017"):
        sys.exit(
            "usage: python -m evaluation.segmentation synthlesion|isic2017 [--data-dir ROOT] ..."
        )
    sys.exit(main(["reproduce", *sys.argv[1:]]))  # cli reports errors
