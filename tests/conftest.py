"""Fixtures shared by the test files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture
def run_python(tmp_path):
    """Runs Python code in a fresh interpreter (in `tmp_path`); returns its stdout.

    Fails the test with the child's output when it exits non-zero.
    """

    def run(code: str, timeout: float = 600, **env) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
            timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    return run
