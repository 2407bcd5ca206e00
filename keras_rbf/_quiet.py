"""Silencing TensorFlow's start-up logging for the command line.

TensorFlow 2.21 writes its oneDNN and CUDA-probe lines from C++ before absl logging is
initialized, so `TF_CPP_MIN_LOG_LEVEL` does not stop them: only the process's stderr
file descriptor can. The CLI points it at /dev/null while TensorFlow is imported and
its devices are listed, then restores it; Python errors raised meanwhile still print,
after the block.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

__all__ = ["quiet_tensorflow_startup"]


@contextlib.contextmanager
def quiet_tensorflow_startup(enabled: bool = True) -> Iterator[None]:
    """Within the block, file descriptor 2 goes to /dev/null (if `enabled`)."""
    if not enabled:
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, not at import
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
