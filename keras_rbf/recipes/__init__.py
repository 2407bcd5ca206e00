"""Training recipes: the loops behind `keras-rbf train` and the `training/` scripts."""

from __future__ import annotations

import os
import platform

__all__ = ["machine"]


def machine() -> str:
    """One line naming this machine's CPU, core count and Python, for cards and benchmarks."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu} ({platform.machine()}), {os.cpu_count()} cores, Python {platform.python_version()}"
    )
